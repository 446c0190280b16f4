package weights

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/train"
)

// testModel has every layout the package maps: Conv2D, BatchNorm (with
// state), ConvTranspose2D and Dense. Layers: conv1, batchnorm1, relu1,
// convtranspose1, flatten1, dense1.
func testModel(t testing.TB, seed uint64, dt tensor.Dtype) *graph.Model {
	t.Helper()
	m, err := graph.Sequential{
		graph.Conv2D{Maps: 3, Window: ops.Square(3, 1, 1)}, // (3, 6, 6)
		graph.BatchNorm{},
		graph.ReLU{},
		graph.ConvTranspose2D{Maps: 2, Window: ops.Square(2, 2, 0)}, // (2, 12, 12)
		graph.Flatten{},
		graph.Dense{Units: 4},
	}.Declare(graph.Shape{2, 6, 6}, graph.WithSeed(seed), graph.WithDtype(dt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// setState gives the batch-norm state values a fresh model does not have.
func setState(m *graph.Model) {
	for _, p := range m.State() {
		for i := range p.Value.Shape().TotalSize() {
			v := 0.25*float64(i) + 0.5
			if p.Spec.Name == "num_batches_tracked" {
				v = 7
			}
			switch d := p.Value.Data().(type) {
			case []float32:
				d[i] = float32(v)
			case []float64:
				d[i] = v
			}
		}
	}
}

// snapshot returns the bits of every tensor of m, by name.
func snapshot(m *graph.Model) map[string][]uint64 {
	s := map[string][]uint64{}
	for _, p := range append(m.Params(), m.State()...) {
		switch d := p.Value.Data().(type) {
		case []float32:
			for _, v := range d {
				s[p.Name] = append(s[p.Name], uint64(math.Float32bits(v)))
			}
		case []float64:
			for _, v := range d {
				s[p.Name] = append(s[p.Name], math.Float64bits(v))
			}
		}
	}
	return s
}

func sameSnapshot(t *testing.T, what string, got, want map[string][]uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Fatalf("%s: %s has %d values, want %d", what, name, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("%s: %s[%d] bits %#x, want %#x", what, name, i, g[i], w[i])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			src := testModel(t, 1, dt)
			setState(src)
			path := filepath.Join(t.TempDir(), "w.safetensors")
			if err := Save(path, src); err != nil {
				t.Fatal(err)
			}
			dst := testModel(t, 2, dt)
			before := snapshot(dst)
			want := snapshot(src)
			if equalSnap(before, want) {
				t.Fatal("the fresh model already equals the saved one: the test proves nothing")
			}
			if err := Load(path, dst); err != nil {
				t.Fatal(err)
			}
			sameSnapshot(t, "after Load", snapshot(dst), want)
			checkRawFile(t, path, src, dt)
		})
	}
}

func equalSnap(a, b map[string][]uint64) bool {
	for name, w := range b {
		g := a[name]
		for i := range w {
			if g[i] != w[i] {
				return false
			}
		}
	}
	return true
}

// checkRawFile parses the file independently of the package and checks
// names, dtypes, the metadata, the Dense weight's transposed position and
// num_batches_tracked's I64 encoding.
func checkRawFile(t *testing.T, path string, src *graph.Model, dt tensor.Dtype) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	data := b[8+n:]
	var md map[string]string
	if err := json.Unmarshal(hdr["__metadata__"], &md); err != nil || md["format"] != "retina" || md["model"] != src.Name() {
		t.Errorf("metadata %s (%v), want format retina, model %s", hdr["__metadata__"], err, src.Name())
	}
	names := []string{"conv1.weight", "conv1.bias", "batchnorm1.weight", "batchnorm1.bias", "batchnorm1.running_mean",
		"batchnorm1.running_var", "batchnorm1.num_batches_tracked", "convtranspose1.weight", "convtranspose1.bias", "dense1.weight", "dense1.bias"}
	if len(hdr) != len(names)+1 {
		t.Errorf("header has %d entries, want %d", len(hdr), len(names)+1)
	}
	type ent struct {
		Dtype   string
		Shape   []int
		Offsets []int `json:"data_offsets"`
	}
	ents := map[string]ent{}
	for _, name := range names {
		var e ent
		if err := json.Unmarshal(hdr[name], &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ents[name] = e
	}
	fdt := map[tensor.Dtype]string{tensor.Float32: "F32", tensor.Float64: "F64"}[dt]
	if e := ents["conv1.weight"]; e.Dtype != fdt || shapeString(e.Shape) != "(3, 2, 3, 3)" {
		t.Errorf("conv1.weight: %s %v", e.Dtype, e.Shape)
	}
	if e := ents["convtranspose1.weight"]; shapeString(e.Shape) != "(3, 2, 2, 2)" {
		t.Errorf("convtranspose1.weight: %v, want PyTorch's (in, out, KH, KW)", e.Shape)
	}
	nbt := ents["batchnorm1.num_batches_tracked"]
	if nbt.Dtype != "I64" || len(nbt.Shape) != 0 || int64(binary.LittleEndian.Uint64(data[nbt.Offsets[0]:])) != 7 {
		t.Errorf("num_batches_tracked: %s %v, want I64 () holding 7", nbt.Dtype, nbt.Shape)
	}
	// Retina's W is (288, 4); the file holds (4, 288): W[i][o] is at o·288+i.
	e := ents["dense1.weight"]
	if shapeString(e.Shape) != "(4, 288)" || e.Dtype != fdt {
		t.Fatalf("dense1.weight: %s %v, want %s (4, 288)", e.Dtype, e.Shape, fdt)
	}
	const i, o = 5, 1
	w := src.Param("dense1/W").Value
	switch d := w.Data().(type) {
	case []float32:
		got := math.Float32frombits(binary.LittleEndian.Uint32(data[e.Offsets[0]+4*(o*288+i):]))
		if got != d[i*4+o] {
			t.Errorf("dense1.weight[%d][%d] = %v, want Retina's W[%d][%d] = %v", o, i, got, i, o, d[i*4+o])
		}
	case []float64:
		got := math.Float64frombits(binary.LittleEndian.Uint64(data[e.Offsets[0]+8*(o*288+i):]))
		if got != d[i*4+o] {
			t.Errorf("dense1.weight[%d][%d] = %v, want Retina's W[%d][%d] = %v", o, i, got, i, o, d[i*4+o])
		}
	}
}

// rewrite saves testModel(1) and rewrites the file through edit.
func rewrite(t *testing.T, dt tensor.Dtype, edit func(f *stFile)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := Save(path, testModel(t, 1, dt)); err != nil {
		t.Fatal(err)
	}
	f, err := readSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(f)
	if err := writeSafetensors(path, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadFails loads path into a fresh model, expects an error containing
// every one of want, and checks that the model did not change.
func loadFails(t *testing.T, path string, dt tensor.Dtype, want ...string) {
	t.Helper()
	m := testModel(t, 2, dt)
	before := snapshot(m)
	err := Load(path, m)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	sameSnapshot(t, "after a failed Load", snapshot(m), before)
}

func drop(f *stFile, name string) {
	for i, t := range f.Tensors {
		if t.Name == name {
			f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
			return
		}
	}
	panic("no tensor " + name)
}

func TestLoadMismatch(t *testing.T) {
	f32 := tensor.Float32
	t.Run("missing", func(t *testing.T) {
		path := rewrite(t, f32, func(f *stFile) { drop(f, "conv1.bias") })
		loadFails(t, path, f32, `missing tensor "conv1.bias" (conv1/b, shape (3) F32)`, "1 problems")
	})
	t.Run("extra", func(t *testing.T) {
		path := rewrite(t, f32, func(f *stFile) {
			f.Tensors = append(f.Tensors, stTensor{Name: "head.weight", Dtype: "F32", Shape: []int{2}, Data: make([]byte, 8)})
		})
		loadFails(t, path, f32, `unexpected tensor "head.weight" (shape (2) F32)`)
	})
	t.Run("shape", func(t *testing.T) {
		path := rewrite(t, f32, func(f *stFile) {
			ct, _ := f.tensor("convtranspose1.weight")
			ct.Shape = []int{2, 3, 2, 2}
		})
		loadFails(t, path, f32, `tensor "convtranspose1.weight" (convtranspose1/W) has shape (2, 3, 2, 2) F32, want (3, 2, 2, 2) F32`)
	})
	t.Run("untransposed dense", func(t *testing.T) {
		path := rewrite(t, f32, func(f *stFile) {
			ct, _ := f.tensor("dense1.weight")
			ct.Shape = []int{288, 4}
		})
		loadFails(t, path, f32, `tensor "dense1.weight" (dense1/W) has shape (288, 4) F32, want (4, 288) F32`)
	})
	t.Run("dtype", func(t *testing.T) {
		path := rewrite(t, f32, func(f *stFile) {
			ct, _ := f.tensor("conv1.bias")
			ct.Dtype, ct.Data = "F64", f64Bytes([]float64{1, 2, 3})
		})
		loadFails(t, path, f32, `tensor "conv1.bias" (conv1/b) has shape (3) F64, want (3) F32`)
	})
	t.Run("float64 file into a float32 model", func(t *testing.T) {
		path := rewrite(t, tensor.Float64, func(*stFile) {})
		loadFails(t, path, f32, "10 problems", `"dense1.weight" (dense1/W) has shape (4, 288) F64, want (4, 288) F32`)
	})
	t.Run("all at once", func(t *testing.T) {
		path := rewrite(t, f32, func(f *stFile) {
			drop(f, "batchnorm1.running_var")
			drop(f, "dense1.bias")
			ct, _ := f.tensor("conv1.weight")
			ct.Shape = []int{3, 2, 9}
			f.Tensors = append(f.Tensors, stTensor{Name: "fc.bias", Dtype: "F32", Shape: []int{1}, Data: make([]byte, 4)})
		})
		loadFails(t, path, f32, "4 problems", `missing tensor "batchnorm1.running_var"`, `missing tensor "dense1.bias"`,
			`"conv1.weight" (conv1/W) has shape (3, 2, 9)`, `unexpected tensor "fc.bias"`)
	})
	t.Run("num_batches_tracked as float and (1)", func(t *testing.T) {
		path := rewrite(t, f32, func(f *stFile) {
			ct, _ := f.tensor("batchnorm1.num_batches_tracked")
			ct.Dtype, ct.Shape, ct.Data = "F32", []int{1}, f32Bytes([]float32{3})
		})
		m := testModel(t, 2, f32)
		if err := Load(path, m); err != nil {
			t.Fatal(err)
		}
		if got := m.Param("batchnorm1/num_batches_tracked").Value.Data().([]float32)[0]; got != 3 {
			t.Errorf("num_batches_tracked = %v, want 3", got)
		}
	})
}

func TestLoadCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := Save(good, testModel(t, 1, tensor.Float32)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	hdr := string(b[8 : 8+n])
	edit := func(old, new string) []byte {
		if !strings.Contains(hdr, old) {
			t.Fatalf("header lacks %q", old)
		}
		h := strings.Replace(hdr, old, new, 1)
		var pre [8]byte
		binary.LittleEndian.PutUint64(pre[:], uint64(len(h)))
		return append(append(pre[:], h...), b[8+n:]...)
	}
	withLen := func(l uint64) []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint64(c, l)
		return c
	}
	cases := []struct {
		name string
		data []byte
		want []string
	}{
		{"truncated data", b[:len(b)-5], []string{`tensor "batchnorm1.num_batches_tracked"`, "outside the data buffer"}},
		{"truncated header", b[:8+n/2], []string{"truncated: header length"}},
		{"truncated length", b[:5], []string{"truncated: 5 bytes"}},
		{"empty", nil, []string{"truncated: 0 bytes"}},
		{"trailing bytes", append(append([]byte(nil), b...), 0), []string{"file size", "the tensors account for"}},
		{"huge header length", withLen(1 << 40), []string{"header length 1099511627776 at offset 0 exceeds the limit"}},
		{"not JSON", edit(`{"__metadata__"`, `["__metadata__"`), []string{"header (offset 8): not a JSON object"}},
		{"broken JSON", edit(`"conv1.bias":{`, `"conv1.bias":[`), []string{`entry "conv1.bias"`, "malformed JSON"}},
		{"unknown dtype", edit(`"conv1.bias":{"dtype":"F32"`, `"conv1.bias":{"dtype":"Q32"`), []string{`tensor "conv1.bias"`, `unknown dtype "Q32"`}},
		{"wrong size", edit(`"conv1.bias":{"dtype":"F32","shape":[3]`, `"conv1.bias":{"dtype":"F32","shape":[4]`), []string{`tensor "conv1.bias"`, "shape [4] of F32 needs 16"}},
		{"negative dim", edit(`"conv1.bias":{"dtype":"F32","shape":[3]`, `"conv1.bias":{"dtype":"F32","shape":[-3]`), []string{`tensor "conv1.bias"`, "shape[0] = -3 is negative"}},
		{"offsets out of range", edit(`"data_offsets":[0,`, `"data_offsets":[9999999,`), []string{`tensor "conv1.weight"`, "outside the data buffer"}},
		{"unknown field", edit(`"conv1.bias":{"dtype"`, `"conv1.bias":{"dtypo"`), []string{`tensor "conv1.bias"`, "unknown field"}},
		{"duplicate", edit(`"conv1.bias":`, `"conv1.weight":`), []string{`tensor "conv1.weight" appears twice`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			loadFails(t, path, tensor.Float32, append(c.want, path)...)
		})
	}
	t.Run("overlap", func(t *testing.T) {
		// Two (1) F32 tensors on the same 4 bytes.
		d := []byte(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`)
		var pre [8]byte
		binary.LittleEndian.PutUint64(pre[:], uint64(len(d)))
		_, err := decodeSafetensors("x", append(append(pre[:], d...), 0, 0, 0, 0))
		if err == nil || !strings.Contains(err.Error(), "overlap") {
			t.Errorf("err = %v, want an overlap", err)
		}
	})
}

// TestLoadCheckpoint trains a couple of steps, saves a training
// checkpoint, and loads it into a fresh model.
func TestLoadCheckpoint(t *testing.T) {
	m := testModel(t, 1, tensor.Float32)
	const batch = 4
	tr, err := train.New(m, train.Config{Batch: batch, Seed: 1, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for step := range 2 {
		b := &datasets.Batch{X: make([]float32, batch*72), Labels: make([]int, batch), OneHot: make([]float32, batch*4), Size: batch}
		for i := range b.X {
			b.X[i] = float32(math.Sin(float64(i*(step+3)) * 0.37))
		}
		for i := range b.Labels {
			b.Labels[i] = (i + step) % 4
			b.OneHot[i*4+b.Labels[i]] = 1
		}
		if _, err := tr.Step(b, 2); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Param("batchnorm1/num_batches_tracked").Value.Data().([]float32)[0]; got != 2 {
		t.Fatalf("num_batches_tracked = %v after two steps, want 2", got)
	}
	path := filepath.Join(t.TempDir(), "run.ckpt")
	if err := tr.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	fresh := testModel(t, 2, tensor.Float32)
	if err := Load(path, fresh); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "from the checkpoint", snapshot(fresh), snapshot(m))

	// A model that does not fit is reported and left alone.
	other, err := graph.Sequential{graph.Conv2D{Maps: 3, Window: ops.Square(3, 1, 1)}, graph.Flatten{}, graph.Dense{Units: 5}}.
		Declare(graph.Shape{2, 6, 6}, graph.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(other)
	err = Load(path, other)
	if err == nil {
		t.Fatal("loading into a different model succeeded")
	}
	for _, w := range []string{`"param/dense1/W" (dense1/W) has shape (288, 4) F32, want (108, 5) F32`, `unexpected tensor "state/batchnorm1/running_mean"`, `unexpected tensor "param/convtranspose1/W"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	sameSnapshot(t, "after a failed Load", snapshot(other), before)
}

func FuzzReadSafetensors(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := Save(path, testModel(f, 1, tensor.Float32)); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:100])
	f.Add([]byte{})
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Add([]byte("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}    12345678"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeSafetensors("fuzz", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		var total int
		for i := range st.Tensors {
			total += len(st.Tensors[i].Data)
			if st.Tensors[i].Dtype == "F32" || st.Tensors[i].Dtype == "F64" || st.Tensors[i].Dtype == "I64" {
				st.Tensors[i].float64s()
			}
		}
		hdrLen := binary.LittleEndian.Uint64(data)
		if uint64(total) != uint64(len(data))-8-hdrLen {
			t.Errorf("tensors cover %d bytes of a %d-byte data buffer", total, uint64(len(data))-8-hdrLen)
		}
	})
}
