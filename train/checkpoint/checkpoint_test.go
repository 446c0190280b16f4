package checkpoint_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/retina-ml/retina/train/checkpoint"
)

// raw assembles a checkpoint by hand, with a correct checksum, so tests can
// build files that are structurally wrong but not merely corrupted.
func raw(magic string, version uint32, header string, data []byte) []byte {
	var b []byte
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	b = append(b, data...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func f32bits(bits ...uint32) []float32 {
	s := make([]float32, len(bits))
	for i, b := range bits {
		s[i] = math.Float32frombits(b)
	}
	return s
}

func f64bits(bits ...uint64) []float64 {
	s := make([]float64, len(bits))
	for i, b := range bits {
		s[i] = math.Float64frombits(b)
	}
	return s
}

func ramp32(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i)*0.5 - 3
	}
	return s
}

func ramp64(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i)*0.25 + 1e-300
	}
	return s
}

// sample is a small valid checkpoint used by the corruption tests.
func sample() *checkpoint.File {
	return &checkpoint.File{
		Meta: json.RawMessage(`{"epoch":3,"step":1200,"seed":42}`),
		Tensors: []checkpoint.Tensor{
			{Name: "dense/w", Shape: []int{2, 3}, F32: ramp32(6)},
			{Name: "dense/b", Shape: []int{3}, F64: ramp64(3)},
			{Name: "empty", Shape: []int{0, 4}, F32: []float32{}},
			{Name: "lr", Shape: []int{}, F64: []float64{0.01}},
		},
	}
}

