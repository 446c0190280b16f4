package exec_test

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/exec"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/ops"
)

// trainGraph is one model's training graph: inputs and targets bound to
// tensors, the loss, its gradients, and the outputs.
type trainGraph struct {
	g      *G.ExprGraph
	built  *graph.Built
	xs, ys []*tensor.Dense
	loss   *G.Node
	grads  G.Nodes
}

// roots are the values a training step needs, as the Trainer asks for them.
func (tg *trainGraph) roots() G.Nodes {
	return append(append(G.Nodes{tg.loss}, tg.built.Outputs...), tg.grads...)
}

func newTrainGraph(t *testing.T, m *graph.Model, batch int, rng *rand.Rand) *trainGraph {
	t.Helper()
	tg := &trainGraph{g: G.NewGraph()}
	xs := m.NewInputs(tg.g, batch)
	for _, x := range xs {
		v := tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(x.Shape().Clone()...))
		fillRandom(v, rng)
		if err := G.Let(x, v); err != nil {
			t.Fatal(err)
		}
		tg.xs = append(tg.xs, v)
	}
	b, err := m.Build(tg.g, xs, graph.Train)
	if err != nil {
		t.Fatal(err)
	}
	tg.built = b
	b.SetRandom(7, 3)
	var loss *G.Node
	for k, z := range b.Logits {
		y := tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(z.Shape().Clone()...))
		n := z.Shape()[1]
		for i := 0; i < z.Shape()[0]; i++ {
			setAt(y, i*n+rng.IntN(n), 1) // one-hot targets
		}
		yn := G.NodeFromAny(tg.g, y, G.WithName(string(rune('a'+k))))
		tg.ys = append(tg.ys, y)
		l, err := ops.SoftmaxCrossEntropy(z, yn)
		if err != nil {
			t.Fatal(err)
		}
		if loss == nil {
			loss = l
		} else if loss, err = G.Add(loss, l); err != nil {
			t.Fatal(err)
		}
	}
	tg.loss = loss
	if tg.grads, err = G.Grad(loss, b.Params...); err != nil {
		t.Fatal(err)
	}
	return tg
}

func fillRandom(d *tensor.Dense, rng *rand.Rand) {
	switch v := d.Data().(type) {
	case []float32:
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
	case []float64:
		for i := range v {
			v[i] = rng.NormFloat64()
		}
	}
}

func setAt(d *tensor.Dense, i int, x float64) {
	switch v := d.Data().(type) {
	case []float32:
		v[i] = float32(x)
	case []float64:
		v[i] = x
	}
}

// bits returns a value's elements as float64 bit patterns.
func bits(t *testing.T, v G.Value) []uint64 {
	t.Helper()
	switch x := v.(type) {
	case *G.F32:
		return []uint64{uint64(math.Float32bits(float32(*x)))}
	case *G.F64:
		return []uint64{math.Float64bits(float64(*x))}
	}
	switch d := v.Data().(type) {
	case []float32:
		out := make([]uint64, len(d))
		for i, x := range d {
			out[i] = uint64(math.Float32bits(x))
		}
		return out
	case []float64:
		out := make([]uint64, len(d))
		for i, x := range d {
			out[i] = math.Float64bits(x)
		}
		return out
	}
	t.Fatalf("value of type %T", v)
	return nil
}

// snapshot copies the bits of every state tensor of m.
func snapshot(t *testing.T, m *graph.Model) [][]uint64 {
	var s [][]uint64
	for _, p := range m.State() {
		s = append(s, bits(t, p.Value))
	}
	return s
}

func restore(m *graph.Model, s [][]float64) {
	for i, p := range m.State() {
		for j, v := range s[i] {
			setAt(p.Value, j, v)
		}
	}
}

func stateValues(m *graph.Model) [][]float64 {
	var s [][]float64
	for _, p := range m.State() {
		var v []float64
		switch d := p.Value.Data().(type) {
		case []float32:
			for _, x := range d {
				v = append(v, float64(x))
			}
		case []float64:
			v = append(v, d...)
		}
		s = append(s, v)
	}
	return s
}

