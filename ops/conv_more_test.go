package ops_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/internal/blastest"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/ops/opcheck"
)

// moreConvCase is a grouped, dilated convolution (transpose false) or a
// transposed convolution (transpose true): for a convolution x is (N, C,
// H, W) and w (F, C/G, KH, KW); for a transposed one x is (N, C, H, W)
// and w (C, F/G, KH, KW), F being its output channels.
type moreConvCase struct {
	transpose  bool
	N, C, H, W int
	F, G       int
	win        ops.Window // KH, KW, stride, padding, dilation (≥ 1)
	outPad     [2]int
	bias       bool
	act        ops.Activation
}

func (c moreConvCase) wShape() []int {
	if c.transpose {
		return []int{c.C, c.F / c.G, c.win.KH, c.win.KW}
	}
	return []int{c.F, c.C / c.G, c.win.KH, c.win.KW}
}

// out returns the output size.
func (c moreConvCase) out() (oh, ow int) {
	w := c.win
	if c.transpose {
		return (c.H-1)*w.SH - 2*w.PH + w.DH*(w.KH-1) + c.outPad[0] + 1, (c.W-1)*w.SW - 2*w.PW + w.DW*(w.KW-1) + c.outPad[1] + 1
	}
	return (c.H+2*w.PH-w.DH*(w.KH-1)-1)/w.SH + 1, (c.W+2*w.PW-w.DW*(w.KW-1)-1)/w.SW + 1
}

func (c moreConvCase) String() string {
	kind := "conv"
	if c.transpose {
		kind = fmt.Sprintf("transpose/outpad%v", c.outPad)
	}
	return fmt.Sprintf("%s/x(%d,%d,%d,%d)w%v/groups%d/%v/bias=%t/%v", kind, c.N, c.C, c.H, c.W, c.wShape(), c.G, c.win, c.bias, c.act)
}

func (c moreConvCase) build(in ...*G.Node) (*G.Node, error) {
	var b *G.Node
	if c.bias {
		b = in[2]
	}
	if c.transpose {
		return ops.ConvTranspose2D(in[0], in[1], b, c.win, c.outPad, c.G)
	}
	return ops.ConvGrouped(in[0], in[1], b, c.win, c.G, c.act)
}

func (c moreConvCase) inputs(rng *rand.Rand) []*tensor.Dense {
	in := []*tensor.Dense{randDense[float64](rng, c.N, c.C, c.H, c.W), randDense[float64](rng, c.wShape()...)}
	if c.bias {
		in = append(in, randDense[float64](rng, c.F))
	}
	return in
}

// randomGroupedConv draws a convolution: batch 1–3, groups 1, 2 or one
// per channel (depthwise, with a channel multiplier of 1–2), 1–3 channels
// and filters per group, kernels 1–4 (non-square too), stride 1–3,
// padding 0–2, dilation 1–3, odd and even input sizes.
func randomGroupedConv(rng *rand.Rand) moreConvCase {
	c := moreConvCase{N: 1 + rng.IntN(3), bias: rng.IntN(2) == 0}
	cg, fg := 1+rng.IntN(3), 1+rng.IntN(3)
	switch rng.IntN(3) {
	case 0:
		c.G = 1
	case 1:
		c.G = 2
	default: // depthwise
		c.G, cg, fg = 1+rng.IntN(4), 1, 1+rng.IntN(2)
	}
	c.C, c.F = cg*c.G, fg*c.G
	c.win = ops.Window{KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4), SH: 1 + rng.IntN(3), SW: 1 + rng.IntN(3),
		PH: rng.IntN(3), PW: rng.IntN(3), DH: 1 + rng.IntN(3), DW: 1 + rng.IntN(3)}
	minH := max(1, (c.win.KH-1)*c.win.DH+1-2*c.win.PH)
	minW := max(1, (c.win.KW-1)*c.win.DW+1-2*c.win.PW)
	c.H, c.W = minH+rng.IntN(7), minW+rng.IntN(7)
	return c
}

// randomTransposedConv draws a transposed convolution in the same ranges,
// with output padding below the stride or the dilation.
func randomTransposedConv(rng *rand.Rand) moreConvCase {
	for {
		c := randomGroupedConv(rng)
		c.transpose, c.act = true, ops.Linear
		// C input channels in G groups, F = the output channels.
		c.H, c.W = 1+rng.IntN(6), 1+rng.IntN(6)
		c.outPad = [2]int{rng.IntN(max(c.win.SH, c.win.DH)), rng.IntN(max(c.win.SW, c.win.DW))}
		if oh, ow := c.out(); oh >= 1 && ow >= 1 {
			return c
		}
	}
}

