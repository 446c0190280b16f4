package graph_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// run builds m in eval mode for a batch of n, feeds inputs (one slice per
// model input) and returns a copy of every output.
func run(t *testing.T, m *graph.Model, n int, inputs ...[]float64) [][]float64 {
	t.Helper()
	g := G.NewGraph()
	xs := m.NewInputs(g, n)
	b, err := m.Build(g, xs, graph.Eval)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		if err := G.Let(x, tensor.New(tensor.WithBacking(append([]float64(nil), inputs[i]...)), tensor.WithShape(x.Shape()...))); err != nil {
			t.Fatal(err)
		}
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var out [][]float64
	for _, o := range b.Outputs {
		out = append(out, append([]float64(nil), o.Value().Data().([]float64)...))
	}
	return out
}

func random(n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

func zero(p *graph.Param) {
	d := p.Value.Float64s()
	for i := range d {
		d[i] = 0
	}
}

// residual is relu(x + conv2(relu(conv1(x)))), shape-preserving.
func residual(s *graph.Scope, x *graph.Value) *graph.Value {
	maps := x.Shape()[0]
	h := s.Apply(graph.Conv2D{Maps: maps, Window: ops.Square(3, 1, 1), Init: graph.HeUniform}, x)
	h = s.Apply(graph.ReLU{}, h)
	h = s.Apply(graph.Conv2D{Maps: maps, Window: ops.Square(3, 1, 1)}, h)
	return s.Apply(graph.ReLU{}, s.Apply(graph.Add{}, x, h))
}

// TestResidualBlock declares two residual blocks and a channel Concat of
// their outputs: with the second convolution of each block zeroed, a block
// is relu(x), which the test computes directly.
func TestResidualBlock(t *testing.T) {
	m, err := graph.Func([]graph.Shape{{2, 5, 5}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		a := residual(s.Sub("block1"), in[0])
		b := residual(s.Sub("block2"), a)
		return []*graph.Value{s.Apply(graph.Concat{}, a, b)}
	}, graph.WithDtype(tensor.Float64))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m.Params() {
		names = append(names, p.Name)
	}
	if got, want := strings.Join(names, " "), "block1/conv1/W block1/conv1/b block1/conv2/W block1/conv2/b block2/conv1/W block2/conv1/b block2/conv2/W block2/conv2/b"; got != want {
		t.Fatalf("parameters %q, want %q", got, want)
	}
	if out := m.Outputs()[0]; !out.Eq(graph.Shape{4, 5, 5}) {
		t.Fatalf("output %v, want (4, 5, 5)", out)
	}
	x := random(3*2*5*5, 1)
	general := run(t, m, 3, x)[0]
	for _, name := range []string{"block1/conv2/W", "block1/conv2/b", "block2/conv2/W", "block2/conv2/b"} {
		zero(m.Param(name))
	}
	got := run(t, m, 3, x)[0]
	for n := 0; n < 3; n++ {
		for i := 0; i < 50; i++ {
			want := max(x[n*50+i], 0) // relu(x), and relu(relu(x)) in the second half
			if a, b := got[n*100+i], got[n*100+50+i]; a != want || b != want {
				t.Fatalf("sample %d element %d: concat halves %v, %v, want relu(x) = %v", n, i, a, b, want)
			}
		}
	}
	same := true
	for i := range got {
		same = same && got[i] == general[i]
	}
	if same {
		t.Fatal("the residual branch changed nothing before it was zeroed")
	}
	s := m.Summary().String()
	for _, want := range []string{"block2/add1", "block1/relu2, block2/relu2", "inputs", "outputs: concat1"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// tower is the shared network of the Siamese tests: a small CNN that maps
// a 1×6×6 image to 3 features.
func tower(t *testing.T) *graph.Model {
	t.Helper()
	m, err := graph.Sequential{
		graph.Conv2D{Maps: 2, Window: ops.Kernel(3, 3), Init: graph.HeUniform}, graph.ReLU{},
		graph.Flatten{}, graph.Dense{Units: 3},
	}.Declare(graph.Shape{1, 6, 6}, graph.WithDtype(tensor.Float64), graph.WithName("tower"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSharedTower runs two inputs through one tower: the model holds the
// tower's tensors once, and each half of its output is the tower applied
// alone to that input.
func TestSharedTower(t *testing.T) {
	tw := tower(t)
	m, err := graph.Func([]graph.Shape{{1, 6, 6}, {1, 6, 6}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		a := s.Call(tw, in[0])[0]
		b := s.Call(tw, in[1])[0]
		return []*graph.Value{s.Apply(graph.Concat{}, a, b)}
	}, graph.WithDtype(tensor.Float64), graph.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Params()) != len(tw.Params()) {
		t.Fatalf("%d parameters, the tower has %d: the weights are copied", len(m.Params()), len(tw.Params()))
	}
	for i, p := range m.Params() {
		if p.Value != tw.Params()[i].Value || p.Name != "tower/"+tw.Params()[i].Name {
			t.Fatalf("parameter %s is not the tower's %s", p.Name, tw.Params()[i].Name)
		}
	}
	if m.Submodel("tower") != tw {
		t.Fatal("Submodel(tower) is not the tower")
	}
	a, b := random(2*36, 1), random(2*36, 2)
	got := run(t, m, 2, a, b)[0]
	alone := [][]float64{run(t, tw, 2, a)[0], run(t, tw, 2, b)[0]}
	for n := 0; n < 2; n++ {
		for half := 0; half < 2; half++ {
			for j := 0; j < 3; j++ {
				if g, w := got[n*6+half*3+j], alone[half][n*3+j]; g != w {
					t.Fatalf("sample %d, tower %d, feature %d: %v, the tower alone gives %v", n, half, j, g, w)
				}
			}
		}
	}
	s := m.Summary()
	if s.Params() != int64(2*9+2+2*16*3+3) {
		t.Errorf("summary counts %d parameters, want the tower's once", s.Params())
	}
	if text := s.String(); !strings.Contains(text, "shared") || !strings.Contains(text, "input2") {
		t.Errorf("summary does not show the sharing:\n%s", text)
	}
	// The second call's layers are told apart from the first's, and read
	// the second input.
	layers := m.Layers()
	half := len(layers) / 2
	for i, li := range layers[half : 2*half] {
		if first := layers[i].Name; li.Name != first+"#2" || !li.Shared || layers[i].Shared {
			t.Fatalf("layer %d is %q (shared %v), the first call's %q (shared %v)", half+i, li.Name, li.Shared, first, layers[i].Shared)
		}
	}
	if in := layers[half].Inputs; len(in) != 1 || in[0] != "input2" {
		t.Fatalf("the second call reads %v", in)
	}
}

// TestNestedModelAndOutputs nests a model as a layer inside another with
// two outputs, and checks the nested model still predicts alone, over the
// same tensors, after the outer model's Init.
func TestNestedModelAndOutputs(t *testing.T) {
	tw := tower(t)
	m, err := graph.Func([]graph.Shape{{1, 6, 6}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		f := s.Call(tw, in[0])[0]
		head := s.Sub("head")
		return []*graph.Value{s.Apply(graph.Softmax{}, f), head.Apply(graph.Dense{Units: 2}, f)}
	}, graph.WithDtype(tensor.Float64), graph.WithSeed(9))
	if err != nil {
		t.Fatal(err)
	}
	if outs := m.Outputs(); len(outs) != 2 || !outs[0].Eq(graph.Shape{3}) || !outs[1].Eq(graph.Shape{2}) {
		t.Fatalf("outputs %v", outs)
	}
	if m.Param("head/dense1/W") == nil || m.Param("tower/dense1/W") == nil {
		t.Fatalf("parameters %v", m.Params())
	}
	x := random(36, 4)
	outs := run(t, m, 1, x)
	features := run(t, tw, 1, x)[0]
	var sum float64
	for _, p := range outs[0] {
		sum += p
	}
	if len(outs) != 2 || len(outs[1]) != 2 || sum < 0.999999 || sum > 1.000001 || len(features) != 3 {
		t.Fatalf("outputs %v, tower alone %v", outs, features)
	}
}

// TestFuncErrorsNamePaths checks that declaration errors name the layer by
// its scope path and the shapes involved.
func TestFuncErrorsNamePaths(t *testing.T) {
	tw := tower(t)
	for _, tc := range []struct {
		name string
		f    func(s *graph.Scope, in []*graph.Value) []*graph.Value
		want []string
	}{
		{"conv too large", func(s *graph.Scope, in []*graph.Value) []*graph.Value {
			h := s.Sub("block1").Apply(graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3)}, in[0])
			return []*graph.Value{s.Sub("block2").Apply(graph.Conv2D{Maps: 4, Window: ops.Kernel(5, 5)}, h)}
		}, []string{"block2/conv1", "(4, 4, 4)", "5×5"}},
		{"add of two shapes", func(s *graph.Scope, in []*graph.Value) []*graph.Value {
			h := s.Apply(graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3)}, in[0])
			return []*graph.Value{s.Apply(graph.Add{}, in[0], h)}
		}, []string{"add1", "(1, 6, 6) and (4, 4, 4)"}},
		{"concat of mismatched maps", func(s *graph.Scope, in []*graph.Value) []*graph.Value {
			h := s.Apply(graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3)}, in[0])
			return []*graph.Value{s.Apply(graph.Concat{}, in[0], h)}
		}, []string{"concat1", "(1, 6, 6) and (4, 4, 4)"}},
		{"scope used twice", func(s *graph.Scope, in []*graph.Value) []*graph.Value {
			a := s.Sub("b").Apply(graph.ReLU{}, in[0])
			return []*graph.Value{s.Sub("b").Apply(graph.ReLU{}, a)}
		}, []string{`scope "b" used twice`}},
		{"model on the wrong shape", func(s *graph.Scope, in []*graph.Value) []*graph.Value {
			return s.Call(tw, s.Apply(graph.Flatten{}, in[0]))
		}, []string{"tower", "(36)", "(1, 6, 6)"}},
		{"value of another model", func(s *graph.Scope, in []*graph.Value) []*graph.Value {
			var stray *graph.Value
			if _, err := graph.Func([]graph.Shape{{2}}, func(s2 *graph.Scope, in2 []*graph.Value) []*graph.Value {
				stray = in2[0]
				return []*graph.Value{s2.Apply(graph.ReLU{}, in2[0])}
			}); err != nil {
				t.Fatal(err)
			}
			return []*graph.Value{s.Apply(graph.Add{}, in[0], stray)}
		}, []string{"add1", "not a value of this model"}},
	} {
		_, err := graph.Func([]graph.Shape{{1, 6, 6}}, tc.f, graph.WithDtype(tensor.Float64))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, w)
			}
		}
	}
}
