// Package checkpoint reads and writes Retina's training checkpoints: a
// versioned, checksummed binary file holding named float tensors (model
// parameters, optimizer slots) plus trainer-defined JSON metadata (epoch,
// step, seeds, metrics so far).
//
// # Writing and reading
//
// [Write] is atomic: the file is written to a temporary file in the same
// directory, synced, renamed onto the destination and the directory is
// synced. If anything fails the temporary file is removed and a file
// already at the destination is left untouched, so a crash or a full disk
// never costs the previous checkpoint. [Read] validates everything before
// returning: structure, bounds, and the SHA-256 checksum.
//
// [Encode] and [Decode] are the format without the file handling, for
// streams and in-memory buffers.
//
// # Format (version 1)
//
// All integers are unsigned little-endian; all offsets are in bytes from the
// start of the file.
//
//	offset        size  content
//	0             8     magic, the ASCII bytes "RETINACK"
//	8             4     format version, uint32; currently 1 (see [Version])
//	12            4     header length H, uint32; at most 64 MiB ([MaxHeaderLen])
//	16            H     header, UTF-8 JSON (see below)
//	16+H          D     tensor data (see below)
//	16+H+D        32    SHA-256 of bytes [0, 16+H+D)
//
// The file ends right after the checksum; trailing bytes are an error.
//
// The header is one JSON object with exactly two members:
//
//	{"meta":<any JSON value>,"tensors":[{"name":"w","dtype":"float32","shape":[2,3]}, ...]}
//
// where
//
//   - "meta" is the trainer's metadata, stored as given (compacted, without
//     HTML escaping). A [File] with empty Meta is written as null.
//   - "tensors" lists the tensors in data order. "name" is a non-empty string,
//     unique within the file. "dtype" is "float32" or "float64". "shape" is
//     an array of dimensions, each an integer >= 0; [] is a scalar (one
//     element). All three members are required; unknown members anywhere in
//     the header are an error.
//
// The data section is the tensors' elements back to back, in header order,
// with no padding or alignment: each tensor contributes product(shape)
// elements in row-major order, each element an IEEE-754 value in its
// little-endian bit pattern (4 bytes for float32, 8 for float64). Bit
// patterns are preserved exactly, including NaN payloads, infinities and
// negative zero. D is therefore the sum over tensors of
// product(shape)*elementSize.
//
// A reader rejects a file whose magic differs, whose version is 0 or greater
// than [Version], whose header is longer than 64 MiB or than the file can
// hold, whose header is not exactly the JSON object above, whose data
// length D disagrees with the file size, or whose checksum does not match.
// Sizes are checked against the file size before anything is allocated, so
// a corrupt header cannot make a reader allocate more memory than the file
// occupies (when the size is unknown, [Decode] allocates only as data
// actually arrives).
//
// # Errors
//
// Every error returned by this package is an [*Error]. Its message starts
// with "checkpoint: ", then the file path when known, then the field or byte
// offset at fault and what was expected, for example
//
//	checkpoint: run/epoch3.ckpt: version 2 is newer than this Retina (reads 1)
//
// [errors.Is] matches [ErrChecksum] for a checksum mismatch, [ErrVersion]
// for an unsupported version, [ErrTruncated] when the data ends early,
// [ErrCorrupt] for any other malformed file and [ErrInvalid] for a [File]
// that cannot be written. I/O errors are wrapped, so
// errors.Is(err, fs.ErrNotExist) and the like work as usual.
package checkpoint
