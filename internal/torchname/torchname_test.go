package torchname

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// TestEntries checks names, shapes and flags for every kind of tensor: a
// convolution's, a dense layer's (transposed), batch norm's state
// (num_batches_tracked a scalar count), a layer in a scope, and the
// tensors of a model called twice, listed once.
func TestEntries(t *testing.T) {
	tower, err := graph.Sequential{graph.Dense{Units: 2}}.Declare(graph.Shape{3}, graph.WithName("tower"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := graph.Func([]graph.Shape{{1, 4, 4}, {3}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		b := s.Sub("block2")
		h := b.Apply(graph.BatchNorm{Name: "bn1"}, s.Apply(graph.Conv2D{Maps: 3, Window: ops.Kernel(3, 3)}, in[0]))
		h = s.Apply(graph.Dense{Units: 3}, s.Apply(graph.Flatten{}, h))
		return []*graph.Value{s.Call(tower, h)[0], s.Call(tower, in[1])[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	es, err := Entries(m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%s %s %v %v %v", e.Param.Name, e.Name, e.Shape, e.Transpose, e.Count))
	}
	want := []string{
		"conv1/W conv1.weight [3 1 3 3] false false",
		"conv1/b conv1.bias [3] false false",
		"block2/bn1/gamma block2.bn1.weight [3] false false",
		"block2/bn1/beta block2.bn1.bias [3] false false",
		"dense1/W dense1.weight [3 12] true false",
		"dense1/b dense1.bias [3] false false",
		"tower/dense1/W tower.dense1.weight [2 3] true false",
		"tower/dense1/b tower.dense1.bias [2] false false",
		"block2/bn1/running_mean block2.bn1.running_mean [3] false false",
		"block2/bn1/running_var block2.bn1.running_var [3] false false",
		"block2/bn1/num_batches_tracked block2.bn1.num_batches_tracked [] false true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCollision checks that two tensors mapping to one name are an error.
func TestCollision(t *testing.T) {
	m, err := graph.Func([]graph.Shape{{3}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		h := s.Sub("a").Apply(graph.Dense{Name: "b", Units: 2}, in[0])
		return []*graph.Value{s.Apply(graph.Dense{Name: "a.b", Units: 2}, h)}
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Entries(m)
	if want := `model model: tensors a/b/W and a.b/W both map to "a.b.weight"`; err == nil || err.Error() != want {
		t.Errorf("Entries: %v, want %s", err, want)
	}
}

func TestTranspose(t *testing.T) {
	if got := Transpose([]float32{1, 2, 3, 4, 5, 6}, 2, 3); !slices.Equal(got, []float32{1, 4, 2, 5, 3, 6}) {
		t.Errorf("Transpose: %v", got)
	}
}