// naiveMoreConv computes, by the definition, the output y and, for the
// output gradient dy, the gradients of x, w and b: every (output, input,
// tap) triple of a convolution adds x·w to y, dy·w to dx and dy·x to dw;
// a transposed convolution is the same sum with x and y swapped.
func naiveMoreConv(c moreConvCase, x, w, b, dy []float64) (y, dx, dw, db []float64) {
	oh, ow := c.out()
	y, dx, dw, db = make([]float64, c.N*c.F*oh*ow), make([]float64, len(x)), make([]float64, len(w)), make([]float64, c.F)
	if dy == nil {
		dy = make([]float64, len(y))
	}
	// The convolution maps "big" (n, cb, hb, wb) to "small" (n, cs, hs, ws).
	type plane struct{ c, h, w int }
	big, small := plane{c.C, c.H, c.W}, plane{c.F, oh, ow}
	if c.transpose {
		big, small = small, big
	}
	cbg, csg := big.c/c.G, small.c/c.G
	for n := 0; n < c.N; n++ {
		for cs := 0; cs < small.c; cs++ {
			grp := cs / csg
			for i := 0; i < small.h; i++ {
				for j := 0; j < small.w; j++ {
					si := ((n*small.c+cs)*small.h+i)*small.w + j
					for cl := 0; cl < cbg; cl++ {
						cb := grp*cbg + cl
						for m := 0; m < c.win.KH; m++ {
							for k := 0; k < c.win.KW; k++ {
								r, q := i*c.win.SH-c.win.PH+m*c.win.DH, j*c.win.SW-c.win.PW+k*c.win.DW
								if r < 0 || r >= big.h || q < 0 || q >= big.w {
									continue
								}
								bi := ((n*big.c+cb)*big.h+r)*big.w + q
								wi := ((cs*cbg+cl)*c.win.KH+m)*c.win.KW + k // weight (small.c, big.c/G, KH, KW)
								if c.transpose {
									// x is small, y is big.
									y[bi] += x[si] * w[wi]
									dx[si] += dy[bi] * w[wi]
									dw[wi] += dy[bi] * x[si]
								} else {
									y[si] += x[bi] * w[wi]
									dx[bi] += dy[si] * w[wi]
									dw[wi] += dy[si] * x[bi]
								}
							}
						}
					}
				}
			}
		}
	}
	for i := range y {
		f := i / (oh * ow) % c.F
		if b != nil {
			y[i] += b[f]
		}
		db[f] += dy[i]
		if c.act == ops.ReLU {
			y[i] = math.Max(y[i], 0)
		}
	}
	return y, dx, dw, db
}

func naiveUpsample(x []float64, n, ch, h, w, sh, sw int) []float64 {
	y := make([]float64, n*ch*h*sh*w*sw)
	for p := 0; p < n*ch; p++ {
		for i := 0; i < h*sh; i++ {
			for j := 0; j < w*sw; j++ {
				y[(p*h*sh+i)*w*sw+j] = x[(p*h+i/sh)*w+j/sw]
			}
		}
	}
	return y
}

func naiveGAP(x []float64, planes, hw int) []float64 {
	y := make([]float64, planes)
	for p := range y {
		for _, v := range x[p*hw : (p+1)*hw] {
			y[p] += v
		}
		y[p] /= float64(hw)
	}
	return y
}

// checkMoreForward runs build on in (float64) and on its float32 copy and
// compares with want.
func checkMoreForward(t *testing.T, build opcheck.Builder, in []*tensor.Dense, want []float64) {
	t.Helper()
	if d := maxAbsDiff(runOp(t, build, in).Float64s(), want); d > 1e-12 {
		t.Fatalf("float64: max |y − reference| = %g", d)
	}
	if d := relDiff(asF64(runOp(t, build, toFloat32(in))), want); d > 1e-5 {
		t.Fatalf("float32: relative difference %g from the reference", d)
	}
}

func TestConvGroupedForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for i := 0; i < 60; i++ {
		c := randomGroupedConv(rng)
		c.act = []ops.Activation{ops.Linear, ops.ReLU}[i%2]
		t.Run(fmt.Sprint(i, "/", c), func(t *testing.T) {
			in := c.inputs(rng)
			var b []float64
			if c.bias {
				b = in[2].Float64s()
			}
			want, _, _, _ := naiveMoreConv(c, in[0].Float64s(), in[1].Float64s(), b, nil)
			checkMoreForward(t, c.build, in, want)
		})
	}
}

func TestConvTranspose2DForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for i := 0; i < 60; i++ {
		c := randomTransposedConv(rng)
		t.Run(fmt.Sprint(i, "/", c), func(t *testing.T) {
			in := c.inputs(rng)
			var b []float64
			if c.bias {
				b = in[2].Float64s()
			}
			want, _, _, _ := naiveMoreConv(c, in[0].Float64s(), in[1].Float64s(), b, nil)
			checkMoreForward(t, c.build, in, want)
		})
	}
}

// TestConvMoreGradientOpsMatchNaive runs forward and backward (gorgonia.Grad
// on a TapeMachine, L = Σ y ⊙ R) in float64 and float32 on random
// configurations larger than the finite-difference checks can afford, and
// compares every gradient with the definition.
func TestConvMoreGradientOpsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	var cases []moreConvCase
	for i := 0; i < 40; i++ {
		if i%2 == 0 {
			cases = append(cases, randomGroupedConv(rng))
		} else {
			cases = append(cases, randomTransposedConv(rng))
		}
	}
	cases = append(cases,
		moreConvCase{N: 3, C: 8, H: 14, W: 13, F: 8, G: 8, win: ops.Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}, bias: true},
		moreConvCase{N: 2, C: 6, H: 17, W: 18, F: 4, G: 2, win: ops.Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}},
		moreConvCase{transpose: true, N: 2, C: 6, H: 7, W: 7, F: 4, G: 1, win: ops.Window{KH: 4, KW: 4, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}, bias: true},
	)
	for i, c := range cases {
		t.Run(fmt.Sprint(i, "/", c), func(t *testing.T) {
			in := c.inputs(rng)
			oh, ow := c.out()
			r := randDense[float64](rng, c.N, c.F, oh, ow).Float64s()
			var b []float64
			if c.bias {
				b = in[2].Float64s()
			}
			y, dx, dw, db := naiveMoreConv(c, in[0].Float64s(), in[1].Float64s(), b, r)
			want := [][]float64{y, dx, dw, db}
			for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
				vals, tol := in, 1e-11
				if dt == tensor.Float32 {
					vals, tol = toFloat32(in), 1e-5
				}
				got := gradientsAgainst(t, c.build, vals, r)
				for k := range got {
					if d := relDiff(got[k], want[k]); d > tol {
						t.Errorf("%v: %s differs from the definition by %g (relative)", dt, [...]string{"output", "∂L/∂x", "∂L/∂w", "∂L/∂b"}[k], d)
					}
				}
			}
		})
	}
}

func TestUpsampleAndGAPForwardMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	for i := 0; i < 30; i++ {
		n, ch, h, w := 1+rng.IntN(3), 1+rng.IntN(4), 1+rng.IntN(7), 1+rng.IntN(7)
		sh, sw := 1+rng.IntN(4), 1+rng.IntN(4)
		x := randDense[float64](rng, n, ch, h, w)
		t.Run(fmt.Sprintf("upsample/%v/%d×%d", x.Shape(), sh, sw), func(t *testing.T) {
			checkMoreForward(t, func(in ...*G.Node) (*G.Node, error) { return ops.Upsample2D(in[0], sh, sw) },
				[]*tensor.Dense{x}, naiveUpsample(x.Float64s(), n, ch, h, w, sh, sw))
		})
		t.Run(fmt.Sprintf("gap/%v", x.Shape()), func(t *testing.T) {
			checkMoreForward(t, func(in ...*G.Node) (*G.Node, error) { return ops.GlobalAvgPool2D(in[0]) },
				[]*tensor.Dense{x}, naiveGAP(x.Float64s(), n*ch, h*w))
		})
	}
}

// TestGAPFloat32 checks GlobalAvgPool2D and its gradient on float32 planes
// of the sizes where the kernels change (the assembly ones on AVX-512:
// sums of 32 and more, fills of 16 and more) against the definition.
func TestGAPFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	for _, hw := range [][2]int{{3, 5}, {4, 4}, {1, 31}, {4, 8}, {3, 11}, {7, 7}, {14, 14}, {1, 1000}} {
		x := randDense[float64](rng, 3, 5, hw[0], hw[1])
		planes, n := 15, hw[0]*hw[1]
		build := func(in ...*G.Node) (*G.Node, error) { return ops.GlobalAvgPool2D(in[0]) }
		t.Run(fmt.Sprint(x.Shape()), func(t *testing.T) {
			x32 := toFloat32([]*tensor.Dense{x})
			if d := relDiff(asF64(runOp(t, build, x32)), naiveGAP(asF64(x32[0]), planes, n)); d > 1e-6 {
				t.Errorf("output differs from the definition by %g", d)
			}
			r := asF64(randDense[float64](rng, 3, 5))
			res := gradientsAgainst(t, build, x32, r)
			want := make([]float64, planes*n)
			for i := range want {
				want[i] = float64(float32(float64(float32(r[i/n])) / float64(n)))
			}
			if d := maxAbsDiff(res[1], want); d != 0 {
				t.Errorf("gradient differs from ∂L/∂y/(H·W) by %g", d)
			}
		})
	}
}

