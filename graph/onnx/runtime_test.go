package onnx

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
)

// The tools beyond Go that the checker and runtime tests use.
const (
	python = "/usr/bin/python3" // with the onnx package (Debian's python3-onnx)
	node   = "node"             // Node.js, to run ONNX Runtime's npm package
)

// need skips the test, naming what is missing and how to install it,
// unless RETINA_REQUIRE_ONNX is set, which makes it fail instead.
func need(t *testing.T, what, install string, err error, out []byte) {
	t.Helper()
	msg := fmt.Sprintf("%s: %v\n%s\ninstall: %s", what, err, strings.TrimSpace(string(out)), install)
	if os.Getenv("RETINA_REQUIRE_ONNX") != "" {
		t.Fatalf("RETINA_REQUIRE_ONNX is set but %s", msg)
	}
	t.Skipf("no %s (set RETINA_REQUIRE_ONNX=1 to fail instead)", msg)
}

// needONNX skips the test unless python3 imports onnx.
func needONNX(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import onnx").CombinedOutput(); err != nil {
		need(t, python+" with the onnx package", "apt-get install python3-onnx", err, out)
	}
}

// needRuntime skips the test unless node loads onnxruntime-node, from the
// node_modules folder named by RETINA_ONNXRUNTIME or NODE_PATH.
func needRuntime(t *testing.T) {
	t.Helper()
	out, err := exec.Command(node, filepath.Join("testdata", "run_ort.js"), "--version").CombinedOutput()
	if err != nil {
		need(t, "ONNX Runtime for Node.js", "apt-get install nodejs npm; "+
			"npm install --prefix DIR --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0; "+
			"export RETINA_ONNXRUNTIME=DIR/node_modules", err, out)
	}
	t.Logf("onnxruntime-node %s", strings.TrimSpace(string(out)))
}

// TestChecker exports every test model and runs testdata/check_onnx.py
// on the files: onnx.checker with full_check and strict shape inference,
// which also compares every declared shape with the inferred one.
func TestChecker(t *testing.T) {
	needONNX(t)
	dir := t.TempDir()
	var paths []string
	for _, tm := range testModels {
		m, err := tm.build()
		if err != nil {
			t.Fatalf("%s: %v", tm.name, err)
		}
		path := filepath.Join(dir, tm.name+".onnx")
		if err := Export(path, m); err != nil {
			t.Fatalf("%s: %v", tm.name, err)
		}
		paths = append(paths, path)
	}
	out, err := exec.Command(python, append([]string{filepath.Join("testdata", "check_onnx.py")}, paths...)...).CombinedOutput()
	t.Logf("check_onnx.py:\n%s", out)
	if err != nil {
		t.Fatalf("check_onnx.py: %v", err)
	}
	if got := strings.Count(string(out), ": ok, ir 8, opset 17,"); got != len(paths) {
		t.Errorf("check_onnx.py passed %d of %d models", got, len(paths))
	}
}

// TestRuntime runs every test model in ONNX Runtime (testdata/run_ort.js)
// and in Retina, in evaluation mode, on the same inputs: the outputs must
// agree to 1e-4.
func TestRuntime(t *testing.T) {
	needRuntime(t)
	for _, tm := range testModels {
		t.Run(tm.name, func(t *testing.T) {
			if tm.noRuntime != "" {
				t.Skip(tm.noRuntime)
			}
			m, err := tm.build()
			if err != nil {
				t.Fatal(err)
			}
			inputs, err := tm.inputs(m, tm.batch)
			if err != nil {
				t.Skipf("no MNIST test images: %v", err)
			}
			got := runtime(t, m, tm.batch, inputs)
			want := retina(t, m, tm.batch, inputs)
			tol := 1e-4
			if m.Dtype() == tensor.Float64 {
				tol = 1e-8 // float32 attributes (ε, α) and statistics aside, all in double
			}
			for k := range want {
				worst, scale := maxDiff(got[k], want[k])
				t.Logf("%s output %d (%d values up to %.3g): max |ONNX Runtime − Retina| = %.3g",
					tm.name, k+1, len(want[k]), scale, worst)
				if !(worst <= tol) || scale == 0 {
					t.Errorf("%s output %d: max |ONNX Runtime − Retina| = %g, want ≤ %g (largest value %g)", tm.name, k+1, worst, tol, scale)
				}
			}
		})
	}
}

