package graph_test

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// TestConvReLUPoolFusedInTraining checks that Build turns a Conv2D, ReLU,
// MaxPool2D run into a linear convolution and ops.MaxPool2DReLU in Train
// mode only (Eval keeps the convolution with its ReLU, whose output
// Built.Layers must hold), that a run whose ReLU output is read twice is
// left alone, and that the fused graph computes the same output and
// gradients, bit for bit, as the one built in Eval mode.
func TestConvReLUPoolFusedInTraining(t *testing.T) {
	m, err := graph.Sequential{
		graph.Conv2D{Maps: 3, Window: ops.Square(3, 1, 1), Init: graph.HeUniform},
		graph.ReLU{},
		graph.MaxPool2D{Window: ops.Square(2, 2, 0)},
		graph.Flatten{},
		graph.Dense{Units: 2},
	}.Declare(graph.Shape{2, 8, 8}, graph.WithDtype(tensor.Float64), graph.WithSeed(5))
	if err != nil {
		t.Fatal(err)
	}
	run := func(mode graph.Mode) (*graph.Built, [][]float64) {
		g := G.NewGraph()
		in := m.NewInputs(g, 3)
		b, err := m.Build(g, in, mode)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float64, 3*2*8*8)
		for i := range x {
			x[i] = math.Sin(float64(i))
		}
		if err := G.Let(in[0], tensor.New(tensor.WithBacking(x), tensor.WithShape(3, 2, 8, 8))); err != nil {
			t.Fatal(err)
		}
		loss := G.Must(G.Sum(b.Outputs[0]))
		grads, err := G.Grad(loss, b.Params...)
		if err != nil {
			t.Fatal(err)
		}
		var out G.Value
		G.Read(b.Outputs[0], &out)
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vals := [][]float64{append([]float64(nil), out.Data().([]float64)...)}
		for _, gr := range grads {
			vals = append(vals, append([]float64(nil), gr.Value().Data().([]float64)...))
		}
		return b, vals
	}
	tb, tv := run(graph.Train)
	if op := tb.Layers[0].Op().String(); !strings.HasPrefix(op, "Conv2D{") || !strings.Contains(op, "Linear") {
		t.Errorf("Train: conv1 is %s, want a linear Conv2D", op)
	}
	if op := tb.Layers[2].Op().String(); tb.Layers[1] != tb.Layers[2] || !strings.HasPrefix(op, "MaxPool2D{ReLU of") {
		t.Errorf("Train: relu1 and pool1 are %v and %s, want one MaxPool2D of ReLU", tb.Layers[1].Op(), op)
	}
	eb, ev := run(graph.Eval)
	if eb.Layers[0] != eb.Layers[1] || eb.Layers[1] == eb.Layers[2] || !strings.Contains(eb.Layers[0].Op().String(), "ReLU") {
		t.Errorf("Eval: conv1 %v, relu1 %v, pool1 %v: want the convolution fused with ReLU only", eb.Layers[0].Op(), eb.Layers[1].Op(), eb.Layers[2].Op())
	}
	for k := range tv {
		for i := range tv[k] {
			if math.Float64bits(tv[k][i]) != math.Float64bits(ev[k][i]) {
				t.Fatalf("value %d [%d]: Train %v, Eval %v", k, i, tv[k][i], ev[k][i])
			}
		}
	}

	// ReLU's output read twice: not fused.
	twice, err := graph.Func([]graph.Shape{{2, 8, 8}}, func(s *graph.Scope, x []*graph.Value) []*graph.Value {
		h := s.Apply(graph.ReLU{}, s.Apply(graph.Conv2D{Maps: 3, Window: ops.Square(3, 1, 1)}, x[0]))
		p := s.Apply(graph.MaxPool2D{Window: ops.Square(2, 2, 0)}, h)
		q := s.Apply(graph.MaxPool2D{Window: ops.Square(2, 2, 0)}, h)
		return []*graph.Value{s.Apply(graph.Add{}, p, q)}
	}, graph.WithDtype(tensor.Float64))
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewGraph()
	b, err := twice.Build(g, twice.NewInputs(g, 2), graph.Train)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range b.Layers {
		if strings.Contains(l.Op().String(), "ReLU of") {
			t.Errorf("a ReLU read twice was fused into a pooling: %v", l.Op())
		}
	}
}