func encode(t testing.TB, f *checkpoint.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, f); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// sameFile reports how got differs from want, comparing floats bit for bit;
// "" if they are equal. wantMeta is the expected stored form of Meta.
func sameFile(got, want *checkpoint.File, wantMeta string) string {
	if string(got.Meta) != wantMeta {
		return "Meta = " + string(got.Meta) + ", want " + wantMeta
	}
	if len(got.Tensors) != len(want.Tensors) {
		return "tensor count differs"
	}
	for i := range want.Tensors {
		g, w := &got.Tensors[i], &want.Tensors[i]
		if g.Name != w.Name {
			return "name " + g.Name + " != " + w.Name
		}
		if len(g.Shape) != len(w.Shape) || g.Shape == nil {
			return w.Name + ": shape differs (or nil)"
		}
		for j := range w.Shape {
			if g.Shape[j] != w.Shape[j] {
				return w.Name + ": shape differs"
			}
		}
		if (g.F32 == nil) != (w.F32 == nil) || (g.F64 == nil) != (w.F64 == nil) {
			return w.Name + ": dtype differs"
		}
		if len(g.F32) != len(w.F32) || len(g.F64) != len(w.F64) {
			return w.Name + ": length differs"
		}
		for j := range w.F32 {
			if math.Float32bits(g.F32[j]) != math.Float32bits(w.F32[j]) {
				return w.Name + ": float32 bits differ"
			}
		}
		for j := range w.F64 {
			if math.Float64bits(g.F64[j]) != math.Float64bits(w.F64[j]) {
				return w.Name + ": float64 bits differ"
			}
		}
	}
	return ""
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		file     *checkpoint.File
		wantMeta string
	}{
		{"empty", &checkpoint.File{}, "null"},
		{"empty meta, empty tensor list", &checkpoint.File{Meta: json.RawMessage{}, Tensors: []checkpoint.Tensor{}}, "null"},
		{"sample", sample(), `{"epoch":3,"step":1200,"seed":42}`},
		{"meta compacted, not HTML-escaped", &checkpoint.File{
			Meta: json.RawMessage("{\n  \"note\": \"<a & b>\",\n  \"xs\": [1, 2.5e-3, null]\n}"),
		}, `{"note":"<a & b>","xs":[1,2.5e-3,null]}`},
		{"meta scalar", &checkpoint.File{Meta: json.RawMessage(`7`)}, `7`},
		{"float32 special bit patterns", &checkpoint.File{Tensors: []checkpoint.Tensor{{
			Name:  "specials",
			Shape: []int{3, 3},
			F32: f32bits(
				0x7fc00000, // quiet NaN
				0x7fc00001, // quiet NaN with payload
				0xffc12345, // negative NaN with payload
				0x7f800001, // signalling NaN
				0x7f800000, // +Inf
				0xff800000, // -Inf
				0x80000000, // -0
				0x00000001, // smallest subnormal
				0x7f7fffff, // max float32
			),
		}}}, "null"},
		{"float64 special bit patterns", &checkpoint.File{Tensors: []checkpoint.Tensor{{
			Name:  "specials",
			Shape: []int{9},
			F64: f64bits(
				0x7ff8000000000000, 0x7ff8000000000001, 0xfff0123456789abc,
				0x7ff0000000000001, 0x7ff0000000000000, 0xfff0000000000000,
				0x8000000000000000, 0x0000000000000001, 0x7fefffffffffffff,
			),
		}}}, "null"},
		{"zero-size tensors", &checkpoint.File{Tensors: []checkpoint.Tensor{
			{Name: "a", Shape: []int{0}, F32: []float32{}},
			{Name: "b", Shape: []int{5, 0, 7}, F64: []float64{}},
			{Name: "c", Shape: []int{math.MaxInt, 0}, F32: []float32{}},
		}}, "null"},
		{"scalars", &checkpoint.File{Tensors: []checkpoint.Tensor{
			{Name: "nil shape", F32: []float32{1.5}},
			{Name: "empty shape", Shape: []int{}, F64: []float64{-2}},
		}}, "null"},
		{"unicode and odd names", &checkpoint.File{Tensors: []checkpoint.Tensor{
			{Name: "Gewichte/größe", Shape: []int{1}, F32: []float32{1}},
			{Name: "quote\"back\\slash\ttab\x00nul<html>", Shape: []int{1}, F64: []float64{2}},
		}}, "null"},
		{"spanning several chunks", &checkpoint.File{Meta: json.RawMessage(`{}`), Tensors: []checkpoint.Tensor{
			{Name: "big32", Shape: []int{200, 201}, F32: ramp32(200 * 201)},
			{Name: "big64", Shape: []int{3, 7001}, F64: ramp64(3 * 7001)},
			{Name: "tail", Shape: []int{1}, F32: []float32{9}},
		}}, "{}"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A nil Shape is stored as [] (a scalar); compare against that.
			want := *tc.file
			want.Tensors = append([]checkpoint.Tensor(nil), tc.file.Tensors...)
			for i := range want.Tensors {
				if want.Tensors[i].Shape == nil {
					want.Tensors[i].Shape = []int{}
				}
			}

			data := encode(t, tc.file)
			for _, size := range []int64{int64(len(data)), -1} {
				got, err := checkpoint.Decode(bytes.NewReader(data), size)
				if err != nil {
					t.Fatalf("Decode(size %d): %v", size, err)
				}
				if d := sameFile(got, &want, tc.wantMeta); d != "" {
					t.Fatalf("Decode(size %d): %s", size, d)
				}
				if again := encode(t, got); !bytes.Equal(again, data) {
					t.Fatalf("re-encoding the decoded file (size %d) gives different bytes", size)
				}
			}

			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".ckpt")
			if err := checkpoint.Write(path, tc.file); err != nil {
				t.Fatalf("Write: %v", err)
			}
			onDisk, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(onDisk, data) {
				t.Fatalf("Write stored different bytes than Encode")
			}
			got, err := checkpoint.Read(path)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if d := sameFile(got, &want, tc.wantMeta); d != "" {
				t.Fatalf("Read: %s", d)
			}
		})
	}
}

func TestFormatLayout(t *testing.T) {
	f := &checkpoint.File{Meta: json.RawMessage(`{"a":1}`), Tensors: []checkpoint.Tensor{
		{Name: "x", Shape: []int{2}, F32: []float32{1, -2}},
		{Name: "y", Shape: []int{}, F64: []float64{0.5}},
	}}
	data := encode(t, f)
	hdr := `{"meta":{"a":1},"tensors":[{"name":"x","dtype":"float32","shape":[2]},{"name":"y","dtype":"float64","shape":[]}]}`
	payload := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f}
	if want := raw("RETINACK", 1, hdr, payload); !bytes.Equal(data, want) {
		t.Fatalf("Encode =\n%q\nwant\n%q", data, want)
	}
}

