package datasets

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// This file reads NumPy's .npy and .npz formats.
//
// The reader is written here rather than taken from gorgonia.org/tensor,
// whose Dense.ReadNpy accepts format 1.0 only, finds the header fields
// with regular expressions, ignores the byte order, and allocates the
// product of the shape it finds without checking it for overflow, for
// negative sizes or against any limit, so a 100-byte file can make it
// panic or allocate without bound.

// Limits enforced by [ReadNPY] on the header, before the payload is read.
const (
	// MaxNPYBytes is the largest payload accepted, in bytes: the product
	// of the shape times the element size, 1 GiB.
	MaxNPYBytes = 1 << 30
	// MaxNPYHeader is the largest header accepted, in bytes (the header
	// length field of the file). NumPy itself refuses headers over 10000
	// bytes by default; the header of any array this package reads is
	// far shorter.
	MaxNPYHeader = 1 << 16
	// MaxNPYDims is the largest number of dimensions accepted, NumPy 2's
	// own limit.
	MaxNPYDims = 64
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// NPYArray is an n-dimensional array read from a .npy file (or an .npz
// member): C-order (row-major) elements of one numeric type.
//
// Supported element types, as NumPy dtype strings: |b1 (bool), |i1, |u1,
// <i2, <u2, <i4, <u4, <i8, <u8, <f4 and <f8, and the big-endian forms
// (>i2 and so on) of the multi-byte ones, which are converted to
// little-endian on reading.
type NPYArray struct {
	// Descr is the dtype string of the header, such as "<f4", "|u1" or
	// ">i8".
	Descr string
	// Kind is the NumPy kind code of the elements: 'b' (bool), 'i'
	// (signed integer), 'u' (unsigned integer) or 'f' (IEEE 754 float).
	Kind byte
	// ItemSize is the size of one element in bytes: 1, 2, 4 or 8.
	ItemSize int
	// Shape holds the size of each dimension, outermost first; it is
	// empty for a 0-d array (a NumPy scalar), which holds one element.
	// Entries are ≥ 0: a 0 makes an empty array.
	Shape []int
	// Data holds Len()*ItemSize bytes: the elements in C order,
	// little-endian whatever the byte order of the file.
	Data []byte
}

// Len returns the number of elements: the product of Shape, 1 for a 0-d
// array.
func (a *NPYArray) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// Type returns the element type as a Go type name: "bool", "int8",
// "uint8", …, "float32" or "float64".
func (a *NPYArray) Type() string { return npyDtype{a.Kind, a.ItemSize}.String() }

// Float64 returns the elements converted to float64 (bool as 0 or 1).
// Integers beyond ±2^53 are rounded.
func (a *NPYArray) Float64() []float64 {
	out := make([]float64, a.Len())
	dt := npyDtype{a.Kind, a.ItemSize}
	for i := range out {
		out[i] = dt.float64(a.Data[i*a.ItemSize:])
	}
	return out
}

// Float32 returns the elements converted to float32 (bool as 0 or 1),
// rounded to the nearest float32.
func (a *NPYArray) Float32() []float32 {
	out := make([]float32, a.Len())
	npyDtype{a.Kind, a.ItemSize}.float32s(out, a.Data, 1)
	return out
}

// Ints returns the elements as ints. It fails if the array is not of an
// integer or bool type, or if an element does not fit in an int.
func (a *NPYArray) Ints() ([]int, error) {
	dt := npyDtype{a.Kind, a.ItemSize}
	out := make([]int, a.Len())
	for i := range out {
		v, ok := dt.int(a.Data[i*a.ItemSize:])
		if !ok {
			if dt.kind == 'f' {
				return nil, errors.Errorf("npy: %s array, expected an integer type", dt)
			}
			return nil, errors.Errorf("npy: element %d of the %s array does not fit in an int", i, dt)
		}
		out[i] = v
	}
	return out, nil
}

// An NPYFormatError reports malformed or unreadable .npy or .npz input.
type NPYFormatError struct {
	// File is the name of the file being read; empty for [ReadNPY].
	File string
	// Member is the name of the .npz member being read, such as "x.npy";
	// empty for a .npy file.
	Member string
	// Field is the part of the input at fault: "magic", "version",
	// "header length", "header", "descr", "fortran_order", "shape",
	// "shape[i]", "payload", "trailer" or "zip".
	Field string
	// Offset is the byte offset of the problem in the .npy stream (in the
	// uncompressed member, for an .npz member); for the header fields, the
	// offset of the offending character.
	Offset int64
	// Msg says what was expected and what was found.
	Msg string
	// Err is the underlying error, such as zip.ErrChecksum or
	// io.ErrUnexpectedEOF; it may be nil.
	Err error
}

func (e *NPYFormatError) Error() string {
	var b strings.Builder
	b.WriteString("npy: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Member != "" {
			fmt.Fprintf(&b, " (member %s)", e.Member)
		}
		b.WriteString(": ")
	} else if e.Member != "" {
		fmt.Fprintf(&b, "member %s: ", e.Member)
	}
	fmt.Fprintf(&b, "%s at offset %d: %s", e.Field, e.Offset, e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *NPYFormatError) Unwrap() error { return e.Err }

// npyDtype is an element type: a kind code and a size in bytes.
type npyDtype struct {
	kind byte
	size int
}

func (d npyDtype) String() string {
	switch d.kind {
	case 'b':
		return "bool"
	case 'i':
		return "int" + strconv.Itoa(8*d.size)
	case 'u':
		return "uint" + strconv.Itoa(8*d.size)
	case 'f':
		return "float" + strconv.Itoa(8*d.size)
	}
	return fmt.Sprintf("%c%d", d.kind, d.size)
}

// float64 decodes the little-endian element at the start of b.
func (d npyDtype) float64(b []byte) float64 {
	switch d {
	case npyDtype{'b', 1}:
		if b[0] != 0 {
			return 1
		}
		return 0
	case npyDtype{'i', 1}:
		return float64(int8(b[0]))
	case npyDtype{'u', 1}:
		return float64(b[0])
	case npyDtype{'i', 2}:
		return float64(int16(binary.LittleEndian.Uint16(b)))
	case npyDtype{'u', 2}:
		return float64(binary.LittleEndian.Uint16(b))
	case npyDtype{'i', 4}:
		return float64(int32(binary.LittleEndian.Uint32(b)))
	case npyDtype{'u', 4}:
		return float64(binary.LittleEndian.Uint32(b))
	case npyDtype{'i', 8}:
		return float64(int64(binary.LittleEndian.Uint64(b)))
	case npyDtype{'u', 8}:
		return float64(binary.LittleEndian.Uint64(b))
	case npyDtype{'f', 4}:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case npyDtype{'f', 8}:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return 0
}

// int decodes the little-endian element at the start of b as an int; ok
// is false for a float type or a value outside the range of int.
func (d npyDtype) int(b []byte) (v int, ok bool) {
	switch d.kind {
	case 'b', 'i':
		var x int64
		switch d.size {
		case 1:
			x = int64(int8(b[0]))
			if d.kind == 'b' && x != 0 {
				x = 1
			}
		case 2:
			x = int64(int16(binary.LittleEndian.Uint16(b)))
		case 4:
			x = int64(int32(binary.LittleEndian.Uint32(b)))
		case 8:
			x = int64(binary.LittleEndian.Uint64(b))
		}
		if x < math.MinInt || x > math.MaxInt {
			return 0, false
		}
		return int(x), true
	case 'u':
		var x uint64
		switch d.size {
		case 1:
			x = uint64(b[0])
		case 2:
			x = uint64(binary.LittleEndian.Uint16(b))
		case 4:
			x = uint64(binary.LittleEndian.Uint32(b))
		case 8:
			x = binary.LittleEndian.Uint64(b)
		}
		if x > math.MaxInt {
			return 0, false
		}
		return int(x), true
	}
	return 0, false
}

// float32s decodes len(dst) little-endian elements from src into dst,
// divided by div (1 or 255; the division, not a multiplication by 1/255,
// so that a byte b gives float32(b)/255 exactly as MNIST does).
func (d npyDtype) float32s(dst []float32, src []byte, div float32) {
	switch d {
	case npyDtype{'u', 1}:
		for i := range dst {
			dst[i] = float32(src[i]) / div
		}
	case npyDtype{'f', 4}:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])) / div
		}
	default:
		for i := range dst {
			dst[i] = float32(d.float64(src[i*d.size:]) / float64(div))
		}
	}
}

