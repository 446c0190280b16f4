package graph_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

func mlp(t *testing.T) *graph.Model {
	t.Helper()
	m, err := graph.Sequential{graph.Dense{Units: 100, Init: graph.HeUniform}, graph.ReLU{}, graph.Dense{Units: 10}}.Declare(graph.Shape{784})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSummaryCounts(t *testing.T) {
	s := mlp(t).Summary()
	if s.Weights != 79400 || s.Biases != 110 {
		t.Fatalf("784-100-10: %d weights + %d biases, want 79,400 + 110", s.Weights, s.Biases)
	}
	if s.MACs != 79400 {
		t.Fatalf("784-100-10: %d MACs, want 79,400", s.MACs)
	}
	seed, err := graph.Sequential{graph.Conv2D{Maps: 3, Window: ops.Kernel(5, 5)}}.Declare(graph.Shape{1, 28, 28})
	if err != nil {
		t.Fatal(err)
	}
	r := seed.Summary().Rows[0]
	if !r.Output.Eq(graph.Shape{3, 24, 24}) || r.Weights != 75 || r.Biases != 3 || r.MACs != 43200 {
		t.Fatalf("5×5 conv, 3 maps on 28×28: %v, %d weights, %d biases, %d MACs; want (3, 24, 24), 75, 3, 43,200",
			r.Output, r.Weights, r.Biases, r.MACs)
	}
	text := seed.Summary().String()
	for _, want := range []string{"conv1", "(3, 24, 24)", "43,200", "parameters: 78"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
}

func TestDeclareErrorsNameLayerAndShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model graph.Sequential
		input graph.Shape
		words []string
	}{
		{"dense on image", graph.Sequential{graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3)}, graph.Dense{Units: 10}},
			graph.Shape{1, 8, 8}, []string{"layer 1 (dense1)", "(4, 6, 6)", "Flatten"}},
		{"kernel too large", graph.Sequential{graph.Conv2D{Maps: 20, Window: ops.Kernel(5, 5)}, graph.MaxPool2D{Window: ops.Square(2, 2, 0)},
			graph.Conv2D{Name: "big", Maps: 50, Window: ops.Kernel(13, 13)}}, graph.Shape{1, 28, 28},
			[]string{"layer 2 (big)", "(20, 12, 12)", "kernel 13×13", "padded input 12×12"}},
		{"conv on vector", graph.Sequential{graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3)}}, graph.Shape{784},
			[]string{"layer 0 (conv1)", "(784)", "(C, H, W)"}},
		{"zero stride", graph.Sequential{graph.MaxPool2D{Window: ops.Window{KH: 2, KW: 2}}}, graph.Shape{1, 4, 4},
			[]string{"layer 0 (pool1)", "stride 0×0"}},
		{"no units", graph.Sequential{graph.Dense{}}, graph.Shape{4}, []string{"layer 0 (dense1)", "Units = 0"}},
		{"reshape", graph.Sequential{graph.Reshape{To: graph.Shape{3, 3}}}, graph.Shape{10}, []string{"layer 0 (reshape1)", "(3, 3)", "10 elements"}},
		{"duplicate name", graph.Sequential{graph.Dense{Name: "a", Units: 2}, graph.Dense{Name: "a", Units: 2}}, graph.Shape{4}, []string{"layer 1 (a)", "twice"}},
		{"dropout", graph.Sequential{graph.Dropout{P: 1.5}}, graph.Shape{4}, []string{"dropout1", "P = 1.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.model.Declare(tc.input)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParamsNamedAndSeeded(t *testing.T) {
	m := mlp(t)
	var names []string
	for _, p := range m.Params() {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "dense1/W dense1/b dense2/W dense2/b" {
		t.Fatalf("names %q", got)
	}
	w1 := m.Param("dense1/W").Value.Float32s()
	limHe := math.Sqrt(6.0 / 784)
	var maxAbs float64
	for _, v := range w1 {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	if maxAbs > limHe || maxAbs < 0.9*limHe {
		t.Fatalf("dense1/W (feeds a ReLU): max |w| = %v, want ≈ He limit %v", maxAbs, limHe)
	}
	w2 := m.Param("dense2/W").Value.Float32s()
	limGlorot := math.Sqrt(6.0 / 110)
	maxAbs = 0
	for _, v := range w2 {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	if maxAbs > limGlorot || maxAbs < 0.9*limGlorot {
		t.Fatalf("dense2/W: max |w| = %v, want ≈ Glorot limit %v", maxAbs, limGlorot)
	}
	for _, v := range m.Param("dense1/b").Value.Float32s() {
		if v != 0 {
			t.Fatal("bias not zero")
		}
	}
	same := mlp(t)
	if !equal(same.Param("dense2/W").Value.Float32s(), w2) {
		t.Fatal("same seed gave different weights")
	}
	same.Init(2)
	if equal(same.Param("dense2/W").Value.Float32s(), w2) {
		t.Fatal("another seed gave the same weights")
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBuildComputesTheModel runs a small model on a TapeMachine and compares
// with a direct computation; it also checks that two graphs built from one
// model share its parameter tensors.
func TestBuildComputesTheModel(t *testing.T) {
	m, err := graph.Sequential{graph.Dense{Units: 3}, graph.Tanh{}, graph.Dense{Units: 2}, graph.Softmax{}}.Declare(graph.Shape{4}, graph.WithDtype(tensor.Float64), graph.WithSeed(5))
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.1, -0.2, 0.3, 0.4, 1, 0.5, -0.5, 0}
	run := func() ([]float64, []float64) {
		g := G.NewGraph()
		in := m.NewInputs(g, 2)
		b, err := m.Build(g, in, graph.Eval)
		if err != nil {
			t.Fatal(err)
		}
		if err := G.Let(in[0], tensor.New(tensor.WithBacking(append([]float64(nil), x...)), tensor.WithShape(2, 4))); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), b.Outputs[0].Value().Data().([]float64)...), append([]float64(nil), b.Logits[0].Value().Data().([]float64)...)
	}
	want := func() (probs, logits []float64) {
		w1, b1 := m.Param("dense1/W").Value.Float64s(), m.Param("dense1/b").Value.Float64s()
		w2, b2 := m.Param("dense2/W").Value.Float64s(), m.Param("dense2/b").Value.Float64s()
		for n := 0; n < 2; n++ {
			h := make([]float64, 3)
			for j := range h {
				s := b1[j]
				for k := 0; k < 4; k++ {
					s += x[n*4+k] * w1[k*3+j]
				}
				h[j] = math.Tanh(s)
			}
			z := make([]float64, 2)
			for j := range z {
				z[j] = b2[j]
				for k := 0; k < 3; k++ {
					z[j] += h[k] * w2[k*2+j]
				}
			}
			e0, e1 := math.Exp(z[0]), math.Exp(z[1])
			probs = append(probs, e0/(e0+e1), e1/(e0+e1))
			logits = append(logits, z...)
		}
		return
	}
	check := func() {
		t.Helper()
		gotP, gotZ := run()
		wantP, wantZ := want()
		for i := range wantP {
			if math.Abs(gotP[i]-wantP[i]) > 1e-12 || math.Abs(gotZ[i]-wantZ[i]) > 1e-12 {
				t.Fatalf("output %v logits %v, want %v %v", gotP, gotZ, wantP, wantZ)
			}
		}
	}
	check()
	// Updating the model's tensors in place changes what every graph computes.
	m.Param("dense2/b").Value.Float64s()[0] = 0.7
	check()
}

func TestDropoutOnlyInTraining(t *testing.T) {
	m, err := graph.Sequential{graph.Dropout{P: 0.5}}.Declare(graph.Shape{1000})
	if err != nil {
		t.Fatal(err)
	}
	ones := make([]float32, 1000)
	for i := range ones {
		ones[i] = 1
	}
	// mask builds a fresh graph and returns which outputs were dropped.
	mask := func(mode graph.Mode, step uint64) []bool {
		g := G.NewGraph()
		in := m.NewInputs(g, 1)
		b, err := m.Build(g, in, mode)
		if err != nil {
			t.Fatal(err)
		}
		b.SetRandom(1, step)
		if err := G.Let(in[0], tensor.New(tensor.WithBacking(ones), tensor.WithShape(1, 1000))); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		var dropped []bool
		for _, v := range b.Outputs[0].Value().Data().([]float32) {
			dropped = append(dropped, v == 0)
		}
		return dropped
	}
	count := func(dropped []bool) (n int) {
		for _, d := range dropped {
			if d {
				n++
			}
		}
		return n
	}
	if z := count(mask(graph.Eval, 0)); z != 0 {
		t.Fatalf("eval mode dropped %d", z)
	}
	if z := count(mask(graph.Train, 0)); z < 400 || z > 600 {
		t.Fatalf("train mode dropped %d of 1000 at p = 0.5", z)
	}
	// Two graphs built independently draw the same mask for the same step,
	// and another mask for another step.
	first, again, next := mask(graph.Train, 3), mask(graph.Train, 3), mask(graph.Train, 4)
	if !slices.Equal(first, again) {
		t.Fatal("same step, different masks")
	}
	if slices.Equal(first, next) {
		t.Fatal("steps 3 and 4 drew the same mask")
	}
}

func TestBuildRejectsWrongInput(t *testing.T) {
	m := mlp(t)
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(8, 785), G.WithName("x"))
	if _, err := m.Build(g, G.Nodes{x}, graph.Eval); err == nil || !strings.Contains(err.Error(), "(8, 785)") {
		t.Fatalf("error %v", err)
	}
}

func TestDot(t *testing.T) {
	dot := mlp(t).Dot()
	for _, want := range []string{"digraph", `v0 [label="input\n(784)"`, `dense1 (dense)\n(100)\nparams 78,500, MACs 78,400`, "v0 -> v1;", "v2 -> v3;", "peripheries=2"} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
}
