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

type poolCase struct {
	kind       ops.PoolKind
	N, C, H, W int
	win        ops.Window
}

func (c poolCase) String() string {
	return fmt.Sprintf("%v x(%d,%d,%d,%d) %v", c.kind, c.N, c.C, c.H, c.W, c.win)
}

func randomPoolCase(rng *rand.Rand, kind ops.PoolKind, maxHW int) poolCase {
	c := poolCase{kind: kind, N: 1 + rng.IntN(3), C: 1 + rng.IntN(4)}
	c.win = ops.Window{KH: 1 + rng.IntN(5), KW: 1 + rng.IntN(5), SH: 1 + rng.IntN(3), SW: 1 + rng.IntN(3)}
	c.win.PH, c.win.PW = rng.IntN(min(3, c.win.KH)), rng.IntN(min(3, c.win.KW))
	minH, minW := max(1, c.win.KH-2*c.win.PH), max(1, c.win.KW-2*c.win.PW)
	c.H = minH + rng.IntN(maxHW-minH+1)
	c.W = minW + rng.IntN(maxHW-minW+1)
	return c
}

func buildPool(c poolCase) opcheck.Builder {
	return func(in ...*G.Node) (*G.Node, error) {
		if c.kind == ops.MaxPool {
			return ops.MaxPool2D(in[0], c.win)
		}
		return ops.AvgPool2D(in[0], c.win)
	}
}

// naivePool is the definition: max over the window's cells inside the input
// (padding never wins), or the sum over them divided by KH·KW.
func naivePool[T ops.Float](c poolCase, x []T) []T {
	oh := (c.H+2*c.win.PH-c.win.KH)/c.win.SH + 1
	ow := (c.W+2*c.win.PW-c.win.KW)/c.win.SW + 1
	y := make([]T, c.N*c.C*oh*ow)
	for p := 0; p < c.N*c.C; p++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				best, sum := math.Inf(-1), 0.0
				for m := 0; m < c.win.KH; m++ {
					for k := 0; k < c.win.KW; k++ {
						r, q := i*c.win.SH-c.win.PH+m, j*c.win.SW-c.win.PW+k
						if r < 0 || r >= c.H || q < 0 || q >= c.W {
							continue
						}
						v := float64(x[(p*c.H+r)*c.W+q])
						best = math.Max(best, v)
						sum += v
					}
				}
				if c.kind == ops.MaxPool {
					y[(p*oh+i)*ow+j] = T(best)
				} else {
					y[(p*oh+i)*ow+j] = T(sum / float64(c.win.KH*c.win.KW))
				}
			}
		}
	}
	return y
}

func checkPoolForward[T ops.Float](t *testing.T, rng *rand.Rand, c poolCase, tol float64) {
	x := randDense[T](rng, c.N, c.C, c.H, c.W)
	got := runOp(t, buildPool(c), []*tensor.Dense{x})
	want := naivePool(c, x.Data().([]T))
	if d := maxAbsDiff(got.Data().([]T), want); d > tol {
		t.Fatalf("%v: max |pool − reference| = %g > %g", c, d, tol)
	}
}

// commonPools are the configurations with fast paths (2×2 stride 2), on
// even and odd input sizes.
func commonPools(kind ops.PoolKind) []poolCase {
	return []poolCase{
		{kind: kind, N: 2, C: 3, H: 8, W: 8, win: ops.Square(2, 2, 0)},
		{kind: kind, N: 1, C: 2, H: 7, W: 9, win: ops.Square(2, 2, 0)},
		{kind: kind, N: 3, C: 1, H: 24, W: 24, win: ops.Square(2, 2, 0)},
		{kind: kind, N: 1, C: 2, H: 5, W: 70, win: ops.Square(2, 2, 0)},
		{kind: kind, N: 1, C: 1, H: 4, W: 64, win: ops.Square(2, 2, 0)},
	}
}

func TestPoolForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kind := range []ops.PoolKind{ops.MaxPool, ops.AvgPool} {
		for i, c := range commonPools(kind) {
			t.Run(fmt.Sprintf("common%d/float64/%v", i, c), func(t *testing.T) { checkPoolForward[float64](t, rng, c, 1e-12) })
			t.Run(fmt.Sprintf("common%d/float32/%v", i, c), func(t *testing.T) { checkPoolForward[float32](t, rng, c, 1e-5) })
		}
		for i := 0; i < 50; i++ {
			c := randomPoolCase(rng, kind, 13)
			t.Run(fmt.Sprintf("%d/float64/%v", i, c), func(t *testing.T) { checkPoolForward[float64](t, rng, c, 1e-12) })
			c = randomPoolCase(rng, kind, 13)
			t.Run(fmt.Sprintf("%d/float32/%v", i, c), func(t *testing.T) { checkPoolForward[float32](t, rng, c, 1e-5) })
		}
	}
}

func TestPoolGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n := 50
	if testing.Short() {
		n = 10
	}
	for _, kind := range []ops.PoolKind{ops.MaxPool, ops.AvgPool} {
		for i := 0; i < n+3; i++ {
			c := randomPoolCase(rng, kind, 9)
			if i >= n {
				c = commonPools(kind)[i-n]
			}
			t.Run(fmt.Sprintf("%d/%v", i, c), func(t *testing.T) {
				// Random inputs have no ties, so the max is differentiable.
				res, err := opcheck.CheckGradients(buildPool(c), []*tensor.Dense{randDense[float64](rng, c.N, c.C, c.H, c.W)}, opcheck.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if res.Max >= 1e-6 {
					t.Fatalf("relative error %g", res.Max)
				}
			})
		}
	}
}

// TestMaxPoolTiesAndPadding pins the documented rules: padded cells never
// win (an all-negative input pools to negative values, not 0), and on ties
// the gradient goes to the first maximal cell in row-major order.
func TestMaxPoolTiesAndPadding(t *testing.T) {
	g := G.NewGraph()
	// 1×1×3×3 of −1 except two tied maxima (−0.5) at (0,2) and (1,0).
	xv := tensor.New(tensor.WithBacking([]float64{-1, -1, -0.5, -0.5, -1, -1, -1, -1, -1}), tensor.WithShape(1, 1, 3, 3))
	x := G.NodeFromAny(g, xv, G.WithName("x"))
	y, err := ops.MaxPool2D(x, ops.Window{KH: 3, KW: 3, SH: 3, SW: 3, PH: 1, PW: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := y.Shape(); !got.Eq(tensor.Shape{1, 1, 1, 1}) {
		t.Fatalf("shape %v", got)
	}
	out, err := y.Op().Do(xv)
	if err != nil {
		t.Fatal(err)
	}
	// The window covers rows −1..1, cols −1..1: cells (0,0),(0,1),(1,0),(1,1).
	if v := out.(*tensor.Dense).Float64s()[0]; v != -0.5 {
		t.Fatalf("max = %v, want -0.5 (padding must not win)", v)
	}
	// Gradient of y w.r.t. x: (1,0) is the only maximum in this window.
	checkGrad := func(xdata []float64, win ops.Window, wantAt int) {
		t.Helper()
		g := G.NewGraph()
		xv := tensor.New(tensor.WithBacking(xdata), tensor.WithShape(1, 1, 3, 3))
		x := G.NodeFromAny(g, xv, G.WithName("x"))
		y, err := ops.MaxPool2D(x, win)
		if err != nil {
			t.Fatal(err)
		}
		s, err := G.Sum(y)
		if err != nil {
			t.Fatal(err)
		}
		grads, err := G.Grad(s, x)
		if err != nil {
			t.Fatal(err)
		}
		m := G.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		for i, v := range grads[0].Value().(*tensor.Dense).Float64s() {
			want := 0.0
			if i == wantAt {
				want = 1
			}
			if v != want {
				t.Fatalf("gradient %v: want a single 1 at %d", grads[0].Value(), wantAt)
			}
		}
	}
	checkGrad([]float64{-1, -1, -0.5, -0.5, -1, -1, -1, -1, -1}, ops.Window{KH: 3, KW: 3, SH: 3, SW: 3, PH: 1, PW: 1}, 3)
	// Tie between (0,2) and (1,0) inside one 3×3 window: (0,2) comes first.
	checkGrad([]float64{-1, -1, -0.5, -0.5, -1, -1, -1, -1, -1}, ops.Kernel(3, 3), 2)
	// All equal: the top-left cell wins.
	checkGrad([]float64{2, 2, 2, 2, 2, 2, 2, 2, 2}, ops.Kernel(3, 3), 0)
	// The 2×2 stride-2 fast path follows the same rule: the top-left 2×2
	// window (cells 0, 1, 3, 4) ties at 5 between 1 and 3; 1 wins.
	checkGrad([]float64{0, 5, 0, 5, 0, 0, 0, 0, 0}, ops.Square(2, 2, 0), 1)
	checkGrad([]float64{1, 1, 0, 1, 1, 0, 0, 0, 0}, ops.Square(2, 2, 0), 0)
}

func TestPoolRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name      string
		x         tensor.Shape
		win       ops.Window
		wantWords []string
	}{
		{"window larger than input", tensor.Shape{1, 1, 3, 3}, ops.Kernel(4, 4), []string{"kernel 4×4", "padded input 3×3"}},
		{"zero stride", tensor.Shape{1, 1, 8, 8}, ops.Window{KH: 2, KW: 2, SH: 0, SW: 2}, []string{"stride 0×2"}},
		{"rank", tensor.Shape{8, 8}, ops.Kernel(2, 2), []string{"(8, 8)", "rank 4"}},
		{"padding not smaller than window", tensor.Shape{1, 1, 8, 8}, ops.Square(2, 2, 2), []string{"padding 2×2", "window 2×2"}},
	} {
		for _, kind := range []ops.PoolKind{ops.MaxPool, ops.AvgPool} {
			t.Run(fmt.Sprint(kind, "/", tc.name), func(t *testing.T) {
				g := G.NewGraph()
				x := G.NewTensor(g, G.Float32, len(tc.x), G.WithShape(tc.x...), G.WithName("x"))
				var err error
				if kind == ops.MaxPool {
					_, err = ops.MaxPool2D(x, tc.win)
				} else {
					_, err = ops.AvgPool2D(x, tc.win)
				}
				if err == nil {
					t.Fatal("no error")
				}
				for _, word := range append(tc.wantWords, kind.String()) {
					if !strings.Contains(err.Error(), word) {
						t.Errorf("error %q does not mention %q", err, word)
					}
				}
			})
		}
	}
}