// TestConvMoreGradients checks SymDiff, DoDiff and finite differences.
func TestConvMoreGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 50))
	win := func(k, s, p, d int) ops.Window {
		return ops.Window{KH: k, KW: k, SH: s, SW: s, PH: p, PW: p, DH: d, DW: d}
	}
	cases := []moreConvCase{
		{N: 2, C: 4, H: 5, W: 6, F: 6, G: 2, win: win(3, 1, 1, 1), bias: true},
		{N: 2, C: 3, H: 6, W: 5, F: 3, G: 3, win: win(3, 2, 1, 1), bias: true, act: ops.Tanh},
		{N: 1, C: 2, H: 7, W: 6, F: 4, G: 2, win: ops.Window{KH: 2, KW: 3, SH: 1, SW: 2, PH: 0, PW: 1, DH: 2, DW: 1}},
		{N: 2, C: 2, H: 7, W: 7, F: 3, G: 1, win: win(3, 1, 2, 2), bias: true, act: ops.Sigmoid},
		{N: 1, C: 6, H: 8, W: 7, F: 3, G: 3, win: ops.Window{KH: 3, KW: 2, SH: 3, SW: 2, PH: 2, PW: 1, DH: 2, DW: 3}, bias: true},
		{transpose: true, N: 2, C: 3, H: 3, W: 4, F: 2, G: 1, win: win(3, 2, 1, 1), outPad: [2]int{1, 1}, bias: true},
		{transpose: true, N: 1, C: 4, H: 3, W: 3, F: 2, G: 2, win: ops.Window{KH: 3, KW: 2, SH: 3, SW: 2, PH: 1, PW: 0, DH: 1, DW: 1}, outPad: [2]int{2, 1}, bias: true},
		{transpose: true, N: 2, C: 2, H: 3, W: 3, F: 2, G: 1, win: win(2, 1, 0, 2), outPad: [2]int{1, 0}},
		{transpose: true, N: 1, C: 3, H: 3, W: 4, F: 3, G: 3, win: win(3, 2, 1, 1), outPad: [2]int{1, 0}, bias: true},
	}
	for i := 0; i < 4; i++ {
		c := randomGroupedConv(rng)
		c.act = ops.Tanh
		if i%2 == 1 {
			c = randomTransposedConv(rng)
		}
		if c.N*c.C*c.H*c.W <= 300 {
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			res, err := opcheck.CheckGradients(c.build, c.inputs(rng), opcheck.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Max >= 1e-6 {
				t.Fatalf("relative error %g", res.Max)
			}
		})
	}
	for _, s := range [][2]int{{2, 2}, {3, 1}, {1, 2}} {
		t.Run(fmt.Sprintf("upsample/%d×%d", s[0], s[1]), func(t *testing.T) {
			build := func(in ...*G.Node) (*G.Node, error) { return ops.Upsample2D(in[0], s[0], s[1]) }
			if _, err := opcheck.CheckGradients(build, []*tensor.Dense{randDense[float64](rng, 2, 3, 3, 4)}, opcheck.Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, s := range [][]int{{2, 3, 4, 5}, {1, 1, 1, 1}, {3, 2, 1, 6}} {
		t.Run(fmt.Sprintf("gap/%v", s), func(t *testing.T) {
			build := func(in ...*G.Node) (*G.Node, error) { return ops.GlobalAvgPool2D(in[0]) }
			if _, err := opcheck.CheckGradients(build, []*tensor.Dense{randDense[float64](rng, s...)}, opcheck.Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConvGroupedIsConv2D checks that one group without dilation is
// Conv2D itself, bit for bit, dilation 0 and 1 alike.
func TestConvGroupedIsConv2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	x, w, b := randDense[float32](rng, 3, 4, 9, 8), randDense[float32](rng, 5, 4, 3, 3), randDense[float32](rng, 5)
	want := runOp(t, func(in ...*G.Node) (*G.Node, error) {
		return ops.Conv2DAct(in[0], in[1], in[2], [2]int{2, 1}, [2]int{1, 0}, ops.ReLU)
	}, []*tensor.Dense{x, w, b}).Clone().(*tensor.Dense)
	for _, win := range []ops.Window{
		{SH: 2, SW: 1, PH: 1},
		{KH: 3, KW: 3, SH: 2, SW: 1, PH: 1, DH: 1, DW: 1},
	} {
		var name string
		got := runOp(t, func(in ...*G.Node) (*G.Node, error) {
			y, err := ops.ConvGrouped(in[0], in[1], in[2], win, 1, ops.ReLU)
			if err == nil {
				name = y.Op().String()
			}
			return y, err
		}, []*tensor.Dense{x, w, b})
		if !strings.HasPrefix(name, "Conv2D{") {
			t.Errorf("%v: op %q, want Conv2D", win, name)
		}
		for i, v := range got.Float32s() {
			if math.Float32bits(v) != math.Float32bits(want.Float32s()[i]) {
				t.Fatalf("%v: element %d is %v, Conv2D gives %v", win, i, v, want.Float32s()[i])
			}
		}
	}
}

func TestConvMoreRejectsBadArguments(t *testing.T) {
	g := G.NewGraph()
	node := func(dt tensor.Dtype, s ...int) *G.Node { return G.NewTensor(g, dt, len(s), G.WithShape(s...)) }
	f32, f64 := tensor.Float32, tensor.Float64
	k3 := ops.Square(3, 1, 1)
	for _, tc := range []struct {
		name  string
		build func() (*G.Node, error)
		words []string
	}{
		{"groups divide channels", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 6, 8, 8), node(f32, 4, 3, 3, 3), nil, k3, 4, ops.Linear)
		}, []string{"ops.ConvGrouped", "(1, 6, 8, 8)", "6 channels", "4 groups"}},
		{"groups divide filters", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 6, 8, 8), node(f32, 5, 3, 3, 3), nil, k3, 2, ops.Linear)
		}, []string{"(5, 3, 3, 3)", "5 filters", "2 groups"}},
		{"channels per group", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 6, 8, 8), node(f32, 4, 2, 3, 3), nil, k3, 2, ops.Linear)
		}, []string{"(1, 6, 8, 8)", "(4, 2, 3, 3)", "takes 3", "takes 2"}},
		{"negative groups", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 6, 8, 8), node(f32, 4, 6, 3, 3), nil, k3, -1, ops.Linear)
		}, []string{"groups = -1"}},
		{"window size", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 4, 8, 8), node(f32, 4, 2, 3, 3), nil, ops.Square(5, 1, 0), 2, ops.Linear)
		}, []string{"window 5×5", "(4, 2, 3, 3)"}},
		{"dilated kernel too large", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 2, 6, 6), node(f32, 2, 1, 3, 3), nil, ops.Window{SH: 1, SW: 1, DH: 3, DW: 3}, 2, ops.Linear)
		}, []string{"kernel 3×3 dilated 3×3", "spans 7×7", "padded input 6×6"}},
		{"negative dilation", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 2, 6, 6), node(f32, 2, 1, 3, 3), nil, ops.Window{SH: 1, SW: 1, DH: -1}, 2, ops.Linear)
		}, []string{"dilation -1×0"}},
		{"zero stride", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 2, 6, 6), node(f32, 2, 1, 3, 3), nil, ops.Window{DH: 2, DW: 2}, 2, ops.Linear)
		}, []string{"stride 0×0"}},
		{"input rank", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 6, 8, 8), node(f32, 2, 1, 3, 3), nil, k3, 2, ops.Linear)
		}, []string{"(6, 8, 8)", "rank 4"}},
		{"bias", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 4, 8, 8), node(f32, 4, 2, 3, 3), node(f32, 2), k3, 2, ops.Linear)
		}, []string{"bias", "(2)", "want (4)"}},
		{"dtypes", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 4, 8, 8), node(f64, 4, 2, 3, 3), nil, k3, 2, ops.Linear)
		}, []string{"float64", "float32"}},
		{"nil", func() (*G.Node, error) { return ops.ConvGrouped(nil, node(f32, 4, 2, 3, 3), nil, k3, 2, ops.Linear) }, []string{"nil"}},
		{"activation", func() (*G.Node, error) {
			return ops.ConvGrouped(node(f32, 1, 4, 8, 8), node(f32, 4, 2, 3, 3), nil, k3, 2, ops.Activation(99))
		}, []string{"activation 99"}},
		{"transpose output padding", func() (*G.Node, error) {
			return ops.ConvTranspose2D(node(f32, 1, 4, 5, 5), node(f32, 4, 2, 3, 3), nil, ops.Square(3, 2, 1), [2]int{2, 0}, 1)
		}, []string{"ops.ConvTranspose2D", "output padding 2×0", "stride 2×2", "dilation 1×1"}},
		{"transpose negative output padding", func() (*G.Node, error) {
			return ops.ConvTranspose2D(node(f32, 1, 4, 5, 5), node(f32, 4, 2, 3, 3), nil, ops.Square(3, 2, 1), [2]int{0, -1}, 1)
		}, []string{"output padding 0×-1"}},
		{"transpose channels", func() (*G.Node, error) {
			return ops.ConvTranspose2D(node(f32, 1, 4, 5, 5), node(f32, 3, 2, 3, 3), nil, ops.Square(3, 2, 1), [2]int{}, 1)
		}, []string{"(1, 4, 5, 5)", "(3, 2, 3, 3)", "4 channels"}},
		{"transpose groups", func() (*G.Node, error) {
			return ops.ConvTranspose2D(node(f32, 1, 4, 5, 5), node(f32, 4, 2, 3, 3), nil, ops.Square(3, 2, 1), [2]int{}, 3)
		}, []string{"4 channels", "3 groups"}},
		{"transpose empty output", func() (*G.Node, error) {
			return ops.ConvTranspose2D(node(f32, 1, 4, 1, 1), node(f32, 4, 2, 1, 1), nil, ops.Square(1, 1, 1), [2]int{}, 1)
		}, []string{"(1, 4, 1, 1)", "output would be -1×-1"}},
		{"transpose bias", func() (*G.Node, error) {
			return ops.ConvTranspose2D(node(f32, 1, 4, 5, 5), node(f32, 4, 2, 3, 3), node(f32, 4), ops.Square(3, 2, 1), [2]int{}, 1)
		}, []string{"bias", "(4)", "want (2)"}},
		{"transpose stride", func() (*G.Node, error) {
			return ops.ConvTranspose2D(node(f32, 1, 4, 5, 5), node(f32, 4, 2, 3, 3), nil, ops.Window{KH: 3, KW: 3, SW: 1}, [2]int{}, 1)
		}, []string{"stride 0×1"}},
		{"upsample scale", func() (*G.Node, error) { return ops.Upsample2D(node(f32, 1, 2, 3, 3), 0, 2) }, []string{"ops.Upsample2D", "scale 0×2", "(1, 2, 3, 3)"}},
		{"upsample rank", func() (*G.Node, error) { return ops.Upsample2D(node(f32, 2, 3, 3), 2, 2) }, []string{"(2, 3, 3)", "rank 4"}},
		{"gap rank", func() (*G.Node, error) { return ops.GlobalAvgPool2D(node(f32, 2, 3)) }, []string{"ops.GlobalAvgPool2D", "(2, 3)", "rank 4"}},
		{"gap nil", func() (*G.Node, error) { return ops.GlobalAvgPool2D(nil) }, []string{"nil"}},
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

