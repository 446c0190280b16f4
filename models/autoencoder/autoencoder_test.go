package autoencoder_test

import (
	"io"
	"math"
	"strings"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/train"
)

func kinds(m *graph.Model) string {
	var k []string
	for _, l := range m.Layers() {
		k = append(k, l.Layer.Kind())
	}
	return strings.Join(k, " ")
}

func TestHinton(t *testing.T) {
	m, err := autoencoder.Hinton()
	if err != nil {
		t.Fatal(err)
	}
	s := m.Summary()
	const weights = 2 * (784*1000 + 1000*500 + 500*250 + 250*30)
	const biases = (1000 + 500 + 250 + 30) + (250 + 500 + 1000 + 784)
	if s.Weights != weights || s.Biases != biases {
		t.Fatalf("%d weights + %d biases, want %d + %d", s.Weights, s.Biases, weights, biases)
	}
	want := "dense relu dense relu dense relu dense dense relu dense relu dense relu dense sigmoid"
	if got := kinds(m); got != want {
		t.Fatalf("layers %q\nwant   %q", got, want)
	}
	var widths []int
	for _, l := range m.Layers() {
		if _, ok := l.Layer.(graph.Dense); ok {
			widths = append(widths, l.Out[0])
		}
	}
	if got := widths; len(got) != 8 || got[3] != 30 || got[0] != 1000 || got[7] != 784 || got[4] != 250 {
		t.Fatalf("Dense widths %v, want 1000 500 250 30 250 500 1000 784", got)
	}
	if !m.Inputs()[0].Eq(graph.Shape{784}) || !m.Outputs()[0].Eq(graph.Shape{784}) {
		t.Fatalf("input %v output %v", m.Inputs()[0], m.Outputs()[0])
	}
	if w := m.Param("encoder/dense4/W").Value.Shape(); !w.Eq(graph.Shape{250, 30}) {
		t.Fatalf("code weights %v", w)
	}
}