// TestMaxPoolFloat32MatchesFloat64 checks the float32 path (vectorised on
// amd64) against the float64 one, gradient routing included, on data with
// many ties.
func TestMaxPoolFloat32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range commonPools(ops.MaxPool) {
		for _, ties := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/ties=%t", c, ties), func(t *testing.T) {
				x64 := randDense[float64](rng, c.N, c.C, c.H, c.W)
				if ties {
					for i, v := range x64.Float64s() {
						x64.Float64s()[i] = math.Round(v * 2) // values in {-2, …, 2}
					}
				}
				x32 := toFloat32([]*tensor.Dense{x64})[0]
				grad := func(x *tensor.Dense) ([]float64, []float64) {
					g := G.NewGraph()
					xn := G.NodeFromAny(g, x, G.WithName("x"))
					y, err := ops.MaxPool2D(xn, c.win)
					if err != nil {
						t.Fatal(err)
					}
					dy := randDense[float64](rand.New(rand.NewPCG(1, 1)), y.Shape()...)
					dyv := dy
					if x.Dtype() == tensor.Float32 {
						dyv = toFloat32([]*tensor.Dense{dy})[0]
					}
					dyn := G.NodeFromAny(g, dyv, G.WithName("dy"))
					gs, err := y.Op().(G.SDOp).SymDiff(G.Nodes{xn}, y, dyn)
					if err != nil {
						t.Fatal(err)
					}
					out, err := y.Op().Do(x)
					if err != nil {
						t.Fatal(err)
					}
					dx, err := gs[0].Op().Do(x, dyv)
					if err != nil {
						t.Fatal(err)
					}
					return asF64(out), asF64(dx)
				}
				y64, dx64 := grad(x64)
				y32, dx32 := grad(x32)
				if d := maxAbsDiff(y32, y64); d > 1e-6 {
					t.Fatalf("forward differs by %g", d)
				}
				if d := maxAbsDiff(dx32, dx64); d > 1e-6 {
					t.Fatalf("gradient differs by %g", d)
				}
			})
		}
	}
}

func asF64(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		return toF64(d)
	case []float64:
		return append([]float64(nil), d...)
	}
	return nil
}
