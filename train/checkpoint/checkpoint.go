package checkpoint

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pkg/errors"
)

// Version is the format version this package writes, and the newest it
// reads. Version 1, which has no header checksum, is still read.
const Version = 2

// Magic is the 8 bytes every checkpoint starts with.
const Magic = "RETINACK"

// Limits on what is written or read. They bound the memory a reader spends
// on the header, whatever the header claims.
const (
	// MaxHeaderLen is the largest header, in bytes.
	MaxHeaderLen = 64 << 20
	// MaxTensors is the most tensors a checkpoint may hold.
	MaxTensors = 1 << 13
	// MaxDims is the most dimensions a tensor may have.
	MaxDims = 64
)

const (
	prefixLen   = 16 // magic + version + header length
	checksumLen = sha256.Size
	chunkLen    = 64 << 10 // bytes converted per step when encoding or decoding data

	dtypeF32 = "float32"
	dtypeF64 = "float64"
)

// Tensor is one named array. Exactly one of F32 and F64 is non-nil (use an
// empty, non-nil slice for a tensor with no elements), and its length is the
// product of Shape (1 for an empty Shape, which is a scalar). Data is in
// row-major order.
type Tensor struct {
	Name  string
	Shape []int
	F32   []float32
	F64   []float64
}

// DType returns "float32" or "float64" according to which slice is set, or
// "" when neither or both are.
func (t *Tensor) DType() string {
	switch {
	case t.F32 != nil && t.F64 == nil:
		return dtypeF32
	case t.F64 != nil && t.F32 == nil:
		return dtypeF64
	}
	return ""
}

// Matches returns nil if t has exactly the given shape (an empty or nil
// shape is a scalar) and dtype ("float32" or "float64", as [Tensor.DType]
// returns and as gorgonia's tensor.Dtype String method gives), and
// otherwise an error matching [ErrMismatch] that names the tensor, e.g.
//
//	checkpoint: tensor "param/w" has shape (4, 1, 1, 3) float32, want (4, 1, 3, 1) float32
//
// The error carries no file path; the caller adds the file's name.
func (t *Tensor) Matches(shape []int, dtype string) error {
	if slices.Equal(t.Shape, shape) && t.DType() == dtype {
		return nil
	}
	return &Error{Offset: -1, Kind: ErrMismatch, Msg: fmt.Sprintf("tensor %q has shape %s %s, want %s %s",
		t.Name, shapeString(t.Shape), cmp.Or(t.DType(), "(no data)"), shapeString(shape), dtype)}
}

