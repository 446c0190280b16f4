package weights

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/train"
)

const python = "/usr/bin/python3"

// needTorch skips the test unless PyTorch is importable, or fails it if
// RETINA_REQUIRE_TORCH is set.
func needTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import torch, numpy").CombinedOutput(); err != nil {
		if os.Getenv("RETINA_REQUIRE_TORCH") != "" {
			t.Fatalf("RETINA_REQUIRE_TORCH is set but %s cannot import torch: %v\n%s", python, err, out)
		}
		t.Skipf("no PyTorch (%v)", err)
	}
}

// TestTorchLeNet runs testdata/torch_lenet.py: Retina's LeNet weights go
// into PyTorch's LeNet, PyTorch's random weights into Retina's, and the
// logits of both frameworks on real MNIST test images must agree.
func TestTorchLeNet(t *testing.T) {
	needTorch(t)
	_, test, err := datasets.MNIST("")
	if err != nil {
		t.Skipf("no MNIST: %v", err)
	}
	const n = 1000 // MNIST test images, as issue 13 asks
	images := test.Subset(0, n)
	dir := t.TempDir()
	if err := writeSafetensors(filepath.Join(dir, "images.safetensors"),
		[]stTensor{{Name: "x", Dtype: "F32", Shape: []int{n, 1, 28, 28}, Data: f32Bytes(images.X)}}, nil); err != nil {
		t.Fatal(err)
	}
	retina, err := cnn.LeNet.Model(graph.WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(filepath.Join(dir, "retina.safetensors"), retina); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "torch_lenet.py"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("torch_lenet.py: %v\n%s", err, out)
	}
	logits := func(file string) []float32 {
		t.Helper()
		f, err := readSafetensors(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		l, ok := f.tensor("logits")
		if !ok || l.Dtype != "F32" || shapeString(l.Shape) != fmt.Sprintf("(%d, 10)", n) {
			t.Fatalf("%s: no (%d, 10) F32 logits", file, n)
		}
		v := make([]float32, n*10)
		for i, x := range l.float64s() {
			v[i] = float32(x)
		}
		return v
	}
	compare := func(what string, got, want []float32) {
		t.Helper()
		var worst, scale float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			scale = math.Max(scale, math.Abs(float64(want[i])))
		}
		t.Logf("%s: max |Δlogit| = %.3g (logits up to %.3g)", what, worst, scale)
		if !(worst < 1e-4) || scale == 0 {
			t.Errorf("%s: max |Δlogit| = %g, want < 1e-4", what, worst)
		}
	}

	// Retina's weights in PyTorch.
	own, err := train.Predict(retina, images, n)
	if err != nil {
		t.Fatal(err)
	}
	compare("Retina weights: PyTorch vs Retina", logits("from_retina.safetensors"), own[0])

	// PyTorch's weights in Retina.
	fresh, err := cnn.LeNet.Model(graph.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := Load(filepath.Join(dir, "torch.safetensors"), fresh); err != nil {
		t.Fatal(err)
	}
	got, err := train.Predict(fresh, images, n)
	if err != nil {
		t.Fatal(err)
	}
	compare("PyTorch weights: Retina vs PyTorch", got[0], logits("torch_logits.safetensors"))
}
