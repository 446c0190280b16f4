package datasets

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pkg/errors"
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

// TestReadIDXFileDetectsByContent checks that ReadIDXFile tells raw from
// gzip input by the content, whatever the file is called.
func TestReadIDXFileDetectsByContent(t *testing.T) {
	dir := t.TempDir()
	payload := seq(4 * 7)
	raw := encodeIDX(0x08, []uint32{4, 7}, payload)
	gz := gzipBytes(t, raw)
	for _, tt := range []struct {
		name    string
		content []byte
	}{
		{"raw.gz", raw},
		{"train-images-idx3-ubyte.gz", raw},
		{"compressed.idx", gz},
		{"train-images-idx3-ubyte", gz},
		{"noext", gz},
		{"noext-raw", raw},
	} {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, tt.content, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := ReadIDXFile(path)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if m.Type != IDXUint8 || !slices.Equal(m.Dims, []int{4, 7}) || !bytes.Equal(m.Data, payload) {
			t.Errorf("%s: got %v %v % x", tt.name, m.Type, m.Dims, m.Data)
		}
	}

	// Damage is reported as what the content is, not what the name says.
	for _, tt := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"cut.idx", gz[:len(gz)-6], "truncated gzip stream"},
		{"cut.idx.gz", raw[:len(raw)-3], "payload at offset 37: truncated: header claims 28 bytes"},
	} {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, tt.content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadIDXFile(path)
		if err == nil || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error naming the file and containing %q", tt.name, err, tt.want)
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
		{"2^31 images", "huge.idx", encodeIDX(0x08, []uint32{1 << 31, 28, 28}, seq(1000)), []string{"huge.idx: dim[0] at offset 4", "too large: 2147483648×28×28 × 1 B exceeds the limit of 1073741824 bytes"}, nil},
		{"2^30 float64", "f64.idx.gz", gzipBytes(t, encodeIDX(0x0E, []uint32{1 << 30}, nil)), []string{"f64.idx.gz: dim[0] at offset 4", "too large: 1073741824 × 8 B"}, nil},
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
		{"gzip then garbage", "junk.idx.gz", append(slices.Clone(validGz), "this is not a gzip member"...), []string{"junk.idx.gz: trailer at offset 18", "25 unexpected bytes after the gzip stream"}, nil},
		{"gzip then a few bytes", "junk3.idx.gz", append(slices.Clone(validGz), 0, 0, 0), []string{"junk3.idx.gz: trailer at offset 18", "3 unexpected bytes after the gzip stream"}, nil},
		{"gzip then a member", "two.idx.gz", append(slices.Clone(validGz), gzipBytes(t, nil)...), []string{"two.idx.gz: trailer at offset 18", "unexpected bytes after the gzip stream"}, nil},
		{"payload in a second member", "split.idx.gz", append(gzipBytes(t, valid[:12]), gzipBytes(t, valid[12:])...), []string{"split.idx.gz: payload at offset 12", "header claims 6 bytes", "file holds 12"}, nil},
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

// TestReadIDXLimits checks the payload cap and the required shape, both
// applied to the header before the payload is read (the inputs have none).
func TestReadIDXLimits(t *testing.T) {
	images := &IDX{Type: IDXUint8, Dims: []int{2, 28, 28}}
	tests := []struct {
		name     string
		in       []byte
		maxBytes int64
		want     *IDX
		err      string // "" for success
	}{
		{"at the cap", encodeIDX(0x0B, []uint32{3, 5}, seq(30)), 30, nil, ""},
		{"over the cap", encodeIDX(0x0B, []uint32{3, 5}, nil), 29, nil, "dim[1] at offset 8: array too large: 3×5 × 2 B exceeds the limit of 29 bytes"},
		{"over the cap at dim[0]", encodeIDX(0x0E, []uint32{0xffffffff, 0xffffffff}, nil), MaxIDXBytes, nil, "dim[0] at offset 4: array too large"},
		{"shape as required", encodeIDX(0x08, []uint32{2, 28, 28}, seq(2*784)), MaxIDXBytes, images, ""},
		{"shape beats the cap", encodeIDX(0x08, []uint32{1 << 31, 28, 28}, nil), MaxIDXBytes, images, "dim[0] at offset 4: 2147483648, expected 2"},
		{"wrong type", encodeIDX(0x09, []uint32{2, 28, 28}, nil), MaxIDXBytes, images, "type code at offset 2: int8, expected uint8 (header declares int8 2×28×28, expected uint8 2×28×28)"},
		{"wrong ndim", encodeIDX(0x08, []uint32{2, 784}, nil), MaxIDXBytes, images, "ndim at offset 3: 2 dimensions, expected 3"},
		{"wrong last dim", encodeIDX(0x08, []uint32{2, 28, 29}, nil), MaxIDXBytes, images, "dim[2] at offset 12: 29, expected 28"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := readIDX(bytes.NewReader(tt.in), "", tt.maxBytes, tt.want)
			switch {
			case tt.err == "" && err != nil:
				t.Fatal(err)
			case tt.err == "" && tt.want != nil && (m.Type != tt.want.Type || !slices.Equal(m.Dims, tt.want.Dims)):
				t.Errorf("got %v %v", m.Type, m.Dims)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("got %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

// TestReadIDXLargeValid reads a valid file larger than the 64 KiB read
// buffer.
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

// gzipBomb returns a gzip file of about mib KiB that expands to head and
// mib ≥ 1 MiB of zeros. It compresses 1 MiB of zeros once and repeats the
// deflate blocks that result, which refer back only to zeros.
func gzipBomb(t testing.TB, head []byte, mib int) []byte {
	t.Helper()
	zeros := make([]byte, 1<<20)
	var z bytes.Buffer
	zw, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) int { // returns the output size so far
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Flush(); err != nil {
			t.Fatal(err)
		}
		return z.Len()
	}
	first := write(append(slices.Clone(head), zeros...))
	end := write(zeros)
	block := slices.Clone(z.Bytes()[first:end])
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	crc := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, zeros)
	out := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, z.Bytes()[:first]...)
	for range mib - 1 {
		out = append(out, block...)
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	out = append(out, z.Bytes()[first+len(block):]...) // the final block
	out = binary.LittleEndian.AppendUint32(out, crc)
	return binary.LittleEndian.AppendUint32(out, uint32(len(head)+mib<<20))
}

func TestGzipBomb(t *testing.T) {
	bomb := gzipBomb(t, []byte("head"), 3)
	zr, err := gzip.NewReader(bytes.NewReader(bomb))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("head"), make([]byte, 3<<20)...); !bytes.Equal(got, want) {
		t.Errorf("bomb expands to %d bytes, want %d", len(got), len(want))
	}
	if len(bomb) > 8<<10 {
		t.Errorf("bomb of 3 MiB takes %d bytes", len(bomb))
	}
}

// bombEnv names, in the child process of TestIDXBombs, the bomb to read.
const bombEnv = "RETINA_TEST_IDX_BOMB"

// An idxBomb is a gzip file of about 1 MB that expands to 1 GiB: a header,
// then zeros. Reading it must fail, allocating no more than maxAlloc bytes
// in all, far below what the stream expands to.
type idxBomb struct {
	name     string
	setup    func(t *testing.T) (read func() error)
	maxAlloc uint64
	want     string // in the error
}

var idxBombs = []idxBomb{
	{
		// Headers declaring 2^30 labels, a size ReadIDX accepts: MNIST's
		// shape check must stop each file before its payload.
		name: "MNIST files declaring 2^30 labels",
		setup: func(t *testing.T) func() error {
			dir := t.TempDir()
			bomb := gzipBomb(t, encodeIDX(0x08, []uint32{1 << 30}, nil), 1024)
			for _, mf := range mnistFiles {
				if err := os.WriteFile(filepath.Join(dir, mf.name), bomb, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return func() error { _, _, err := MNIST(dir); return err }
		},
		maxAlloc: 4 << 20,
		want:     "sha256 mismatch",
	},
	{
		// The same through Load, for a set other than MNIST.
		name: "Fashion-MNIST files declaring 2^30 labels",
		setup: func(t *testing.T) func() error {
			dir := t.TempDir()
			bomb := gzipBomb(t, encodeIDX(0x08, []uint32{1 << 30}, nil), 1024)
			for _, f := range lookupIDXSet("fashion").files {
				if err := os.WriteFile(filepath.Join(dir, f.gzName()), bomb, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return func() error { _, _, err := Load("fashion", dir); return err }
		},
		maxAlloc: 4 << 20,
		want:     "checksum mismatch",
	},
	{
		name: "2^30 float64",
		setup: func(t *testing.T) func() error {
			bomb := gzipBomb(t, encodeIDX(0x0E, []uint32{1 << 30}, nil), 1024)
			return func() error { _, err := ReadIDX(bytes.NewReader(bomb)); return err }
		},
		maxAlloc: 4 << 20,
		want:     "too large",
	},
	{
		name: "8 MiB declared",
		setup: func(t *testing.T) func() error {
			bomb := gzipBomb(t, encodeIDX(0x08, []uint32{8 << 20}, nil), 1024)
			return func() error { _, err := ReadIDX(bytes.NewReader(bomb)); return err }
		},
		maxAlloc: 8<<20 + 4<<20,
		want:     "at least 1048577 unexpected bytes after the payload",
	},
}

// TestIDXBombs reads each of idxBombs in a child process, under a soft
// memory limit of 256 MiB, and checks what the read allocated (TotalAlloc)
// and, where /proc/self/status exists, how far it raised the peak resident
// set (VmHWM).
func TestIDXBombs(t *testing.T) {
	if name := os.Getenv(bombEnv); name != "" {
		readBomb(t, name)
		return
	}
	for _, b := range idxBombs {
		t.Run(b.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestIDXBombs$", "-test.v")
			cmd.Env = append(os.Environ(), bombEnv+"="+b.name, "GOMEMLIMIT=256MiB")
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("bomb read:")) {
				t.Fatalf("child: %v\n%s", err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if _, report, ok := strings.Cut(line, "bomb read: "); ok {
					t.Log(report)
				}
			}
		})
	}
}

// readBomb is the child process of TestIDXBombs.
func readBomb(t *testing.T, name string) {
	i := slices.IndexFunc(idxBombs, func(b idxBomb) bool { return b.name == name })
	if i < 0 {
		t.Fatalf("no bomb %q", name)
	}
	b := idxBombs[i]
	read := b.setup(t)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	alloc0, hwm0 := ms.TotalAlloc, vmHWM(t)
	err := read()
	runtime.ReadMemStats(&ms)
	alloc, hwm := ms.TotalAlloc-alloc0, vmHWM(t)
	// VmHWM is max(the kernel's lazily updated peak, the current resident
	// set), so a later reading can be lower than an earlier one.
	hwm = max(hwm, hwm0) - hwm0
	t.Logf("bomb read: allocated %d bytes, VmHWM +%d bytes: %v", alloc, hwm, err)
	if err == nil || !strings.Contains(err.Error(), b.want) {
		t.Errorf("got %v, want an error containing %q", err, b.want)
	}
	if alloc > b.maxAlloc {
		t.Errorf("allocated %d bytes, want ≤ %d", alloc, b.maxAlloc)
	}
	if hwm > 256<<20 {
		t.Errorf("peak resident set grew by %d bytes, want ≤ %d", hwm, 256<<20)
	}
}

// vmHWM returns the peak resident set size of the process in bytes, from
// /proc/self/status; 0 where that does not exist.
func vmHWM(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			return kb << 10
		}
	}
	return 0
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

// fuzzMaxBytes caps the payload in FuzzReadIDX, where MaxIDXBytes would
// let every lying header allocate up to 1 GiB.
const fuzzMaxBytes = 1 << 20

// FuzzReadIDX checks that readIDX never panics, returns only *FormatError
// errors, and on success returns a consistent array which, for raw input,
// re-encodes to exactly the input; and that with a required shape it
// succeeds exactly when the plain read does and finds that shape.
func FuzzReadIDX(f *testing.F) {
	f.Add(encodeIDX(0x08, []uint32{2, 2}, []byte{1, 2, 3, 4}))
	f.Add(gzipBytes(f, encodeIDX(0x0B, []uint32{3}, seq(6))))
	want := &IDX{Type: IDXUint8, Dims: []int{2, 2}}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := readIDX(bytes.NewReader(data), "", fuzzMaxBytes, nil)
		mw, errw := readIDX(bytes.NewReader(data), "", fuzzMaxBytes, want)
		match := err == nil && m.Type == want.Type && slices.Equal(m.Dims, want.Dims)
		if match != (errw == nil) || errw == nil && !bytes.Equal(mw.Data, m.Data) {
			t.Fatalf("plain read: %v; read requiring %v %v: %v", err, want.Type, want.Dims, errw)
		}
		for _, e := range []error{err, errw} {
			var fe *FormatError
			if e != nil && !errors.As(e, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", e, e)
			}
		}
		if err != nil {
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
		if n != m.Len() || len(m.Data) != n*m.Type.Size() || len(m.Data) > fuzzMaxBytes {
			t.Fatalf("dims %v type %v: len(Data) = %d", m.Dims, m.Type, len(m.Data))
		}
		if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			if re := encodeIDX(byte(m.Type), dims, m.Data); !bytes.Equal(re, data) {
				t.Fatalf("re-encoding differs from input")
			}
		}
	})
}

// FuzzReadIDXGzipRaw checks the raw/gzip detection: any input that does not
// start with the gzip magic reads the same raw as gzip-compressed (the same
// array, or the same error at the same field and offset), and the gzip path
// never panics and returns only *FormatError errors.
func FuzzReadIDXGzipRaw(f *testing.F) {
	f.Add(encodeIDX(0x08, []uint32{2, 3}, seq(6)))
	f.Add(encodeIDX(0x0B, []uint32{3}, seq(5)))                  // truncated
	f.Add(append(encodeIDX(0x08, []uint32{1}, seq(1)), 0, 0, 0)) // trailing bytes
	f.Add([]byte{0, 0, 8})
	f.Add([]byte{0x1f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // raw input must not look like gzip
		}
		mr, errr := readIDX(bytes.NewReader(data), "f", fuzzMaxBytes, nil)
		mg, errg := readIDX(bytes.NewReader(gzipBytes(t, data)), "f", fuzzMaxBytes, nil)
		switch {
		case (errr == nil) != (errg == nil):
			t.Fatalf("raw: %v; gzip: %v", errr, errg)
		case errr != nil:
			var fr, fg *FormatError
			if !errors.As(errr, &fr) || !errors.As(errg, &fg) {
				t.Fatalf("not *FormatError: raw %T, gzip %T", errr, errg)
			}
			if fr.Field != fg.Field || fr.Offset != fg.Offset || fr.Msg != fg.Msg {
				t.Fatalf("raw: %v; gzip: %v", errr, errg)
			}
		case mr.Type != mg.Type || !slices.Equal(mr.Dims, mg.Dims) || !bytes.Equal(mr.Data, mg.Data):
			t.Fatalf("raw %v %v, gzip %v %v", mr.Type, mr.Dims, mg.Type, mg.Dims)
		}
	})
}