// npyHeader is a validated .npy header.
type npyHeader struct {
	descr   string
	dtype   npyDtype
	big     bool  // the file stores multi-byte elements big-endian
	shape   []int // every entry ≥ 0
	size    int64 // payload size in bytes, ≤ the cap
	dataOff int64 // offset of the payload: the total header size

	descrOff, shapeOff int64 // offsets of the descr and shape values
}

// len returns the number of elements.
func (h *npyHeader) len() int { return int(h.size) / h.dtype.size }

// npyReader reads one .npy stream.
type npyReader struct {
	r      io.Reader
	file   string
	member string
}

func (p *npyReader) errorf(field string, off int64, err error, format string, args ...any) error {
	return &NPYFormatError{File: p.file, Member: p.member, Field: field, Offset: off, Msg: fmt.Sprintf(format, args...), Err: err}
}

// readErr turns an error from a read of field at offset off into an
// NPYFormatError; got is the number of bytes the stream held before err.
func (p *npyReader) readErr(field string, off int64, err error, got int64, want string) error {
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return p.errorf(field, off, nil, "truncated: %s, input holds %d", want, got)
	default:
		return p.errorf(field, off, err, "read failed after %d bytes", got)
	}
}

// header reads and validates the header. maxBytes caps the payload size.
// avail, if ≥ 0, is the length of the whole input, which the header must
// match exactly.
func (p *npyReader) header(maxBytes, avail int64) (*npyHeader, error) {
	// Preamble: magic (6 bytes), version (2), header length (2 or 4).
	var pre [12]byte
	n, err := readFull(p.r, pre[:8])
	if m := min(n, 6); string(pre[:m]) != npyMagic[:m] {
		return nil, p.errorf("magic", 0, nil, "got %q, expected %q (not a .npy file)", pre[:m], npyMagic)
	}
	if err != nil {
		if n == 0 && err == io.EOF {
			return nil, p.errorf("magic", 0, nil, "empty input, expected the magic %q", npyMagic)
		}
		return nil, p.readErr("version", int64(n), err, int64(n), "need 8 bytes of magic and version")
	}
	major, minor := pre[6], pre[7]
	lenSize := 0
	switch {
	case major == 1 && minor == 0:
		lenSize = 2
	case (major == 2 || major == 3) && minor == 0:
		lenSize = 4
	default:
		return nil, p.errorf("version", 6, nil, "format version %d.%d, expected 1.0, 2.0 or 3.0", major, minor)
	}
	if n, err = readFull(p.r, pre[8:8+lenSize]); err != nil {
		return nil, p.readErr("header length", int64(8+n), err, int64(8+n), fmt.Sprintf("need %d bytes of header length", lenSize))
	}
	var hlen int64
	if lenSize == 2 {
		hlen = int64(binary.LittleEndian.Uint16(pre[8:]))
	} else {
		hlen = int64(binary.LittleEndian.Uint32(pre[8:]))
	}
	start := int64(8 + lenSize)
	if hlen > MaxNPYHeader {
		return nil, p.errorf("header length", 8, nil, "header of %d bytes exceeds the limit of %d", hlen, MaxNPYHeader)
	}
	if avail >= 0 && start+hlen > avail {
		return nil, p.errorf("header", start, nil, "truncated: header length %d needs %d bytes, input holds %d", hlen, start+hlen, avail)
	}
	text := make([]byte, hlen)
	if n, err = readFull(p.r, text); err != nil {
		return nil, p.readErr("header", start+int64(n), err, start+int64(n), fmt.Sprintf("header length %d needs %d bytes", hlen, start+hlen))
	}
	h, err := p.parseHeader(text, start, maxBytes)
	if err != nil {
		return nil, err
	}
	h.dataOff = start + hlen
	if avail >= 0 {
		switch end := h.dataOff + h.size; {
		case end > avail:
			return nil, p.errorf("payload", h.dataOff, nil, "truncated: header declares %d bytes (%s × %d B), input holds %d",
				h.size, npyShapeString(h.shape), h.dtype.size, avail-h.dataOff)
		case end < avail:
			return nil, p.errorf("trailer", end, nil, "%d unexpected bytes after the payload, expected end of input", avail-end)
		}
	}
	return h, nil
}