func TestEncodeInvalid(t *testing.T) {
	tests := []struct {
		name string
		file *checkpoint.File
		want string // substring of the error
	}{
		{"nil file", nil, "nil *File"},
		{"bad meta", &checkpoint.File{Meta: json.RawMessage(`{"epoch":`)}, "Meta is not valid JSON"},
		{"empty name", &checkpoint.File{Tensors: []checkpoint.Tensor{{Shape: []int{1}, F32: []float32{1}}}}, "Tensors[0]: empty name"},
		{"invalid UTF-8 name", &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "a\xffb", Shape: []int{1}, F32: []float32{1}}}}, "not valid UTF-8"},
		{"duplicate name", &checkpoint.File{Tensors: []checkpoint.Tensor{
			{Name: "w", Shape: []int{1}, F32: []float32{1}},
			{Name: "w", Shape: []int{1}, F64: []float64{1}},
		}}, `Tensors[1]: name "w" already used by Tensors[0]`},
		{"neither slice", &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "w", Shape: []int{0}}}}, "neither F32 nor F64"},
		{"both slices", &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "w", Shape: []int{1}, F32: []float32{1}, F64: []float64{1}}}}, "both F32 and F64"},
		{"length mismatch", &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "w", Shape: []int{2, 3}, F32: ramp32(5)}}}, `Tensors[0] "w": F32 has 5 elements, shape [2 3] needs 6`},
		{"negative dim", &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "w", Shape: []int{-1, -1}, F64: []float64{1}}}}, "negative dimension"},
		{"overflowing shape", &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "w", Shape: []int{math.MaxInt / 2, math.MaxInt / 2, 3}, F64: []float64{1}}}}, "too many elements"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := checkpoint.Encode(&buf, tc.file)
			if err == nil {
				t.Fatal("Encode succeeded")
			}
			if !errors.Is(err, checkpoint.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Encode error %q, want ErrInvalid containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("Encode wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	v1 := sample()
	if err := checkpoint.Write(path, v1); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	v2 := &checkpoint.File{Meta: json.RawMessage(`{"epoch":4}`), Tensors: []checkpoint.Tensor{{Name: "w", Shape: []int{1}, F32: []float32{4}}}}
	if err := checkpoint.Write(path, v2); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameFile(got, v2, `{"epoch":4}`); d != "" {
		t.Fatal(d)
	}
	if names := listDir(t, dir); len(names) != 1 || names[0] != "model.ckpt" {
		t.Fatalf("directory holds %q, want only model.ckpt", names)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("replaced file has mode %v, want the old file's 0600", fi.Mode().Perm())
		}
	}
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	tests := []struct {
		name string
		file *checkpoint.File
		want string
	}{
		{"len != product(shape)", &checkpoint.File{Tensors: []checkpoint.Tensor{
			{Name: "ok", Shape: []int{2}, F32: []float32{1, 2}},
			{Name: "bad", Shape: []int{4, 4}, F64: ramp64(15)},
		}}, `F64 has 15 elements, shape [4 4] needs 16`},
		{"invalid meta", &checkpoint.File{Meta: json.RawMessage(`{`)}, "Meta is not valid JSON"},
		{"nil file", nil, "nil *File"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.ckpt")
			if err := checkpoint.Write(path, sample()); err != nil {
				t.Fatal(err)
			}
			old, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			err = checkpoint.Write(path, tc.file)
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q should name %s and contain %q", err, path, tc.want)
			}
			now, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(now, old) {
				t.Fatal("failed Write changed the existing file")
			}
			if names := listDir(t, dir); len(names) != 1 {
				t.Fatalf("directory holds %q, want only model.ckpt", names)
			}
		})
	}
}

// TestWriteRenameFails makes the very last step fail, after the temporary
// file is complete: the destination is a non-empty directory.
func TestWriteRenameFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := checkpoint.Write(path, sample())
	if err == nil {
		t.Fatal("Write onto a non-empty directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	if names := listDir(t, dir); len(names) != 1 || names[0] != "model.ckpt" {
		t.Fatalf("directory holds %q, want only model.ckpt (temporary file not removed?)", names)
	}
	if names := listDir(t, path); len(names) != 1 || names[0] != "keep" {
		t.Fatalf("destination directory now holds %q", names)
	}
}

func TestWriteMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "model.ckpt")
	err := checkpoint.Write(path, sample())
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write into a missing directory: %v, want ErrNotExist naming the path", err)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.ckpt")
	_, err := checkpoint.Read(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "checkpoint: "+missing+": ") {
		t.Fatalf("Read(missing) = %v", err)
	}
	if _, err := checkpoint.Read(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Read(directory) = %v", err)
	}
}

func TestVersionError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file.ckpt")
	data := raw("RETINACK", 2, `{"future":true}`, nil)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := checkpoint.Read(path)
	want := "checkpoint: " + path + ": version 2 is newer than this Retina (reads 1)"
	if err == nil || err.Error() != want {
		t.Fatalf("Read = %v, want %s", err, want)
	}
	if !errors.Is(err, checkpoint.ErrVersion) {
		t.Fatal("version error does not match ErrVersion")
	}
	var ce *checkpoint.Error
	if !errors.As(err, &ce) || ce.Path != path || ce.Offset != 8 {
		t.Fatalf("error %#v, want *Error with Path and Offset 8", err)
	}
}

// decodeBoth decodes data with its size known and unknown; both must fail.
// It returns the errors, after checking they are *Error and start right.
func decodeBoth(t *testing.T, data []byte) []error {
	t.Helper()
	var errs []error
	for _, size := range []int64{int64(len(data)), -1} {
		f, err := checkpoint.Decode(bytes.NewReader(data), size)
		if err == nil {
			t.Fatalf("Decode(size %d) succeeded: %+v", size, f)
		}
		var ce *checkpoint.Error
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "checkpoint: ") {
			t.Fatalf("Decode(size %d) error %#v is not a *checkpoint.Error", size, err)
		}
		errs = append(errs, err)
	}
	return errs
}

