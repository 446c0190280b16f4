package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/ops/opcheck"
)

// convCase is one random convolution configuration.
type convCase struct {
	N, C, H, W, F int
	win           ops.Window
	bias          bool
	act           ops.Activation
}

func (c convCase) String() string {
	return fmt.Sprintf("x(%d,%d,%d,%d) w(%d,%d,%d,%d) %v bias=%t", c.N, c.C, c.H, c.W, c.F, c.C, c.win.KH, c.win.KW, c.win, c.bias)
}

// randomConvCase draws a configuration in the ranges the op must support:
// batch 1–3, channels 1–4, kernels 1×1 to 5×5 (non-square too), stride 1–3,
// padding 0–2, odd and even input sizes up to maxHW.
func randomConvCase(rng *rand.Rand, maxHW int) convCase {
	c := convCase{N: 1 + rng.IntN(3), C: 1 + rng.IntN(4), F: 1 + rng.IntN(4), bias: rng.IntN(2) == 0}
	c.win = ops.Window{KH: 1 + rng.IntN(5), KW: 1 + rng.IntN(5), SH: 1 + rng.IntN(3), SW: 1 + rng.IntN(3), PH: rng.IntN(3), PW: rng.IntN(3)}
	minH, minW := max(1, c.win.KH-2*c.win.PH), max(1, c.win.KW-2*c.win.PW)
	c.H = minH + rng.IntN(maxHW-minH+1)
	c.W = minW + rng.IntN(maxHW-minW+1)
	return c
}

func randDense[T ops.Float](rng *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]T, n)
	for i := range data {
		data[i] = T(2*rng.Float64() - 1)
	}
	return tensor.New(tensor.WithBacking(data), tensor.WithShape(shape...))
}

// naiveConv is the definition, written as plainly as possible.
func naiveConv[T ops.Float](c convCase, x, w, b []T) []T {
	oh := (c.H+2*c.win.PH-c.win.KH)/c.win.SH + 1
	ow := (c.W+2*c.win.PW-c.win.KW)/c.win.SW + 1
	y := make([]T, c.N*c.F*oh*ow)
	for n := 0; n < c.N; n++ {
		for f := 0; f < c.F; f++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					var s float64
					if b != nil {
						s = float64(b[f])
					}
					for ch := 0; ch < c.C; ch++ {
						for m := 0; m < c.win.KH; m++ {
							for k := 0; k < c.win.KW; k++ {
								r, q := i*c.win.SH-c.win.PH+m, j*c.win.SW-c.win.PW+k
								if r < 0 || r >= c.H || q < 0 || q >= c.W {
									continue
								}
								s += float64(x[((n*c.C+ch)*c.H+r)*c.W+q]) * float64(w[((f*c.C+ch)*c.win.KH+m)*c.win.KW+k])
							}
						}
					}
					if c.act == ops.ReLU {
						s = math.Max(s, 0)
					}
					y[((n*c.F+f)*oh+i)*ow+j] = T(s)
				}
			}
		}
	}
	return y
}

func buildConv(c convCase) opcheck.Builder {
	return func(in ...*G.Node) (*G.Node, error) {
		var b *G.Node
		if c.bias {
			b = in[2]
		}
		return ops.Conv2DAct(in[0], in[1], b, [2]int{c.win.SH, c.win.SW}, [2]int{c.win.PH, c.win.PW}, c.act)
	}
}

func convInputs[T ops.Float](rng *rand.Rand, c convCase) []*tensor.Dense {
	in := []*tensor.Dense{randDense[T](rng, c.N, c.C, c.H, c.W), randDense[T](rng, c.F, c.C, c.win.KH, c.win.KW)}
	if c.bias {
		in = append(in, randDense[T](rng, c.F))
	}
	return in
}

// runOp builds the op on nodes holding vals and returns the output of Do.
func runOp(t *testing.T, build opcheck.Builder, vals []*tensor.Dense) *tensor.Dense {
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
	return out.(*tensor.Dense)
}

