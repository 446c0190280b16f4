package datasets

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

// npyDict returns the header dict NumPy writes for an array.
func npyDict(descr string, fortran bool, shape ...int) string {
	f := "False"
	if fortran {
		f = "True"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, f, npyShapeString(shape))
}

// encodeNPY builds a .npy stream of format version major.0 as NumPy does:
// the header dict padded with spaces and a newline so that the payload
// starts at a multiple of 64. Nothing is validated.
func encodeNPY(major byte, dict string, payload []byte) []byte {
	pre := 10
	if major > 1 {
		pre = 12
	}
	pad := 63 - (pre+len(dict)+1+63)%64
	return rawNPY(major, dict+strings.Repeat(" ", pad)+"\n", payload)
}

// rawNPY builds a .npy stream with exactly the given header text.
func rawNPY(major byte, header string, payload []byte) []byte {
	b := []byte(npyMagic)
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	b = append(b, header...)
	return append(b, payload...)
}

// encodeElems encodes vals as elements of the dtype descr ("<f4", ">i8", …).
func encodeElems(descr string, vals []float64) []byte {
	var order binary.AppendByteOrder = binary.LittleEndian
	if descr[0] == '>' {
		order = binary.BigEndian
	}
	var b []byte
	for _, v := range vals {
		switch descr[1:] {
		case "b1", "u1":
			b = append(b, byte(v))
		case "i1":
			b = append(b, byte(int8(v)))
		case "i2":
			b = order.AppendUint16(b, uint16(int16(v)))
		case "u2":
			b = order.AppendUint16(b, uint16(v))
		case "i4":
			b = order.AppendUint32(b, uint32(int32(v)))
		case "u4":
			b = order.AppendUint32(b, uint32(v))
		case "i8":
			b = order.AppendUint64(b, uint64(int64(v)))
		case "u8":
			b = order.AppendUint64(b, uint64(v))
		case "f4":
			b = order.AppendUint32(b, math.Float32bits(float32(v)))
		case "f8":
			b = order.AppendUint64(b, math.Float64bits(v))
		default:
			panic("encodeElems: " + descr)
		}
	}
	return b
}