// parseHeader parses the header text, a Python dict literal such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//
// followed by spaces and a newline. start is the offset of text in the
// stream, for errors.
func (p *npyReader) parseHeader(text []byte, start, maxBytes int64) (*npyHeader, error) {
	hp := headerParser{s: text}
	fail := func(field string, format string, args ...any) error {
		return p.errorf(field, start+int64(hp.pos), nil, format, args...)
	}
	var (
		descr    string
		fortran  bool
		shape    []int64
		shapePos []int
		seen     = map[string]int{} // key → offset of its value
	)
	hp.space()
	if !hp.eat('{') {
		return nil, fail("header", "got %s, expected '{' starting a Python dict", hp.peekDesc())
	}
	for {
		hp.space()
		if hp.eat('}') {
			break
		}
		keyPos := hp.pos
		key, ok := hp.str()
		if !ok {
			return nil, fail("header", "got %s, expected a quoted key or '}'", hp.peekDesc())
		}
		if _, dup := seen[key]; dup {
			return nil, p.errorf("header", start+int64(keyPos), nil, "duplicate key %q", key)
		}
		hp.space()
		if !hp.eat(':') {
			return nil, fail("header", "got %s after key %q, expected ':'", hp.peekDesc(), key)
		}
		hp.space()
		seen[key] = hp.pos
		switch key {
		case "descr":
			if hp.peek() == '[' {
				return nil, fail("descr", "structured dtypes (a list of fields) are not supported")
			}
			if descr, ok = hp.str(); !ok {
				return nil, fail("descr", "got %s, expected a dtype string such as '<f4'", hp.peekDesc())
			}
		case "fortran_order":
			switch {
			case hp.word("True"):
				fortran = true
			case hp.word("False"):
				fortran = false
			default:
				return nil, fail("fortran_order", "got %s, expected True or False", hp.peekDesc())
			}
		case "shape":
			var err error
			if shape, shapePos, err = hp.tuple(); err != nil {
				return nil, fail("shape", "%v", err)
			}
		default:
			return nil, p.errorf("header", start+int64(keyPos), nil, "unexpected key %q, expected only 'descr', 'fortran_order' and 'shape'", key)
		}
		hp.space()
		if !hp.eat(',') {
			hp.space()
			if !hp.eat('}') {
				return nil, fail("header", "got %s, expected ',' or '}'", hp.peekDesc())
			}
			break
		}
	}
	hp.space()
	if hp.pos != len(hp.s) {
		return nil, fail("header", "got %s after the dict, expected only spaces and a newline", hp.peekDesc())
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := seen[k]; !ok {
			return nil, p.errorf("header", start, nil, "missing key '%s'", k)
		}
	}
	at := func(key string) int64 { return start + int64(seen[key]) }

	h := &npyHeader{descr: descr, descrOff: at("descr"), shapeOff: at("shape")}
	var err error
	if h.dtype, h.big, err = parseDescr(descr); err != nil {
		return nil, p.errorf("descr", at("descr"), nil, "%v", err)
	}
	if fortran {
		return nil, p.errorf("fortran_order", at("fortran_order"), nil,
			"Fortran (column-major) order is not supported; save a C-order array (numpy.ascontiguousarray)")
	}
	if len(shape) > MaxNPYDims {
		return nil, p.errorf("shape", at("shape"), nil, "%d dimensions, expected at most %d", len(shape), MaxNPYDims)
	}
	// The payload size: the product of the dimensions times the element
	// size. An empty dimension makes it 0 whatever the others; otherwise
	// each step is checked against the cap before it is taken, so the
	// product never overflows.
	size := int64(h.dtype.size)
	if slices.Contains(shape, 0) {
		size = 0
	}
	h.shape = make([]int, len(shape))
	for i, d := range shape {
		field, off := fmt.Sprintf("shape[%d]", i), start+int64(shapePos[i])
		if d < 0 {
			return nil, p.errorf(field, off, nil, "negative size %d", d)
		}
		if d > math.MaxInt {
			return nil, p.errorf(field, off, nil, "size %d does not fit in an int", d)
		}
		if size != 0 && d > maxBytes/size {
			return nil, p.errorf(field, off, nil,
				"array too large: %s × %d B exceeds the limit of %d bytes", npyShapeString64(shape), h.dtype.size, maxBytes)
		}
		size *= d
		h.shape[i] = int(d)
	}
	h.size = size
	return h, nil
}

