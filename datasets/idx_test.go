package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// encodeIDX builds an IDX file from its parts without any validation, so
// that tests can build malformed files too.
func encodeIDX(typ byte, dims []uint32, payload []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, payload...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func TestReadIDXValid(t *testing.T) {
	tests := []struct {
		name string
		typ  IDXType
		dims []uint32
	}{
		{"uint8 vector", IDXUint8, []uint32{5}},
		{"uint8 images", IDXUint8, []uint32{3, 4, 2}},
		{"int8", IDXInt8, []uint32{2, 3}},
		{"int16", IDXInt16, []uint32{3}},
		{"int32", IDXInt32, []uint32{2, 2}},
		{"float32 4-D", IDXFloat32, []uint32{1, 2, 1, 3}},
		{"float64", IDXFloat64, []uint32{2}},
	}
	for _, tt := range tests {
		n := 1
		for _, d := range tt.dims {
			n *= int(d)
		}
		payload := seq(n * tt.typ.Size())
		raw := encodeIDX(byte(tt.typ), tt.dims, payload)
		for _, compressed := range []bool{false, true} {
			in := raw
			if compressed {
				in = gzipBytes(t, raw)
			}
			m, err := ReadIDX(bytes.NewReader(in))
			if err != nil {
				t.Errorf("%s (gzip %v): %v", tt.name, compressed, err)
				continue
			}
			wantDims := make([]int, len(tt.dims))
			for i, d := range tt.dims {
				wantDims[i] = int(d)
			}
			if m.Type != tt.typ || !slices.Equal(m.Dims, wantDims) || !bytes.Equal(m.Data, payload) || m.Len() != n {
				t.Errorf("%s (gzip %v): got type %v dims %v len %d data % x, want %v %v %d % x",
					tt.name, compressed, m.Type, m.Dims, m.Len(), m.Data, tt.typ, wantDims, n, payload)
			}
		}
	}
}

func TestReadIDXFileValid(t *testing.T) {
	dir := t.TempDir()
	payload := seq(2 * 3 * 3)
	raw := encodeIDX(0x08, []uint32{2, 3, 3}, payload)
	for name, content := range map[string][]byte{"a.idx": raw, "a.idx.gz": gzipBytes(t, raw)} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := ReadIDXFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(m.Dims, []int{2, 3, 3}) || !bytes.Equal(m.Data, payload) {
			t.Errorf("%s: dims %v data % x", name, m.Dims, m.Data)
		}
	}
}