func maxAbsDiff[T ops.Float](a, b []T) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func checkConvForward[T ops.Float](t *testing.T, rng *rand.Rand, c convCase, tol float64) {
	in := convInputs[T](rng, c)
	got := runOp(t, buildConv(c), in)
	var b []T
	if c.bias {
		b = in[2].Data().([]T)
	}
	want := naiveConv(c, in[0].Data().([]T), in[1].Data().([]T), b)
	if d := maxAbsDiff(got.Data().([]T), want); d > tol {
		t.Fatalf("%v: max |Conv2D − reference| = %g > %g", c, d, tol)
	}
}

func TestConv2DForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 60; i++ {
		c := randomConvCase(rng, 13)
		c.act = []ops.Activation{ops.Linear, ops.ReLU}[i%2]
		t.Run(fmt.Sprintf("%d/float64/%v", i, c), func(t *testing.T) { checkConvForward[float64](t, rng, c, 1e-12) })
		c = randomConvCase(rng, 13)
		t.Run(fmt.Sprintf("%d/float32/%v", i, c), func(t *testing.T) { checkConvForward[float32](t, rng, c, 1e-4) })
	}
}

func TestConv2DGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 50
	if testing.Short() {
		n = 10
	}
	for i := 0; i < n; i++ {
		c := randomConvCase(rng, 8)
		c.act = []ops.Activation{ops.Linear, ops.Tanh, ops.Sigmoid}[i%3] // smooth: finite differences hold
		t.Run(fmt.Sprintf("%d/%v/%v", i, c, c.act), func(t *testing.T) {
			res, err := opcheck.CheckGradients(buildConv(c), convInputs[float64](rng, c), opcheck.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Max >= 1e-6 {
				t.Fatalf("relative error %g", res.Max)
			}
		})
	}
}

// TestConv2DTranslationEquivariance shifts the input by s pixels (a multiple
// of the stride) and checks the output shifts by s/stride, exactly, away from
// the borders.
func TestConv2DTranslationEquivariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ k, stride, shift, pad int }{
		{5, 1, 2, 0}, {3, 1, 1, 1}, {3, 2, 4, 0}, {5, 2, 2, 2}, {2, 3, 3, 0}, {1, 1, 3, 0},
	} {
		t.Run(fmt.Sprintf("k%d_s%d_shift%d_pad%d", tc.k, tc.stride, tc.shift, tc.pad), func(t *testing.T) {
			const H, W, C, F = 20, 21, 2, 3
			x := randDense[float32](rng, 1, C, H, W)
			w := randDense[float32](rng, F, C, tc.k, tc.k)
			// shifted[r][c] = x[r−s][c−s] (down and right), zeros entering.
			xs := x.Float32s()
			sh := make([]float32, len(xs))
			for ch := 0; ch < C; ch++ {
				for r := tc.shift; r < H; r++ {
					for q := tc.shift; q < W; q++ {
						sh[(ch*H+r)*W+q] = xs[(ch*H+r-tc.shift)*W+q-tc.shift]
					}
				}
			}
			shifted := tensor.New(tensor.WithBacking(sh), tensor.WithShape(1, C, H, W))
			c := convCase{N: 1, C: C, H: H, W: W, F: F, win: ops.Square(tc.k, tc.stride, tc.pad)}
			y := runOp(t, buildConv(c), []*tensor.Dense{x, w}).Clone().(*tensor.Dense)
			ys := runOp(t, buildConv(c), []*tensor.Dense{shifted, w})
			oh, ow := y.Shape()[2], y.Shape()[3]
			d := tc.shift / tc.stride
			var compared int
			var maxDiff float64
			for f := 0; f < F; f++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						// ys[i][j] reads input rows i·s−p … i·s−p+k−1 of the shifted
						// image; it equals y[i−d][j−d] when those rows come from the
						// original image's interior (no zero fill, no padding).
						r0, q0 := i*tc.stride-tc.pad, j*tc.stride-tc.pad
						if i-d < 0 || j-d < 0 || r0-tc.shift < 0 || q0-tc.shift < 0 || r0+tc.k > H || q0+tc.k > W {
							continue
						}
						a := ys.Float32s()[(f*oh+i)*ow+j]
						b := y.Float32s()[(f*oh+i-d)*ow+j-d]
						maxDiff = math.Max(maxDiff, math.Abs(float64(a-b)))
						compared++
					}
				}
			}
			if compared == 0 {
				t.Fatal("no interior positions compared")
			}
			if maxDiff != 0 {
				t.Fatalf("shifted output differs by %g over %d interior positions; want exactly 0", maxDiff, compared)
			}
		})
	}
}

