package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/internal/exec"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/ops/opcheck"
)

// awayFromZero pushes values off the ReLU kink so finite differences are valid.
func awayFromZero(t *tensor.Dense) *tensor.Dense {
	for i, v := range t.Float64s() {
		if math.Abs(v) < 0.05 {
			t.Float64s()[i] = v + math.Copysign(0.1, v)
		}
	}
	return t
}

func oneHotDense(rng *rand.Rand, n, k int) *tensor.Dense {
	d := make([]float64, n*k)
	for i := 0; i < n; i++ {
		d[i*k+rng.IntN(k)] = 1
	}
	return tensor.New(tensor.WithBacking(d), tensor.WithShape(n, k))
}

func uniformDense(rng *rand.Rand, shape ...int) *tensor.Dense {
	t := randDense[float64](rng, shape...)
	for i, v := range t.Float64s() {
		t.Float64s()[i] = (v + 1) / 2
	}
	return t
}

// TestKernelOpGradients runs every non-convolution op through the checker.
func TestKernelOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	type tc struct {
		name   string
		build  opcheck.Builder
		inputs []*tensor.Dense
		wrt    []int
	}
	var cases []tc
	for _, a := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh} {
		cases = append(cases, tc{fmt.Sprint("activate/", a),
			func(in ...*G.Node) (*G.Node, error) { return ops.Activate(in[0], a) },
			[]*tensor.Dense{awayFromZero(randDense[float64](rng, 3, 4, 5))}, nil})
		for _, bias := range []bool{false, true} {
			for _, n := range []int{1, 4} {
				in := []*tensor.Dense{randDense[float64](rng, n, 7), randDense[float64](rng, 7, 5)}
				if bias {
					in = append(in, randDense[float64](rng, 5))
				}
				if a == ops.ReLU {
					// Keep pre-activations off the kink: small weights, large bias.
					in = []*tensor.Dense{in[0], in[1], tensor.New(tensor.WithBacking([]float64{1, -1, 1, -1, 1}), tensor.WithShape(5))}
					bias = true
				}
				cases = append(cases, tc{fmt.Sprintf("dense/%v/bias=%t/n=%d", a, bias, n),
					func(in ...*G.Node) (*G.Node, error) {
						var b *G.Node
						if len(in) == 3 {
							b = in[2]
						}
						return ops.Dense(in[0], in[1], b, a)
					}, in, nil})
			}
		}
	}
	cases = append(cases,
		tc{"dense/linear", func(in ...*G.Node) (*G.Node, error) { return ops.Dense(in[0], in[1], in[2], ops.Linear) },
			[]*tensor.Dense{randDense[float64](rng, 3, 6), randDense[float64](rng, 6, 2), randDense[float64](rng, 2)}, nil},
		tc{"softmax", func(in ...*G.Node) (*G.Node, error) { return ops.Softmax(in[0]) },
			[]*tensor.Dense{randDense[float64](rng, 4, 6)}, nil},
		tc{"softmax-cross-entropy", func(in ...*G.Node) (*G.Node, error) { return ops.SoftmaxCrossEntropy(in[0], in[1]) },
			[]*tensor.Dense{randDense[float64](rng, 5, 10), oneHotDense(rng, 5, 10)}, []int{0}},
		tc{"mse", func(in ...*G.Node) (*G.Node, error) { return ops.MSE(in[0], in[1]) },
			[]*tensor.Dense{randDense[float64](rng, 3, 7), randDense[float64](rng, 3, 7)}, []int{0}},
		tc{"sigmoid-cross-entropy", func(in ...*G.Node) (*G.Node, error) { return ops.SigmoidCrossEntropy(in[0], in[1]) },
			[]*tensor.Dense{randDense[float64](rng, 3, 7), uniformDense(rng, 3, 7)}, []int{0}},
		tc{"reshape", func(in ...*G.Node) (*G.Node, error) { return ops.Reshape(in[0], tensor.Shape{6, 4}) },
			[]*tensor.Dense{randDense[float64](rng, 2, 3, 4)}, nil},
		tc{"flatten", func(in ...*G.Node) (*G.Node, error) { return ops.Flatten(in[0]) },
			[]*tensor.Dense{randDense[float64](rng, 2, 3, 2, 2)}, nil},
		tc{"dropout", func(in ...*G.Node) (*G.Node, error) {
			return ops.Dropout(in[0], 0.3, &ops.DropoutState{Seed: 3, Step: 7})
		}, []*tensor.Dense{randDense[float64](rng, 4, 9)}, nil},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := opcheck.CheckGradients(c.build, c.inputs, opcheck.Options{WRT: c.wrt})
			if err != nil {
				t.Fatal(err)
			}
			if res.Max >= 1e-6 {
				t.Fatalf("relative error %g", res.Max)
			}
		})
	}
}