// shapeString formats shape as "(4, 1, 3)", as Retina's other errors do; a
// scalar is "()".
func shapeString(shape []int) string {
	b := []byte{'('}
	for i, d := range shape {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	return string(append(b, ')'))
}

// File is a checkpoint's content.
type File struct {
	// Meta is the trainer's metadata, opaque to this package. It must be
	// valid JSON or empty; empty is stored as null. It is stored compacted,
	// so Read returns it without insignificant whitespace.
	Meta json.RawMessage
	// Tensors are stored in this order; names must be unique and non-empty.
	Tensors []Tensor
}

// Tensor returns the tensor called name, or false if there is none.
func (f *File) Tensor(name string) (*Tensor, bool) {
	if f == nil {
		return nil, false
	}
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// Sentinel errors, matched with errors.Is against errors from this package.
var (
	// ErrInvalid: the File passed to Write or Encode cannot be stored.
	ErrInvalid = errors.New("invalid checkpoint content")
	// ErrCorrupt: the data is not a well-formed checkpoint.
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrTruncated: the data ends before the checkpoint does.
	ErrTruncated = errors.New("truncated checkpoint")
	// ErrVersion: the format version is not one this package reads.
	ErrVersion = errors.New("unsupported checkpoint version")
	// ErrChecksum: a stored SHA-256 does not match the content.
	ErrChecksum = errors.New("checkpoint checksum mismatch")
	// ErrMismatch: a tensor is not the shape or dtype the caller wants.
	ErrMismatch = errors.New("checkpoint tensor mismatch")
)

// Error is the type of every error this package returns.
type Error struct {
	Path   string // file path; "" for Encode and Decode
	Offset int64  // byte offset of the problem in the file, or -1
	Msg    string // what is wrong, naming the field and what was expected
	Kind   error  // one of the sentinel errors above, or nil for I/O errors
	Err    error  // underlying error (I/O, JSON), or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("checkpoint: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns Kind and Err, so errors.Is sees both.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// withPath returns err with its Path set, if it is an *Error without one.
func withPath(err error, path string) error {
	var e *Error
	if errors.As(err, &e) && e.Path == "" {
		c := *e
		c.Path = path
		return &c
	}
	return err
}

func invalidf(format string, args ...any) error {
	return &Error{Offset: -1, Kind: ErrInvalid, Msg: fmt.Sprintf(format, args...)}
}

// headerOut is the header as written.
type headerOut struct {
	Meta    json.RawMessage `json:"meta"`
	Tensors []tensorOut     `json:"tensors"`
}

type tensorOut struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// elemSize returns the byte size of dtype's elements, or 0 for an unknown dtype.
func elemSize(dtype string) int64 {
	switch dtype {
	case dtypeF32:
		return 4
	case dtypeF64:
		return 8
	}
	return 0
}

// numElems returns the product of shape, or false if a dimension is negative
// or the product of the dimensions times size overflows an int64 or the
// element count overflows an int.
func numElems(shape []int, size int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, true
	}
	limit := maxElems(size)
	for _, d := range shape {
		if int64(d) > limit/n {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// maxElems is the most elements of the given byte size a tensor may have:
// its data must fit an int64 byte count and its length an int.
func maxElems(size int64) int64 {
	return min(int64(math.MaxInt64)/size, int64(math.MaxInt))
}

// prepare validates f and returns its header bytes.
func prepare(f *File) ([]byte, error) {
	if f == nil {
		return nil, invalidf("nil *File")
	}
	meta := f.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("null")
	} else if !json.Valid(meta) {
		return nil, invalidf("Meta is not valid JSON")
	}
	if len(f.Tensors) > MaxTensors {
		return nil, invalidf("%d tensors, want at most %d (MaxTensors)", len(f.Tensors), MaxTensors)
	}
	h := headerOut{Meta: meta, Tensors: make([]tensorOut, len(f.Tensors))}
	seen := make(map[string]int, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Name == "" {
			return nil, invalidf("Tensors[%d]: empty name", i)
		}
		if !utf8.ValidString(t.Name) {
			return nil, invalidf("Tensors[%d]: name %q is not valid UTF-8", i, t.Name)
		}
		if j, dup := seen[t.Name]; dup {
			return nil, invalidf("Tensors[%d]: name %q already used by Tensors[%d]", i, t.Name, j)
		}
		seen[t.Name] = i
		dtype := t.DType()
		if dtype == "" {
			if t.F32 == nil {
				return nil, invalidf("Tensors[%d] %q: neither F32 nor F64 is set, want exactly one (non-nil)", i, t.Name)
			}
			return nil, invalidf("Tensors[%d] %q: both F32 and F64 are set, want exactly one", i, t.Name)
		}
		if len(t.Shape) > MaxDims {
			return nil, invalidf("Tensors[%d] %q: shape has %d dimensions, want at most %d (MaxDims)", i, t.Name, len(t.Shape), MaxDims)
		}
		n, ok := numElems(t.Shape, elemSize(dtype))
		if !ok {
			return nil, invalidf("Tensors[%d] %q: shape %v has a negative dimension or too many elements", i, t.Name, t.Shape)
		}
		field, l := "F32", len(t.F32)
		if t.F64 != nil {
			field, l = "F64", len(t.F64)
		}
		if int64(l) != n {
			return nil, invalidf("Tensors[%d] %q: %s has %d elements, shape %v needs %d", i, t.Name, field, l, t.Shape, n)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		h.Tensors[i] = tensorOut{Name: t.Name, DType: dtype, Shape: shape}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, &Error{Offset: -1, Kind: ErrInvalid, Msg: "encoding header: " + err.Error(), Err: err}
	}
	hdr := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(hdr) > MaxHeaderLen {
		return nil, invalidf("header is %d bytes, more than the %d allowed (too many tensors or too much Meta)", len(hdr), MaxHeaderLen)
	}
	return hdr, nil
}

// Encode writes f to w in the checkpoint format. f is validated before
// anything is written, so an invalid File leaves w untouched.
func Encode(w io.Writer, f *File) error {
	hdr, err := prepare(f)
	if err != nil {
		return err
	}
	return encode(w, f, hdr)
}

func writeErr(what string, off int64, err error) error {
	return &Error{Offset: off, Msg: fmt.Sprintf("writing %s at offset %d: %v", what, off, err), Err: err}
}

// encode writes f, whose header prepare returned as hdr, to w through a
// buffer, hashing on the fly.
func encode(w io.Writer, f *File, hdr []byte) error {
	bw := bufio.NewWriterSize(w, chunkLen)
	h := sha256.New()
	mw := io.MultiWriter(bw, h)

	var pre [prefixLen]byte
	copy(pre[:8], Magic)
	binary.LittleEndian.PutUint32(pre[8:12], Version)
	binary.LittleEndian.PutUint32(pre[12:16], uint32(len(hdr)))
	if _, err := mw.Write(pre[:]); err != nil {
		return writeErr("prefix", 0, err)
	}
	if _, err := mw.Write(hdr); err != nil {
		return writeErr("header", prefixLen, err)
	}
	off := int64(prefixLen + len(hdr))
	if _, err := mw.Write(h.Sum(nil)); err != nil {
		return writeErr("header checksum", off, err)
	}
	off += checksumLen

	buf := make([]byte, chunkLen)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.F32 != nil {
			for s := t.F32; len(s) > 0; {
				k := min(len(s), chunkLen/4)
				for j, v := range s[:k] {
					binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
				}
				if _, err := mw.Write(buf[:4*k]); err != nil {
					return writeErr(fmt.Sprintf("tensor %q data", t.Name), off, err)
				}
				off += int64(4 * k)
				s = s[k:]
			}
		} else {
			for s := t.F64; len(s) > 0; {
				k := min(len(s), chunkLen/8)
				for j, v := range s[:k] {
					binary.LittleEndian.PutUint64(buf[8*j:], math.Float64bits(v))
				}
				if _, err := mw.Write(buf[:8*k]); err != nil {
					return writeErr(fmt.Sprintf("tensor %q data", t.Name), off, err)
				}
				off += int64(8 * k)
				s = s[k:]
			}
		}
	}
	if _, err := bw.Write(h.Sum(nil)); err != nil {
		return writeErr("checksum", off, err)
	}
	if err := bw.Flush(); err != nil {
		return writeErr("buffered data", off, err)
	}
	return nil
}

// decoder reads a checkpoint, hashing everything before the checksum.
type decoder struct {
	raw  io.Reader // the input
	r    io.Reader // raw, teed into h
	h    hash.Hash
	off  int64 // bytes consumed so far
	size int64 // total size, or -1
	path string
}

func (d *decoder) corrupt(off int64, format string, args ...any) error {
	return &Error{Path: d.path, Offset: off, Kind: ErrCorrupt, Msg: fmt.Sprintf(format, args...)}
}

// readFull fills buf from r. A short read is reported as the truncation of
// what, an item of need bytes starting at offset start that buf is part of.
func (d *decoder) readFull(r io.Reader, buf []byte, what string, start, need int64) error {
	n, err := io.ReadFull(r, buf)
	d.off += int64(n)
	return d.readErr(err, what, start, need)
}

// readErr describes err, from reading what (need bytes from offset start);
// nil if err is nil.
func (d *decoder) readErr(err error, what string, start, need int64) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Path: d.path, Offset: d.off, Kind: ErrTruncated, Err: io.ErrUnexpectedEOF,
			Msg: fmt.Sprintf("truncated at offset %d: %s at offset %d needs %d bytes, only %d present", d.off, what, start, need, d.off-start)}
	}
	return &Error{Path: d.path, Offset: d.off, Err: err,
		Msg: fmt.Sprintf("reading %s at offset %d: %v", what, d.off, err)}
}

// read is readFull for a whole item.
func (d *decoder) read(r io.Reader, buf []byte, what string) error {
	return d.readFull(r, buf, what, d.off, int64(len(buf)))
}

// Decode reads one checkpoint from r. size is the number of bytes r holds,
// used to check every length in the file before allocating for it; pass -1
// if it is unknown, in which case memory is allocated only as data actually
// arrives, in proportion to the bytes read. r must hold exactly one
// checkpoint: bytes after the checksum are an error.
func Decode(r io.Reader, size int64) (*File, error) {
	return decode(r, size, "")
}

func decode(r io.Reader, size int64, path string) (*File, error) {
	if size < 0 {
		size = -1
	}
	h := sha256.New()
	d := &decoder{raw: r, r: io.TeeReader(r, h), h: h, size: size, path: path}

	// Magic, version, header length.
	var pre [prefixLen]byte
	if err := d.read(d.r, pre[:8], "magic"); err != nil {
		return nil, err
	}
	if string(pre[:8]) != Magic {
		return nil, d.corrupt(0, "magic at offset 0 is %q, want %q: not a Retina checkpoint", pre[:8], Magic)
	}
	if err := d.read(d.r, pre[8:12], "version"); err != nil {
		return nil, err
	}
	v := binary.LittleEndian.Uint32(pre[8:12])
	switch {
	case v > Version:
		return nil, &Error{Path: path, Offset: 8, Kind: ErrVersion,
			Msg: fmt.Sprintf("version %d is newer than this Retina (reads %d)", v, Version)}
	case v == 0:
		return nil, &Error{Path: path, Offset: 8, Kind: ErrVersion,
			Msg: fmt.Sprintf("version at offset 8 is 0, want 1..%d", Version)}
	}
	if err := d.read(d.r, pre[12:16], "header length"); err != nil {
		return nil, err
	}
	hlen := int64(binary.LittleEndian.Uint32(pre[12:16]))
	if hlen > MaxHeaderLen {
		return nil, d.corrupt(12, "header length at offset 12 is %d, want at most %d", hlen, MaxHeaderLen)
	}
	hsumLen := int64(checksumLen) // version 1 has no header checksum
	if v == 1 {
		hsumLen = 0
	}
	if size >= 0 {
		if fixed := prefixLen + hsumLen + checksumLen; size < fixed {
			return nil, &Error{Path: path, Offset: size, Kind: ErrTruncated,
				Msg: fmt.Sprintf("truncated: file is %d bytes, want at least %d (%d-byte prefix, header, %d-byte header checksum, data, %d-byte checksum)", size, fixed, prefixLen, hsumLen, checksumLen)}
		}
		room := size - prefixLen - hsumLen - checksumLen
		if hlen > room {
			return nil, d.corrupt(12, "header length at offset 12 is %d, but a %d-byte file has room for at most %d", hlen, size, room)
		}
	}

	// Header: allocated at once when the file was checked to hold it,
	// otherwise grown, at most doubling and never past hlen, as bytes
	// arrive.
	var hdr []byte
	if size >= 0 {
		hdr = make([]byte, 0, hlen) // hlen <= size, checked above
	}
	for int64(len(hdr)) < hlen {
		if len(hdr) == cap(hdr) {
			hdr = append(make([]byte, 0, min(max(2*int64(cap(hdr)), chunkLen), hlen)), hdr...)
		}
		if err := d.readFull(d.r, hdr[len(hdr):cap(hdr)], "header", prefixLen, hlen); err != nil {
			return nil, err
		}
		hdr = hdr[:cap(hdr)]
	}
	if hsumLen > 0 {
		// A damaged header is reported as such, not as whatever parsing
		// it would make of it. (The parser's limits, not this checksum,
		// protect against a header crafted to exhaust memory.)
		if err := d.checksum(d.r, "header checksum"); err != nil {
			return nil, err
		}
	}
	f, sizes, err := d.parseHeader(hdr)
	if err != nil {
		return nil, err
	}

	// Data length against the file size, before any allocation.
	var total int64
	for _, s := range sizes {
		if s > math.MaxInt64-total {
			return nil, d.corrupt(prefixLen, "header at offset %d: tensor data totals more than %d bytes", prefixLen, int64(math.MaxInt64))
		}
		total += s
	}
	dataOff := prefixLen + hlen + hsumLen
	if size >= 0 {
		avail := size - dataOff - checksumLen // >= 0: hlen <= room
		if total > avail {
			return nil, &Error{Path: path, Offset: size, Kind: ErrTruncated,
				Msg: fmt.Sprintf("header at offset %d describes %d bytes of tensor data from offset %d, but a %d-byte file holds only %d before the checksum (truncated or corrupt header)",
					prefixLen, total, dataOff, size, avail)}
		}
		if total < avail {
			want := dataOff + total + checksumLen
			return nil, d.corrupt(want, "%d trailing bytes: header at offset %d describes a %d-byte file (data %d bytes from offset %d, checksum at %d), but it is %d bytes",
				size-want, prefixLen, want, total, dataOff, dataOff+total, size)
		}
	}

	// Data.
	buf := make([]byte, min(total, chunkLen))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		what, start := fmt.Sprintf("tensor %q data", t.Name), d.off
		if t.F32 != nil {
			n := int(sizes[i] / 4)
			s := make([]float32, 0, d.capacity(n, chunkLen/4))
			for m := 0; m < n; m = len(s) {
				k := min(n-m, chunkLen/4)
				if err := d.readFull(d.r, buf[:4*k], what, start, sizes[i]); err != nil {
					return nil, err
				}
				s = slices.Grow(s, k)[:m+k]
				for j := range k {
					s[m+j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
				}
			}
			t.F32 = s
		} else {
			n := int(sizes[i] / 8)
			s := make([]float64, 0, d.capacity(n, chunkLen/8))
			for m := 0; m < n; m = len(s) {
				k := min(n-m, chunkLen/8)
				if err := d.readFull(d.r, buf[:8*k], what, start, sizes[i]); err != nil {
					return nil, err
				}
				s = slices.Grow(s, k)[:m+k]
				for j := range k {
					s[m+j] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*j:]))
				}
			}
			t.F64 = s
		}
	}

	// Checksum, then nothing.
	if err := d.checksum(d.raw, "checksum"); err != nil {
		return nil, err
	}
	var one [1]byte
	switch _, err := io.ReadFull(d.raw, one[:]); {
	case err == nil:
		return nil, d.corrupt(d.off, "trailing bytes after the checksum at offset %d, want end of file", d.off)
	case !errors.Is(err, io.EOF):
		return nil, &Error{Path: path, Offset: d.off, Err: err, Msg: fmt.Sprintf("reading at offset %d (expecting end of file): %v", d.off, err)}
	}
	return f, nil
}

// checksum reads, from r, the SHA-256 stored at the current offset and
// compares it with that of all the bytes before it. what names it.
func (d *decoder) checksum(r io.Reader, what string) error {
	actual := d.h.Sum(nil)
	off := d.off
	var stored [checksumLen]byte
	if err := d.read(r, stored[:], what); err != nil {
		return err
	}
	if !bytes.Equal(stored[:], actual) {
		return &Error{Path: d.path, Offset: off, Kind: ErrChecksum,
			Msg: fmt.Sprintf("%s mismatch: SHA-256 at offset %d expected %x (stored), actual %x (computed over bytes [0, %d))", what, off, stored, actual, off)}
	}
	return nil
}

// capacity is the capacity to allocate for n elements: all of them when the
// size is known (the file was checked to hold them), otherwise one chunk's
// worth, letting append grow the slice as data actually arrives.
func (d *decoder) capacity(n, chunk int) int {
	if d.size >= 0 {
		return n
	}
	return min(n, chunk)
}
