package main

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops/opcheck"
)

func uniform(seed uint64, lo, hi float64, shape ...int) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 2))
	t := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(shape...))
	for i := range t.Float64s() {
		t.Float64s()[i] = lo + (hi-lo)*rng.Float64()
	}
	return t
}

// TestDistance checks the distance op's forward values against the
// definition and its gradients with opcheck.
func TestDistance(t *testing.T) {
	a, b := uniform(1, -1, 1, 5, 3), uniform(2, -1, 1, 5, 3)
	build := func(in ...*G.Node) (*G.Node, error) { return distance{}.Build(nil, in, nil) }
	g := G.NewGraph()
	d, err := build(G.NodeFromAny(g, a), G.NodeFromAny(g, b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Op().Do(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Shape().Eq(tensor.Shape{5, 1}) {
		t.Fatalf("shape %v, want (5, 1)", out.Shape())
	}
	for n := range 5 {
		var s float64
		for k := range 3 {
			diff := a.Float64s()[n*3+k] - b.Float64s()[n*3+k]
			s += diff * diff
		}
		if got, want := out.Data().([]float64)[n], math.Sqrt(s+distanceEpsilon); math.Abs(got-want) > 1e-15 {
			t.Fatalf("row %d: %v, want %v", n, got, want)
		}
	}
	res, err := opcheck.CheckGradients(build, []*tensor.Dense{a, b}, opcheck.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
}

// TestContrastive checks the loss against its definition on hand-picked
// pairs, and its gradient with opcheck on distances both sides of the
// margin.
func TestContrastive(t *testing.T) {
	c := contrastive{margin: 1}
	d := tensor.New(tensor.WithBacking([]float64{0.5, 0.5, 2, 0.25}), tensor.WithShape(4, 1))
	y := tensor.New(tensor.WithBacking([]float64{1, 0, 0, 0}), tensor.WithShape(4, 1))
	build := func(in ...*G.Node) (*G.Node, error) {
		return c.Build(&graph.Built{Outputs: G.Nodes{in[0]}}, G.Nodes{in[1]})
	}
	g := G.NewGraph()
	l, err := build(G.NodeFromAny(g, d), G.NodeFromAny(g, y))
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.Op().Do(d, y)
	if err != nil {
		t.Fatal(err)
	}
	// Same pair at 0.5: 0.25; different pairs at 0.5, 2 and 0.25: 0.25, 0 and 0.5625.
	if got, want := v.Data().(float64), (0.25+0.25+0+0.5625)/4; math.Abs(got-want) > 1e-15 {
		t.Fatalf("loss %v, want %v", got, want)
	}
	d = uniform(3, 0.05, 2, 9, 1)
	y = tensor.New(tensor.WithBacking([]float64{1, 0, 1, 0, 1, 0, 0, 1, 0}), tensor.WithShape(9, 1))
	res, err := opcheck.CheckGradients(build, []*tensor.Dense{d, y}, opcheck.Options{WRT: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
}

// TestTowerIsShared checks that the Siamese model holds the tower's own
// parameter tensors, once, and that its distance is that of the tower's
// embeddings predicted alone.
func TestTowerIsShared(t *testing.T) {
	tower, err := towerSpec(3).Model(graph.WithName("tower"), graph.WithSeed(4))
	if err != nil {
		t.Fatal(err)
	}
	m, err := siamese(tower)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Params()) != len(tower.Params()) {
		t.Fatalf("%d parameters, the tower has %d", len(m.Params()), len(tower.Params()))
	}
	for i, p := range m.Params() {
		if q := tower.Params()[i]; p.Value != q.Value || p.Name != "tower/"+q.Name {
			t.Fatalf("parameter %d: %s is not the tower's %s", i, p.Name, q.Name)
		}
	}
}

// TestDrawPairs checks that pairs alternate same and different digits, as
// their targets say, and depend only on the seed.
func TestDrawPairs(t *testing.T) {
	set := &datasets.Set{Shape: []int{1}, Classes: 4}
	for i := range 40 {
		set.X = append(set.X, float32(i))
		set.Labels = append(set.Labels, i%3) // digit 3 has no samples
	}
	p, err := drawPairs(set, 101, 7)
	if err != nil {
		t.Fatal(err)
	}
	label := func(x float32) int { return set.Labels[int(x)] }
	sameCount := 0
	for i := range 101 {
		a, b := label(p.Inputs[0].X[i]), label(p.Inputs[1].X[i])
		want := i%2 == 0
		if (a == b) != want || (p.Targets[0].X[i] == 1) != want {
			t.Fatalf("pair %d: digits %d and %d, target %v", i, a, b, p.Targets[0].X[i])
		}
		if want {
			sameCount++
		}
	}
	if sameCount != 51 {
		t.Fatalf("%d same-digit pairs of 101", sameCount)
	}
	q, err := drawPairs(set, 101, 7)
	if err != nil {
		t.Fatal(err)
	}
	r, err := drawPairs(set, 101, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(p.Inputs[0].X, q.Inputs[0].X) || !equal(p.Inputs[1].X, q.Inputs[1].X) || equal(p.Inputs[0].X, r.Inputs[0].X) {
		t.Fatal("pairs do not depend on the seed alone")
	}
	if _, err := drawPairs(&datasets.Set{X: []float32{1, 2}, Shape: []int{1}, Labels: []int{0, 0}, Classes: 2}, 4, 1); err == nil {
		t.Fatal("pairs of different digits drawn from a set of one digit")
	}
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestBestThreshold(t *testing.T) {
	for _, tc := range []struct {
		dist      []float32
		same      []bool
		threshold float64
		accuracy  float64
	}{
		{[]float32{0.1, 0.2, 0.9, 1.1}, []bool{true, true, false, false}, 0.55, 1},
		{[]float32{0.9, 0.1, 1.1, 0.2}, []bool{false, true, false, true}, 0.55, 1},
		{[]float32{0.1, 0.5, 0.3, 0.9}, []bool{true, false, true, true}, 0.4, 0.75},
		{[]float32{0.5, 0.5, 0.5}, []bool{true, false, true}, math.Nextafter(0.5, 1), 2.0 / 3},
		{[]float32{0.2, 0.4}, []bool{false, false}, 0.2, 1},
	} {
		th, acc := bestThreshold(tc.dist, tc.same)
		if math.Abs(th-tc.threshold) > 1e-7 || acc != tc.accuracy {
			t.Errorf("bestThreshold(%v, %v) = %v, %v; want %v, %v", tc.dist, tc.same, th, acc, tc.threshold, tc.accuracy)
		}
		if got := pairAccuracy(tc.dist, tc.same, th); got != acc {
			t.Errorf("pairAccuracy at %v = %v, bestThreshold says %v", th, got, acc)
		}
	}
}