// parseDescr parses a dtype string such as "<f4".
func parseDescr(s string) (dt npyDtype, big bool, err error) {
	supported := "supported: |b1, |i1, |u1, and <i2, <u2, <i4, <u4, <i8, <u8, <f4, <f8 or their big-endian forms"
	if len(s) != 3 || s[2] < '1' || s[2] > '8' {
		return dt, false, errors.Errorf("dtype %q is not supported (%s)", s, supported)
	}
	dt = npyDtype{kind: s[1], size: int(s[2] - '0')}
	switch dt {
	case npyDtype{'b', 1}, npyDtype{'i', 1}, npyDtype{'u', 1},
		npyDtype{'i', 2}, npyDtype{'u', 2}, npyDtype{'i', 4}, npyDtype{'u', 4},
		npyDtype{'i', 8}, npyDtype{'u', 8}, npyDtype{'f', 4}, npyDtype{'f', 8}:
	default:
		return dt, false, errors.Errorf("dtype %q is not supported (%s)", s, supported)
	}
	switch s[0] {
	case '<':
	case '>':
		big = dt.size > 1
	case '|':
		if dt.size > 1 {
			return dt, false, errors.Errorf("dtype %q: byte order '|' (not applicable) given for a %d-byte type, expected '<' or '>'", s, dt.size)
		}
	default:
		return dt, false, errors.Errorf("dtype %q: byte order %q, expected '<', '>' or '|' (%s)", s, s[0], supported)
	}
	return dt, big, nil
}

// payload reads the payload of h. If avail is known (≥ 0, and checked
// against the header), the buffer is allocated once at the declared size;
// otherwise it grows as data arrive, doubling from 1 MiB, so that input
// shorter than its header claims costs at most about twice what it holds.
func (p *npyReader) payload(h *npyHeader, avail int64) ([]byte, error) {
	var data []byte
	if avail >= 0 {
		data = make([]byte, h.size)
	} else {
		data = make([]byte, min(h.size, 1<<20))
	}
	got := 0
	for {
		n, err := readFull(p.r, data[got:])
		got += n
		if err != nil {
			return nil, p.readErr("payload", h.dataOff+int64(got), err, h.dataOff+int64(got),
				fmt.Sprintf("header declares %d bytes of payload (%s × %d B)", h.size, npyShapeString(h.shape), h.dtype.size))
		}
		if int64(got) == h.size {
			break
		}
		grown := make([]byte, min(h.size, 2*int64(len(data))))
		copy(grown, data)
		data = grown
	}
	if h.big {
		npySwapBytes(data, h.dtype.size)
	}
	return data, nil
}

// end checks that the input holds nothing after the payload. zip member
// readers verify their checksum on this read.
func (p *npyReader) end(h *npyHeader) error {
	off := h.dataOff + h.size
	var one [1]byte
	n, err := readFull(p.r, one[:])
	if n > 0 {
		return p.errorf("trailer", off, nil, "%s unexpected bytes after the payload, expected end of input", countRest(p.r, 1))
	}
	if err != io.EOF {
		return p.errorf("trailer", off, err, "read failed at the end of the payload")
	}
	return nil
}

