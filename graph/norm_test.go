package graph_test

import (
	"strings"
	"testing"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// TestNormLayers declares batch and layer normalisation: parameter and
// state shapes, their starting values, and the summary's separate count of
// state.
func TestNormLayers(t *testing.T) {
	m, err := graph.Sequential{
		graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3), NoBias: true},
		graph.BatchNorm{},
		graph.Flatten{},
		graph.LayerNorm{},
	}.Declare(graph.Shape{1, 6, 6}, graph.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		shape graph.Shape
		state bool
		fill  float32 // -1: random
	}{
		"conv1/W":                        {graph.Shape{4, 1, 3, 3}, false, -1},
		"batchnorm1/gamma":               {graph.Shape{4}, false, 1},
		"batchnorm1/beta":                {graph.Shape{4}, false, 0},
		"batchnorm1/running_mean":        {graph.Shape{4}, true, 0},
		"batchnorm1/running_var":         {graph.Shape{4}, true, 1},
		"batchnorm1/num_batches_tracked": {graph.Shape{1}, true, 0},
		"layernorm1/gamma":               {graph.Shape{64}, false, 1},
		"layernorm1/beta":                {graph.Shape{64}, false, 0},
	}
	all := append(m.Params(), m.State()...)
	if len(all) != len(want) || len(m.State()) != 3 {
		t.Fatalf("%d tensors (%d state), want %d (3 state)", len(all), len(m.State()), len(want))
	}
	for _, p := range all {
		w, ok := want[p.Name]
		if !ok || !p.Value.Shape().Eq(w.shape) || p.Spec.State != w.state {
			t.Fatalf("%s: shape %v state %v, want %+v", p.Name, p.Value.Shape(), p.Spec.State, w)
		}
		if w.fill < 0 {
			continue
		}
		for _, v := range p.Value.Float32s() {
			if v != w.fill {
				t.Fatalf("%s starts at %v, want %v", p.Name, v, w.fill)
			}
		}
	}
	s := m.Summary()
	if s.State != 9 || s.Params() != 36+8+128 {
		t.Fatalf("summary: %d parameters, %d state values", s.Params(), s.State)
	}
	if !strings.Contains(s.String(), "state: 9 values, not learnt") {
		t.Fatalf("summary does not count the state:\n%s", s)
	}
}

func TestNormLayerErrors(t *testing.T) {
	for _, tc := range []struct {
		layer graph.Layer
		in    graph.Shape
		want  string
	}{
		{graph.BatchNorm{Momentum: 1.5}, graph.Shape{3}, "Momentum = 1.5"},
		{graph.BatchNorm{Eps: -1}, graph.Shape{3}, "Eps = -1"},
		{graph.LayerNorm{Eps: -1}, graph.Shape{3}, "Eps = -1"},
	} {
		_, err := graph.Sequential{tc.layer}.Declare(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T on %v: %v, want %q", tc.layer, tc.in, err, tc.want)
		}
	}
}
