package datasets

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// IDXType is the element type code stored in byte 2 of an IDX header.
type IDXType byte

// The element types defined by the IDX format. Multi-byte elements are
// stored big-endian. MNIST uses IDXUint8 only.
const (
	IDXUint8   IDXType = 0x08 // unsigned byte
	IDXInt8    IDXType = 0x09 // signed byte
	IDXInt16   IDXType = 0x0B // 2-byte signed integer
	IDXInt32   IDXType = 0x0C // 4-byte signed integer
	IDXFloat32 IDXType = 0x0D // 4-byte IEEE 754 float
	IDXFloat64 IDXType = 0x0E // 8-byte IEEE 754 float
)

// Limits enforced by [ReadIDX] on the header, before any payload is read.
const (
	// MaxIDXDims is the largest number of dimensions accepted.
	MaxIDXDims = 4
	// MaxIDXElements is the largest number of elements (the product of
	// the dimensions) accepted: 1<<30.
	MaxIDXElements = 1 << 30
)

// Size reports the size in bytes of one element of type t, or 0 if t is not
// a known IDX type code.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// String returns the name of the type, such as "uint8", or "0x.." for an
// unknown code.
func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "uint8"
	case IDXInt8:
		return "int8"
	case IDXInt16:
		return "int16"
	case IDXInt32:
		return "int32"
	case IDXFloat32:
		return "float32"
	case IDXFloat64:
		return "float64"
	}
	return fmt.Sprintf("0x%02x", byte(t))
}

// IDX is the decoded content of an IDX file: an n-dimensional array stored
// in row-major order.
type IDX struct {
	// Type is the element type code from the header.
	Type IDXType
	// Dims holds the size of each dimension, outermost first; for the
	// MNIST training images it is [60000 28 28]. Every entry is > 0.
	Dims []int
	// Data holds the raw payload: Len()*Type.Size() bytes, elements in
	// row-major order, multi-byte elements big-endian as in the file.
	Data []byte
}

// Len returns the number of elements, the product of Dims; 0 if Dims is
// empty, as in the zero IDX.
func (m *IDX) Len() int {
	if len(m.Dims) == 0 {
		return 0
	}
	n := 1
	for _, d := range m.Dims {
		n *= d
	}
	return n
}

// A FormatError reports malformed or unreadable IDX input.
type FormatError struct {
	// File is the name of the file being read; empty for [ReadIDX].
	File string
	// Field is the part of the file at fault: "header", "magic",
	// "type code", "ndim", "dim[i]", "payload", "trailer" or "gzip".
	Field string
	// Offset is the byte offset of the problem in the IDX stream (after
	// gzip decompression, if the input is compressed).
	Offset int64
	// Msg says what was expected and what was found.
	Msg string
	// Err is the underlying error, such as gzip.ErrChecksum or
	// io.ErrUnexpectedEOF; it may be nil.
	Err error
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("idx: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s at offset %d: %s", e.Field, e.Offset, e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// ReadIDXFile reads the IDX file at path, which may be gzip-compressed. See
// [ReadIDX] for the checks performed. Errors name the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	return readIDX(f, path)
}

// ReadIDX reads one IDX array from r, which must hold exactly one IDX file:
// raw, or gzip-compressed (recognised by the gzip magic 0x1f 0x8b).
//
// The header is checked before anything else is allocated: bytes 0 and 1
// must be zero, byte 2 a known [IDXType], byte 3 (the number of dimensions)
// in 1..[MaxIDXDims], each dimension > 0 and their product at most
// [MaxIDXElements]. The payload is then read into a buffer that starts at
// 64 KiB and doubles as data arrives, so a header that claims more data than
// r holds fails with a truncation error after allocating memory in
// proportion to what r actually held, not to what the header claims. Data
// after the payload is an error, and so is a gzip stream that fails its
// checksum.
//
// All format errors are of type [*FormatError]. ReadIDX does not panic on
// any input.
func ReadIDX(r io.Reader) (*IDX, error) {
	return readIDX(r, "")
}

// readIDX implements ReadIDX; name, if not empty, is used in errors.
func readIDX(r io.Reader, name string) (*IDX, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	var src io.Reader = br
	gz := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &FormatError{File: name, Field: "gzip", Msg: "invalid gzip header", Err: err}
		}
		defer zr.Close()
		src, gz = zr, true
	}
	p := idxParser{r: src, name: name, gz: gz}
	return p.parse()
}

type idxParser struct {
	r    io.Reader
	name string
	gz   bool
}

func (p *idxParser) errorf(field string, off int64, err error, format string, args ...any) error {
	return &FormatError{File: p.name, Field: field, Offset: off, Msg: fmt.Sprintf(format, args...), Err: err}
}

// readErr turns an error from reading field at offset off into a
// FormatError. got is the total number of bytes the stream held before err.
func (p *idxParser) readErr(field string, off int64, err error, got int64, want string) error {
	switch {
	case err == io.EOF:
		return p.errorf(field, off, nil, "truncated: %s, file holds %d", want, got)
	case p.gz && errors.Is(err, io.ErrUnexpectedEOF):
		return p.errorf(field, off, err, "truncated gzip stream after %d bytes (%s)", got, want)
	case p.gz:
		return p.errorf(field, off, err, "corrupt gzip stream after %d bytes", got)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return p.errorf(field, off, nil, "truncated: %s, file holds %d", want, got)
	default:
		return p.errorf(field, off, err, "read failed after %d bytes", got)
	}
}