// npySwapBytes reverses the bytes of each size-byte element of b.
func npySwapBytes(b []byte, size int) {
	for i := 0; i+size <= len(b); i += size {
		slices.Reverse(b[i : i+size])
	}
}

// ReadNPY reads one array in NumPy's .npy format (versions 1.0, 2.0 and
// 3.0) from r. It reads exactly the array and nothing after it, so arrays
// saved one after another to a stream can be read by successive calls.
//
// The header must be the Python dict NumPy writes, with exactly the keys
// 'descr' (one of the dtypes listed at [NPYArray]), 'fortran_order'
// (False: Fortran-order arrays are rejected) and 'shape' (a tuple of
// sizes ≥ 0). It is checked before anything else is allocated: its length
// is at most [MaxNPYHeader], the shape has at most [MaxNPYDims]
// dimensions, and the payload size it implies, computed without overflow,
// is at most [MaxNPYBytes]. Since the length of r is unknown, the payload
// buffer grows as data arrive, so input shorter than its header claims
// costs at most about twice what it holds; [ReadNPYFile] and [NPZFile.Read]
// check the declared size against the file or member size instead and
// allocate once.
//
// All format errors are of type [*NPYFormatError]. ReadNPY does not panic
// on any input.
func ReadNPY(r io.Reader) (*NPYArray, error) {
	return readNPY(r, "", "", MaxNPYBytes, -1, false)
}

// ReadNPYFile reads the .npy file at path, which must hold exactly one
// array: see [ReadNPY] for the checks performed. The header is checked
// against the file size before the payload is allocated, once; bytes after
// the payload are an error. Errors name the file.
func ReadNPYFile(path string) (*NPYArray, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readNPY(f, path, "", MaxNPYBytes, size, true)
}

// openSized opens the regular file at path and returns its size.
func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, errors.Wrap(err, "npy")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, errors.Wrap(err, "npy")
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, errors.Errorf("npy: %s is not a regular file", path)
	}
	return f, st.Size(), nil
}

// readNPY implements ReadNPY. file and member name the input in errors;
// maxBytes caps the payload; avail, if ≥ 0, is the input's length; if
// whole, nothing may follow the payload.
func readNPY(r io.Reader, file, member string, maxBytes, avail int64, whole bool) (*NPYArray, error) {
	p := npyReader{r: r, file: file, member: member}
	h, err := p.header(maxBytes, avail)
	if err != nil {
		return nil, err
	}
	data, err := p.payload(h, avail)
	if err != nil {
		return nil, err
	}
	if whole {
		if err := p.end(h); err != nil {
			return nil, err
		}
	}
	return &NPYArray{Descr: h.descr, Kind: h.dtype.kind, ItemSize: h.dtype.size, Shape: h.shape, Data: data}, nil
}

// NPZFile is an open .npz archive: a zip file (stored or deflated, as
// numpy.savez and numpy.savez_compressed write it) whose members are .npy
// files. Members are read one at a time, each at most [MaxNPYBytes].
type NPZFile struct {
	path string
	zr   *zip.ReadCloser
	keys []string
	m    map[string]*zip.File
}

// OpenNPZ opens the .npz archive at path and lists its .npy members;
// members of other names (and directories) are ignored. A duplicate
// member name is an error. Close the result when done.
func OpenNPZ(path string) (*NPZFile, error) {
	zr, err := zip.OpenReader(path)
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		if zr != nil {
			zr.Close()
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, errors.Wrap(err, "npy") // cannot open or stat
		}
		return nil, &NPYFormatError{File: path, Field: "zip", Msg: "not a readable zip archive", Err: err}
	}
	z := &NPZFile{path: path, zr: zr, m: map[string]*zip.File{}}
	for _, f := range zr.File {
		key, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok || strings.HasSuffix(f.Name, "/") {
			continue
		}
		if _, dup := z.m[key]; dup {
			zr.Close()
			return nil, &NPYFormatError{File: path, Member: f.Name, Field: "zip", Msg: "duplicate member name"}
		}
		z.m[key] = f
		z.keys = append(z.keys, key)
	}
	return z, nil
}

// Keys returns the names of the arrays, the member names without their
// ".npy" suffix ("x" for the member "x.npy", as numpy.load reports them),
// in archive order.
func (z *NPZFile) Keys() []string { return slices.Clone(z.keys) }

// Close closes the archive.
func (z *NPZFile) Close() error { return z.zr.Close() }

// member opens the member of the given key, which may carry the ".npy"
// suffix or not, and returns its reader and declared uncompressed size.
func (z *NPZFile) member(key string) (io.ReadCloser, *zip.File, error) {
	f, ok := z.m[strings.TrimSuffix(key, ".npy")]
	if !ok {
		return nil, nil, errors.Errorf("npy: %s: no array %q (the archive holds %s)", z.path, key, strings.Join(z.keys, ", "))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, nil, &NPYFormatError{File: z.path, Member: f.Name, Field: "zip", Msg: "cannot open member", Err: err}
	}
	return rc, f, nil
}

