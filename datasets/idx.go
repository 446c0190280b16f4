package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/pkg/errors"
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
	// MaxIDXBytes is the largest payload accepted, in bytes: the product
	// of the dimensions times the element size, 1 GiB. ReadIDX allocates
	// the payload in one piece at the size the header declares, so this
	// bounds its memory use whatever the input holds.
	MaxIDXBytes = 1 << 30
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

// ReadIDXFile reads the IDX file at path, raw or gzip-compressed. Which
// one is decided by the content, the gzip magic bytes 0x1f 0x8b at the
// start of the file, not by the name: "data.idx.gz" may hold a raw IDX
// array and "data.idx" a compressed one. See [ReadIDX] for the checks
// performed; memory use is bounded by the size the header declares either
// way. Errors name the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrap(err, "idx")
	}
	defer f.Close()
	return readIDX(f, path, MaxIDXBytes, nil)
}

// ReadIDX reads one IDX array from r, which must hold exactly one IDX file:
// raw, or gzip-compressed as one gzip member (recognised by the gzip magic
// 0x1f 0x8b).
//
// The header is checked before anything else is allocated: bytes 0 and 1
// must be zero, byte 2 a known [IDXType], byte 3 (the number of dimensions)
// in 1..[MaxIDXDims], each dimension > 0 and the payload size they imply
// at most [MaxIDXBytes]. The payload is then allocated once, at that size,
// and read; input that ends early is a truncation error. Data after the
// payload is an error too, and so are data after the gzip member (even
// another member) and a gzip stream that fails its checksum; at most 1 MiB
// past the payload is read to report them. Memory use is thus bounded by
// the size the header declares, never by what a compressed stream would
// expand to.
//
// All format errors are of type [*FormatError]. ReadIDX does not panic on
// any input.
func ReadIDX(r io.Reader) (*IDX, error) {
	return readIDX(r, "", MaxIDXBytes, nil)
}

// readIDX implements ReadIDX. name, if not empty, is used in errors.
// maxBytes (at most MaxIDXBytes) caps the payload size. If want is not nil,
// the header must declare want.Type and want.Dims, checked before the
// payload is read.
func readIDX(r io.Reader, name string, maxBytes int64, want *IDX) (*IDX, error) {
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
		zr.Multistream(false)
		src, gz = zr, true
	}
	p := idxParser{r: src, name: name, gz: gz, under: br}
	return p.parse(maxBytes, want)
}

type idxParser struct {
	r     io.Reader
	name  string
	gz    bool
	under io.Reader // r's source: the compressed stream if gz
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

func (p *idxParser) parse(maxBytes int64, want *IDX) (*IDX, error) {
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
	dims := make([]int64, ndim)
	for i := range dims {
		if dims[i] = int64(binary.BigEndian.Uint32(raw[4*i:])); dims[i] == 0 {
			return nil, p.errorf(fmt.Sprintf("dim[%d]", i), int64(4+4*i), nil, "size 0, expected > 0")
		}
	}
	if want != nil {
		if err := p.checkShape(typ, dims, want); err != nil {
			return nil, err
		}
	}
	size := int64(typ.Size())
	for i, d := range dims {
		// size ≤ max(maxBytes, 8) ≤ 2^30 and d < 2^32: no overflow.
		if size *= d; size > maxBytes {
			return nil, p.errorf(fmt.Sprintf("dim[%d]", i), int64(4+4*i), nil,
				"array too large: %s × %d B exceeds the limit of %d bytes", dimString(dims), typ.Size(), maxBytes)
		}
	}

	// Payload, allocated once at the declared size, which is capped above.
	data := make([]byte, size)
	n, err = readFull(p.r, data)
	if err != nil {
		return nil, p.readErr("payload", int64(hdrLen+n), err, int64(hdrLen+n),
			fmt.Sprintf("header claims %d bytes (%s × %d B)", size, dimString(dims), typ.Size()))
	}

	// Nothing may follow. For gzip input this read also verifies the
	// checksum and length in the gzip trailer.
	end := int64(hdrLen) + size
	var one [1]byte
	n, err = readFull(p.r, one[:])
	if n > 0 {
		return nil, p.errorf("trailer", end, nil, "%s unexpected bytes after the payload, expected end of file", countRest(p.r, 1))
	}
	if err != io.EOF {
		return nil, p.readErr("trailer", end, err, end, "expected end of file")
	}
	if p.gz {
		// The gzip reader stops at the end of the first member.
		switch n, err = readFull(p.under, one[:]); {
		case n > 0:
			return nil, p.errorf("trailer", end, nil, "%s unexpected bytes after the gzip stream, expected end of file", countRest(p.under, 1))
		case err != io.EOF:
			return nil, p.errorf("trailer", end, err, "read failed after the gzip stream")
		}
	}
	out := &IDX{Type: typ, Dims: make([]int, ndim), Data: data}
	for i, d := range dims {
		out.Dims[i] = int(d) // d ≤ size ≤ MaxIDXBytes
	}
	return out, nil
}

// checkShape reports the first header field that differs from want.
func (p *idxParser) checkShape(typ IDXType, dims []int64, want *IDX) error {
	wantDims := make([]int64, len(want.Dims))
	for i, d := range want.Dims {
		wantDims[i] = int64(d)
	}
	got, exp := fmt.Sprintf("%v %s", typ, dimString(dims)), fmt.Sprintf("%v %s", want.Type, dimString(wantDims))
	switch {
	case typ != want.Type:
		return p.errorf("type code", 2, nil, "%v, expected %v (header declares %s, expected %s)", typ, want.Type, got, exp)
	case len(dims) != len(wantDims):
		return p.errorf("ndim", 3, nil, "%d dimensions, expected %d (header declares %s, expected %s)", len(dims), len(wantDims), got, exp)
	}
	for i := range dims {
		if dims[i] != wantDims[i] {
			return p.errorf(fmt.Sprintf("dim[%d]", i), int64(4+4*i), nil, "%d, expected %d (header declares %s, expected %s)", dims[i], wantDims[i], got, exp)
		}
	}
	return nil
}

// countRest returns, for an error message, seen plus the number of bytes
// left in r: "n", or "at least n" if r holds more than 1 MiB.
func countRest(r io.Reader, seen int64) string {
	n, _ := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
	if n == 1<<20 {
		return "at least " + strconv.FormatInt(seen+n, 10)
	}
	return strconv.FormatInt(seen+n, 10)
}

// dimString formats dimensions as "60000×28×28".
func dimString(dims []int64) string {
	var b strings.Builder
	for i, d := range dims {
		if i > 0 {
			b.WriteString("×")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	return b.String()
}

// readFull is io.ReadFull except that, on a short read, it returns the
// reader's own error, io.EOF included, so that a clean end of stream can be
// told apart from a gzip stream cut short (io.ErrUnexpectedEOF).
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