func TestConvMoreHashesDistinguishParameters(t *testing.T) {
	g := G.NewGraph()
	node := func(s ...int) *G.Node { return G.NewTensor(g, G.Float64, len(s), G.WithShape(s...)) }
	x, x2 := node(2, 4, 9, 9), node(2, 4, 9, 8)
	var list []G.Op
	add := func(y *G.Node, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, y.Op())
	}
	for _, tc := range []struct {
		w      *G.Node
		win    ops.Window
		groups int
		act    ops.Activation
	}{
		{node(4, 2, 3, 3), ops.Square(3, 1, 1), 2, ops.Linear},
		{node(4, 2, 3, 3), ops.Square(3, 1, 1), 2, ops.ReLU},
		{node(4, 2, 3, 3), ops.Window{SH: 1, SW: 1, PH: 1, PW: 1, DH: 2, DW: 2}, 2, ops.Linear},
		{node(4, 2, 3, 3), ops.Window{SH: 1, SW: 1, PH: 1, PW: 1, DH: 2, DW: 1}, 2, ops.Linear},
		{node(4, 2, 3, 3), ops.Square(3, 2, 1), 2, ops.Linear},
		{node(4, 1, 3, 3), ops.Square(3, 1, 1), 4, ops.Linear},
		{node(4, 4, 3, 3), ops.Window{SH: 1, SW: 1, PH: 1, PW: 1, DH: 2, DW: 2}, 1, ops.Linear},
	} {
		add(ops.ConvGrouped(x, tc.w, nil, tc.win, tc.groups, tc.act))
	}
	w := node(4, 3, 3, 3)
	for _, tc := range []struct {
		win    ops.Window
		outPad [2]int
	}{
		{ops.Square(3, 2, 1), [2]int{0, 0}},
		{ops.Square(3, 2, 1), [2]int{1, 0}},
		{ops.Square(3, 2, 0), [2]int{0, 0}},
		{ops.Window{SH: 1, SW: 1, DH: 2, DW: 2}, [2]int{0, 0}},
	} {
		add(ops.ConvTranspose2D(x, w, nil, tc.win, tc.outPad, 1))
	}
	add(ops.Upsample2D(x, 2, 2))
	add(ops.Upsample2D(x, 2, 1))
	add(ops.Upsample2D(x2, 2, 2))
	add(ops.GlobalAvgPool2D(x))
	add(ops.GlobalAvgPool2D(x2))
	// The gradient ops of a convolution and of a transposed convolution.
	wg := node(4, 2, 3, 3)
	for _, tc := range []struct {
		w     *G.Node
		build func() (*G.Node, error)
	}{
		{wg, func() (*G.Node, error) {
			return ops.ConvGrouped(x, wg, nil, ops.Window{SH: 1, SW: 1, DH: 2, DW: 2}, 2, ops.Linear)
		}},
		{w, func() (*G.Node, error) { return ops.ConvTranspose2D(x, w, nil, ops.Square(3, 2, 1), [2]int{1, 1}, 1) }},
	} {
		y, err := tc.build()
		if err != nil {
			t.Fatal(err)
		}
		grads, err := y.Op().(G.SDOp).SymDiff(G.Nodes{x, tc.w}, y, node(y.Shape()...))
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, grads[0].Op(), grads[1].Op())
	}
	if err := opcheck.CheckHashes(list...); err != nil {
		t.Fatal(err)
	}
}

