// Package checkpoint reads and writes Retina's training checkpoints: a
// versioned, checksummed binary file holding named float tensors (model
// parameters, optimizer slots) plus trainer-defined JSON metadata (epoch,
// step, seeds, metrics so far).
//
// # Writing and reading
//
// [Write] is atomic (it uses Retina's internal/atomicfile): the file is
// written to a temporary file in the same directory, synced, renamed onto
// the destination and the directory is synced. If anything fails the
// temporary file is removed and a file already at the destination is left
// untouched, so a crash or a full disk never costs the previous checkpoint;
// temporary files left by a writer that was killed are removed by the next
// Write of the same checkpoint. [Read] validates everything before
// returning: checksums, structure and bounds. [Tensor.Matches] checks a
// tensor's shape and dtype against what the caller expects.
//
// [Encode] and [Decode] are the format without the file handling, for
// streams and in-memory buffers.
//
// # Format (version 2)
//
// All integers are unsigned little-endian; all offsets are in bytes from the
// start of the file.
//
//	offset        size  content
//	0             8     magic, the ASCII bytes "RETINACK"
//	8             4     format version, uint32; currently 2 (see [Version])
//	12            4     header length H, uint32; at most 64 MiB ([MaxHeaderLen])
//	16            H     header, UTF-8 JSON (see below)
//	16+H          32    SHA-256 of bytes [0, 16+H): the header checksum
//	48+H          D     tensor data (see below)
//	48+H+D        32    SHA-256 of bytes [0, 48+H+D): the file checksum
//
// The file ends right after the checksum; trailing bytes are an error.
//
// Version 1, written before Retina checked headers, is the same without the
// header checksum (data at 16+H, file checksum at 16+H+D over [0, 16+H+D)).
// It is still read, with the same limits and checks but the header's: a
// damaged version 1 header is reported as whatever is wrong with it, or
// caught by the file checksum. Write always writes the current version.
//
// The header is one JSON object with exactly two members:
//
//	{"meta":<any JSON value>,"tensors":[{"name":"w","dtype":"float32","shape":[2,3]}, ...]}
//
// where
//
//   - "meta" is the trainer's metadata, stored as given (compacted, without
//     HTML escaping). A [File] with empty Meta is written as null.
//   - "tensors" lists the tensors in data order, at most [MaxTensors] of
//     them. "name" is a non-empty string, unique within the file. "dtype"
//     is "float32" or "float64". "shape" is an array of at most [MaxDims]
//     dimensions, each an integer >= 0 written without fraction or
//     exponent; [] is a scalar (one element). All three members are
//     required; unknown and duplicate members anywhere in the header are
//     an error.
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
// hold, whose header checksum does not match (checked before the header is
// parsed), whose header is not exactly the JSON object above or exceeds
// the limits, whose data length D disagrees with the file size, or whose
// file checksum does not match.
//
// # Memory
//
// A checksum proves only that a file was not damaged, not that whoever
// made it meant well, so the reader's memory is bounded by the format and
// the file's size, never by what a header claims. The header length is
// checked against the file size before the header is read; the header is
// parsed in one pass over its bytes, allocating only for the tensors and
// dimensions accepted so far (at most [MaxTensors] and [MaxDims], a few
// hundred bytes per tensor), and Meta shares the header's bytes; the data
// length is checked against the file size before the data is allocated. A
// file of any size that claims huge tensors, a huge shape or a huge number
// of tensors is rejected after allocating about its header's length plus
// a few MB. When the size is unknown, [Decode] allocates only as data
// actually arrives (the header buffer at most doubling as it grows).
//
// # Errors
//
// Every error returned by this package is an [*Error]. Its message starts
// with "checkpoint: ", then the file path when known, then the field or byte
// offset at fault and what was expected, for example
//
//	checkpoint: run/epoch3.ckpt: version 3 is newer than this Retina (reads 2)
//	checkpoint: run/epoch3.ckpt: header.tensors[2] ("dense/w").shape[1] at offset 95 is -3, want an integer >= 0
//
// [errors.Is] matches [ErrChecksum] for a checksum mismatch, [ErrVersion]
// for an unsupported version, [ErrTruncated] when the data ends early,
// [ErrCorrupt] for any other malformed file, [ErrInvalid] for a [File]
// that cannot be written and [ErrMismatch] for a tensor that does not
// match the caller's shape or dtype. I/O errors are wrapped, so
// errors.Is(err, fs.ErrNotExist) and the like work as usual.
package checkpoint