func TestReadNPYDtypes(t *testing.T) {
	tests := []struct {
		descr, typ string
		vals       []float64
		intsErr    bool // Ints fails
	}{
		{"|b1", "bool", []float64{1, 0, 1}, false},
		{"|i1", "int8", []float64{-128, -1, 0, 127}, false},
		{"|u1", "uint8", []float64{0, 1, 200, 255}, false},
		{"<u1", "uint8", []float64{7}, false},
		{"<i2", "int16", []float64{-32768, 7, 32767}, false},
		{">i2", "int16", []float64{-32768, 7, 32767}, false},
		{"<u2", "uint16", []float64{0, 258, 65535}, false},
		{">u2", "uint16", []float64{0, 258, 65535}, false},
		{"<i4", "int32", []float64{math.MinInt32, -5, math.MaxInt32}, false},
		{">i4", "int32", []float64{math.MinInt32, -5, math.MaxInt32}, false},
		{"<u4", "uint32", []float64{math.MaxUint32, 3}, false},
		{">u4", "uint32", []float64{math.MaxUint32, 3}, false},
		{"<i8", "int64", []float64{-(1 << 53), 1 << 53, -1}, false},
		{">i8", "int64", []float64{-(1 << 53), 1 << 53, -1}, false},
		{"<u8", "uint64", []float64{0, 1 << 62}, false},
		{">u8", "uint64", []float64{1 << 63, 5}, true},
		{"<f4", "float32", []float64{-1.5, 0.25, math.Inf(1), 0x1p127}, true},
		{">f4", "float32", []float64{-1.5, 0.25, math.Inf(-1)}, true},
		{"<f8", "float64", []float64{math.Pi, -1e300, 0}, true},
		{">f8", "float64", []float64{math.Pi, -1e300, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.descr, func(t *testing.T) {
			in := encodeNPY(1, npyDict(tt.descr, false, len(tt.vals)), encodeElems(tt.descr, tt.vals))
			a, err := ReadNPY(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if a.Descr != tt.descr || a.Type() != tt.typ || !slices.Equal(a.Shape, []int{len(tt.vals)}) || a.Len() != len(tt.vals) {
				t.Fatalf("got descr %q type %s shape %v len %d", a.Descr, a.Type(), a.Shape, a.Len())
			}
			le := "<" + tt.descr[1:]
			if !bytes.Equal(a.Data, encodeElems(le, tt.vals)) {
				t.Errorf("Data = % x, expected little-endian % x", a.Data, encodeElems(le, tt.vals))
			}
			if got := a.Float64(); !slices.Equal(got, tt.vals) {
				t.Errorf("Float64 = %v, expected %v", got, tt.vals)
			}
			f32 := make([]float32, len(tt.vals))
			for i, v := range tt.vals {
				f32[i] = float32(v)
			}
			if got := a.Float32(); !slices.Equal(got, f32) {
				t.Errorf("Float32 = %v, expected %v", got, f32)
			}
			ints, err := a.Ints()
			if (err != nil) != tt.intsErr {
				t.Fatalf("Ints error %v, expected error: %v", err, tt.intsErr)
			}
			if err == nil {
				for i, v := range ints {
					if float64(v) != tt.vals[i] {
						t.Errorf("Ints = %v, expected %v", ints, tt.vals)
						break
					}
				}
			}
		})
	}
}

func TestReadNPYVersionsAndHeaders(t *testing.T) {
	payload := encodeElems("<f4", []float64{1, 2, 3, 4, 5, 6})
	dict := npyDict("<f4", false, 2, 3)
	inputs := map[string][]byte{
		"v1":                encodeNPY(1, dict, payload),
		"v2":                encodeNPY(2, dict, payload),
		"v3":                encodeNPY(3, dict, payload),
		"double quotes":     rawNPY(1, `{"descr": "<f4", "fortran_order": False, "shape": (2, 3)}`+"\n", payload),
		"other key order":   rawNPY(1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", payload),
		"compact, Python 2": rawNPY(1, "{'descr':'<f4','fortran_order':False,'shape':(2L,3L,),}", payload),
		"spaces around":     rawNPY(2, " \t{ 'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 2 , 3 ) }\r\n  ", payload),
		"no padding":        rawNPY(1, dict, payload),
	}
	for name, in := range inputs {
		a, err := ReadNPY(bytes.NewReader(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !slices.Equal(a.Shape, []int{2, 3}) || !slices.Equal(a.Float32(), []float32{1, 2, 3, 4, 5, 6}) {
			t.Errorf("%s: shape %v values %v", name, a.Shape, a.Float32())
		}
	}
	for _, tt := range []struct {
		shape []int
		n     int
	}{{[]int{}, 1}, {[]int{0, 3}, 0}, {[]int{3, 0}, 0}, {[]int{1 << 40, 0, 1 << 40}, 0}, {[]int{1, 1, 1, 2}, 2}} {
		in := encodeNPY(1, npyDict("<i2", false, tt.shape...), make([]byte, 2*tt.n))
		a, err := ReadNPY(bytes.NewReader(in))
		if err != nil {
			t.Errorf("shape %v: %v", tt.shape, err)
			continue
		}
		if !slices.Equal(a.Shape, tt.shape) || len(a.Data) != 2*tt.n {
			t.Errorf("shape %v: got shape %v, %d bytes", tt.shape, a.Shape, len(a.Data))
		}
	}
}

// TestReadNPYStream checks that ReadNPY reads exactly one array, so that
// arrays written one after another are read by successive calls.
func TestReadNPYStream(t *testing.T) {
	var stream []byte
	stream = append(stream, encodeNPY(1, npyDict("|u1", false, 3), []byte{1, 2, 3})...)
	stream = append(stream, encodeNPY(2, npyDict(">i2", false, 1), []byte{1, 2})...)
	r := bytes.NewReader(stream)
	a, err := ReadNPY(r)
	if err != nil || !slices.Equal(a.Data, []byte{1, 2, 3}) {
		t.Fatalf("first array: %v, %v", a, err)
	}
	b, err := ReadNPY(r)
	if err != nil || !slices.Equal(b.Float64(), []float64{258}) {
		t.Fatalf("second array: %v, %v", b, err)
	}
	if _, err := ReadNPY(r); err == nil || !strings.Contains(err.Error(), "empty input") {
		t.Fatalf("third read: %v, expected empty input", err)
	}
}

func TestReadNPYErrors(t *testing.T) {
	good := npyDict("<f4", false, 2, 3)
	payload := make([]byte, 24)
	// off returns the offset in a version 1 stream of sub within header.
	off := func(header, sub string) int64 {
		i := strings.Index(header, sub)
		if i < 0 {
			panic(sub)
		}
		return int64(10 + i)
	}
	hdr := func(s string) []byte { return rawNPY(1, s, payload) }
	replace := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	v2len := append([]byte(npyMagic+"\x02\x00"), 0, 0, 0x10, 0) // 1 MiB header
	tooMany := "(" + strings.Repeat("1, ", 65) + ")"
	tests := []struct {
		name  string
		in    []byte
		field string
		off   int64
		msg   string
	}{
		{"empty", nil, "magic", 0, "empty input"},
		{"bad magic", []byte("\x93NUMPZ\x01\x00"), "magic", 0, "not a .npy file"},
		{"IDX file", encodeIDX(0x08, []uint32{2}, []byte{1, 2}), "magic", 0, "not a .npy file"},
		{"short magic", []byte("\x93NUM"), "version", 4, "truncated"},
		{"version 1.1", []byte(npyMagic + "\x01\x01\x00\x00"), "version", 6, "version 1.1"},
		{"version 4.0", []byte(npyMagic + "\x04\x00\x00\x00"), "version", 6, "expected 1.0, 2.0 or 3.0"},
		{"short header length", []byte(npyMagic + "\x02\x00\x10\x00"), "header length", 10, "truncated"},
		{"header over the limit", v2len, "header length", 8, "exceeds the limit of 65536"},
		{"short header", rawNPY(1, good, nil)[:40], "header", 40, "truncated"},
		{"not a dict", hdr("['descr', '<f4']"), "header", 10, "expected '{'"},
		{"missing shape", hdr("{'descr': '<f4', 'fortran_order': False}"), "header", 10, "missing key 'shape'"},
		{"extra key", hdr(replace("}", "'x': 1}")), "header", off(replace("}", "'x': 1}"), "'x'"), "unexpected key \"x\""},
		{"duplicate key", hdr(replace("}", "'descr': '<f4'}")), "header", off(replace("}", "'descr': '<f4'}"), "'descr': '<f4'}"), "duplicate key"},
		{"structured", hdr(replace("'<f4'", "[('a', '<f4')]")), "descr", off(good, "'<f4'"), "structured dtypes"},
		{"complex", hdr(replace("<f4", "<c8")), "descr", off(good, "'<f4'"), `dtype "<c8" is not supported`},
		{"float16", hdr(replace("<f4", "<f2")), "descr", off(good, "'<f4'"), `dtype "<f2" is not supported`},
		{"string", hdr(replace("<f4", "<U10")), "descr", off(good, "'<f4'"), "not supported"},
		{"bar order, 4 bytes", hdr(replace("<f4", "|f4")), "descr", off(good, "'<f4'"), "byte order '|'"},
		{"native order", hdr(replace("<f4", "=f4")), "descr", off(good, "'<f4'"), "byte order '='"},
		{"escaped string", hdr(replace("'<f4'", `'<f\x34'`)), "descr", off(good, "'<f4'"), "expected a dtype string"},
		{"fortran order", hdr(replace("False", "True")), "fortran_order", off(good, "False"), "Fortran (column-major) order is not supported"},
		{"fortran_order not a bool", hdr(replace("False", "0")), "fortran_order", off(good, "False"), "expected True or False"},
		{"shape a list", hdr(replace("(2, 3)", "[2, 3]")), "shape", off(good, "(2, 3)"), "expected a tuple"},
		{"shape an int", hdr(replace("(2, 3)", "(6)")), "shape", off(good, "(2, 3)") + 3, "(6) is an integer, not a tuple"},
		{"negative size", hdr(replace("(2, 3)", "(2, -3)")), "shape[1]", off(good, "3)"), "negative size -3"},
		{"size not an integer", hdr(replace("(2, 3)", "(2, 3.0)")), "shape", off(good, "3)") + 1, "expected ',' or ')'"},
		{"leading zero", hdr(replace("(2, 3)", "(2, 03)")), "shape", off(good, "3)"), "leading zero"},
		{"64-bit overflow", hdr(replace("(2, 3)", "(99999999999999999999,)")), "shape", off(good, "2, 3"), "does not fit in 64 bits"},
		{"product overflows", hdr(replace("(2, 3)", "(4611686018427387904, 4611686018427387904)")), "shape[0]", off(good, "2, 3"), "array too large"},
		{"product over the cap", hdr(replace("(2, 3)", "(16, 1048576, 1024)")), "shape[2]", off(replace("(2, 3)", "(16, 1048576, 1024)"), "1024)"),
			"(16, 1048576, 1024) × 4 B exceeds the limit of 1073741824 bytes"},
		{"first size over the cap", hdr(replace("(2, 3)", "(1073741824, 1073741824, 16)")), "shape[0]", off(good, "2, 3"), "exceeds the limit"},
		{"4 GiB of float64", hdr(replace("<f4', 'fortran_order': False, 'shape': (2, 3)", "<f8', 'fortran_order': False, 'shape': (536870912,)")), "shape[0]",
			off(good, "2, 3"), "(536870912,) × 8 B exceeds the limit"},
		{"too many dimensions", hdr(replace("(2, 3)", tooMany)), "shape", off(good, "(2, 3)") + 1 + 64*3, "more than 64 dimensions"},
		{"garbage after the dict", hdr(good + " x"), "header", off(good+" x", " x") + 1, "expected only spaces"},
		{"no closing brace", hdr("{'descr': '<f4'"), "header", off("{'descr': '<f4'", "'<f4'") + 5, "expected ',' or '}'"},
		{"truncated payload", encodeNPY(1, good, payload[:10]), "payload", 128 + 10, "header declares 24 bytes of payload ((2, 3) × 4 B), input holds 138"},
		{"no payload", encodeNPY(2, good, nil), "payload", 128, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ReadNPY(bytes.NewReader(tt.in))
			if err == nil {
				t.Fatalf("no error; got %s %v", a.Descr, a.Shape)
			}
			if a != nil {
				t.Error("non-nil array with an error")
			}
			var fe *NPYFormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q (%T) is not an *NPYFormatError", err, err)
			}
			if fe.Field != tt.field || fe.Offset != tt.off || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got field %q offset %d error %q\nexpected field %q offset %d, containing %q", fe.Field, fe.Offset, err, tt.field, tt.off, tt.msg)
			}
		})
	}
}

// TestReadNPYCap checks the payload cap at its boundary.
func TestReadNPYCap(t *testing.T) {
	for _, tt := range []struct {
		descr string
		n     int
		ok    bool
	}{{"|u1", 256, true}, {"|u1", 257, false}, {"<f8", 32, true}, {"<f8", 33, false}} {
		in := encodeNPY(1, npyDict(tt.descr, false, tt.n), make([]byte, tt.n*int(tt.descr[2]-'0')))
		_, err := readNPY(bytes.NewReader(in), "", "", 256, -1, false)
		if (err == nil) != tt.ok {
			t.Errorf("%d × %s with a cap of 256 bytes: error %v", tt.n, tt.descr, err)
		}
	}
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadNPYFile(t *testing.T) {
	dir := t.TempDir()
	valid := encodeNPY(1, npyDict("<i4", false, 2), encodeElems("<i4", []float64{-1, 7}))
	good := filepath.Join(dir, "good.npy")
	writeTestFile(t, good, valid)
	a, err := ReadNPYFile(good)
	if err != nil || !slices.Equal(a.Float64(), []float64{-1, 7}) {
		t.Fatalf("got %v, %v", a, err)
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"trail.npy", append(slices.Clone(valid), 0), []string{"trail.npy: trailer at offset 136", "1 unexpected bytes"}},
		{"short.npy", valid[:130], []string{"short.npy: payload at offset 128", "header declares 8 bytes", "input holds 2"}},
		{"hdr.npy", valid[:100], []string{"hdr.npy: header at offset 10", "header length 118 needs 128 bytes, input holds 100"}},
	} {
		p := filepath.Join(dir, tt.name)
		writeTestFile(t, p, tt.in)
		_, err := ReadNPYFile(p)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v, expected it to contain %q", tt.name, err, w)
			}
		}
	}
	if _, err := ReadNPYFile(filepath.Join(dir, "missing.npy")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadNPYFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

// bytesAllocated returns the bytes f allocates.
func bytesAllocated(f func()) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	f()
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc - before
}

// TestNPYLyingHeader checks that a header declaring 1 GiB, within the cap,
// over a few bytes of data costs little memory: a file, an .npz member or
// an NPZSet is checked against its size first, a stream is read into a
// buffer that grows with the data.
func TestNPYLyingHeader(t *testing.T) {
	lie := encodeNPY(1, npyDict("|u1", false, 1<<14, 1<<8, 1<<8), seq(100)) // (16384, 256, 256): 1 GiB
	dir := t.TempDir()
	file := filepath.Join(dir, "lie.npy")
	writeTestFile(t, file, lie)
	npz := filepath.Join(dir, "lie.npz")
	writeNPZ(t, npz, []npzMember{{"x.npy", lie, zip.Deflate}})
	for _, tt := range []struct {
		name  string
		read  func() error
		limit uint64
		want  string
	}{
		{"stream", func() error { _, err := ReadNPY(bytes.NewReader(lie)); return err }, 4 << 20, "payload at offset 228"},
		{"file", func() error { _, err := ReadNPYFile(file); return err }, 1 << 20, "input holds 100"},
		{"npz member", func() error {
			z, err := OpenNPZ(npz)
			if err != nil {
				return err
			}
			defer z.Close()
			_, err = z.Read("x")
			return err
		}, 1 << 20, "input holds 100"},
		{"NPZSet", func() error { _, err := NPZSet(npz, "x", "", NPZOptions{}); return err }, 1 << 20, "input holds 100"},
	} {
		var err error
		n := bytesAllocated(func() { err = tt.read() })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, expected it to contain %q", tt.name, err, tt.want)
		}
		if n > tt.limit {
			t.Errorf("%s: allocated %d bytes, expected at most %d", tt.name, n, tt.limit)
		}
	}
}