func TestCorrupt(t *testing.T) {
	valid := encode(t, sample())
	hdr := func(tensors string) string { return `{"meta":null,"tensors":[` + tensors + `]}` }
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	withSum := func(b []byte) []byte { // recompute the checksum of b
		b = bytes.Clone(b[:len(b)-32])
		s := sha256.Sum256(b)
		return append(b, s[:]...)
	}
	badSum := bytes.Clone(valid)
	badSum[len(badSum)-1] ^= 1
	badData := bytes.Clone(valid)
	badData[len(badData)-40] ^= 0x40
	bigHlen := bytes.Clone(valid)
	binary.LittleEndian.PutUint32(bigHlen[12:], checkpoint.MaxHeaderLen+1)
	longHlen := bytes.Clone(valid)
	binary.LittleEndian.PutUint32(longHlen[12:], uint32(len(valid)))

	tests := []struct {
		name string
		data []byte
		kind error
		want []string // substrings of the error, for both size known and unknown
	}{
		{"empty input", nil, checkpoint.ErrTruncated, []string{"truncated at offset 0", "magic"}},
		{"wrong magic", raw("RETINACX", 1, hdr(""), nil), checkpoint.ErrCorrupt, []string{"magic at offset 0", `"RETINACX"`, `want "RETINACK"`}},
		{"safetensors-like start", append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, valid[8:]...), checkpoint.ErrCorrupt, []string{"not a Retina checkpoint"}},
		{"future version", raw("RETINACK", 7, hdr(""), nil), checkpoint.ErrVersion, []string{"version 7 is newer than this Retina (reads 1)"}},
		{"version 0", raw("RETINACK", 0, hdr(""), nil), checkpoint.ErrVersion, []string{"version at offset 8 is 0"}},
		{"header length over 64 MiB", withSum(bigHlen), checkpoint.ErrCorrupt, []string{"header length at offset 12", "want at most 67108864"}},
		{"header shorter than its length", raw("RETINACK", 1, hdr(""), nil)[:30], checkpoint.ErrTruncated, []string{"truncated"}},
		{"prefix only", raw("RETINACK", 1, hdr(""), nil)[:16], checkpoint.ErrTruncated, []string{"truncated"}},
		{"empty header", raw("RETINACK", 1, "", nil), checkpoint.ErrCorrupt, []string{"header at offset 16 is empty"}},
		{"header not JSON", raw("RETINACK", 1, `{"meta":nul}`, nil), checkpoint.ErrCorrupt, []string{"header.meta near offset 23: header is not valid JSON: invalid character"}},
		{"header is an array", raw("RETINACK", 1, `[]`, nil), checkpoint.ErrCorrupt, []string{"header at offset 16 is an array, want a JSON object"}},
		{"header is null", raw("RETINACK", 1, `null`, nil), checkpoint.ErrCorrupt, []string{"header at offset 16 is null, want a JSON object"}},
		{"header is truncated JSON", raw("RETINACK", 1, `{"meta":{"a":[1,2`, nil), checkpoint.ErrCorrupt, []string{"header.meta near offset 23: header JSON ends early"}},
		{"member names are case-sensitive", raw("RETINACK", 1, `{"Meta":1,"tensors":[]}`, nil), checkpoint.ErrCorrupt, []string{`header: unknown member "Meta" near offset 17, want "meta" or "tensors"`}},
		{"duplicate meta", raw("RETINACK", 1, `{"meta":1,"tensors":[],"meta":2}`, nil), checkpoint.ErrCorrupt, []string{`header: duplicate member "meta"`}},
		{"duplicate tensors", raw("RETINACK", 1, `{"meta":1,"tensors":[],"tensors":[]}`, nil), checkpoint.ErrCorrupt, []string{`header: duplicate member "tensors"`}},
		{"duplicate tensor member", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[],"name":"v"}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0]: duplicate member "name"`}},
		{"tensor not an object", raw("RETINACK", 1, hdr(`["w","float32",[]]`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] near offset 40 is an array, want an object`}},
		{"data after header JSON", raw("RETINACK", 1, hdr("")+`{}`, nil), checkpoint.ErrCorrupt, []string{"header: unexpected data near offset 43 after the JSON object"}},
		{"unknown member", raw("RETINACK", 1, `{"meta":1,"tensors":[],"compression":"zstd"}`, nil), checkpoint.ErrCorrupt, []string{`header: unknown member "compression"`}},
		{"unknown tensor member", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[],"offset":0}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0]: unknown member "offset"`}},
		{"missing meta", raw("RETINACK", 1, `{"tensors":[]}`, nil), checkpoint.ErrCorrupt, []string{`"meta" is missing`}},
		{"missing tensors", raw("RETINACK", 1, `{"meta":{}}`, nil), checkpoint.ErrCorrupt, []string{`"tensors" is missing`}},
		{"null tensors", raw("RETINACK", 1, `{"meta":{},"tensors":null}`, nil), checkpoint.ErrCorrupt, []string{`header.tensors near offset 36 is null, want an array`}},
		{"tensors not an array", raw("RETINACK", 1, `{"meta":{},"tensors":{}}`, nil), checkpoint.ErrCorrupt, []string{"header.tensors near offset 36 is an object, want an array"}},
		{"missing name", raw("RETINACK", 1, hdr(`{"dtype":"float32","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0]: member "name" is missing`}},
		{"empty name", raw("RETINACK", 1, hdr(`{"name":"","dtype":"float32","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{"header.tensors[0].name is empty"}},
		{"name not a string", raw("RETINACK", 1, hdr(`{"name":5,"dtype":"float32","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{"header.tensors[0].name near offset 47 is a JSON number, want a string"}},
		{"duplicate names", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[1]},{"name":"w","dtype":"float64","shape":[]}`), make([]byte, 12)), checkpoint.ErrCorrupt, []string{`header.tensors[1] ("w"): duplicate tensor name, also used by header.tensors[0]`}},
		{"missing dtype", raw("RETINACK", 1, hdr(`{"name":"w","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{`("w"): member "dtype" is missing`}},
		{"bad dtype", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"int8","shape":[4]}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w").dtype is "int8", want "float32" or "float64"`}},
		{"dtype wrong case", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"Float32","shape":[1]}`), f32(1)), checkpoint.ErrCorrupt, []string{`dtype is "Float32"`}},
		{"missing shape", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32"}`), f32(1)), checkpoint.ErrCorrupt, []string{`member "shape" is missing`}},
		{"null shape", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":null}`), f32(1)), checkpoint.ErrCorrupt, []string{`member "shape" is missing or null`}},
		{"negative dim", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[2,-2]}`), f32(4)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w").shape[1] is -2, want >= 0`}},
		{"fractional dim", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[1.5]}`), f32(1)), checkpoint.ErrCorrupt, []string{"header.tensors[0].shape near offset 77 is a JSON number 1.5, want an integer"}},
		{"dim beyond int64", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[99999999999999999999]}`), f32(1)), checkpoint.ErrCorrupt, []string{"shape"}},
		{"element count overflows", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float64","shape":[4294967296,4294967296]}`), f32(1)), checkpoint.ErrCorrupt, []string{`("w").shape [4294967296 4294967296]: element count overflows`}},
		{"total data overflows", raw("RETINACK", 1, hdr(`{"name":"a","dtype":"float64","shape":[1152921504606846975]},{"name":"b","dtype":"float64","shape":[1152921504606846975]}`), nil), checkpoint.ErrCorrupt, []string{map[bool]string{true: "tensor data totals more than", false: "element count overflows"}[strconv.IntSize == 64]}},
		{"data too short", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float64","shape":[3]}`), make([]byte, 16)), checkpoint.ErrTruncated, []string{"truncated"}},
		{"data too long", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[3]}`), make([]byte, 16)), nil, nil},
		{"trailing bytes", append(bytes.Clone(valid), 0), checkpoint.ErrCorrupt, []string{"trailing"}},
		{"header length beyond file", withSum(longHlen), nil, []string{"header"}},
		{"checksum flipped", badSum, checkpoint.ErrChecksum, []string{"checksum mismatch", "expected ", "actual ", "(stored)", "(computed"}},
		{"data flipped", badData, checkpoint.ErrChecksum, []string{"checksum mismatch"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, err := range decodeBoth(t, tc.data) {
				if tc.kind != nil && !errors.Is(err, tc.kind) {
					t.Errorf("case %d: error %q does not match %v", i, err, tc.kind)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("case %d: error %q does not contain %q", i, err, w)
					}
				}
			}
		})
	}
}

func TestChecksumMessageHex(t *testing.T) {
	data := encode(t, sample())
	stored := bytes.Clone(data[len(data)-32:])
	actual := sha256.Sum256(data[:len(data)-32])
	data[len(data)-32] ^= 0xff
	stored[0] ^= 0xff
	for _, err := range decodeBoth(t, data) {
		for _, w := range []string{"expected " + hexString(stored), "actual " + hexString(actual[:])} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

// TestTruncatedEverywhere cuts a valid file at every length.
func TestTruncatedEverywhere(t *testing.T) {
	data := encode(t, sample())
	for n := 0; n < len(data); n++ {
		decodeBoth(t, data[:n])
		// Claiming the full size while delivering less must fail too.
		if _, err := checkpoint.Decode(bytes.NewReader(data[:n]), int64(len(data))); err == nil {
			t.Fatalf("prefix %d with the full size claimed decoded", n)
		}
	}
	// Through Read, the error names the file.
	path := filepath.Join(t.TempDir(), "cut.ckpt")
	for _, n := range []int{0, 5, 12, 30, len(data) - 33, len(data) - 1} {
		if err := os.WriteFile(path, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := checkpoint.Read(path); err == nil || !strings.HasPrefix(err.Error(), "checkpoint: "+path+": ") {
			t.Fatalf("Read of a %d-byte prefix = %v", n, err)
		}
	}
}

// TestFlippedByteEverywhere damages every byte of a valid file in turn.
func TestFlippedByteEverywhere(t *testing.T) {
	data := encode(t, sample())
	for i := range data {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= mask
			decodeBoth(t, bad)
		}
	}
}

// TestHugeClaimsAllocateLittle feeds headers that claim far more data than
// the input holds and checks the decoder fails without allocating for them.
func TestHugeClaimsAllocateLittle(t *testing.T) {
	hdr := func(tensors string) string { return `{"meta":null,"tensors":[` + tensors + `]}` }
	hugeHlen := raw("RETINACK", 1, hdr(""), nil)
	binary.LittleEndian.PutUint32(hugeHlen[12:], checkpoint.MaxHeaderLen)
	tests := []struct {
		name string
		data []byte
	}{
		{"2^40 float64 elements", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float64","shape":[1099511627776]}`), make([]byte, 64))},
		{"2^20 x 2^20 float32", raw("RETINACK", 1, hdr(`{"name":"w","dtype":"float32","shape":[1048576,1048576]}`), make([]byte, 64))},
		{"two 1 GiB tensors", raw("RETINACK", 1, hdr(`{"name":"a","dtype":"float32","shape":[268435456]},{"name":"b","dtype":"float64","shape":[134217728]}`), make([]byte, 8))},
		{"valid small tensor then a huge one", raw("RETINACK", 1, hdr(`{"name":"a","dtype":"float32","shape":[2]},{"name":"b","dtype":"float64","shape":[4000000000]}`), make([]byte, 8))},
		{"64 MiB header claimed", hugeHlen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int64{int64(len(tc.data)), -1} {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err := checkpoint.Decode(bytes.NewReader(tc.data), size)
				runtime.ReadMemStats(&after)
				if err == nil {
					t.Fatalf("size %d: Decode succeeded", size)
				}
				if d := after.TotalAlloc - before.TotalAlloc; d >= 8<<20 {
					t.Fatalf("size %d: Decode allocated %d bytes before failing with %v", size, d, err)
				}
			}
		})
	}
}

