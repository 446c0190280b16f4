package checkpoint_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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

// raw assembles a checkpoint by hand, with correct checksums, so tests can
// build files that are structurally wrong but not merely corrupted. Versions
// from 2 on have a header checksum.
func raw(magic string, version uint32, header string, data []byte) []byte {
	var b []byte
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	if version >= 2 {
		sum := sha256.Sum256(b)
		b = append(b, sum[:]...)
	}
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
	if want := raw("RETINACK", 2, hdr, payload); !bytes.Equal(data, want) {
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
		{"too many dimensions", &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "w", Shape: make([]int, checkpoint.MaxDims+1), F32: []float32{}}}}, `Tensors[0] "w": shape has 65 dimensions, want at most 64 (MaxDims)`},
		{"too many tensors", &checkpoint.File{Tensors: make([]checkpoint.Tensor, checkpoint.MaxTensors+1)}, "8193 tensors, want at most 8192 (MaxTensors)"},
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
		if fi.Mode().Perm() != 0o644 {
			t.Fatalf("replaced file has mode %v, want 0644", fi.Mode().Perm())
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
	data := raw("RETINACK", 3, `{"future":true}`, nil)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := checkpoint.Read(path)
	want := "checkpoint: " + path + ": version 3 is newer than this Retina (reads 2)"
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

	type test struct {
		name string
		data []byte
		kind error
		want []string // substrings of the error, for both size known and unknown
	}
	// The header is read the same way in both versions.
	var tests []test
	for _, v := range []uint32{1, 2} {
		tests = append(tests, []test{
			{"empty input", nil, checkpoint.ErrTruncated, []string{"truncated at offset 0", "magic"}},
			{"wrong magic", raw("RETINACX", 1, hdr(""), nil), checkpoint.ErrCorrupt, []string{"magic at offset 0", `"RETINACX"`, `want "RETINACK"`}},
			{"safetensors-like start", append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, valid[8:]...), checkpoint.ErrCorrupt, []string{"not a Retina checkpoint"}},
			{"future version", raw("RETINACK", 7, hdr(""), nil), checkpoint.ErrVersion, []string{"version 7 is newer than this Retina (reads 2)"}},
			{"version 0", raw("RETINACK", 0, hdr(""), nil), checkpoint.ErrVersion, []string{"version at offset 8 is 0"}},
			{"header length over 64 MiB", withSum(bigHlen), checkpoint.ErrCorrupt, []string{"header length at offset 12", "want at most 67108864"}},
			{"header shorter than its length", raw("RETINACK", v, hdr(""), nil)[:30], checkpoint.ErrTruncated, []string{"truncated"}},
			{"prefix only", raw("RETINACK", v, hdr(""), nil)[:16], checkpoint.ErrTruncated, []string{"truncated"}},
			{"empty header", raw("RETINACK", v, "", nil), checkpoint.ErrCorrupt, []string{"header at offset 16 is empty"}},
			{"header not JSON", raw("RETINACK", v, `{"meta":nul}`, nil), checkpoint.ErrCorrupt, []string{`header.meta at offset 24 is "nul", which is not JSON`}},
			{"header is an array", raw("RETINACK", v, `[]`, nil), checkpoint.ErrCorrupt, []string{"header at offset 16 is an array, want a JSON object"}},
			{"header is null", raw("RETINACK", v, `null`, nil), checkpoint.ErrCorrupt, []string{"header at offset 16 is null, want a JSON object"}},
			{"header is truncated JSON", raw("RETINACK", v, `{"meta":{"a":[1,2`, nil), checkpoint.ErrCorrupt, []string{"header.meta at offset 24: the header ends in the middle of it"}},
			{"member names are case-sensitive", raw("RETINACK", v, `{"Meta":1,"tensors":[]}`, nil), checkpoint.ErrCorrupt, []string{`header: unknown member "Meta" at offset 17, want "meta" or "tensors"`}},
			{"duplicate meta", raw("RETINACK", v, `{"meta":1,"tensors":[],"meta":2}`, nil), checkpoint.ErrCorrupt, []string{`header: duplicate member "meta"`}},
			{"duplicate tensors", raw("RETINACK", v, `{"meta":1,"tensors":[],"tensors":[]}`, nil), checkpoint.ErrCorrupt, []string{`header: duplicate member "tensors"`}},
			{"duplicate tensor member", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":[],"name":"v"}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w"): duplicate member "name" at offset 81`}},
			{"tensor not an object", raw("RETINACK", v, hdr(`["w","float32",[]]`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] at offset 40 is an array, want an object`}},
			{"data after header JSON", raw("RETINACK", v, hdr("")+`{}`, nil), checkpoint.ErrCorrupt, []string{"header: unexpected data at offset 42 after the JSON object"}},
			{"unknown member", raw("RETINACK", v, `{"meta":1,"tensors":[],"compression":"zstd"}`, nil), checkpoint.ErrCorrupt, []string{`header: unknown member "compression"`}},
			{"unknown tensor member", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":[],"offset":0}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w"): unknown member "offset"`}},
			{"missing meta", raw("RETINACK", v, `{"tensors":[]}`, nil), checkpoint.ErrCorrupt, []string{`"meta" is missing`}},
			{"missing tensors", raw("RETINACK", v, `{"meta":{}}`, nil), checkpoint.ErrCorrupt, []string{`"tensors" is missing`}},
			{"null tensors", raw("RETINACK", v, `{"meta":{},"tensors":null}`, nil), checkpoint.ErrCorrupt, []string{`header.tensors at offset 37 is null, want an array`}},
			{"tensors not an array", raw("RETINACK", v, `{"meta":{},"tensors":{}}`, nil), checkpoint.ErrCorrupt, []string{"header.tensors at offset 37 is an object, want an array"}},
			{"missing name", raw("RETINACK", v, hdr(`{"dtype":"float32","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] at offset 40: member "name" is missing, want a string`}},
			{"empty name", raw("RETINACK", v, hdr(`{"name":"","dtype":"float32","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{"header.tensors[0].name at offset 41 is empty"}},
			{"name not a string", raw("RETINACK", v, hdr(`{"name":5,"dtype":"float32","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{"header.tensors[0].name at offset 48 is a number, want a string"}},
			{"duplicate names", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":[1]},{"name":"w","dtype":"float64","shape":[]}`), make([]byte, 12)), checkpoint.ErrCorrupt, []string{`header.tensors[1] ("w") at offset 83: duplicate tensor name, also used by header.tensors[0]`}},
			{"missing dtype", raw("RETINACK", v, hdr(`{"name":"w","shape":[]}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w") at offset 40: member "dtype" is missing`}},
			{"bad dtype", raw("RETINACK", v, hdr(`{"name":"w","dtype":"int8","shape":[4]}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w").dtype at offset 60 is "int8", want "float32" or "float64"`}},
			{"dtype wrong case", raw("RETINACK", v, hdr(`{"name":"w","dtype":"Float32","shape":[1]}`), f32(1)), checkpoint.ErrCorrupt, []string{`dtype at offset 60 is "Float32"`}},
			{"missing shape", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32"}`), f32(1)), checkpoint.ErrCorrupt, []string{`member "shape" is missing`}},
			{"null shape", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":null}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w").shape at offset 78 is null, want an array of dimensions`}},
			{"negative dim", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":[2,-2]}`), f32(4)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w").shape[1] at offset 81 is -2, want an integer >= 0`}},
			{"fractional dim", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":[1.5]}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w").shape[0] at offset 79 is 1.5, want an integer >= 0`}},
			{"dim beyond int64", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":[99999999999999999999]}`), f32(1)), checkpoint.ErrCorrupt, []string{"shape"}},
			{"element count overflows", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float64","shape":[4294967296,4294967296]}`), f32(1)), checkpoint.ErrCorrupt, []string{`header.tensors[0] ("w").shape [4294967296 4294967296] at offset 40: element count overflows`}},
			{"total data overflows", raw("RETINACK", v, hdr(`{"name":"a","dtype":"float64","shape":[1152921504606846975]},{"name":"b","dtype":"float64","shape":[1152921504606846975]}`), nil), checkpoint.ErrCorrupt, []string{map[bool]string{true: "tensor data totals more than", false: "element count overflows"}[strconv.IntSize == 64]}},
			{"data too short", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float64","shape":[3]}`), make([]byte, 16)), checkpoint.ErrTruncated, []string{"truncated"}},
			{"data too long", raw("RETINACK", v, hdr(`{"name":"w","dtype":"float32","shape":[3]}`), make([]byte, 16)), nil, nil},
			{"trailing bytes", append(bytes.Clone(valid), 0), checkpoint.ErrCorrupt, []string{"trailing"}},
			{"header length beyond file", withSum(longHlen), nil, []string{"header"}},
			{"checksum flipped", badSum, checkpoint.ErrChecksum, []string{"checksum mismatch", "expected ", "actual ", "(stored)", "(computed"}},
			{"data flipped", badData, checkpoint.ErrChecksum, []string{"checksum mismatch"}},
		}...)
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("v%d/%s", 1+2*i/len(tests), tc.name), func(t *testing.T) {
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

// allocs returns the bytes allocated while running fn.
func allocs(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHugeClaimsAllocateLittle feeds files, with valid checksums, whose
// header claims far more than the file holds or the format allows, and
// checks that the reader fails with a clear error after allocating little
// more than the header's own bytes (up to three times as much when the size
// is unknown and the buffer grows as they arrive): nothing in proportion to
// the claims. The MaxTensors case allocates the most, about 200 bytes for
// each of the MaxTensors tensors read before the error.
func TestHugeClaimsAllocateLittle(t *testing.T) {
	hdr := func(tensors string) string { return `{"meta":null,"tensors":[` + tensors + `]}` }
	hugeHlen := raw("RETINACK", 2, hdr(""), nil)
	binary.LittleEndian.PutUint32(hugeHlen[12:], checkpoint.MaxHeaderLen)
	// A million dimensions of 1, as in a 60 MB file with 30M that once
	// took 1.1 GB to read: 2 MB of header, 16 MB as []int.
	manyDims := hdr(`{"name":"w","dtype":"float32","shape":[` + strings.Repeat("1,", 1<<20) + `1]}`)
	var many strings.Builder
	for i := range checkpoint.MaxTensors + 1000 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `{"name":"t%d","dtype":"float32","shape":[0]}`, i)
	}
	manyTensors := hdr(many.String())

	tests := []struct {
		name string
		data []byte
		kind error
		want string // substring of the error when the size is known
	}{
		{"2^40 float64 elements", raw("RETINACK", 2, hdr(`{"name":"w","dtype":"float64","shape":[1099511627776]}`), make([]byte, 64)),
			checkpoint.ErrTruncated, "describes 8796093022208 bytes of tensor data"},
		{"2^20 x 2^20 float32", raw("RETINACK", 2, hdr(`{"name":"w","dtype":"float32","shape":[1048576,1048576]}`), make([]byte, 64)),
			checkpoint.ErrTruncated, "describes 4398046511104 bytes"},
		{"two 1 GiB tensors", raw("RETINACK", 2, hdr(`{"name":"a","dtype":"float32","shape":[268435456]},{"name":"b","dtype":"float64","shape":[134217728]}`), make([]byte, 8)),
			checkpoint.ErrTruncated, "describes 2147483648 bytes"},
		{"valid small tensor then a huge one", raw("RETINACK", 2, hdr(`{"name":"a","dtype":"float32","shape":[2]},{"name":"b","dtype":"float64","shape":[4000000000]}`), make([]byte, 8)),
			checkpoint.ErrTruncated, "describes 32000000008 bytes"},
		{"64 MiB header claimed", hugeHlen, nil, "header length at offset 12 is 67108864"},
		{"a million dimensions", raw("RETINACK", 2, manyDims, nil),
			checkpoint.ErrCorrupt, `header.tensors[0] ("w").shape at offset 207: more than 64 dimensions, want at most 64 (MaxDims)`},
		{"a million dimensions, version 1", raw("RETINACK", 1, manyDims, nil),
			checkpoint.ErrCorrupt, "more than 64 dimensions"},
		{"too many tensors", raw("RETINACK", 2, manyTensors, nil),
			checkpoint.ErrCorrupt, "header.tensors at offset 383954: more than 8192 tensors, want at most 8192 (MaxTensors)"},
		{"too many tensors, version 1", raw("RETINACK", 1, manyTensors, nil),
			checkpoint.ErrCorrupt, "more than 8192 tensors"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "huge.ckpt")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			hdrBytes := min(uint64(binary.LittleEndian.Uint32(tc.data[12:])), uint64(len(tc.data)))
			// Decode with the size known, then unknown; -2 is Read.
			for _, size := range []int64{int64(len(tc.data)), -1, -2} {
				limit := hdrBytes + 4<<20
				if size == -1 {
					limit += 2 * hdrBytes
				}
				var err error
				n := allocs(func() {
					if size == -2 {
						_, err = checkpoint.Read(path)
					} else {
						_, err = checkpoint.Decode(bytes.NewReader(tc.data), size)
					}
				})
				t.Logf("size %d: %d-byte file, allocated %d bytes: %v", size, len(tc.data), n, err)
				if err == nil {
					t.Fatalf("size %d: succeeded", size)
				}
				if (tc.kind != nil && !errors.Is(err, tc.kind)) || size != -1 && !strings.Contains(err.Error(), tc.want) {
					t.Errorf("size %d: error %q, want %v containing %q", size, err, tc.kind, tc.want)
				}
				if n > limit {
					t.Errorf("size %d: allocated %d bytes for a %d-byte file before failing, want at most %d", size, n, len(tc.data), limit)
				}
			}
		})
	}
}

// TestHeaderLayout: a header may order members and space tokens any way
// JSON allows; Meta is returned as stored.
func TestHeaderLayout(t *testing.T) {
	hdr := " \t{ \"tensors\" :\n[ { \"shape\" : [ 2 ,1 ] ,\"dtype\"\r:\"float32\", \"name\" : \"w\\u00e9\" } ] ,\n\"meta\" : { \"a\" : [ 1 , \"]}\" ] } }\n"
	for _, v := range []uint32{1, 2} {
		data := raw("RETINACK", v, hdr, make([]byte, 8))
		f, err := checkpoint.Decode(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		want := &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: "wé", Shape: []int{2, 1}, F32: []float32{0, 0}}}}
		if d := sameFile(f, want, `{ "a" : [ 1 , "]}" ] }`); d != "" {
			t.Fatalf("version %d: %s", v, d)
		}
	}
}

// TestHeaderChecksum: in a version 2 file a damaged header is reported as
// a checksum mismatch, before it is parsed, even when the file's checksum
// was recomputed over the damage.
func TestHeaderChecksum(t *testing.T) {
	valid := encode(t, sample())
	hlen := int(binary.LittleEndian.Uint32(valid[12:]))
	hsum := 16 + hlen // offset of the header checksum
	tests := []struct {
		name string
		at   int  // offset of the damaged byte
		to   byte // its new value
	}{
		{"header still JSON", 26, 'X'},     // a byte of "meta"'s value
		{"header no longer JSON", 16, '['}, // the opening brace
		{"closing brace", hsum - 1, ' '},   // now a space
		{"stored header checksum", hsum, valid[hsum] ^ 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(valid)
			bad[tc.at] = tc.to
			sum := sha256.Sum256(bad[:len(bad)-32])
			copy(bad[len(bad)-32:], sum[:])
			for _, err := range decodeBoth(t, bad) {
				want := fmt.Sprintf("checkpoint: header checksum mismatch: SHA-256 at offset %d expected ", hsum)
				if !errors.Is(err, checkpoint.ErrChecksum) || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q, want ErrChecksum starting %q", err, want)
				}
			}
		})
	}
}