// torchConvMore is ops/testdata/torch_ref_conv.json, written by
// torch_ref_conv.py beside it.
type torchConvMore struct {
	Torch     string
	Conv      []torchConvMoreCase
	Transpose []torchConvMoreCase
	Upsample  []torchConvMoreCase
	GAP       []torchConvMoreCase
}

type torchConvMoreCase struct {
	Shapes   [][]int
	Inputs   [][]float64
	Upstream []float64
	Outshape []int
	Output   []float64
	Grads    [][]float64

	Stride, Padding, Dilation [2]int
	OutputPadding             [2]int `json:"output_padding"`
	Groups                    int
	Act                       string
	Scale                     [2]int
}

func (tc torchConvMoreCase) window() ops.Window {
	return ops.Window{SH: tc.Stride[0], SW: tc.Stride[1], PH: tc.Padding[0], PW: tc.Padding[1], DH: tc.Dilation[0], DW: tc.Dilation[1]}
}

// TestConvMoreMatchesPyTorch compares the forward pass and the gradients
// of L = Σ y ⊙ R, computed by gorgonia.Grad on a TapeMachine, with
// PyTorch's conv2d, conv_transpose2d, interpolate and adaptive_avg_pool2d,
// in float64 and float32.
func TestConvMoreMatchesPyTorch(t *testing.T) {
	defer ops.WinogradFromBatch(1)() // its Conv2D case, of 3 images
	raw, err := os.ReadFile("testdata/torch_ref_conv.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchConvMore
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Conv) == 0 || len(ref.Transpose) == 0 || len(ref.Upsample) == 0 || len(ref.GAP) == 0 {
		t.Fatal("no reference cases")
	}
	type named struct {
		name  string
		tc    torchConvMoreCase
		build opcheck.Builder
	}
	var cases []named
	bias := func(in []*G.Node) *G.Node {
		if len(in) == 3 {
			return in[2]
		}
		return nil
	}
	for i, tc := range ref.Conv {
		act := map[string]ops.Activation{"linear": ops.Linear, "relu": ops.ReLU}[tc.Act]
		cases = append(cases, named{fmt.Sprintf("conv%d/%v/%v/groups%d/%v", i, tc.Shapes, tc.window(), tc.Groups, act), tc,
			func(in ...*G.Node) (*G.Node, error) {
				return ops.ConvGrouped(in[0], in[1], bias(in), tc.window(), tc.Groups, act)
			}})
	}
	for i, tc := range ref.Transpose {
		cases = append(cases, named{fmt.Sprintf("transpose%d/%v/%v/outpad%v/groups%d", i, tc.Shapes, tc.window(), tc.OutputPadding, tc.Groups), tc,
			func(in ...*G.Node) (*G.Node, error) {
				return ops.ConvTranspose2D(in[0], in[1], bias(in), tc.window(), tc.OutputPadding, tc.Groups)
			}})
	}
	for i, tc := range ref.Upsample {
		cases = append(cases, named{fmt.Sprintf("upsample%d/%v/%v", i, tc.Shapes, tc.Scale), tc,
			func(in ...*G.Node) (*G.Node, error) { return ops.Upsample2D(in[0], tc.Scale[0], tc.Scale[1]) }})
	}
	for i, tc := range ref.GAP {
		cases = append(cases, named{fmt.Sprintf("gap%d/%v", i, tc.Shapes), tc,
			func(in ...*G.Node) (*G.Node, error) { return ops.GlobalAvgPool2D(in[0]) }})
	}
	worst := map[tensor.Dtype]float64{}
	for _, c := range cases {
		var in []*tensor.Dense
		for i, s := range c.tc.Shapes {
			in = append(in, tensor.New(tensor.WithBacking(append([]float64(nil), c.tc.Inputs[i]...)), tensor.WithShape(s...)))
		}
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprint(c.name, "/", dt), func(t *testing.T) {
				vals, tol := in, 1e-10
				if dt == tensor.Float32 {
					vals, tol = toFloat32(in), 1e-4
				}
				got := gradientsAgainst(t, c.build, vals, c.tc.Upstream)
				for k, want := range append([][]float64{c.tc.Output}, c.tc.Grads...) {
					d := relDiff(got[k], want)
					worst[dt] = math.Max(worst[dt], d)
					if d > tol {
						what := "output"
						if k > 0 {
							what = fmt.Sprintf("gradient of input %d", k-1)
						}
						t.Errorf("%s differs from PyTorch %s by %g (relative)", what, ref.Torch, d)
					}
				}
			})
		}
	}
	t.Logf("largest relative difference from PyTorch %s: float64 %.3g, float32 %.3g", ref.Torch, worst[tensor.Float64], worst[tensor.Float32])
}

