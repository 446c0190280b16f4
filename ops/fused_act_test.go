package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// TestFusedActivationsMatchSeparateOps checks that BatchNormAct and AddAct
// compute, bit for bit, the output, the gradients and (batch norm) the
// running statistics of the op followed by Activate: ReLU, sigmoid and
// tanh, float32 and float64, batch norm in train and eval mode on rows of
// 36 values, on columns ((N, C) and (N, C, 3): column mode) and on
// channels of 64·784 values (several blocks of rows, not fused), and
// additions of 2 and 3 inputs. The loss is Σ y ⊙ r for a random r.
func TestFusedActivationsMatchSeparateOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	// A case builds y from its inputs, fused or as the op and Activate,
	// and returns the values it changes besides (the running statistics).
	type build func(in G.Nodes, fused bool, f ops.Activation) (y *G.Node, state func() []float64, err error)
	type tc struct {
		name   string
		shape  []int
		inputs int
		build  build
	}
	bn := func(shape []int, train bool) tc {
		return tc{fmt.Sprintf("BatchNorm%v/train=%t", shape, train), shape, 3, func(in G.Nodes, fused bool, f ops.Activation) (*G.Node, func() []float64, error) {
			st := ops.NewBatchNormState(shape[1], in[0].Dtype())
			state := func() []float64 {
				return append(append(asF64(st.Mean), asF64(st.Var)...), asF64(st.Batches)...)
			}
			if fused {
				y, err := ops.BatchNormAct(in[0], in[1], in[2], st, train, 0.1, 1e-5, f)
				return y, state, err
			}
			y, err := ops.BatchNorm(in[0], in[1], in[2], st, train, 0.1, 1e-5)
			if err != nil {
				return nil, nil, err
			}
			y, err = ops.Activate(y, f)
			return y, state, err
		}}
	}
	add := func(shape []int, n int) tc {
		return tc{fmt.Sprintf("Add%d%v", n, shape), shape, n, func(in G.Nodes, fused bool, f ops.Activation) (*G.Node, func() []float64, error) {
			none := func() []float64 { return nil }
			if fused {
				y, err := ops.AddAct(f, in...)
				return y, none, err
			}
			y, err := ops.Add(in...)
			if err != nil {
				return nil, nil, err
			}
			y, err = ops.Activate(y, f)
			return y, none, err
		}}
	}
	for _, c := range []tc{
		bn([]int{4, 3, 6, 6}, true), bn([]int{4, 3, 6, 6}, false), bn([]int{10, 5}, true),
		bn([]int{6, 4, 3}, false), bn([]int{64, 2, 28, 28}, true),
		add([]int{3, 4, 5, 5}, 2), add([]int{7, 9}, 3),
	} {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			for _, f := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh} {
				vals := []*tensor.Dense{randDense[float64](rng, c.shape...)}
				for i := 1; i < c.inputs; i++ {
					if c.inputs == 3 && c.name[0] == 'B' {
						vals = append(vals, randDense[float64](rng, c.shape[1])) // γ, β
					} else {
						vals = append(vals, randDense[float64](rng, c.shape...))
					}
				}
				r := randDense[float64](rng, c.shape...)
				if dt == tensor.Float32 {
					vals = toFloat32(vals)
					r = toFloat32([]*tensor.Dense{r})[0]
				}
				run := func(fused bool) [][]float64 {
					var state func() []float64
					out := lossGrads(t, vals, r, func(in G.Nodes) (y *G.Node, err error) {
						y, state, err = c.build(in, fused, f)
						return y, err
					})
					return append([][]float64{out[0], state()}, out[1:]...)
				}
				want, got := run(false), run(true)
				for k := range want {
					if !sameBits(got[k], want[k]) {
						what := [...]string{"output", "running statistics"}[min(k, 1)]
						if k > 1 {
							what = fmt.Sprintf("gradient of input %d", k-2)
						}
						t.Errorf("%s %v %v: the fused op's %s differs from the two ops'", c.name, dt, f, what)
					}
				}
			}
		}
	}
}

// TestMaxPool2DReLUMatchesReLUThenPool checks that MaxPool2DReLU computes,
// bit for bit, the output and the gradient of ReLU followed by MaxPool2D:
// float32 (the 2×2 assembly kernel) and float64, 2×2 windows on even and
// odd planes and 3×3 windows of stride 2 with padding (ReLU applied before
// the Go kernels), on inputs holding ties, signed zeros, infinities and
// NaNs of both signs. The loss is Σ y ⊙ r for a random r.
func TestMaxPool2DReLUMatchesReLUThenPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	for _, c := range []struct {
		shape []int
		win   ops.Window
	}{
		{[]int{2, 3, 8, 8}, ops.Square(2, 2, 0)},
		{[]int{3, 2, 7, 9}, ops.Square(2, 2, 0)},
		{[]int{2, 2, 24, 24}, ops.Square(2, 2, 0)},
		{[]int{2, 2, 9, 9}, ops.Square(3, 2, 1)},
	} {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			x := randDense[float64](rng, c.shape...)
			for i, d := 0, x.Data().([]float64); i < len(d); i++ {
				switch rng.IntN(16) {
				case 0:
					d[i] = math.NaN()
				case 1:
					d[i] = -math.NaN() // x86's default NaN has its sign bit set
				case 2:
					d[i] = math.Copysign(0, -1)
				case 3:
					d[i] = math.Inf(1)
				case 4, 5, 6, 7:
					d[i] = float64(rng.IntN(3) - 1) // ties, and windows with no positive cell
				}
			}
			vals := []*tensor.Dense{x}
			g := G.NewGraph()
			outShape := G.Must(ops.MaxPool2D(bind(g, vals)[0], c.win)).Shape()
			r := randDense[float64](rng, outShape...)
			if dt == tensor.Float32 {
				vals = toFloat32(vals)
				r = toFloat32([]*tensor.Dense{r})[0]
			}
			run := func(fused bool) [][]float64 {
				return lossGrads(t, vals, r, func(in G.Nodes) (*G.Node, error) {
					if fused {
						return ops.MaxPool2DReLU(in[0], c.win)
					}
					y, err := ops.Activate(in[0], ops.ReLU)
					if err != nil {
						return nil, err
					}
					return ops.MaxPool2D(y, c.win)
				})
			}
			want, got := run(false), run(true)
			for k, what := range []string{"output", "gradient"} {
				if !sameBits(got[k], want[k]) {
					t.Errorf("%v %v %v: MaxPool2DReLU's %s differs from ReLU then MaxPool2D's", c.shape, c.win, dt, what)
				}
			}
		}
	}
}

// lossGrads builds y from input nodes bound to vals, differentiates the
// loss Σ y ⊙ r, runs the graph once on a TapeMachine and returns y's value
// and the inputs' gradients, in order, as float64s.
func lossGrads(t *testing.T, vals []*tensor.Dense, r *tensor.Dense, build func(in G.Nodes) (*G.Node, error)) [][]float64 {
	t.Helper()
	g := G.NewGraph()
	in := bind(g, vals)
	y, err := build(in)
	if err != nil {
		t.Fatal(err)
	}
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(y, G.NodeFromAny(g, r, G.WithName("r"))))))
	if _, err := G.Grad(cost, in...); err != nil {
		t.Fatal(err)
	}
	var yv G.Value
	G.Read(y, &yv)
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	out := [][]float64{asF64(yv)}
	for _, n := range in {
		d, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, asF64(d))
	}
	return out
}