func TestConv2DRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name      string
		x, w      tensor.Shape
		b         tensor.Shape
		stride    [2]int
		pad       [2]int
		wantWords []string
	}{
		{"kernel larger than input", tensor.Shape{1, 1, 4, 4}, tensor.Shape{2, 1, 5, 5}, nil, [2]int{1, 1}, [2]int{0, 0}, []string{"kernel 5×5", "padded input 4×4"}},
		{"zero stride", tensor.Shape{1, 1, 8, 8}, tensor.Shape{2, 1, 3, 3}, nil, [2]int{0, 1}, [2]int{0, 0}, []string{"stride 0×1"}},
		{"negative padding", tensor.Shape{1, 1, 8, 8}, tensor.Shape{2, 1, 3, 3}, nil, [2]int{1, 1}, [2]int{-1, 0}, []string{"padding -1×0"}},
		{"input rank", tensor.Shape{8, 8}, tensor.Shape{2, 1, 3, 3}, nil, [2]int{1, 1}, [2]int{0, 0}, []string{"(8, 8)", "rank 4"}},
		{"filter rank", tensor.Shape{1, 1, 8, 8}, tensor.Shape{3, 3}, nil, [2]int{1, 1}, [2]int{0, 0}, []string{"filters", "rank 4"}},
		{"channel mismatch", tensor.Shape{1, 3, 8, 8}, tensor.Shape{2, 1, 3, 3}, nil, [2]int{1, 1}, [2]int{0, 0}, []string{"3 channels", "expect 1"}},
		{"bias shape", tensor.Shape{1, 1, 8, 8}, tensor.Shape{2, 1, 3, 3}, tensor.Shape{3}, [2]int{1, 1}, [2]int{0, 0}, []string{"bias", "(2)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := G.NewGraph()
			x := G.NewTensor(g, G.Float32, len(tc.x), G.WithShape(tc.x...), G.WithName("x"))
			w := G.NewTensor(g, G.Float32, len(tc.w), G.WithShape(tc.w...), G.WithName("w"))
			var b *G.Node
			if tc.b != nil {
				b = G.NewTensor(g, G.Float32, len(tc.b), G.WithShape(tc.b...), G.WithName("b"))
			}
			_, err := ops.Conv2D(x, w, b, tc.stride, tc.pad)
			if err == nil {
				t.Fatal("no error")
			}
			for _, word := range tc.wantWords {
				if !strings.Contains(err.Error(), word) {
					t.Errorf("error %q does not mention %q", err, word)
				}
			}
		})
	}
}