// moreOpsCases are the ops of this file on float32 tensors large enough
// to run on several cores, for the allocation and determinism tests.
func moreOpsCases(rng *rand.Rand) []struct {
	name  string
	build opcheck.Builder
	vals  []*tensor.Dense
} {
	d := func(s ...int) *tensor.Dense { return randDense[float32](rng, s...) }
	dil2 := ops.Window{SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}
	return []struct {
		name  string
		build opcheck.Builder
		vals  []*tensor.Dense
	}{
		{"grouped dilated", func(in ...*G.Node) (*G.Node, error) {
			return ops.ConvGrouped(in[0], in[1], in[2], dil2, 2, ops.Linear)
		}, []*tensor.Dense{d(16, 8, 14, 14), d(12, 4, 3, 3), d(12)}},
		{"grouped dilated, 16 filters per group", func(in ...*G.Node) (*G.Node, error) {
			return ops.ConvGrouped(in[0], in[1], in[2], dil2, 2, ops.Linear)
		}, []*tensor.Dense{d(12, 8, 14, 14), d(32, 4, 3, 3), d(32)}},
		{"dilated", func(in ...*G.Node) (*G.Node, error) {
			return ops.ConvGrouped(in[0], in[1], nil, dil2, 1, ops.Linear)
		}, []*tensor.Dense{d(8, 6, 14, 14), d(10, 6, 3, 3)}},
		{"depthwise", func(in ...*G.Node) (*G.Node, error) {
			return ops.ConvGrouped(in[0], in[1], in[2], ops.Square(3, 1, 1), 16, ops.Linear)
		}, []*tensor.Dense{d(16, 16, 14, 14), d(16, 1, 3, 3), d(16)}},
		{"transpose", func(in ...*G.Node) (*G.Node, error) {
			return ops.ConvTranspose2D(in[0], in[1], in[2], ops.Square(3, 2, 1), [2]int{1, 1}, 1)
		}, []*tensor.Dense{d(16, 8, 7, 7), d(8, 6, 3, 3), d(6)}},
		{"transpose depthwise", func(in ...*G.Node) (*G.Node, error) {
			return ops.ConvTranspose2D(in[0], in[1], nil, ops.Square(4, 2, 1), [2]int{}, 8)
		}, []*tensor.Dense{d(16, 8, 7, 7), d(8, 1, 4, 4)}},
		{"upsample", func(in ...*G.Node) (*G.Node, error) { return ops.Upsample2D(in[0], 2, 3) }, []*tensor.Dense{d(16, 8, 14, 14)}},
		{"gap", func(in ...*G.Node) (*G.Node, error) { return ops.GlobalAvgPool2D(in[0]) }, []*tensor.Dense{d(32, 16, 14, 14)}},
	}
}

// TestConvMoreAllocatesNothing runs the forward ops and the gradient ops
// of this file (not ChannelSum, the bias gradient Conv2D shares) after a
// warm-up call.
func TestConvMoreAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	for _, c := range moreOpsCases(rng) {
		t.Run(c.name, func(t *testing.T) {
			g := G.NewGraph()
			var nodes G.Nodes
			var vals []G.Value
			for i, v := range c.vals {
				nodes = append(nodes, G.NodeFromAny(g, v, G.WithName(fmt.Sprint("in", i))))
				vals = append(vals, v)
			}
			y, err := c.build(nodes...)
			if err != nil {
				t.Fatal(err)
			}
			check := func(op G.Op, args ...G.Value) {
				t.Helper()
				if _, err := op.Do(args...); err != nil {
					t.Fatal(err)
				}
				if a := allocsPerCall(10, func() { op.Do(args...) }); a != 0 {
					t.Errorf("%v: %v allocations per call", op, a)
				}
			}
			check(y.Op(), vals...)
			dy := randDense[float32](rng, y.Shape()...)
			grads, err := y.Op().(G.SDOp).SymDiff(nodes, y, G.NodeFromAny(g, dy, G.WithName("dy")))
			if err != nil {
				t.Fatal(err)
			}
			for i, gr := range grads {
				if gr == nil || strings.HasPrefix(gr.Op().String(), "ChannelSum") {
					continue
				}
				// The gradient ops read the inputs and dy.
				var args []G.Value
				for it := g.From(gr.ID()); it.Next(); {
					n := it.Node().(*G.Node)
					if n.Value() == nil {
						t.Fatalf("gradient %d (%v) reads %v, which has no value", i, gr.Op(), n)
					}
					args = append(args, n.Value())
				}
				check(gr.Op(), args...)
			}
		})
	}
}

