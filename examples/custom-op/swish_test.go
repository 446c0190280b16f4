package main

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops/opcheck"
)

func randomTensor(seed uint64, shape ...int) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(shape...))
	for i := range t.Float64s() {
		t.Float64s()[i] = 4*rng.Float64() - 2
	}
	return t
}

// TestSwishGradient runs the custom op through Retina's checker: SymDiff on
// a TapeMachine, DoDiff on a LispMachine and finite differences must agree.
func TestSwishGradient(t *testing.T) {
	for _, shape := range [][]int{{7}, {3, 5}, {2, 3, 4, 5}} {
		res, err := opcheck.CheckGradients(func(in ...*G.Node) (*G.Node, error) { return Swish(in[0]) },
			[]*tensor.Dense{randomTensor(uint64(len(shape)), shape...)}, opcheck.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: %v", shape, res)
	}
}

func TestSwishConformance(t *testing.T) {
	x := randomTensor(9, 4, 6)
	g := G.NewGraph()
	xn := G.NodeFromAny(g, x, G.WithName("x"))
	y, err := Swish(xn)
	if err != nil {
		t.Fatal(err)
	}
	if err := opcheck.CheckOp(y.Op(), x); err != nil {
		t.Fatal(err)
	}
	// The forward values, against the definition.
	out, err := y.Op().Do(x)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x.Float64s() {
		if want := v / (1 + math.Exp(-v)); math.Abs(out.Data().([]float64)[i]-want) > 1e-15 {
			t.Fatalf("swish(%v) = %v, want %v", v, out.Data().([]float64)[i], want)
		}
	}
	// Hashes tell the shapes and the gradient op apart.
	yt, err := Swish(G.NewTensor(g, G.Float64, 2, G.WithShape(6, 4), G.WithName("xt")))
	if err != nil {
		t.Fatal(err)
	}
	dx, err := y.Op().(G.SDOp).SymDiff(G.Nodes{xn}, y, y)
	if err != nil {
		t.Fatal(err)
	}
	if err := opcheck.CheckHashes(y.Op(), yt.Op(), dx[0].Op()); err != nil {
		t.Fatal(err)
	}
}
