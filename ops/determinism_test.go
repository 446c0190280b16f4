package ops_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/internal/blastest"
	"github.com/retina-ml/retina/ops"
)

// TestSameBitsAnyGOMAXPROCS checks that with the pure-Go matrix multiplies
// the ops give the same bits whatever GOMAXPROCS: a convolution whose
// filter gradient sums several image chunks, each split along k, forward
// and backward in both dtypes; a dense layer whose product is split along
// k (train's TestSameParamsAnyGOMAXPROCS trains a network). The OpenBLAS
// backend makes no such promise (see package ops/blas), so under it the
// test re-runs itself with RETINA_BLAS=go.
func TestSameBitsAnyGOMAXPROCS(t *testing.T) {
	if blastest.RerunOnPureGo(t, ops.Backend()) {
		return
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) [][]float64
	}{
		{"conv/float32", convForwardBackward[float32]},
		{"conv/float64", convForwardBackward[float64]},
		{"dense k split", denseForwardBackward},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(1)
			want := tc.run(t)
			for _, procs := range []int{2, 3, 5} {
				runtime.GOMAXPROCS(procs)
				got := tc.run(t)
				for i := range want {
					for j := range want[i] {
						if math.Float64bits(got[i][j]) != math.Float64bits(want[i][j]) {
							t.Fatalf("GOMAXPROCS=%d: result %d, element %d is %v, with GOMAXPROCS=1 %v", procs, i, j, got[i][j], want[i][j])
						}
					}
				}
			}
		})
	}
}

// gradients builds loss = Σ build(inputs) on a new graph, and returns the
// output followed by the gradients of every input.
func gradients(t *testing.T, build func(g *G.ExprGraph, in []*G.Node) (*G.Node, error), vals ...*tensor.Dense) [][]float64 {
	t.Helper()
	g := G.NewGraph()
	in := bind(g, vals)
	y, err := build(g, in)
	if err != nil {
		t.Fatal(err)
	}
	var out G.Value
	G.Read(y, &out)
	s, err := G.Sum(y)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(s, in...)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	res := [][]float64{asF64(out)}
	for _, gr := range grads {
		res = append(res, asF64(gr.Value()))
	}
	return res
}

// convForwardBackward runs LeNet's first convolution at batch 32: three
// chunks of images, the filter gradient of each split along k.
func convForwardBackward[T ops.Float](t *testing.T) [][]float64 {
	rng := rand.New(rand.NewPCG(31, 32))
	x, w, b := randDense[T](rng, 32, 1, 28, 28), randDense[T](rng, 20, 1, 5, 5), randDense[T](rng, 20)
	return gradients(t, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return ops.Conv2DAct(in[0], in[1], in[2], [2]int{1, 1}, [2]int{0, 0}, ops.ReLU)
	}, x, w, b)
}

// denseForwardBackward runs a dense layer with many inputs and few outputs,
// whose forward product (16×32, k = 16384) is split along k.
func denseForwardBackward(t *testing.T) [][]float64 {
	rng := rand.New(rand.NewPCG(33, 34))
	x, w, b := randDense[float32](rng, 16, 16384), randDense[float32](rng, 16384, 32), randDense[float32](rng, 32)
	return gradients(t, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return ops.Dense(in[0], in[1], in[2], ops.Tanh)
	}, x, w, b)
}