func TestConvHashesDistinguishParameters(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, G.Float64, 4, G.WithShape(2, 3, 9, 9), G.WithName("x"))
	w := G.NewTensor(g, G.Float64, 4, G.WithShape(4, 3, 3, 3), G.WithName("w"))
	var list []G.Op
	for _, s := range [][2]int{{1, 1}, {2, 2}, {1, 2}} {
		for _, p := range [][2]int{{0, 0}, {1, 1}, {1, 0}} {
			y, err := ops.Conv2D(x, w, nil, s, p)
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, y.Op())
		}
	}
	for _, win := range []ops.Window{ops.Square(2, 2, 0), ops.Square(3, 2, 1), ops.Square(2, 1, 0)} {
		m, err := ops.MaxPool2D(x, win)
		if err != nil {
			t.Fatal(err)
		}
		a, err := ops.AvgPool2D(x, win)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, m.Op(), a.Op())
	}
	if err := opcheck.CheckHashes(list...); err != nil {
		t.Fatal(err)
	}
	// The same parameters hash the same: Gorgonia merges identical nodes.
	y1, _ := ops.Conv2D(x, w, nil, [2]int{1, 1}, [2]int{0, 0})
	y2, _ := ops.Conv2D(x, w, nil, [2]int{1, 1}, [2]int{0, 0})
	if y1.Op().Hashcode() != y2.Op().Hashcode() {
		t.Fatal("identical convolutions hash differently")
	}
}

// naiveConvGrads returns ∂L/∂x and ∂L/∂w for output gradient dy, by the
// definition: every output element adds dy·w to the input cell it read and
// dy·x to the weight it used.
func naiveConvGrads(c convCase, x, w, dy []float64) (dx, dw []float64) {
	oh := (c.H+2*c.win.PH-c.win.KH)/c.win.SH + 1
	ow := (c.W+2*c.win.PW-c.win.KW)/c.win.SW + 1
	dx, dw = make([]float64, len(x)), make([]float64, len(w))
	for n := 0; n < c.N; n++ {
		for f := 0; f < c.F; f++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					d := dy[((n*c.F+f)*oh+i)*ow+j]
					for ch := 0; ch < c.C; ch++ {
						for m := 0; m < c.win.KH; m++ {
							for k := 0; k < c.win.KW; k++ {
								r, q := i*c.win.SH-c.win.PH+m, j*c.win.SW-c.win.PW+k
								if r < 0 || r >= c.H || q < 0 || q >= c.W {
									continue
								}
								xi := ((n*c.C+ch)*c.H+r)*c.W + q
								wi := ((f*c.C+ch)*c.win.KH+m)*c.win.KW + k
								dx[xi] += d * w[wi]
								dw[wi] += d * x[xi]
							}
						}
					}
				}
			}
		}
	}
	return dx, dw
}

// TestConv2DGradientOpsMatchReference runs the gradient ops directly, with
// and without a preceding forward pass (whose unrolled columns the filter
// gradient reuses), on batches larger than one unrolling chunk too.
func TestConv2DGradientOpsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	cases := []convCase{
		{N: 70, C: 2, H: 6, W: 5, F: 3, win: ops.Square(3, 1, 1)},
		{N: 130, C: 1, H: 5, W: 5, F: 2, win: ops.Square(2, 2, 0)},
	}
	for i := 0; i < 10; i++ {
		cases = append(cases, randomConvCase(rng, 9))
	}
	for _, c := range cases {
		for _, forwardFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/forward-first=%t", c, forwardFirst), func(t *testing.T) {
				c.bias = false
				in := convInputs[float64](rng, c)
				g := G.NewGraph()
				xn := G.NodeFromAny(g, in[0], G.WithName("x"))
				wn := G.NodeFromAny(g, in[1], G.WithName("w"))
				y, err := buildConv(c)(xn, wn)
				if err != nil {
					t.Fatal(err)
				}
				dyv := randDense[float64](rng, y.Shape()...)
				dyn := G.NodeFromAny(g, dyv, G.WithName("dy"))
				grads, err := y.Op().(G.SDOp).SymDiff(G.Nodes{xn, wn}, y, dyn)
				if err != nil {
					t.Fatal(err)
				}
				if forwardFirst {
					if _, err := y.Op().Do(in[0], in[1]); err != nil {
						t.Fatal(err)
					}
				}
				dx, err := grads[0].Op().Do(in[1], dyv)
				if err != nil {
					t.Fatal(err)
				}
				dw, err := grads[1].Op().Do(in[0], dyv)
				if err != nil {
					t.Fatal(err)
				}
				wantDx, wantDw := naiveConvGrads(c, in[0].Float64s(), in[1].Float64s(), dyv.Float64s())
				if d := maxAbsDiff(dx.(*tensor.Dense).Float64s(), wantDx); d > 1e-12 {
					t.Fatalf("input gradient off by %g", d)
				}
				if d := maxAbsDiff(dw.(*tensor.Dense).Float64s(), wantDw); d > 1e-11 {
					t.Fatalf("filter gradient off by %g", d)
				}
			})
		}
	}
}