// TestReadVersion1 reads a file that the version 1 writer made, as
// checkpoints in existing runs folders are.
func TestReadVersion1(t *testing.T) {
	path := filepath.Join("testdata", "version1.ckpt")
	got, err := checkpoint.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &checkpoint.File{Tensors: []checkpoint.Tensor{
		{Name: "param/w", Shape: []int{2, 3}, F32: ramp32(6)},
		{Name: "param/b", Shape: []int{3}, F64: []float64{-0.5, 1e-300, math.Inf(1)}},
		{Name: "opt/t", Shape: []int{}, F64: []float64{1200}},
	}}
	if d := sameFile(got, want, `{"format":"retina-train/1","epoch":3}`); d != "" {
		t.Fatal(d)
	}
	// Written again, it is the current version, with the same content.
	out := filepath.Join(t.TempDir(), "again.ckpt")
	if err := checkpoint.Write(out, got); err != nil {
		t.Fatal(err)
	}
	again, err := checkpoint.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameFile(again, got, string(got.Meta)); d != "" {
		t.Fatal(d)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != checkpoint.Version {
		t.Fatalf("rewritten as version %d, want %d", v, checkpoint.Version)
	}
	// Damage is still caught, by the file's checksum.
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old[len(old)-40] ^= 1
	for _, err := range decodeBoth(t, old) {
		if !errors.Is(err, checkpoint.ErrChecksum) {
			t.Errorf("damaged version 1 file: %v, want ErrChecksum", err)
		}
	}
}

func TestTensorMatches(t *testing.T) {
	w := &checkpoint.Tensor{Name: "param/w", Shape: []int{4, 1, 1, 3}, F32: make([]float32, 12)}
	s := &checkpoint.Tensor{Name: "opt/t", Shape: []int{}, F64: []float64{1}}
	tests := []struct {
		name  string
		t     *checkpoint.Tensor
		shape []int
		dtype string
		want  string // the error, or "" for none
	}{
		{"same", w, []int{4, 1, 1, 3}, "float32", ""},
		{"scalar, nil shape", s, nil, "float64", ""},
		{"transposed", w, []int{4, 1, 3, 1}, "float32", `checkpoint: tensor "param/w" has shape (4, 1, 1, 3) float32, want (4, 1, 3, 1) float32`},
		{"same count, other rank", w, []int{12}, "float32", `checkpoint: tensor "param/w" has shape (4, 1, 1, 3) float32, want (12) float32`},
		{"dtype", w, []int{4, 1, 1, 3}, "float64", `checkpoint: tensor "param/w" has shape (4, 1, 1, 3) float32, want (4, 1, 1, 3) float64`},
		{"scalar vs one element", s, []int{1}, "float64", `checkpoint: tensor "opt/t" has shape () float64, want (1) float64`},
		{"no data", &checkpoint.Tensor{Name: "x", Shape: []int{0}}, []int{0}, "float32", `checkpoint: tensor "x" has shape (0) (no data), want (0) float32`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.t.Matches(tc.shape, tc.dtype)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Matches = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want || !errors.Is(err, checkpoint.ErrMismatch) {
				t.Fatalf("Matches = %v, want ErrMismatch %q", err, tc.want)
			}
		})
	}
}

// TestWriteRemovesStaleTemps: the temporary file of a writer killed midway
// is removed by the next Write of the same checkpoint.
func TestWriteRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.ckpt")
	for _, name := range []string{"checkpoint.ckpt.tmp-123456", "checkpoint.ckpt.tmp-9", "other.ckpt.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkpoint.Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); strings.Join(names, " ") != "checkpoint.ckpt other.ckpt.tmp-1" {
		t.Fatalf("directory holds %q, want checkpoint.ckpt and other.ckpt.tmp-1", names)
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