func TestReadIDXFileErrors(t *testing.T) {
	valid := encodeIDX(0x08, []uint32{2, 3}, seq(6))
	validGz := gzipBytes(t, valid)
	badCRC := slices.Clone(validGz)
	badCRC[len(badCRC)-8] ^= 0xff // first byte of the CRC-32 in the gzip trailer
	badDeflate := slices.Clone(gzipBytes(t, encodeIDX(0x08, []uint32{100}, seq(100))))
	for i := 10; i < len(badDeflate)-8; i++ {
		badDeflate[i] = 0xff // invalid block type / garbage Huffman codes
	}

	tests := []struct {
		name    string
		file    string // written under a temp dir unless missing
		content []byte // nil: the file does not exist
		want    []string
		is      error // if not nil, errors.Is must hold
	}{
		{"missing file", "missing.idx", nil, []string{"idx: open", "missing.idx", "no such file"}, fs.ErrNotExist},
		{"empty file", "empty.idx", []byte{}, []string{"empty.idx: header at offset 0", "empty file"}, nil},
		{"wrong magic", "magic.idx", append([]byte{0x01, 0x02}, valid[2:]...), []string{"magic.idx: magic at offset 0", "01 02", "expected 00 00"}, nil},
		{"text file", "text.idx", []byte("hello, world\n"), []string{"text.idx: magic at offset 0", "68 65", "not an IDX file"}, nil},
		{"wrong type code", "type.idx", encodeIDX(0x07, []uint32{6}, seq(6)), []string{"type.idx: type code at offset 2", "0x07"}, nil},
		{"zero ndim", "ndim0.idx", []byte{0, 0, 8, 0}, []string{"ndim0.idx: ndim at offset 3", "0 dimensions", "1..4"}, nil},
		{"too many dims", "ndim9.idx", encodeIDX(0x08, []uint32{1, 1, 1, 1, 1, 1, 1, 1, 1}, []byte{1}), []string{"ndim9.idx: ndim at offset 3", "9 dimensions"}, nil},
		{"zero dim", "dim0.idx", encodeIDX(0x08, []uint32{3, 0}, nil), []string{"dim0.idx: dim[1] at offset 8", "size 0, expected > 0"}, nil},
		{"truncated magic", "hdr3.idx", []byte{0, 0, 8}, []string{"hdr3.idx: header at offset 3", "truncated", "file holds 3"}, nil},
		{"truncated dims", "hdr10.idx", valid[:10], []string{"hdr10.idx: dim[1] at offset 8", "truncated", "header needs 12 bytes", "file holds 10"}, nil},
		{"truncated payload", "short.idx", valid[:len(valid)-2], []string{"short.idx: payload at offset 16", "header claims 6 bytes (2×3 × 1 B)", "file holds 16"}, nil},
		{"2^31 images", "huge.idx", encodeIDX(0x08, []uint32{1 << 31, 28, 28}, seq(1000)), []string{"huge.idx: dim[0] at offset 4", "too large", "2147483648×28×28", "1073741824 elements"}, nil},
		{"overflowing dims", "ovf.idx", encodeIDX(0x0E, []uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, nil), []string{"ovf.idx: dim[0] at offset 4", "too large"}, nil},
		{"60000 images in 1 KB", "train-images", encodeIDX(0x08, []uint32{60000, 28, 28}, seq(1000-16)), []string{"train-images: payload at offset 1000", "header claims 47040000 bytes (60000×28×28 × 1 B)", "file holds 1000"}, nil},
		{"trailing bytes", "trail.idx", append(slices.Clone(valid), "xyz"...), []string{"trail.idx: trailer at offset 18", "3 unexpected bytes", "expected end of file"}, nil},
		{"trailing zero byte", "trail0.idx", append(slices.Clone(valid), 0), []string{"trail0.idx: trailer at offset 18", "1 unexpected bytes"}, nil},
		{"gzip truncated payload", "short.idx.gz", gzipBytes(t, valid[:15]), []string{"short.idx.gz: payload at offset 15", "header claims 6 bytes", "file holds 15"}, nil},
		{"gzip trailing bytes", "trail.idx.gz", gzipBytes(t, append(slices.Clone(valid), 1, 2)), []string{"trail.idx.gz: trailer at offset 18", "2 unexpected bytes"}, nil},
		{"gzip bad header", "hdr.idx.gz", []byte{0x1f, 0x8b, 0, 0, 0}, []string{"hdr.idx.gz: gzip at offset 0", "invalid gzip header"}, nil},
		{"gzip bad checksum", "crc.idx.gz", badCRC, []string{"crc.idx.gz: trailer at offset 18", "corrupt gzip stream", "checksum"}, gzip.ErrChecksum},
		{"gzip corrupt data", "data.idx.gz", badDeflate, []string{"data.idx.gz:", "corrupt gzip stream"}, nil},
		{"gzip cut short", "cut.idx.gz", validGz[:len(validGz)-5], []string{"cut.idx.gz:", "truncated gzip stream"}, io.ErrUnexpectedEOF},
		{"gzip then garbage", "junk.idx.gz", append(slices.Clone(validGz), "this is not a gzip member"...), []string{"junk.idx.gz: trailer at offset 18", "corrupt gzip stream"}, gzip.ErrHeader},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if tt.content != nil {
				if err := os.WriteFile(path, tt.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m, err := ReadIDXFile(path)
			if err == nil {
				t.Fatalf("no error; got type %v dims %v", m.Type, m.Dims)
			}
			if m != nil {
				t.Errorf("non-nil result with error %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			var fe *FormatError
			if tt.content != nil && !errors.As(err, &fe) {
				t.Errorf("error %q is not a *FormatError", err)
			}
		})
	}
}

// TestReadIDXNoLargeAllocation checks that a header claiming far more data
// than the input holds fails without allocating what the header claims.
func TestReadIDXNoLargeAllocation(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"60000×28×28 in 1 KB", encodeIDX(0x08, []uint32{60000, 28, 28}, seq(984))},
		{"2^30 float64 in 1 KB", encodeIDX(0x0E, []uint32{1 << 30}, seq(1000))},
		{"2^30 bytes in 1 KB gzip", gzipBytes(t, encodeIDX(0x08, []uint32{1 << 15, 1 << 15}, seq(1000)))},
	}
	const limit = 4 << 20
	for _, tt := range tests {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := ReadIDX(bytes.NewReader(tt.in))
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("%s: error %v, want a truncation error", tt.name, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > limit {
			t.Errorf("%s: allocated %d bytes, want < %d", tt.name, d, limit)
		}
	}
}

// TestReadIDXLargeValid reads a valid file larger than the first payload
// chunk, exercising the buffer growth.
func TestReadIDXLargeValid(t *testing.T) {
	payload := seq(300_001)
	m, err := ReadIDX(bytes.NewReader(encodeIDX(0x08, []uint32{300_001}, payload)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data, payload) {
		t.Error("payload differs")
	}
}

// errReader returns some bytes and then a non-EOF error.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadIDXReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := ReadIDX(&errReader{data: encodeIDX(0x08, []uint32{10}, seq(4)), err: boom})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "payload at offset 12: read failed after 12 bytes") {
		t.Errorf("got %v", err)
	}
}

func TestIDXTypeString(t *testing.T) {
	for typ, want := range map[IDXType]string{IDXUint8: "uint8", IDXFloat64: "float64", 0x42: "0x42"} {
		if got := typ.String(); got != want {
			t.Errorf("%#x.String() = %q, want %q", byte(typ), got, want)
		}
	}
	if IDXType(0x42).Size() != 0 || IDXInt16.Size() != 2 {
		t.Error("wrong Size")
	}
}

// FuzzReadIDX checks that ReadIDX never panics, returns only *FormatError
// errors, and on success returns a consistent array which, for raw input,
// re-encodes to exactly the input.
func FuzzReadIDX(f *testing.F) {
	f.Add(encodeIDX(0x08, []uint32{2, 2}, []byte{1, 2, 3, 4}))
	f.Add(gzipBytes(f, encodeIDX(0x0B, []uint32{3}, seq(6))))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadIDX(bytes.NewReader(data))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			if m != nil {
				t.Fatal("non-nil result with an error")
			}
			return
		}
		if len(m.Dims) < 1 || len(m.Dims) > MaxIDXDims {
			t.Fatalf("%d dims", len(m.Dims))
		}
		n := 1
		dims := make([]uint32, len(m.Dims))
		for i, d := range m.Dims {
			if d <= 0 {
				t.Fatalf("dims %v", m.Dims)
			}
			n *= d
			dims[i] = uint32(d)
		}
		if n > MaxIDXElements || n != m.Len() || len(m.Data) != n*m.Type.Size() {
			t.Fatalf("dims %v type %v: len(Data) = %d", m.Dims, m.Type, len(m.Data))
		}
		if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			if re := encodeIDX(byte(m.Type), dims, m.Data); !bytes.Equal(re, data) {
				t.Fatalf("re-encoding differs from input")
			}
		}
	})
}
