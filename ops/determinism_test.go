package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// TestSameBitsAnyGOMAXPROCS checks that with the pure-Go matrix multiplies
// the ops give the same bits whatever GOMAXPROCS: a convolution whose
// filter gradient sums several image chunks, each split along k, forward
// and backward in both dtypes; a dense layer whose product is split along
// k; and five SGD steps of a small LeNet-like network. The OpenBLAS
// backend makes no such promise (see package ops/blas), so under it the
// test re-runs itself with RETINA_BLAS=go.
func TestSameBitsAnyGOMAXPROCS(t *testing.T) {
	if !strings.HasPrefix(ops.Backend(), "go-") {
		if os.Getenv("RETINA_OPS_TEST_CHILD") != "" {
			t.Fatalf("backend %s with RETINA_BLAS=go", ops.Backend())
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestSameBitsAnyGOMAXPROCS$", "-test.v")
		cmd.Env = append(os.Environ(), "RETINA_OPS_TEST_CHILD=1", "RETINA_BLAS=go")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("RETINA_BLAS=go: %v\n%s", err, out)
		}
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
		{"LeNet-like, 5 SGD steps", trainSmallConvNet},
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
	var in G.Nodes
	for i, v := range vals {
		in = append(in, G.NodeFromAny(g, v, G.WithName(fmt.Sprint("in", i))))
	}
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

// trainSmallConvNet trains conv(8 maps, 5×5)-ReLU-pool-conv(16)-ReLU-pool-
// dense(10) with softmax cross-entropy on random 28×28 images for five
// plain SGD steps, and returns the losses and the final parameters.
func trainSmallConvNet(t *testing.T) [][]float64 {
	rng := rand.New(rand.NewPCG(35, 36))
	const n = 32
	scaled := func(d *tensor.Dense, s float32) *tensor.Dense {
		for i := range d.Float32s() {
			d.Float32s()[i] *= s
		}
		return d
	}
	params := []*tensor.Dense{
		scaled(randDense[float32](rng, 8, 1, 5, 5), 0.4), randDense[float32](rng, 8),
		scaled(randDense[float32](rng, 16, 8, 5, 5), 0.1), randDense[float32](rng, 16),
		scaled(randDense[float32](rng, 256, 10), 0.1), randDense[float32](rng, 10),
	}
	x := randDense[float32](rng, n, 1, 28, 28)
	target := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(n, 10))
	for i := 0; i < n; i++ {
		target.Float32s()[i*10+rng.IntN(10)] = 1
	}

	g := G.NewGraph()
	var p G.Nodes
	for i, v := range params {
		p = append(p, G.NodeFromAny(g, v, G.WithName(fmt.Sprint("p", i))))
	}
	xn, tn := G.NodeFromAny(g, x, G.WithName("x")), G.NodeFromAny(g, target, G.WithName("t"))
	h, err := ops.Conv2DAct(xn, p[0], p[1], [2]int{1, 1}, [2]int{0, 0}, ops.ReLU)
	if err == nil {
		h, err = ops.MaxPool2D(h, ops.Square(2, 2, 0))
	}
	if err == nil {
		h, err = ops.Conv2DAct(h, p[2], p[3], [2]int{1, 1}, [2]int{0, 0}, ops.ReLU)
	}
	if err == nil {
		h, err = ops.MaxPool2D(h, ops.Square(2, 2, 0))
	}
	if err == nil {
		h, err = ops.Flatten(h)
	}
	if err == nil {
		h, err = ops.Dense(h, p[4], p[5], ops.Linear)
	}
	if err == nil {
		h, err = ops.SoftmaxCrossEntropy(h, tn)
	}
	if err != nil {
		t.Fatal(err)
	}
	var loss G.Value
	G.Read(h, &loss)
	grads, err := G.Grad(h, p...)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	var losses []float64
	for step := 0; step < 5; step++ {
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		losses = append(losses, float64(loss.Data().(float32)))
		for i, v := range params {
			gr := grads[i].Value().Data().([]float32)
			for j := range v.Float32s() {
				v.Float32s()[j] -= 0.05 * gr[j]
			}
		}
		m.Reset()
	}
	res := [][]float64{losses}
	for _, v := range params {
		res = append(res, toF64(v.Float32s()))
	}
	return res
}