func TestFileTensor(t *testing.T) {
	f := sample()
	w, ok := f.Tensor("dense/b")
	if !ok || w.Name != "dense/b" || w.DType() != "float64" {
		t.Fatalf("Tensor(dense/b) = %+v, %v", w, ok)
	}
	w.F64[0] = 123 // the pointer refers into the File
	if f.Tensors[1].F64[0] != 123 {
		t.Fatal("Tensor does not return a pointer into File.Tensors")
	}
	if w, ok := f.Tensor("dense/w"); !ok || w.DType() != "float32" {
		t.Fatalf("Tensor(dense/w) = %+v, %v", w, ok)
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Fatal("Tensor(nope) found something")
	}
	var nilFile *checkpoint.File
	if _, ok := nilFile.Tensor("x"); ok {
		t.Fatal("nil File has tensors")
	}
	if (&checkpoint.Tensor{}).DType() != "" {
		t.Fatal("DType of an empty tensor is not empty")
	}
}

var errBoom = errors.New("boom")

// failWriter accepts n bytes, then fails.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errBoom
	}
	w.n -= len(p)
	return len(p), nil
}

// failReader yields its data, then fails instead of reporting EOF.
type failReader struct{ r *bytes.Reader }

func (r failReader) Read(p []byte) (int, error) {
	n, _ := r.r.Read(p)
	if n == 0 {
		return 0, errBoom
	}
	return n, nil
}

func TestIOErrors(t *testing.T) {
	big := &checkpoint.File{Tensors: []checkpoint.Tensor{
		{Name: "a", Shape: []int{50000}, F32: ramp32(50000)},
		{Name: "b", Shape: []int{50000}, F64: ramp64(50000)},
	}}
	data := encode(t, big)
	for _, n := range []int{0, 100, 70000, 300000, len(data) - 10} {
		err := checkpoint.Encode(&failWriter{n: n}, big)
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "writing ") {
			t.Errorf("Encode failing after %d bytes: %v", n, err)
		}
		for _, size := range []int64{int64(len(data)), -1} {
			_, err := checkpoint.Decode(failReader{bytes.NewReader(data[:n])}, size)
			if !errors.Is(err, errBoom) || errors.Is(err, checkpoint.ErrTruncated) || !strings.Contains(err.Error(), "reading ") {
				t.Errorf("Decode failing after %d bytes (size %d): %v", n, size, err)
			}
		}
	}
	// A read error where the end of file is expected is not ignored either.
	if _, err := checkpoint.Decode(failReader{bytes.NewReader(data)}, int64(len(data))); !errors.Is(err, errBoom) {
		t.Errorf("Decode with a failing read after the checksum: %v", err)
	}
}