// TestConvMoreSameBitsAnyGOMAXPROCS checks that forward and backward
// passes give the same bits whatever GOMAXPROCS, with the pure-Go matrix
// multiplies (see TestSameBitsAnyGOMAXPROCS).
func TestConvMoreSameBitsAnyGOMAXPROCS(t *testing.T) {
	if blastest.RerunOnPureGo(t, ops.Backend()) {
		return
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range moreOpsCases(rand.New(rand.NewPCG(55, 56))) {
		for _, vals := range [][]*tensor.Dense{c.vals, toFloat64(c.vals)} {
			t.Run(fmt.Sprint(c.name, "/", vals[0].Dtype()), func(t *testing.T) {
				g := G.NewGraph()
				in := bind(g, vals)
				y, err := c.build(in...)
				if err != nil {
					t.Fatal(err)
				}
				upstream := randDense[float64](rand.New(rand.NewPCG(57, 58)), y.Shape()...).Float64s()
				run := func() [][]float64 { return gradientsAgainst(t, c.build, vals, upstream) }
				runtime.GOMAXPROCS(1)
				want := run()
				for _, procs := range []int{2, 3, 5} {
					runtime.GOMAXPROCS(procs)
					got := run()
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
}

func toFloat64(ts []*tensor.Dense) []*tensor.Dense {
	var out []*tensor.Dense
	for _, t := range ts {
		out = append(out, tensor.New(tensor.WithBacking(asF64(t)), tensor.WithShape(t.Shape().Clone()...)))
	}
	return out
}

// BenchmarkConvGrouped times a depthwise 3×3 convolution of (64, 32, 14,
// 14), as in a MobileNet block, and its gradients.
func BenchmarkConvGrouped(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 8))
	x, w, bias := randDense[float32](rng, 64, 32, 14, 14), randDense[float32](rng, 32, 1, 3, 3), randDense[float32](rng, 32)
	dw := func(in ...*G.Node) (*G.Node, error) {
		return ops.ConvGrouped(in[0], in[1], in[2], ops.Square(3, 1, 1), 32, ops.Linear)
	}
	b.Run("depthwise/forward", func(b *testing.B) { benchOp(b, dw, x, w, bias) })
	b.Run("depthwise/input-grad", func(b *testing.B) { benchGrad(b, dw, 0, x, w, bias) })
	b.Run("depthwise/filter-grad", func(b *testing.B) { benchGrad(b, dw, 1, x, w, bias) })
	w2 := randDense[float32](rng, 32, 16, 3, 3)
	grouped := func(in ...*G.Node) (*G.Node, error) {
		return ops.ConvGrouped(in[0], in[1], in[2], ops.Window{SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}, 2, ops.Linear)
	}
	b.Run("groups2-dilation2/forward", func(b *testing.B) { benchOp(b, grouped, x, w2, bias) })
	b.Run("groups2-dilation2/input-grad", func(b *testing.B) { benchGrad(b, grouped, 0, x, w2, bias) })
	b.Run("groups2-dilation2/filter-grad", func(b *testing.B) { benchGrad(b, grouped, 1, x, w2, bias) })
}

// BenchmarkConvTranspose2D times a 4×4, stride-2 upsampling of (64, 32, 7,
// 7) to (64, 16, 14, 14), as in a DCGAN generator, and its gradients.
func BenchmarkConvTranspose2D(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 9))
	x, w, bias := randDense[float32](rng, 64, 32, 7, 7), randDense[float32](rng, 32, 16, 4, 4), randDense[float32](rng, 16)
	tc := func(in ...*G.Node) (*G.Node, error) {
		return ops.ConvTranspose2D(in[0], in[1], in[2], ops.Square(4, 2, 1), [2]int{}, 1)
	}
	b.Run("forward", func(b *testing.B) { benchOp(b, tc, x, w, bias) })
	b.Run("input-grad", func(b *testing.B) { benchGrad(b, tc, 0, x, w, bias) })
	b.Run("filter-grad", func(b *testing.B) { benchGrad(b, tc, 1, x, w, bias) })
}

func BenchmarkUpsample2D(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 10))
	x := randDense[float32](rng, 64, 32, 14, 14)
	up := func(in ...*G.Node) (*G.Node, error) { return ops.Upsample2D(in[0], 2, 2) }
	b.Run("forward", func(b *testing.B) { benchOp(b, up, x) })
	b.Run("backward", func(b *testing.B) { benchGrad(b, up, 0, x) })
}

func BenchmarkGlobalAvgPool2D(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 11))
	x := randDense[float32](rng, 64, 32, 14, 14)
	gap := func(in ...*G.Node) (*G.Node, error) { return ops.GlobalAvgPool2D(in[0]) }
	b.Run("forward", func(b *testing.B) { benchOp(b, gap, x) })
	b.Run("backward", func(b *testing.B) { benchGrad(b, gap, 0, x) })
}