// TestConv2DFloat32MatchesFloat64 runs the forward and gradient ops in
// float32 (which use the vectorised kernels on amd64 for stride 1 and rows up
// to 16, and Winograd's for LeNet's second convolution) and compares them
// with the float64 reference of the same data.
func TestConv2DFloat32MatchesFloat64(t *testing.T) {
	defer ops.WinogradFromBatch(1)()
	rng := rand.New(rand.NewPCG(19, 20))
	var cases []convCase
	for len(cases) < 40 {
		c := randomConvCase(rng, 16)
		if len(cases) < 30 { // mostly the vectorised geometry
			c.win.SH, c.win.SW = 1, 1
			c.H, c.W = max(c.H, c.win.KH), max(c.W, c.win.KW)
		}
		cases = append(cases, c)
	}
	cases = append(cases, convCase{N: 3, C: 20, H: 12, W: 12, F: 50, win: ops.Kernel(5, 5)}) // LeNet's conv2
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			c.bias = false
			in64 := convInputs[float64](rng, c)
			in32 := toFloat32(in64)
			run := func(in []*tensor.Dense) (y, dx, dw []float64) {
				g := G.NewGraph()
				xn := G.NodeFromAny(g, in[0], G.WithName("x"))
				wn := G.NodeFromAny(g, in[1], G.WithName("w"))
				yn, err := buildConv(c)(xn, wn)
				if err != nil {
					t.Fatal(err)
				}
				dy := randDense[float64](rand.New(rand.NewPCG(3, 3)), yn.Shape()...)
				if in[0].Dtype() == tensor.Float32 {
					dy = toFloat32([]*tensor.Dense{dy})[0]
				}
				grads, err := yn.Op().(G.SDOp).SymDiff(G.Nodes{xn, wn}, yn, G.NodeFromAny(g, dy, G.WithName("dy")))
				if err != nil {
					t.Fatal(err)
				}
				out, err := yn.Op().Do(in[0], in[1])
				if err != nil {
					t.Fatal(err)
				}
				y = asF64(out)
				gx, err := grads[0].Op().Do(in[1], dy)
				if err != nil {
					t.Fatal(err)
				}
				gw, err := grads[1].Op().Do(in[0], dy)
				if err != nil {
					t.Fatal(err)
				}
				return y, asF64(gx), asF64(gw)
			}
			y64, dx64, dw64 := run(in64)
			y32, dx32, dw32 := run(in32)
			for _, d := range []struct {
				name string
				a, b []float64
			}{{"output", y32, y64}, {"input gradient", dx32, dx64}, {"filter gradient", dw32, dw64}} {
				// 1e-4 of the largest value, or 1e-4 for values below 1:
				// LeNet's second convolution runs Winograd's F(4×4, 5×5),
				// whose rounding is a few times the direct sum's.
				scale := 1.0
				for _, v := range d.b {
					scale = math.Max(scale, math.Abs(v))
				}
				if diff := maxAbsDiff(d.a, d.b); diff > 1e-4*scale {
					t.Fatalf("%s: float32 differs from float64 by %g (largest value %g)", d.name, diff, scale)
				}
			}
		})
	}
}