func TestLinearAndShallow(t *testing.T) {
	m, err := autoencoder.Linear(10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(m); got != "dense dense" {
		t.Fatalf("Linear layers %q", got)
	}
	if s := m.Summary(); s.Weights != 2*10*3 || s.Biases != 3+10 {
		t.Fatalf("Linear(10, 3): %d weights, %d biases", s.Weights, s.Biases)
	}
	if w := m.Param("decoder/dense1/W").Value.Shape(); !w.Eq(graph.Shape{3, 10}) {
		t.Fatalf("decoder weights %v, want (3, 10)", w)
	}
	for _, tc := range []struct {
		act  graph.Layer
		want string
	}{{nil, "dense dense sigmoid"}, {graph.Sigmoid{}, "dense sigmoid dense sigmoid"}, {graph.Tanh{}, "dense tanh dense sigmoid"}} {
		m, err := autoencoder.Shallow(10, 3, tc.act)
		if err != nil {
			t.Fatal(err)
		}
		if got := kinds(m); got != tc.want {
			t.Errorf("Shallow(10, 3, %v): layers %q, want %q", tc.act, got, tc.want)
		}
	}
	m, err = autoencoder.Deep([]int{6, 4, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(m); got != "dense dense dense dense sigmoid" {
		t.Fatalf("Deep with linear hidden units: %q", got)
	}
}

func TestBadWidths(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func() (*graph.Model, error)
		word string
	}{
		{"one width", func() (*graph.Model, error) { return autoencoder.Deep([]int{784}, graph.ReLU{}) }, "at least"},
		{"no widths", func() (*graph.Model, error) { return autoencoder.Deep(nil, graph.ReLU{}) }, "at least"},
		{"zero width", func() (*graph.Model, error) { return autoencoder.Deep([]int{784, 100, 0}, graph.ReLU{}) }, "width 2 is 0"},
		{"negative input", func() (*graph.Model, error) { return autoencoder.Deep([]int{-1, 2}, nil) }, "width 0 is -1"},
		{"linear zero code", func() (*graph.Model, error) { return autoencoder.Linear(784, 0) }, "width 1 is 0"},
		{"shallow zero input", func() (*graph.Model, error) { return autoencoder.Shallow(0, 3, nil) }, "width 0 is 0"},
		{"named hidden layer", func() (*graph.Model, error) { return autoencoder.Deep([]int{8, 6, 4, 2}, graph.ReLU{Name: "r"}) }, "name used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.make()
			if err == nil {
				t.Fatalf("accepted: %v", kinds(m))
			}
			if !strings.Contains(err.Error(), tc.word) || !strings.HasPrefix(err.Error(), "autoencoder") {
				t.Fatalf("error %q, want it to start with autoencoder and mention %q", err, tc.word)
			}
		})
	}
}

func TestEncoder(t *testing.T) {
	m, err := autoencoder.Hinton()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := autoencoder.Encoder(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(enc); got != "dense relu dense relu dense relu dense" || !enc.Outputs()[0].Eq(graph.Shape{30}) {
		t.Fatalf("Hinton encoder: %q, output %v", got, enc.Outputs()[0])
	}
	if len(enc.Params()) != 8 {
		t.Fatalf("%d encoder parameters, want 8", len(enc.Params()))
	}
	for _, p := range enc.Params() {
		if p.Value != m.Param("encoder/"+p.Name).Value {
			t.Fatalf("%s is not shared with the model", p.Name)
		}
	}
	s, err := autoencoder.Shallow(10, 3, graph.Sigmoid{})
	if err != nil {
		t.Fatal(err)
	}
	if enc, err = autoencoder.Encoder(s); err != nil || kinds(enc) != "dense sigmoid" {
		t.Fatalf("Shallow encoder %v: %v", enc, err)
	}
	l, err := autoencoder.Linear(10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if enc, err = autoencoder.Encoder(l); err != nil || kinds(enc) != "dense" || !enc.Outputs()[0].Eq(graph.Shape{3}) {
		t.Fatalf("Linear encoder %v: %v", enc, err)
	}
	odd, err := mlp.New([]int{10, 5, 4, 10}, graph.ReLU{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := autoencoder.Encoder(odd); err == nil || !strings.Contains(err.Error(), "no encoder") {
		t.Fatalf("an MLP: %v", err)
	}
}

// setParam overwrites a parameter's values.
func setParam(t *testing.T, m *graph.Model, name string, v ...float32) {
	t.Helper()
	p := m.Param(name)
	if p == nil || p.Value.Size() != len(v) {
		t.Fatalf("parameter %s: want %d values", name, len(v))
	}
	copy(p.Value.Float32s(), v)
}

// TestReconErrorByHand checks the reconstruction error — squared error
// summed over a sample's pixels, averaged over samples — against values
// worked out by hand: ReconError itself, the trainer's SetMetrics.ReconError
// and PCA's.
func TestReconErrorByHand(t *testing.T) {
	// Two 3-pixel images and two reconstructions:
	// (0.5−0)² + 0² + (1−0)² = 1.25 and 1² + 1² + 1² = 3: mean 2.125.
	target := []float32{0.5, 0, 1, 0, 0, 0}
	out := []float32{0, 0, 0, 1, 1, 1}
	if e, err := autoencoder.ReconError(out, target, 3); err != nil || e != 2.125 {
		t.Fatalf("ReconError = %v, %v; want 2.125", e, err)
	}
	if e, err := autoencoder.ReconError(target, target, 3); err != nil || e != 0 {
		t.Fatalf("perfect reconstruction: %v, %v", e, err)
	}
	for _, bad := range [][2][]float32{{out, target[:5]}, {out[:4], target[:4]}, {nil, nil}} {
		if _, err := autoencoder.ReconError(bad[0], bad[1], 3); err == nil {
			t.Errorf("ReconError accepted %d outputs, %d targets of size 3", len(bad[0]), len(bad[1]))
		}
	}

	// A linear autoencoder with zero weights outputs its decoder bias c
	// whatever the input. Three 2×2 images, c = (0.5, 0.5, 0, 1):
	//   x1 = (1, 0, 0, 1): 0.25 + 0.25 + 0 + 0    = 0.5
	//   x2 = (0, 0, 0, 0): 0.25 + 0.25 + 0 + 1    = 1.5
	//   x3 = (1, 1, 1, 1): 0.25 + 0.25 + 1 + 0    = 1.5
	// mean 3.5/3; the MSE loss is that over the 4 pixels.
	set := &datasets.Set{Shape: []int{1, 2, 2}, X: []float32{1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1}}
	m, err := autoencoder.Linear(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	setParam(t, m, "encoder/dense1/W", 0, 0, 0, 0)
	setParam(t, m, "decoder/dense1/W", 0, 0, 0, 0)
	setParam(t, m, "decoder/dense1/b", 0.5, 0.5, 0, 1)
	tr, err := train.New(m, train.Config{Loss: train.MSE, Reconstruct: true, Batch: 2, EvalBatch: 2, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	flat := autoencoder.Unlabelled(set)
	got, err := tr.Evaluate(flat)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.ReconError-3.5/3) > 1e-6 || math.Abs(got.Loss-3.5/3/4) > 1e-6 || got.Samples != 3 {
		t.Fatalf("trainer: %+v, want recon error %v, loss %v over 3 samples", got, 3.5/3, 3.5/3/4)
	}
	outs, err := train.Predict(m, set, 2) // (1, 2, 2) images into a (4) model
	if err != nil {
		t.Fatal(err)
	}
	if e, err := autoencoder.ReconError(outs[0], set.X, 4); err != nil || math.Abs(e-3.5/3) > 1e-6 {
		t.Fatalf("Predict + ReconError = %v, %v; want %v", e, err, 3.5/3)
	}

	// PCA with one component of four 2-D points (±2, 0), (0, ±1): mean 0,
	// covariance diag(2, 0.5), first component ±e1. Reconstructions keep
	// x: errors 0, 0, 1, 1, mean 0.5 — the discarded eigenvalue. On the
	// point (1, 3) the error is 3² = 9.
	pts := &datasets.Set{Shape: []int{2}, X: []float32{2, 0, -2, 0, 0, 1, 0, -1}}
	pca, err := autoencoder.FitPCA(pts, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := pca.ReconError(pts); err != nil || math.Abs(e-0.5) > 1e-12 {
		t.Fatalf("PCA recon error %v, %v; want 0.5", e, err)
	}
	if ev := pca.Eigenvalues; math.Abs(ev[0]-2) > 1e-12 || math.Abs(ev[1]-0.5) > 1e-12 {
		t.Fatalf("eigenvalues %v, want 2 0.5", ev)
	}
	if e, err := pca.ReconError(&datasets.Set{Shape: []int{2}, X: []float32{1, 3}}); err != nil || math.Abs(e-9) > 1e-12 {
		t.Fatalf("PCA recon error of (1, 3): %v, %v; want 9", e, err)
	}
	rec, err := pca.Reconstruct(pts)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{2, 0, -2, 0, 0, 0, 0, 0}
	for i := range want {
		if math.Abs(float64(rec[i]-want[i])) > 1e-6 {
			t.Fatalf("reconstructions %v, want %v", rec, want)
		}
	}
}

func TestParamMatrix(t *testing.T) {
	m, err := autoencoder.Linear(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	setParam(t, m, "decoder/dense1/W", 1, 2, 3, 4, 5, 6)
	w, err := autoencoder.ParamMatrix(m, "decoder/dense1/W")
	if err != nil {
		t.Fatal(err)
	}
	if r, c := w.Dims(); r != 2 || c != 3 || w.At(0, 2) != 3 || w.At(1, 0) != 4 {
		t.Fatalf("decoder/dense1/W as a matrix: %v", w)
	}
	if _, err := autoencoder.ParamMatrix(m, "decoder/dense1/b"); err == nil {
		t.Fatal("a bias vector accepted as a matrix")
	}
	if _, err := autoencoder.ParamMatrix(m, "dense9/W"); err == nil {
		t.Fatal("a missing parameter accepted")
	}
}

// TestHalvesPredictAlone runs the encoder and the decoder of a deep
// autoencoder one after the other, each as a model of its own: the result
// is the autoencoder's output, bit for bit, because the halves are the
// autoencoder's own layers over the same tensors.
func TestHalvesPredictAlone(t *testing.T) {
	m, err := autoencoder.Deep([]int{12, 8, 3}, graph.ReLU{}, graph.WithSeed(4))
	if err != nil {
		t.Fatal(err)
	}
	set := &datasets.Set{Shape: []int{12}}
	for i := 0; i < 5*12; i++ {
		set.X = append(set.X, float32(i%7)/7)
	}
	wholes, err := train.Predict(m, set, 4)
	if err != nil {
		t.Fatal(err)
	}
	whole := wholes[0]
	enc, dec := m.Submodel("encoder"), m.Submodel("decoder")
	if enc == nil || dec == nil {
		t.Fatal("no encoder or decoder submodel")
	}
	codes, err := train.Predict(enc, set, 4)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := train.Predict(dec, &datasets.Set{X: codes[0], Shape: []int{3}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	out := outs[0]
	if len(out) != len(whole) {
		t.Fatalf("%d values, want %d", len(out), len(whole))
	}
	for i := range out {
		if out[i] != whole[i] {
			t.Fatalf("value %d: decoder(encoder(x)) = %v, the autoencoder gives %v", i, out[i], whole[i])
		}
	}
}