func (p *idxParser) parse() (*IDX, error) {
	// Fixed header: 0x00 0x00 type ndim.
	var hdr [4]byte
	n, err := readFull(p.r, hdr[:])
	if n >= 2 && (hdr[0] != 0 || hdr[1] != 0) || n == 1 && hdr[0] != 0 {
		return nil, p.errorf("magic", 0, nil, "got % x, expected 00 00 (not an IDX file)", hdr[:min(n, 2)])
	}
	if err != nil {
		if n == 0 && err == io.EOF {
			return nil, p.errorf("header", 0, nil, "empty file, expected 4-byte magic 00 00 <type> <ndim>")
		}
		return nil, p.readErr("header", int64(n), err, int64(n), "need 4 bytes of magic (00 00 <type> <ndim>)")
	}
	typ := IDXType(hdr[2])
	if typ.Size() == 0 {
		return nil, p.errorf("type code", 2, nil, "unknown element type 0x%02x, expected one of 08 (uint8), 09, 0b, 0c, 0d, 0e", hdr[2])
	}
	ndim := int(hdr[3])
	if ndim < 1 || ndim > MaxIDXDims {
		return nil, p.errorf("ndim", 3, nil, "%d dimensions, expected 1..%d", ndim, MaxIDXDims)
	}

	// Dimensions: ndim big-endian uint32.
	hdrLen := 4 + 4*ndim
	var raw [4 * MaxIDXDims]byte
	n, err = readFull(p.r, raw[:4*ndim])
	if err != nil {
		i := n / 4
		return nil, p.readErr(fmt.Sprintf("dim[%d]", i), int64(4+4*i), err, int64(4+n),
			fmt.Sprintf("header needs %d bytes for %d dimensions", hdrLen, ndim))
	}
	dims := make([]int, ndim)
	elems := int64(1)
	for i := range dims {
		d := int64(raw[4*i])<<24 | int64(raw[4*i+1])<<16 | int64(raw[4*i+2])<<8 | int64(raw[4*i+3])
		if d == 0 {
			return nil, p.errorf(fmt.Sprintf("dim[%d]", i), int64(4+4*i), nil, "size 0, expected > 0")
		}
		// elems ≤ MaxIDXElements and d < 2^32, so the product fits in int64.
		elems *= d
		if elems > MaxIDXElements {
			return nil, p.errorf(fmt.Sprintf("dim[%d]", i), int64(4+4*i), nil,
				"array too large: dims %s exceed the limit of %d elements", dimString(raw[:4*ndim]), MaxIDXElements)
		}
		dims[i] = int(d)
	}
	size := elems * int64(typ.Size())
	if size > math.MaxInt {
		return nil, p.errorf("payload", int64(hdrLen), nil, "%d bytes do not fit in memory", size)
	}

	// Payload, read in growing chunks so that a lying header cannot make
	// us allocate more than the stream really holds.
	data, err := readPayload(p.r, int(size))
	if err != nil {
		return nil, p.readErr("payload", int64(hdrLen+len(data)), err, int64(hdrLen+len(data)),
			fmt.Sprintf("header claims %d bytes (%s × %d B)", size, dimString(raw[:4*ndim]), typ.Size()))
	}

	// Nothing may follow. For gzip input this read also verifies the
	// checksum and length in the gzip trailer.
	end := int64(hdrLen) + size
	var one [1]byte
	n, err = readFull(p.r, one[:])
	if n > 0 {
		extra, _ := io.Copy(io.Discard, io.LimitReader(p.r, 1<<20))
		atLeast := ""
		if extra == 1<<20 {
			atLeast = "at least "
		}
		return nil, p.errorf("trailer", end, nil, "%s%d unexpected bytes after the payload, expected end of file", atLeast, extra+1)
	}
	if err != io.EOF {
		return nil, p.readErr("trailer", end, err, end, "expected end of file")
	}
	return &IDX{Type: typ, Dims: dims, Data: data}, nil
}

// dimString formats big-endian uint32 dimensions as "60000×28×28".
func dimString(raw []byte) string {
	var b strings.Builder
	for i := 0; i+4 <= len(raw); i += 4 {
		if i > 0 {
			b.WriteString("×")
		}
		d := uint32(raw[i])<<24 | uint32(raw[i+1])<<16 | uint32(raw[i+2])<<8 | uint32(raw[i+3])
		b.WriteString(strconv.FormatUint(uint64(d), 10))
	}
	return b.String()
}

// readFull is io.ReadFull except that, on a short read, it returns the
// reader's own error, io.EOF included, so that a clean end of stream can be told apart from a
// gzip stream cut short (io.ErrUnexpectedEOF).
func readFull(r io.Reader, buf []byte) (int, error) {
	n, zero := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			if n == len(buf) {
				// As in io.ReadFull. A reader that fails keeps
				// failing, so the error surfaces on the next read.
				return n, nil
			}
			return n, err
		}
		if m == 0 {
			if zero++; zero > 100 {
				return n, io.ErrNoProgress
			}
		}
	}
	return n, nil
}

// readPayload reads exactly n bytes from r. The buffer starts at 64 KiB and
// doubles as data arrives, so the memory allocated is bounded by a small
// multiple of what r actually delivers, whatever n is. On error it returns
// the bytes read so far.
func readPayload(r io.Reader, n int) ([]byte, error) {
	const chunk = 64 << 10
	buf := make([]byte, 0, min(n, chunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		m, err := readFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