// npzAvail returns the declared uncompressed size of f, which archive/zip
// enforces on reading, or -1 if it is too large to be a valid member.
func npzAvail(f *zip.File) int64 {
	if f.UncompressedSize64 > math.MaxInt64 {
		return -1
	}
	return int64(f.UncompressedSize64)
}

// Read reads the array of the given key ("x" or "x.npy"). The member's
// header is checked as by [ReadNPY] and against the member's declared
// uncompressed size before the payload is allocated, once; the member's
// CRC-32 is verified. Errors name the file and the member.
func (z *NPZFile) Read(key string) (*NPYArray, error) {
	rc, f, err := z.member(key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readNPY(rc, z.path, f.Name, MaxNPYBytes, npzAvail(f), true)
}

// NPZLayout says how [NPZSet] reads 4-dimensional image arrays.
type NPZLayout int

const (
	// NPZLayoutAuto, the default, takes an (N, A, B, C) array as channels
	// last, (N, H, W, C), if C is 1, 3 or 4 and A is not; as channels
	// first, (N, C, H, W), otherwise.
	NPZLayoutAuto NPZLayout = iota
	// NPZChannelsFirst takes 4-dimensional arrays as (N, C, H, W).
	NPZChannelsFirst
	// NPZChannelsLast takes 4-dimensional arrays as (N, H, W, C).
	NPZChannelsLast
)

// NPZOptions are the options of [NPZSet] and [NPYSet]. The zero value
// selects the defaults.
type NPZOptions struct {
	// Layout says how to read 4-dimensional image arrays.
	Layout NPZLayout
	// Classes, if > 0, is the number of classes: every label must be
	// below it. If 0, Classes is the largest label + 1.
	Classes int
}

// NPZSet reads a labelled data set from the .npz archive at path, such as
// Keras's mnist.npz (keys x_train, y_train, x_test, y_test), and returns it
// as a Set. imagesKey and labelsKey name the arrays, with or without their
// ".npy" suffix; an empty labelsKey gives an unlabelled set (Labels nil,
// Classes 0).
//
// The images array may be
//
//   - (N, D): feature vectors, giving samples of shape (D);
//   - (N, H, W): grey images, giving samples of shape (1, H, W);
//   - (N, C, H, W) or (N, H, W, C): images with C channels, giving samples
//     of shape (C, H, W), channel planes; see [NPZLayout] for how the two
//     are told apart. Channels-last data are transposed.
//
// uint8 elements are scaled to [0, 1] (divided by 255); all other types,
// float or integer, are taken as they are, converted to float32. The
// labels array must hold integers (any integer or bool dtype), of shape
// (N) or (N, 1), each ≥ 0 and below opt.Classes if that is given.
//
// Both headers are checked, against each other and against the members'
// sizes, before X is allocated, once, and filled as the member is
// decompressed: memory is X (4 bytes per element, so at most 4 ×
// [MaxNPYBytes] for uint8 images) plus the labels. Errors name the file
// and the member.
func NPZSet(path, imagesKey, labelsKey string, opt NPZOptions) (*Set, error) {
	z, err := OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	rc, f, err := z.member(imagesKey)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	img := &npyReader{r: rc, file: path, member: f.Name}
	var lbl *npyReader
	lblAvail := int64(-1)
	if labelsKey != "" {
		lrc, lf, err := z.member(labelsKey)
		if err != nil {
			return nil, err
		}
		defer lrc.Close()
		lbl, lblAvail = &npyReader{r: lrc, file: path, member: lf.Name}, npzAvail(lf)
	}
	return npySet(img, npzAvail(f), lbl, lblAvail, opt)
}

// NPYSet is [NPZSet] for a pair of .npy files: imagesPath holds the
// images, labelsPath (if not empty) the labels, as NPZSet describes.
func NPYSet(imagesPath, labelsPath string, opt NPZOptions) (*Set, error) {
	f, size, err := openSized(imagesPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img := &npyReader{r: f, file: imagesPath}
	var lbl *npyReader
	lblAvail := int64(-1)
	if labelsPath != "" {
		lf, lsize, err := openSized(labelsPath)
		if err != nil {
			return nil, err
		}
		defer lf.Close()
		lbl, lblAvail = &npyReader{r: lf, file: labelsPath}, lsize
	}
	return npySet(img, size, lbl, lblAvail, opt)
}

// npySet implements NPZSet and NPYSet: img and lbl (nil if unlabelled)
// are positioned at the start of their .npy streams, of the given lengths.
func npySet(img *npyReader, imgAvail int64, lbl *npyReader, lblAvail int64, opt NPZOptions) (*Set, error) {
	if opt.Classes < 0 {
		return nil, errors.Errorf("npy: NPZOptions.Classes = %d, expected ≥ 0", opt.Classes)
	}
	if opt.Layout < NPZLayoutAuto || opt.Layout > NPZChannelsLast {
		return nil, errors.Errorf("npy: unknown NPZOptions.Layout %d", opt.Layout)
	}
	ih, err := img.header(MaxNPYBytes, imgAvail)
	if err != nil {
		return nil, err
	}
	var shape []int // per sample
	last := false   // channels last
	s := ih.shape
	switch len(s) {
	case 2:
		shape = []int{s[1]}
	case 3:
		shape = []int{1, s[1], s[2]}
	case 4:
		last = opt.Layout == NPZChannelsLast ||
			opt.Layout == NPZLayoutAuto && isChannelCount(s[3]) && !isChannelCount(s[1])
		if last {
			shape = []int{s[3], s[1], s[2]}
		} else {
			shape = []int{s[1], s[2], s[3]}
		}
	default:
		return nil, img.errorf("shape", ih.shapeOff, nil, "images of shape %s, expected (N, D), (N, H, W), (N, C, H, W) or (N, H, W, C)", npyShapeString(s))
	}
	// Every sample dimension must be > 0, as Set requires. With N = 0 the
	// payload cap does not bound them: check their product here.
	ss := 1
	for _, d := range shape {
		if d <= 0 || d > MaxNPYBytes/ss {
			return nil, img.errorf("shape", ih.shapeOff, nil, "images of shape %s: samples of shape %s, expected every size > 0 and at most %d values",
				npyShapeString(s), npyShapeString(shape), MaxNPYBytes)
		}
		ss *= d
	}
	n := s[0]
	var labels []int
	if lbl != nil {
		lh, err := lbl.header(MaxNPYBytes, lblAvail)
		if err != nil {
			return nil, err
		}
		if lh.dtype.kind == 'f' {
			return nil, lbl.errorf("descr", lh.descrOff, nil, "labels of type %s (%q), expected an integer type", lh.dtype, lh.descr)
		}
		if !(len(lh.shape) == 1 || len(lh.shape) == 2 && lh.shape[1] == 1) || lh.shape[0] != n {
			return nil, lbl.errorf("shape", lh.shapeOff, nil, "labels of shape %s, expected (%d) or (%d, 1) to match images of shape %s (in %s)",
				npyShapeString(lh.shape), n, n, npyShapeString(s), img.name())
		}
		raw, err := lbl.payload(lh, lblAvail)
		if err != nil {
			return nil, err
		}
		if err := lbl.end(lh); err != nil {
			return nil, err
		}
		labels = make([]int, n)
		maxLabel := -1
		for i := range labels {
			v, ok := lh.dtype.int(raw[i*lh.dtype.size:])
			switch {
			case !ok || v < 0:
				return nil, lbl.errorf("payload", lh.dataOff+int64(i*lh.dtype.size), nil, "label %d is %v, expected an integer ≥ 0", i, lh.dtype.float64(raw[i*lh.dtype.size:]))
			case opt.Classes > 0 && v >= opt.Classes:
				return nil, lbl.errorf("payload", lh.dataOff+int64(i*lh.dtype.size), nil, "label %d is %d, expected < Classes = %d", i, v, opt.Classes)
			case v == math.MaxInt:
				return nil, lbl.errorf("payload", lh.dataOff+int64(i*lh.dtype.size), nil, "label %d is %d, too large", i, v)
			}
			labels[i] = v
			maxLabel = max(maxLabel, v)
		}
		if opt.Classes == 0 {
			opt.Classes = maxLabel + 1
		}
	} else {
		opt.Classes = 0
	}
	set := &Set{Shape: shape, Labels: labels, Classes: opt.Classes}
	set.X = make([]float32, ih.len()) // the declared size, checked against the member's
	if err := img.floats(ih, set.X, last); err != nil {
		return nil, err
	}
	if err := img.end(ih); err != nil {
		return nil, err
	}
	return set, nil
}

// name returns the name of the input for messages.
func (p *npyReader) name() string {
	if p.member != "" {
		return p.member
	}
	return p.file
}

// isChannelCount reports whether c is a usual channel count: 1, 3 or 4.
func isChannelCount(c int) bool { return c == 1 || c == 3 || c == 4 }

// floats reads the payload of h, of shape (N, …), into x as float32,
// uint8 scaled to [0, 1]. If last, h is (N, H, W, C) and x receives
// (N, C, H, W).
func (p *npyReader) floats(h *npyHeader, x []float32, last bool) error {
	const chunk = 1 << 16 // elements per read
	size := h.dtype.size
	raw := make([]byte, min(len(x), chunk)*size)
	tmp := make([]float32, min(len(x), chunk))
	div := float32(1)
	if h.dtype == (npyDtype{'u', 1}) {
		div = 255
	}
	var hw, c int
	if last {
		hw, c = h.shape[1]*h.shape[2], h.shape[3]
	}
	for done := 0; done < len(x); {
		k := min(len(x)-done, chunk)
		n, err := readFull(p.r, raw[:k*size])
		if err != nil {
			got := h.dataOff + int64(done*size+n)
			return p.readErr("payload", got, err, got,
				fmt.Sprintf("header declares %d bytes of payload (%s × %d B)", h.size, npyShapeString(h.shape), size))
		}
		if h.big {
			npySwapBytes(raw[:k*size], size)
		}
		if !last {
			h.dtype.float32s(x[done:done+k], raw, div)
		} else {
			h.dtype.float32s(tmp[:k], raw, div)
			// Element j of the payload is sample j/(hw·c), pixel
			// (j/c)%hw, channel j%c.
			for i, v := range tmp[:k] {
				j := done + i
				ch, pix := j%c, (j/c)%hw
				base := j - j%(hw*c)
				x[base+ch*hw+pix] = v
			}
		}
		done += k
	}
	return nil
}

// npyShapeString formats a shape as NumPy does: "(3, 4)", "(3,)" or "()".
func npyShapeString(s []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(s) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

func npyShapeString64(s []int64) string {
	t := make([]int, len(s))
	for i, d := range s {
		t[i] = int(min(d, math.MaxInt))
	}
	return npyShapeString(t)
}

// headerParser scans the Python literal of a .npy header.
type headerParser struct {
	s   []byte
	pos int
}

func (hp *headerParser) peek() byte {
	if hp.pos < len(hp.s) {
		return hp.s[hp.pos]
	}
	return 0
}

// peekDesc describes the next character for an error message.
func (hp *headerParser) peekDesc() string {
	if hp.pos >= len(hp.s) {
		return "end of header"
	}
	return strconv.QuoteRune(rune(hp.s[hp.pos]))
}

func (hp *headerParser) space() {
	for hp.pos < len(hp.s) {
		switch hp.s[hp.pos] {
		case ' ', '\t', '\n', '\r':
			hp.pos++
		default:
			return
		}
	}
}

func (hp *headerParser) eat(c byte) bool {
	if hp.pos < len(hp.s) && hp.s[hp.pos] == c {
		hp.pos++
		return true
	}
	return false
}

// word consumes w if it comes next, followed by a non-identifier
// character.
func (hp *headerParser) word(w string) bool {
	rest := hp.s[hp.pos:]
	if !strings.HasPrefix(string(rest), w) {
		return false
	}
	if len(rest) > len(w) {
		if c := rest[len(w)]; c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return false
		}
	}
	hp.pos += len(w)
	return true
}

// str consumes a quoted string without escapes, 'x' or "x".
func (hp *headerParser) str() (string, bool) {
	q := hp.peek()
	if q != '\'' && q != '"' {
		return "", false
	}
	for i := hp.pos + 1; i < len(hp.s); i++ {
		switch hp.s[i] {
		case q:
			v := string(hp.s[hp.pos+1 : i])
			hp.pos = i + 1
			return v, true
		case '\\', '\n':
			return "", false
		}
	}
	return "", false
}

// tuple consumes a Python tuple of integers: (), (3,), (3, 4) or
// (3, 4,); a Python 2 long suffix L is accepted. A one-element tuple needs
// its comma: (3) is the integer 3 in Python, not a shape.
func (hp *headerParser) tuple() (vals []int64, pos []int, err error) {
	if !hp.eat('(') {
		return nil, nil, errors.Errorf("got %s, expected a tuple such as (3, 4)", hp.peekDesc())
	}
	for {
		hp.space()
		if hp.eat(')') { // () or a trailing comma
			return vals, pos, nil
		}
		if len(vals) >= MaxNPYDims {
			return nil, nil, errors.Errorf("more than %d dimensions", MaxNPYDims)
		}
		p := hp.pos
		v, err := hp.int()
		if err != nil {
			return nil, nil, err
		}
		vals, pos = append(vals, v), append(pos, p)
		hp.space()
		if !hp.eat(',') {
			hp.space()
			if !hp.eat(')') {
				return nil, nil, errors.Errorf("got %s in the shape, expected ',' or ')'", hp.peekDesc())
			}
			if len(vals) == 1 {
				return nil, nil, errors.Errorf("(%d) is an integer, not a tuple: expected (%d,)", v, v)
			}
			return vals, pos, nil
		}
	}
}

// int consumes a decimal integer, possibly negative (reported later).
func (hp *headerParser) int() (int64, error) {
	start := hp.pos
	neg := hp.eat('-')
	d0 := hp.pos
	for hp.pos < len(hp.s) && hp.s[hp.pos] >= '0' && hp.s[hp.pos] <= '9' {
		hp.pos++
	}
	digits := string(hp.s[d0:hp.pos])
	if digits == "" {
		hp.pos = start
		return 0, errors.Errorf("got %s in the shape, expected an integer", hp.peekDesc())
	}
	if len(digits) > 1 && digits[0] == '0' {
		hp.pos = d0
		return 0, errors.Errorf("integer %s with a leading zero", digits)
	}
	hp.eat('L')
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		hp.pos = d0
		return 0, errors.Errorf("size %s does not fit in 64 bits", digits)
	}
	if neg {
		v = -v
	}
	return v, nil
}