// maxDiff returns the largest |got − want| (+Inf for different lengths)
// and the largest |want|.
func maxDiff(got, want []float64) (worst, scale float64) {
	if len(got) != len(want) {
		return math.Inf(1), 0
	}
	for i := range want {
		worst = math.Max(worst, math.Abs(got[i]-want[i]))
		if math.IsNaN(got[i]) != math.IsNaN(want[i]) {
			worst = math.Inf(1)
		}
		scale = math.Max(scale, math.Abs(want[i]))
	}
	return worst, scale
}

// ortSpec is what run_ort.js reads.
type ortSpec struct {
	Model   string    `json:"model"`
	Inputs  []ortFile `json:"inputs"`
	Outputs []ortFile `json:"outputs"`
}

type ortFile struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
	Dims []int  `json:"dims,omitempty"`
	File string `json:"file"`
}

// runtime exports m, runs it in ONNX Runtime on a batch of n and returns
// its outputs, after checking their names, types and dims.
func runtime(t *testing.T, m *graph.Model, n int, inputs [][]float64) [][]float64 {
	t.Helper()
	dir := t.TempDir()
	if err := Export(filepath.Join(dir, "model.onnx"), m); err != nil {
		t.Fatal(err)
	}
	typ, size := "float32", 4
	if m.Dtype() == tensor.Float64 {
		typ, size = "float64", 8
	}
	spec := ortSpec{Model: "model.onnx"}
	for i, shape := range m.Inputs() {
		f := ortFile{Name: ioName("input", i), Type: typ, Dims: append([]int{n}, shape...), File: fmt.Sprintf("in%d.bin", i)}
		if err := os.WriteFile(filepath.Join(dir, f.File), rawValues(inputs[i], size), 0o644); err != nil {
			t.Fatal(err)
		}
		spec.Inputs = append(spec.Inputs, f)
	}
	var want []ortFile
	for k, shape := range m.Outputs() {
		f := ortFile{Name: ioName("output", k), File: fmt.Sprintf("out%d.bin", k)}
		spec.Outputs = append(spec.Outputs, f)
		f.Type, f.Dims = typ, append([]int{n}, shape...)
		want = append(want, f)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, filepath.Join("testdata", "run_ort.js"), filepath.Join(dir, "spec.json")).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("run_ort.js: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("run_ort.js: %v", err)
	}
	var report struct{ Outputs []ortFile }
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("run_ort.js printed %q: %v", out, err)
	}
	for k, f := range want {
		if k >= len(report.Outputs) || report.Outputs[k].Name != f.Name || report.Outputs[k].Type != f.Type || !slices.Equal(report.Outputs[k].Dims, f.Dims) {
			t.Fatalf("ONNX Runtime's outputs are %+v, want %+v", report.Outputs, want)
		}
	}
	var outs [][]float64
	for _, f := range spec.Outputs {
		b, err := os.ReadFile(filepath.Join(dir, f.File))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, floatValues(b, size))
	}
	return outs
}

// rawValues returns v as little-endian float32 (size 4) or float64 values.
func rawValues(v []float64, size int) []byte {
	b := make([]byte, 0, size*len(v))
	for _, x := range v {
		if size == 4 {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	return b
}

// floatValues reads little-endian float32 (size 4) or float64 values.
func floatValues(b []byte, size int) []float64 {
	v := make([]float64, len(b)/size)
	for i := range v {
		if size == 4 {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		} else {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return v
}