// TestPlanMatchesTapeMachine runs the training step of each model (forward,
// loss, every parameter gradient, batch norm's state update, dropout) once
// on Gorgonia's TapeMachine and once as a Plan, from the same state, and
// requires the same bits everywhere; then it runs the Plan again and checks
// that a warm Plan allocates nothing.
func TestPlanMatchesTapeMachine(t *testing.T) {
	resnet, err := cnn.ResNet(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	lenet, err := cnn.LeNet.Model()
	if err != nil {
		t.Fatal(err)
	}
	dropout, err := graph.Sequential{graph.Dense{Units: 32}, graph.ReLU{}, graph.Dropout{P: 0.3}, graph.Dense{Units: 5}}.Declare(graph.Shape{12}, graph.WithDtype(tensor.Float64))
	if err != nil {
		t.Fatal(err)
	}
	seedMLP, err := mlp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	tower, err := graph.Sequential{graph.Dense{Units: 8}, graph.Tanh{}}.Declare(graph.Shape{6}, graph.WithName("tower"))
	if err != nil {
		t.Fatal(err)
	}
	siamese, err := graph.Func([]graph.Shape{{6}, {6}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		a, b := s.Call(tower, in[0])[0], s.Call(tower, in[1])[0]
		h := s.Apply(graph.Concat{}, a, b)
		return []*graph.Value{s.Apply(graph.Dense{Units: 3}, h), s.Apply(graph.Dense{Units: 2}, a)}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		m     *graph.Model
		batch int
	}{
		{"mlp", seedMLP, 16},
		{"lenet", lenet, 8},
		{"resnet-batchnorm", resnet, 6},
		{"dropout-float64", dropout, 10},
		{"shared-two-outputs", siamese, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.Init(3)
			before := stateValues(tc.m)
			tape := newTrainGraph(t, tc.m, tc.batch, rand.New(rand.NewPCG(1, 2)))
			vm := G.NewTapeMachine(tape.g.ExactSubgraphRoots(tape.roots()...))
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			var want [][]uint64
			for _, n := range tape.roots() {
				want = append(want, bits(t, n.Value()))
			}
			wantState := snapshot(t, tc.m)

			restore(tc.m, before)
			planned := newTrainGraph(t, tc.m, tc.batch, rand.New(rand.NewPCG(1, 2)))
			p, err := exec.Compile(planned.g, planned.roots(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
			for i, n := range planned.roots() {
				got := bits(t, p.Value(n))
				if len(got) != len(want[i]) {
					t.Fatalf("root %d (%v): %d values, want %d", i, n, len(got), len(want[i]))
				}
				for j := range got {
					if got[j] != want[i][j] {
						t.Fatalf("root %d (%v), element %d: bits %x, TapeMachine %x", i, n, j, got[j], want[i][j])
					}
				}
			}
			for i, s := range snapshot(t, tc.m) {
				for j := range s {
					if s[j] != wantState[i][j] {
						t.Fatalf("state %s element %d: bits %x, TapeMachine %x", tc.m.State()[i].Name, j, s[j], wantState[i][j])
					}
				}
			}
			for range 3 { // convolutions' workspaces fill over the first calls
				if err := p.Run(); err != nil {
					t.Fatal(err)
				}
			}
			if n := testing.AllocsPerRun(5, func() { p.Run() }); n > 0 {
				t.Errorf("a warm Plan allocates %v times per Run", n)
			}
		})
	}
}

// TestPlanErrors checks that Compile refuses a leaf without a value and
// that Run names the node whose op failed.
func TestPlanErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("x"))
	y, err := ops.Activate(x, ops.ReLU)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Compile(g, G.Nodes{y}, nil); err == nil {
		t.Fatal("Compile of a graph with an unbound input: no error")
	}
	if err := G.Let(x, tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float32, 6)))); err != nil {
		t.Fatal(err)
	}
	p, err := exec.Compile(g, G.Nodes{y}, map[*G.Node]string{y: "relu1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if p.Steps() != 1 || p.Value(y) == nil || p.Value(G.NewScalar(g, tensor.Float32)) != nil {
		t.Fatalf("Steps %d, Value(y) %v", p.Steps(), p.Value(y))
	}
	// An input reshaped in place makes the op fail: the error names the layer.
	if err := x.Value().(*tensor.Dense).Reshape(3, 2); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err == nil || err.Error()[:5] != "relu1" {
		t.Fatalf("Run with a (3, 2) input: %v, want an error naming relu1", err)
	}
}