// TestKernelOpForwardMatchesReference compares each op's float32 and float64
// forward pass with a direct computation.
func TestKernelOpForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	ref := map[ops.Activation]func(float64) float64{
		ops.ReLU:    func(x float64) float64 { return math.Max(x, 0) },
		ops.Sigmoid: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		ops.Tanh:    math.Tanh,
	}
	for _, a := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh} {
		for _, bias := range []bool{false, true} {
			t.Run(fmt.Sprintf("dense/%v/bias=%t", a, bias), func(t *testing.T) {
				n, in, out := 5, 9, 4
				x, w, b := randDense[float64](rng, n, in), randDense[float64](rng, in, out), randDense[float64](rng, out)
				vals := []*tensor.Dense{x, w}
				if bias {
					vals = append(vals, b)
				}
				want := make([]float64, n*out)
				for i := 0; i < n; i++ {
					for j := 0; j < out; j++ {
						s := 0.0
						if bias {
							s = b.Float64s()[j]
						}
						for k := 0; k < in; k++ {
							s += x.Float64s()[i*in+k] * w.Float64s()[k*out+j]
						}
						want[i*out+j] = ref[a](s)
					}
				}
				build := func(in ...*G.Node) (*G.Node, error) {
					var bn *G.Node
					if len(in) == 3 {
						bn = in[2]
					}
					return ops.Dense(in[0], in[1], bn, a)
				}
				got := runOp(t, build, vals).Float64s()
				if d := maxAbsDiff(got, want); d > 1e-12 {
					t.Fatalf("float64: max diff %g", d)
				}
				got32 := runOp(t, build, toFloat32(vals)).Float32s()
				if d := maxAbsDiff(toF64(got32), want); d > 1e-5 {
					t.Fatalf("float32: max diff %g", d)
				}
			})
		}
	}
	t.Run("softmax-cross-entropy", func(t *testing.T) {
		z, y := randDense[float64](rng, 6, 10), oneHotDense(rng, 6, 10)
		// Large logits: a naive softmax would overflow.
		z.Float64s()[0] = 800
		var want float64
		for r := 0; r < 6; r++ {
			row := z.Float64s()[r*10 : r*10+10]
			m := row[0]
			for _, v := range row {
				m = math.Max(m, v)
			}
			s := 0.0
			for _, v := range row {
				s += math.Exp(v - m)
			}
			for k, v := range row {
				want -= y.Float64s()[r*10+k] * (v - m - math.Log(s))
			}
		}
		want /= 6
		build := func(in ...*G.Node) (*G.Node, error) { return ops.SoftmaxCrossEntropy(in[0], in[1]) }
		got := runScalar(t, build, []*tensor.Dense{z, y})
		if math.Abs(got-want) > 1e-12*math.Abs(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("sigmoid-cross-entropy", func(t *testing.T) {
		z, y := randDense[float64](rng, 3, 5), uniformDense(rng, 3, 5)
		z.Float64s()[0], z.Float64s()[1] = 60, -60
		var want float64
		for i, v := range z.Float64s() {
			p := 1 / (1 + math.Exp(-v))
			tv := y.Float64s()[i]
			// log(1−p) for v = 60 underflows; use the exact −v − log(1+e^−v).
			want += -(tv*math.Log(p) + (1-tv)*(-v-math.Log1p(math.Exp(-v))))
		}
		want /= 15
		build := func(in ...*G.Node) (*G.Node, error) { return ops.SigmoidCrossEntropy(in[0], in[1]) }
		if got := runScalar(t, build, []*tensor.Dense{z, y}); math.Abs(got-want) > 1e-12*math.Abs(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("mse", func(t *testing.T) {
		p, y := randDense[float64](rng, 4, 3), randDense[float64](rng, 4, 3)
		var want float64
		for i, v := range p.Float64s() {
			d := v - y.Float64s()[i]
			want += d * d
		}
		want /= 12
		build := func(in ...*G.Node) (*G.Node, error) { return ops.MSE(in[0], in[1]) }
		if got := runScalar(t, build, []*tensor.Dense{p, y}); math.Abs(got-want) > 1e-12 {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("softmax", func(t *testing.T) {
		x := randDense[float64](rng, 3, 4)
		got := runOp(t, func(in ...*G.Node) (*G.Node, error) { return ops.Softmax(in[0]) }, []*tensor.Dense{x}).Float64s()
		for r := 0; r < 3; r++ {
			var s float64
			for _, v := range x.Float64s()[r*4 : r*4+4] {
				s += math.Exp(v)
			}
			for k, v := range x.Float64s()[r*4 : r*4+4] {
				if d := math.Abs(got[r*4+k] - math.Exp(v)/s); d > 1e-15 {
					t.Fatalf("row %d col %d off by %g", r, k, d)
				}
			}
		}
	})
	t.Run("dropout", func(t *testing.T) {
		x := tensor.New(tensor.WithBacking(make([]float64, 20000)), tensor.WithShape(100, 200))
		for i := range x.Float64s() {
			x.Float64s()[i] = 1
		}
		st := &ops.DropoutState{Seed: 1, Step: 5}
		build := func(in ...*G.Node) (*G.Node, error) { return ops.Dropout(in[0], 0.25, st) }
		y := runOp(t, build, []*tensor.Dense{x}).Clone().(*tensor.Dense)
		var zeros int
		var sum float64
		for _, v := range y.Float64s() {
			switch {
			case v == 0:
				zeros++
			case math.Abs(v-1/0.75) > 1e-15:
				t.Fatalf("survivor %v, want %v", v, 1/0.75)
			}
			sum += v
		}
		if frac := float64(zeros) / 20000; math.Abs(frac-0.25) > 0.02 {
			t.Fatalf("dropped fraction %v, want ≈ 0.25", frac)
		}
		if mean := sum / 20000; math.Abs(mean-1) > 0.03 {
			t.Fatalf("mean %v, want ≈ 1 (inverted dropout)", mean)
		}
		// Same step, same mask; next step, another mask.
		again := runOp(t, build, []*tensor.Dense{x})
		if maxAbsDiff(again.Float64s(), y.Float64s()) != 0 {
			t.Fatal("same step drew a different mask")
		}
		st.Step++
		next := runOp(t, build, []*tensor.Dense{x})
		if maxAbsDiff(next.Float64s(), y.Float64s()) == 0 {
			t.Fatal("next step drew the same mask")
		}
	})
}

// bind returns nodes of g bound to vals, named in0, in1, …
func bind(g *G.ExprGraph, vals []*tensor.Dense) G.Nodes {
	nodes := make(G.Nodes, len(vals))
	for i, v := range vals {
		nodes[i] = G.NodeFromAny(g, v, G.WithName(fmt.Sprint("in", i)))
	}
	return nodes
}

func runScalar(t *testing.T, build opcheck.Builder, vals []*tensor.Dense) float64 {
	t.Helper()
	g := G.NewGraph()
	var nodes G.Nodes
	var values []G.Value
	for i, v := range vals {
		nodes = append(nodes, G.NodeFromAny(g, v, G.WithName(fmt.Sprint("in", i))))
		values = append(values, v)
	}
	y, err := build(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	if err := opcheck.CheckOp(y.Op(), values...); err != nil {
		t.Fatal(err)
	}
	out, err := y.Op().Do(values...)
	if err != nil {
		t.Fatal(err)
	}
	return float64(*out.(*G.F64))
}

func toFloat32(ts []*tensor.Dense) []*tensor.Dense {
	var out []*tensor.Dense
	for _, t := range ts {
		d := make([]float32, t.Size())
		for i, v := range t.Float64s() {
			d[i] = float32(v)
		}
		out = append(out, tensor.New(tensor.WithBacking(d), tensor.WithShape(t.Shape().Clone()...)))
	}
	return out
}

func toF64(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func TestKernelOpsRejectBadShapes(t *testing.T) {
	g := G.NewGraph()
	node := func(name string, s ...int) *G.Node {
		return G.NewTensor(g, G.Float32, len(s), G.WithShape(s...), G.WithName(name))
	}
	for _, tc := range []struct {
		name  string
		build func() (*G.Node, error)
		words []string
	}{
		{"dense features", func() (*G.Node, error) { return ops.Dense(node("x1", 4, 10), node("w1", 9, 3), nil, ops.ReLU) }, []string{"10 features", "expect 9"}},
		{"dense bias", func() (*G.Node, error) {
			return ops.Dense(node("x2", 4, 10), node("w2", 10, 3), node("b2", 4), ops.ReLU)
		}, []string{"bias", "(3)"}},
		{"dense rank", func() (*G.Node, error) { return ops.Dense(node("x3", 4, 2, 5), node("w3", 10, 3), nil, ops.ReLU) }, []string{"(4, 2, 5)"}},
		{"cross-entropy shapes", func() (*G.Node, error) { return ops.SoftmaxCrossEntropy(node("z", 4, 10), node("y", 4, 9)) }, []string{"(4, 10)", "(4, 9)"}},
		{"mse shapes", func() (*G.Node, error) { return ops.MSE(node("p", 4, 10), node("q", 10, 4)) }, []string{"(4, 10)", "(10, 4)"}},
		{"reshape size", func() (*G.Node, error) { return ops.Reshape(node("r", 4, 10), tensor.Shape{3, 10}) }, []string{"40 elements", "30 elements"}},
		{"dropout p", func() (*G.Node, error) { return ops.Dropout(node("d", 4, 10), 1, &ops.DropoutState{}) }, []string{"probability 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLossesAllocateNothing runs each loss and its gradient, on a batch
// large enough to split across the cores, as a training step does.
func TestLossesAllocateNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, tc := range []struct {
		name string
		loss func(p, t *G.Node) (*G.Node, error)
	}{
		{"mse", ops.MSE},
		{"sigmoid-cross-entropy", ops.SigmoidCrossEntropy},
		{"softmax-cross-entropy", ops.SoftmaxCrossEntropy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := G.NewGraph()
			in := toFloat32([]*tensor.Dense{uniformDense(rng, 64, 784), oneHotDense(rng, 64, 784)})
			nodes := bind(g, in)
			loss, err := tc.loss(nodes[0], nodes[1])
			if err != nil {
				t.Fatal(err)
			}
			grads, err := G.Grad(loss, nodes[0])
			if err != nil {
				t.Fatal(err)
			}
			plan, err := exec.Compile(g, G.Nodes{loss, grads[0]}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a := allocsPerCall(20, func() {
				if err := plan.Run(); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%v allocations per forward and backward pass", a)
			}
		})
	}
}