func npyTestdata(name string) string { return filepath.Join("testdata", name) }

// TestReadNPYNumPy reads the files written by NumPy itself (see
// testdata/make_npy.py, whose formulas the expected values repeat).
func TestReadNPYNumPy(t *testing.T) {
	read := func(name string) *NPYArray {
		t.Helper()
		a, err := ReadNPYFile(npyTestdata(name))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	check := func(name string, a *NPYArray, descr string, shape []int, want []float64) {
		t.Helper()
		if a.Descr != descr || !slices.Equal(a.Shape, shape) || !slices.Equal(a.Float64(), want) {
			t.Errorf("%s: got %s %v %v, expected %s %v %v", name, a.Descr, a.Shape, a.Float64(), descr, shape, want)
		}
	}
	gen := func(n int, f func(i int) float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	check("npy_f4.npy", read("npy_f4.npy"), "<f4", []int{2, 3}, gen(6, func(i int) float64 { return (float64(i) - 2.5) / 4 }))
	check("npy_f8_v2.npy", read("npy_f8_v2.npy"), "<f8", []int{2, 2, 3}, gen(12, func(i int) float64 { return float64(i)/2 - 1 }))
	check("npy_i8_be_v3.npy", read("npy_i8_be_v3.npy"), ">i8", []int{5}, gen(5, func(i int) float64 { return float64((i - 2) * 1000000007) }))
	check("npy_u1.npy", read("npy_u1.npy"), "|u1", []int{6}, gen(6, func(i int) float64 { return float64(51 * i) }))
	check("npy_i4_scalar.npy", read("npy_i4_scalar.npy"), "<i4", []int{}, []float64{-7})
	check("npy_b1.npy", read("npy_b1.npy"), "|b1", []int{3}, []float64{1, 0, 1})
	check("npy_i2_empty.npy", read("npy_i2_empty.npy"), "<i2", []int{0, 3}, []float64{})
	if ints, err := read("npy_i8_be_v3.npy").Ints(); err != nil || ints[0] != -2000000014 {
		t.Errorf("Ints: %v, %v", ints, err)
	}
	_, err := ReadNPYFile(npyTestdata("npy_fortran.npy"))
	var fe *NPYFormatError
	if !errors.As(err, &fe) || fe.Field != "fortran_order" || !strings.Contains(err.Error(), "npy_fortran.npy: fortran_order at offset") {
		t.Errorf("Fortran-order file: %v", err)
	}

	z, err := OpenNPZ(npyTestdata("npz_deflated.npz"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if keys := z.Keys(); !slices.Equal(keys, []string{"images", "labels", "feats"}) {
		t.Errorf("Keys = %v", keys)
	}
	for _, key := range []string{"feats", "feats.npy"} {
		a, err := z.Read(key)
		if err != nil {
			t.Fatal(err)
		}
		check(key, a, "<f4", []int{3, 2}, gen(6, func(i int) float64 { return float64(i) / 8 }))
	}
	if _, err := z.Read("nope"); err == nil || !strings.Contains(err.Error(), `no array "nope" (the archive holds images, labels, feats)`) {
		t.Errorf("missing key: %v", err)
	}
}

// TestNPZSetNumPy turns NumPy's .npz files into Sets.
func TestNPZSetNumPy(t *testing.T) {
	s, err := NPZSet(npyTestdata("npz_stored.npz"), "x", "y.npy", NPZOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 24)
	for i := range want {
		want[i] = float32(i*10) / 255
	}
	if !slices.Equal(s.Shape, []int{1, 2, 3}) || !slices.Equal(s.X, want) || !slices.Equal(s.Labels, []int{0, 2, 1, 2}) || s.Classes != 3 {
		t.Errorf("stored: got shape %v X %v labels %v classes %d", s.Shape, s.X, s.Labels, s.Classes)
	}

	// Channels last, (2, 2, 3, 3): recognised by the trailing 3.
	path := npyTestdata("npz_deflated.npz")
	s, err = NPZSet(path, "images", "labels", NPZOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = make([]float32, 36)
	for n := range 2 {
		for c := range 3 {
			for h := range 2 {
				for w := range 3 {
					i := ((n*2+h)*3+w)*3 + c // NumPy's index
					want[((n*3+c)*2+h)*3+w] = float32(i*7%256) / 255
				}
			}
		}
	}
	if !slices.Equal(s.Shape, []int{3, 2, 3}) || !slices.Equal(s.X, want) || !slices.Equal(s.Labels, []int{1, 0}) || s.Classes != 2 {
		t.Errorf("channels last: got shape %v X %v labels %v classes %d", s.Shape, s.X, s.Labels, s.Classes)
	}
	// Forced channels first: the data are taken in file order.
	s, err = NPZSet(path, "images", "labels", NPZOptions{Layout: NPZChannelsFirst, Classes: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i] = float32(i*7%256) / 255
	}
	if !slices.Equal(s.Shape, []int{2, 3, 3}) || !slices.Equal(s.X, want) || s.Classes != 5 {
		t.Errorf("channels first: got shape %v X %v classes %d", s.Shape, s.X, s.Classes)
	}
	// Float feature vectors, unlabelled, taken as they are.
	s, err = NPZSet(path, "feats", "", NPZOptions{Classes: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Shape, []int{2}) || !slices.Equal(s.X, []float32{0, 0.125, 0.25, 0.375, 0.5, 0.625}) || s.Labels != nil || s.Classes != 0 || s.Len() != 3 {
		t.Errorf("features: got shape %v X %v labels %v classes %d", s.Shape, s.X, s.Labels, s.Classes)
	}
}

type npzMember struct {
	name   string
	data   []byte
	method uint16
}

// writeNPZ writes a zip archive of the given members.
func writeNPZ(t *testing.T, path string, members []npzMember) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, path, buf.Bytes())
}

func npyOf(descr string, shape []int, vals []float64) []byte {
	return encodeNPY(1, npyDict(descr, false, shape...), encodeElems(descr, vals))
}

func npyIota(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}

func TestNPZSetLayouts(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		shape  []int
		layout NPZLayout
		sample []int
		last   bool
	}{
		{[]int{2, 3, 4, 4}, NPZLayoutAuto, []int{3, 4, 4}, false},
		{[]int{2, 6, 6, 3}, NPZLayoutAuto, []int{3, 6, 6}, true},
		{[]int{2, 4, 4, 3}, NPZLayoutAuto, []int{4, 4, 3}, false}, // ambiguous: first
		{[]int{2, 5, 5, 1}, NPZLayoutAuto, []int{1, 5, 5}, true},
		{[]int{2, 5, 2, 4}, NPZLayoutAuto, []int{4, 5, 2}, true},
		{[]int{2, 3, 4, 3}, NPZLayoutAuto, []int{3, 4, 3}, false}, // ambiguous: first
		{[]int{2, 3, 4, 3}, NPZChannelsLast, []int{3, 3, 4}, true},
		{[]int{2, 4, 4, 3}, NPZChannelsFirst, []int{4, 4, 3}, false},
		{[]int{2, 6, 5, 7}, NPZLayoutAuto, []int{6, 5, 7}, false},
		{[]int{2, 6, 5}, NPZChannelsLast, []int{1, 6, 5}, false},
		{[]int{3, 7}, NPZChannelsLast, []int{7}, false},
	}
	for _, tt := range tests {
		n := 1
		for _, d := range tt.shape {
			n *= d
		}
		vals := npyIota(n)
		path := filepath.Join(dir, "a.npz")
		// Big-endian float32 images, stored; int8 labels, deflated.
		labels := npyIota(tt.shape[0])
		writeNPZ(t, path, []npzMember{
			{"x.npy", npyOf(">f4", tt.shape, vals), zip.Store},
			{"y.npy", npyOf("|i1", []int{tt.shape[0]}, labels), zip.Deflate},
		})
		s, err := NPZSet(path, "x", "y", NPZOptions{Layout: tt.layout})
		if err != nil {
			t.Errorf("%v %d: %v", tt.shape, tt.layout, err)
			continue
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = float32(i)
		}
		if tt.last {
			// Element (n, h, w, c) of the file goes to (n, c, h, w).
			hh, ww, c := tt.shape[1], tt.shape[2], tt.shape[3]
			for i := range n {
				ch, pix, smp := i%c, (i/c)%(hh*ww), i/(c*hh*ww)
				want[smp*c*hh*ww+ch*hh*ww+pix] = float32(i)
			}
		}
		if !slices.Equal(s.Shape, tt.sample) || !slices.Equal(s.X, want) || s.Classes != tt.shape[0] || s.Validate() != nil {
			t.Errorf("%v layout %d: got shape %v X %v classes %d, expected %v %v", tt.shape, tt.layout, s.Shape, s.X, s.Classes, tt.sample, want)
		}
	}
}

// TestNPZSetLarge checks the chunked conversion on more than one chunk of
// channels-last data.
func TestNPZSetLarge(t *testing.T) {
	const n, h, w, c = 3, 100, 150, 3
	raw := make([]byte, n*h*w*c)
	for i := range raw {
		raw[i] = byte(i * 31 >> 3)
	}
	path := filepath.Join(t.TempDir(), "big.npz")
	writeNPZ(t, path, []npzMember{{"x.npy", encodeNPY(1, npyDict("|u1", false, n, h, w, c), raw), zip.Deflate}})
	s, err := NPZSet(path, "x", "", NPZOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range raw {
		ch, pix, smp := i%c, (i/c)%(h*w), i/(c*h*w)
		if got := s.X[smp*c*h*w+ch*h*w+pix]; got != float32(b)/255 {
			t.Fatalf("element %d: got %v, expected %v", i, got, float32(b)/255)
		}
	}
}

func TestNPZSetErrors(t *testing.T) {
	dir := t.TempDir()
	imgs := npyOf("|u1", []int{3, 2, 2}, npyIota(12))
	path := func(name string, members ...npzMember) string {
		p := filepath.Join(dir, name)
		writeNPZ(t, p, members)
		return p
	}
	good := path("good.npz", npzMember{"x.npy", imgs, zip.Store}, npzMember{"y.npy", npyOf("<i8", []int{3}, []float64{0, 1, 2}), zip.Store})
	corrupt, _ := os.ReadFile(good)
	i := bytes.Index(corrupt, imgs) + len(imgs) - 1 // last pixel of x.npy, stored
	corrupt[i] ^= 0xff
	badCRC := filepath.Join(dir, "crc.npz")
	writeTestFile(t, badCRC, corrupt)
	notZip := filepath.Join(dir, "notzip.npz")
	writeTestFile(t, notZip, imgs)

	tests := []struct {
		name   string
		path   string
		x, y   string
		opt    NPZOptions
		want   []string
		target error
	}{
		{"missing key", good, "images", "y", NPZOptions{}, []string{"good.npz", `no array "images" (the archive holds x, y)`}, nil},
		{"missing labels", good, "x", "labels", NPZOptions{}, []string{`no array "labels"`}, nil},
		{"too few classes", good, "x", "y", NPZOptions{Classes: 2}, []string{"good.npz (member y.npy): payload at offset 144", "label 2 is 2, expected < Classes = 2"}, nil},
		{"bad layout", good, "x", "y", NPZOptions{Layout: 7}, []string{"unknown NPZOptions.Layout 7"}, nil},
		{"negative classes", good, "x", "y", NPZOptions{Classes: -1}, []string{"Classes = -1"}, nil},
		{"count mismatch", path("count.npz", npzMember{"x.npy", imgs, zip.Deflate}, npzMember{"y.npy", npyOf("|u1", []int{2}, []float64{0, 1}), zip.Deflate}),
			"x", "y", NPZOptions{}, []string{"count.npz (member y.npy): shape at offset", "labels of shape (2,), expected (3) or (3, 1) to match images of shape (3, 2, 2) (in x.npy)"}, nil},
		{"labels (3, 2)", path("l32.npz", npzMember{"x.npy", imgs, zip.Store}, npzMember{"y.npy", npyOf("|u1", []int{3, 2}, npyIota(6)), zip.Store}),
			"x", "y", NPZOptions{}, []string{"labels of shape (3, 2)"}, nil},
		{"float labels", path("flt.npz", npzMember{"x.npy", imgs, zip.Store}, npzMember{"y.npy", npyOf("<f4", []int{3}, []float64{0, 1, 2}), zip.Store}),
			"x", "y", NPZOptions{}, []string{"flt.npz (member y.npy): descr at offset 20", "labels of type float32"}, nil},
		{"negative label", path("neg.npz", npzMember{"x.npy", imgs, zip.Store}, npzMember{"y.npy", npyOf("<i2", []int{3}, []float64{0, -4, 2}), zip.Store}),
			"x", "y", NPZOptions{}, []string{"neg.npz (member y.npy): payload at offset 130", "label 1 is -4, expected an integer ≥ 0"}, nil},
		{"huge label", path("huge.npz", npzMember{"x.npy", imgs, zip.Store}, npzMember{"y.npy", npyOf("<u8", []int{3}, []float64{0, 1 << 63, 2}), zip.Store}),
			"x", "y", NPZOptions{}, []string{"label 1 is 9.223372036854776e+18"}, nil},
		{"1-d images", path("vec.npz", npzMember{"x.npy", npyOf("|u1", []int{3}, npyIota(3)), zip.Store}),
			"x", "", NPZOptions{}, []string{"vec.npz (member x.npy): shape at offset", "images of shape (3,), expected (N, D)"}, nil},
		{"empty sample", path("empty.npz", npzMember{"x.npy", npyOf("|u1", []int{3, 0, 2}, nil), zip.Store}),
			"x", "", NPZOptions{}, []string{"samples of shape (1, 0, 2), expected every size > 0"}, nil},
		{"huge empty", path("hugeempty.npz", npzMember{"x.npy", npyOf("|u1", []int{0, 1 << 40, 1 << 40}, nil), zip.Store}),
			"x", "", NPZOptions{}, []string{"samples of shape (1, 1099511627776, 1099511627776), expected every size > 0 and at most 1073741824 values"}, nil},
		{"trailing bytes", path("trail.npz", npzMember{"x.npy", append(slices.Clone(imgs), 0, 0), zip.Deflate}),
			"x", "", NPZOptions{}, []string{"trail.npz (member x.npy): trailer at offset 140", "2 unexpected bytes"}, nil},
		{"bad member", path("bad.npz", npzMember{"x.npy", []byte("not an array"), zip.Deflate}),
			"x", "", NPZOptions{}, []string{"bad.npz (member x.npy): magic at offset 0"}, nil},
		{"bad CRC", badCRC, "x", "y", NPZOptions{}, []string{"crc.npz (member x.npy): trailer at offset 140"}, zip.ErrChecksum},
		{"not a zip", notZip, "x", "y", NPZOptions{}, []string{"notzip.npz: zip at offset 0", "not a readable zip archive"}, zip.ErrFormat},
		{"no file", filepath.Join(dir, "none.npz"), "x", "y", NPZOptions{}, []string{"none.npz"}, os.ErrNotExist},
	}
	for _, tt := range tests {
		s, err := NPZSet(tt.path, tt.x, tt.y, tt.opt)
		if err == nil {
			t.Errorf("%s: no error; got shape %v", tt.name, s.Shape)
			continue
		}
		if s != nil {
			t.Errorf("%s: non-nil set with an error", tt.name)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, w)
			}
		}
		if tt.target != nil && !errors.Is(err, tt.target) {
			t.Errorf("%s: error %q is not %v", tt.name, err, tt.target)
		}
	}

	// Duplicate members, and an unsupported compression method.
	p := filepath.Join(dir, "dup.npz")
	writeNPZ(t, p, []npzMember{{"x.npy", imgs, zip.Store}, {"x.npy", imgs, zip.Store}})
	if _, err := OpenNPZ(p); err == nil || !strings.Contains(err.Error(), "dup.npz (member x.npy): zip at offset 0: duplicate member name") {
		t.Errorf("duplicate members: %v", err)
	}
	b, _ := os.ReadFile(good)
	for i := 0; i+10 <= len(b); i++ { // set the method of every header to 99
		if sig := binary.LittleEndian.Uint32(b[i:]); sig == 0x04034b50 {
			binary.LittleEndian.PutUint16(b[i+8:], 99)
		} else if sig == 0x02014b50 {
			binary.LittleEndian.PutUint16(b[i+10:], 99)
		}
	}
	p = filepath.Join(dir, "method.npz")
	writeTestFile(t, p, b)
	if _, err := NPZSet(p, "x", "", NPZOptions{}); err == nil || !errors.Is(err, zip.ErrAlgorithm) || !strings.Contains(err.Error(), "method.npz (member x.npy): zip") {
		t.Errorf("unsupported method: %v", err)
	}
}

func TestNPYSet(t *testing.T) {
	dir := t.TempDir()
	x, y := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	writeTestFile(t, x, npyOf("<f8", []int{2, 2, 2}, []float64{0.5, -1, 2, 3, 4, 5, 6, 7}))
	writeTestFile(t, y, npyOf(">i4", []int{2, 1}, []float64{3, 1}))
	s, err := NPYSet(x, y, NPZOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Shape, []int{1, 2, 2}) || !slices.Equal(s.X, []float32{0.5, -1, 2, 3, 4, 5, 6, 7}) || !slices.Equal(s.Labels, []int{3, 1}) || s.Classes != 4 {
		t.Errorf("got shape %v X %v labels %v classes %d", s.Shape, s.X, s.Labels, s.Classes)
	}
	writeTestFile(t, y, npyOf(">i4", []int{2}, []float64{3, 1})[:130])
	if _, err := NPYSet(x, y, NPZOptions{}); err == nil || !strings.Contains(err.Error(), "y.npy: payload at offset 128") {
		t.Errorf("truncated labels: %v", err)
	}
	if _, err := NPYSet(x, filepath.Join(dir, "none.npy"), NPZOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing labels: %v", err)
	}
}

func TestNPYFormatErrorString(t *testing.T) {
	for _, tt := range []struct {
		e    NPYFormatError
		want string
	}{
		{NPYFormatError{Field: "shape", Offset: 3, Msg: "m"}, "npy: shape at offset 3: m"},
		{NPYFormatError{File: "a.npy", Field: "magic", Msg: "m", Err: io.EOF}, "npy: a.npy: magic at offset 0: m: EOF"},
		{NPYFormatError{File: "a.npz", Member: "x.npy", Field: "payload", Offset: 9, Msg: "m"}, "npy: a.npz (member x.npy): payload at offset 9: m"},
		{NPYFormatError{Member: "x.npy", Field: "payload", Msg: "m"}, "npy: member x.npy: payload at offset 0: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, expected %q", got, tt.want)
		}
	}
}

// fuzzNPYMax caps the payload in FuzzReadNPY, so that every lying header
// costs at most 1 MiB.
const fuzzNPYMax = 1 << 20

// FuzzReadNPY checks that readNPY never panics, returns only
// *NPYFormatError errors and, on success, a consistent array within the
// cap, which re-encoded with a canonical header reads back the same; that
// reading a whole input (length known) succeeds exactly when a stream read
// succeeds and consumes all of it; and that the conversions do not panic.
func FuzzReadNPY(f *testing.F) {
	f.Add(encodeNPY(1, npyDict("<f4", false, 2, 3), make([]byte, 24)))
	f.Add(encodeNPY(2, npyDict(">i8", false, 1), make([]byte, 8)))
	f.Add(encodeNPY(3, npyDict("|u1", false), []byte{7}))
	f.Add(rawNPY(1, "{'descr':'<u2','fortran_order':False,'shape':(2L,0,),}", nil))
	for _, name := range []string{"npy_f4.npy", "npy_f8_v2.npy", "npy_i8_be_v3.npy", "npy_b1.npy", "npy_fortran.npy"} {
		if b, err := os.ReadFile(npyTestdata(name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		a, err := readNPY(r, "", "", fuzzNPYMax, -1, false)
		aw, errw := readNPY(bytes.NewReader(data), "f", "", fuzzNPYMax, int64(len(data)), true)
		for _, e := range []error{err, errw} {
			var fe *NPYFormatError
			if e != nil && !errors.As(e, &fe) {
				t.Fatalf("error %v (%T) is not an *NPYFormatError", e, e)
			}
		}
		if (errw == nil) != (err == nil && r.Len() == 0) {
			t.Fatalf("whole read: %v; stream read: %v leaving %d bytes", errw, err, r.Len())
		}
		if err != nil {
			if a != nil {
				t.Fatal("non-nil array with an error")
			}
			return
		}
		if errw == nil && (!bytes.Equal(aw.Data, a.Data) || !slices.Equal(aw.Shape, a.Shape) || aw.Descr != a.Descr) {
			t.Fatal("whole and stream reads differ")
		}
		n := 1
		for _, d := range a.Shape {
			if d < 0 {
				t.Fatalf("shape %v", a.Shape)
			}
			n *= d
		}
		if len(a.Shape) > MaxNPYDims || len(a.Data) > fuzzNPYMax || len(a.Data) != n*a.ItemSize {
			t.Fatalf("shape %v item size %d: %d bytes", a.Shape, a.ItemSize, len(a.Data))
		}
		le := "<" + a.Descr[1:]
		if a.ItemSize == 1 {
			le = "|" + a.Descr[1:]
		}
		b, err := ReadNPY(bytes.NewReader(encodeNPY(1, npyDict(le, false, a.Shape...), a.Data)))
		if err != nil || !bytes.Equal(b.Data, a.Data) || !slices.Equal(b.Shape, a.Shape) || b.Kind != a.Kind || b.ItemSize != a.ItemSize {
			t.Fatalf("re-encoded array reads back differently: %v", err)
		}
		if len(a.Float64()) != n || len(a.Float32()) != n {
			t.Fatal("conversion lengths")
		}
		if ints, err := a.Ints(); err == nil && len(ints) != n {
			t.Fatal("Ints length")
		}
	})
}
