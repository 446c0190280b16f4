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

	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/ops/opcheck"
)

// moreAct is one of the activations of act_more.go with its parameter,
// and its definition written as plainly as possible, in float64: the
// function f and its derivative df (PyTorch's one-sided choice at a kink).
type moreAct struct {
	op    string  // "leakyrelu", "elu", … as in torch_ref_act.json
	param float64 // LeakyReLU's slope, ELU's alpha; unused by the others
	kink  bool    // f′ jumps at 0: keep finite differences off it
	build func(x *G.Node) (*G.Node, error)
	f, df func(x float64) float64
}

func (a moreAct) String() string {
	switch a.op {
	case "leakyrelu":
		return fmt.Sprintf("leakyrelu(slope=%v)", a.param)
	case "elu":
		return fmt.Sprintf("elu(alpha=%v)", a.param)
	}
	return a.op
}

func (a moreAct) builder() opcheck.Builder {
	return func(in ...*G.Node) (*G.Node, error) { return a.build(in[0]) }
}

func leakyAct(slope float64) moreAct {
	return moreAct{
		op: "leakyrelu", param: slope, kink: true,
		build: func(x *G.Node) (*G.Node, error) { return ops.LeakyReLU(x, slope) },
		f: func(x float64) float64 {
			if x > 0 {
				return x
			}
			return slope * x
		},
		df: func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return slope
		},
	}
}

func eluAct(alpha float64) moreAct {
	return moreAct{
		op: "elu", param: alpha, kink: alpha != 1,
		build: func(x *G.Node) (*G.Node, error) { return ops.ELU(x, alpha) },
		f: func(x float64) float64 {
			if x > 0 {
				return x
			}
			return alpha * (math.Exp(x) - 1)
		},
		df: func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return alpha * math.Exp(x)
		},
	}
}

var (
	geluAct = moreAct{
		op:    "gelu",
		build: ops.GELU,
		f:     func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
		df: func(x float64) float64 {
			return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
		},
	}
	siluAct = moreAct{
		op:    "silu",
		build: ops.SiLU,
		f:     func(x float64) float64 { return x / (1 + math.Exp(-x)) },
		df: func(x float64) float64 {
			s := 1 / (1 + math.Exp(-x))
			return s * (1 + x*(1-s))
		},
	}
	softplusAct = moreAct{
		op:    "softplus",
		build: ops.Softplus,
		f: func(x float64) float64 {
			if x > 20 {
				return x
			}
			return math.Log(1 + math.Exp(x))
		},
		df: func(x float64) float64 {
			if x > 20 {
				return 1
			}
			return 1 / (1 + math.Exp(-x))
		},
	}
)

// moreActs lists every op, LeakyReLU and ELU with several parameters.
func moreActs() []moreAct {
	return []moreAct{
		leakyAct(0.01), leakyAct(0.2), leakyAct(-0.5), leakyAct(0), leakyAct(1.5),
		eluAct(1), eluAct(0.5), eluAct(2), eluAct(-0.3),
		geluAct, siluAct, softplusAct,
	}
}

// moreActSpecial are inputs at the kinks and thresholds and of large
// magnitude, where a naive formula overflows.
var moreActSpecial = []float64{0, math.Copysign(0, -1), 1e-8, -1e-8, 1e-300, -1e-300,
	19.5, 20, 20.5, -20, 30, -30, 40, -40, -100, -800, 800, 3, -3, 8, -8, 37, -37}

// moreActInput draws a tensor whose values span both signs at several
// scales, beginning with moreActSpecial (as far as it has room).
func moreActInput(rng *rand.Rand, shape ...int) *tensor.Dense {
	x := randDense[float64](rng, shape...)
	d := x.Float64s()
	for i := range d {
		switch {
		case i < len(moreActSpecial) && len(d) >= 2*len(moreActSpecial):
			d[i] = moreActSpecial[i]
		case i%4 == 0:
			d[i] = 40 * (2*rng.Float64() - 1)
		default:
			d[i] = 3 * rng.NormFloat64()
		}
	}
	return x
}

// moreActErr is max |got − want| / max(|want|, 1): relative for values of
// magnitude 1 or more, absolute below, where the naive formulas lose
// relative accuracy (eˣ − 1 near 0, 1 + erf(x/√2) for negative x).
func moreActErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var e float64
	for i := range got {
		d := math.Abs(got[i]-want[i]) / math.Max(math.Abs(want[i]), 1)
		if math.IsNaN(d) {
			return math.NaN()
		}
		e = math.Max(e, d)
	}
	return e
}

// TestActivationsMatchNaive compares each op's output, and its gradient
// (through gorgonia.Grad on a TapeMachine), with the definition in
// float64, for 1-D, (N, F) and (N, C, H, W) inputs, the largest split
// across the cores. In float32 the output must also be the float64
// result rounded, except LeakyReLU's, which multiplies in float32.
func TestActivationsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	shapes := [][]int{{50}, {6, 9}, {2, 3, 5, 7}, {8, 8, 32, 32}}
	var worst64, worst32, worstGrad64, worstGrad32 float64
	for _, a := range moreActs() {
		for _, s := range shapes {
			t.Run(fmt.Sprint(a, s), func(t *testing.T) {
				x := moreActInput(rng, s...)
				r := randDense[float64](rng, s...)
				want, wantGrad := make([]float64, x.Size()), make([]float64, x.Size())
				for i, v := range x.Float64s() {
					want[i], wantGrad[i] = a.f(v), r.Float64s()[i]*a.df(v)
				}
				got := gradientsAgainst(t, a.builder(), []*tensor.Dense{x}, r.Float64s())
				e, eg := moreActErr(got[0], want), moreActErr(got[1], wantGrad)
				worst64, worstGrad64 = math.Max(worst64, e), math.Max(worstGrad64, eg)
				if !(e <= 1e-15) || !(eg <= 1e-15) {
					t.Errorf("float64: output error %g, gradient error %g, want ≤ 1e-15", e, eg)
				}

				// float32: the definition on the rounded inputs.
				x32 := toFloat32([]*tensor.Dense{x})
				xr := toF64(x32[0].Float32s())
				for i, v := range xr {
					want[i], wantGrad[i] = a.f(v), float64(float32(r.Float64s()[i]))*a.df(v)
				}
				got32 := gradientsAgainst(t, a.builder(), x32, r.Float64s())
				e, eg = moreActErr(got32[0], want), moreActErr(got32[1], wantGrad)
				worst32, worstGrad32 = math.Max(worst32, e), math.Max(worstGrad32, eg)
				if !(e <= 1e-6) || !(eg <= 1e-6) {
					t.Errorf("float32: output error %g, gradient error %g, want ≤ 1e-6", e, eg)
				}
				if a.op == "leakyrelu" {
					return
				}
				x64 := tensor.New(tensor.WithBacking(xr), tensor.WithShape(s...))
				y64 := runOp(t, a.builder(), []*tensor.Dense{x64}).Float64s()
				for i, v := range got32[0] {
					if w := float32(y64[i]); math.Float32bits(float32(v)) != math.Float32bits(w) {
						t.Fatalf("float32 f(%v) = %v, float64 f rounded = %v", xr[i], v, w)
					}
				}
			})
		}
	}
	t.Logf("max error against the definition: float64 output %.3g, gradient %.3g; float32 output %.3g, gradient %.3g",
		worst64, worstGrad64, worst32, worstGrad32)
}

// TestActivationsAtSpecialValues pins the values PyTorch gives at the
// kinks, the threshold and in the tails, exactly.
func TestActivationsAtSpecialValues(t *testing.T) {
	negZero := math.Copysign(0, -1)
	for _, tc := range []struct {
		a         moreAct
		x         []float64
		y, dydx   []float64
		checkSign bool
	}{
		// x = 0 takes the negative side's slope; the signs of zeros are
		// PyTorch's (x·slope).
		{leakyAct(0.2), []float64{0, negZero, -1, 2}, []float64{0, negZero, -0.2, 2}, []float64{0.2, 0.2, 0.2, 1}, true},
		{leakyAct(-0.5), []float64{0, negZero, -4, 3}, []float64{negZero, 0, 2, 3}, []float64{-0.5, -0.5, -0.5, 1}, true},
		{eluAct(0.5), []float64{0, -800, 1}, []float64{0, -0.5, 1}, []float64{0.5, 0, 1}, false},
		// Softplus is x above 20 only; log1p keeps e^x in the far tail.
		{softplusAct, []float64{20.5, 800, -800, -40}, []float64{20.5, 800, 0, math.Exp(-40)}, []float64{1, 1, 0, math.Exp(-40)}, false},
		{siluAct, []float64{0, 800, -800}, []float64{0, 800, 0}, []float64{0.5, 1, 0}, false},
		{geluAct, []float64{0, 800, -800}, []float64{0, 800, 0}, []float64{0.5, 1, 0}, false},
	} {
		t.Run(tc.a.String(), func(t *testing.T) {
			x := tensor.New(tensor.WithBacking(append([]float64(nil), tc.x...)), tensor.WithShape(len(tc.x)))
			ones := make([]float64, len(tc.x))
			for i := range ones {
				ones[i] = 1
			}
			got := gradientsAgainst(t, tc.a.builder(), []*tensor.Dense{x}, ones)
			for i, v := range tc.x {
				y, d := got[0][i], got[1][i]
				if math.Abs(y-tc.y[i]) > 1e-15*math.Abs(tc.y[i]) || math.Abs(d-tc.dydx[i]) > 1e-15*math.Abs(tc.dydx[i]) {
					t.Errorf("x = %v: y = %v, dy/dx = %v; want %v, %v", v, y, d, tc.y[i], tc.dydx[i])
				}
				if tc.checkSign && math.Signbit(y) != math.Signbit(tc.y[i]) {
					t.Errorf("x = %v: y = %v, want %v", v, y, tc.y[i])
				}
			}
		})
	}
}

// moreActGradInput draws values off the kinks at 0 and Softplus's
// threshold at 20, some in the tails.
func moreActGradInput(rng *rand.Rand, shape ...int) *tensor.Dense {
	x := randDense[float64](rng, shape...)
	d := x.Float64s()
	for i := range d {
		v := 4 * d[i]
		if i%5 == 4 {
			v = 10 * v // ±40
		}
		if math.Abs(v) < 0.01 {
			v += math.Copysign(0.1, v)
		}
		if math.Abs(v-20) < 0.01 {
			v += 0.1
		}
		d[i] = v
	}
	return x
}

// TestActivationsGradients checks SymDiff, DoDiff and finite differences.
func TestActivationsGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for _, a := range moreActs() {
		for _, s := range [][]int{{7}, {3, 5}, {2, 3, 2, 3}} {
			t.Run(fmt.Sprint(a, s), func(t *testing.T) {
				res, err := opcheck.CheckGradients(a.builder(), []*tensor.Dense{moreActGradInput(rng, s...)}, opcheck.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Log(res)
			})
		}
	}
}

// torchAct is ops/testdata/torch_ref_act.json, written by
// torch_ref_act.py beside it.
type torchAct struct {
	Torch string
	Cases []torchActCase
}

type torchActCase struct {
	Op       string
	Slope    float64
	Alpha    float64
	Shape    []int
	Input    []float64
	Upstream []float64
	Output   []float64
	Grad     []float64
}

func (c torchActCase) act() (moreAct, bool) {
	switch c.Op {
	case "leakyrelu":
		return leakyAct(c.Slope), true
	case "elu":
		return eluAct(c.Alpha), true
	case "gelu":
		return geluAct, true
	case "silu":
		return siluAct, true
	case "softplus":
		return softplusAct, true
	}
	return moreAct{}, false
}

// TestActivationsMatchPyTorch compares the forward pass and the gradient
// of L = Σ y ⊙ R, computed by gorgonia.Grad on a TapeMachine, with
// PyTorch's torch.nn.functional ops, in float64 and float32.
func TestActivationsMatchPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_ref_act.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchAct
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	worst := map[tensor.Dtype][2]float64{}
	for _, tc := range ref.Cases {
		a, ok := tc.act()
		if !ok {
			t.Fatalf("unknown op %q", tc.Op)
		}
		seen[tc.Op] = true
		x := tensor.New(tensor.WithBacking(tc.Input), tensor.WithShape(tc.Shape...))
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprint(a, tc.Shape, "/", dt), func(t *testing.T) {
				vals, tol := []*tensor.Dense{x}, 1e-12
				if dt == tensor.Float32 {
					vals, tol = toFloat32(vals), 1e-5
				}
				got := gradientsAgainst(t, a.builder(), vals, tc.Upstream)
				w := worst[dt]
				for k, want := range [][]float64{tc.Output, tc.Grad} {
					d := relDiff(got[k], want)
					w[k] = math.Max(w[k], d)
					if !(d <= tol) {
						t.Errorf("%s differs from PyTorch by %g (relative), want ≤ %g", [...]string{"output", "gradient"}[k], d, tol)
					}
				}
				worst[dt] = w
			})
		}
	}
	for _, op := range []string{"leakyrelu", "elu", "gelu", "silu", "softplus"} {
		if !seen[op] {
			t.Errorf("no reference case for %s", op)
		}
	}
	t.Logf("PyTorch %s: max relative difference float64 output %.3g, gradient %.3g; float32 output %.3g, gradient %.3g",
		ref.Torch, worst[tensor.Float64][0], worst[tensor.Float64][1], worst[tensor.Float32][0], worst[tensor.Float32][1])
}

// TestActivationsAllocateNothing runs each op and its gradient op on a
// quarter batch of LeNet's first activations, (16, 20, 24, 24): large
// enough for every loop to split across the cores.
func TestActivationsAllocateNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	x := randDense[float32](rng, 16, 20, 24, 24)
	dy := randDense[float32](rng, 16, 20, 24, 24)
	for _, a := range []moreAct{leakyAct(0.2), eluAct(0.5), geluAct, siluAct, softplusAct} {
		t.Run(a.String(), func(t *testing.T) {
			g := G.NewGraph()
			xn := G.NodeFromAny(g, x, G.WithName("x"))
			y, err := a.build(xn)
			if err != nil {
				t.Fatal(err)
			}
			grads, err := y.Op().(G.SDOp).SymDiff(G.Nodes{xn}, y, G.NodeFromAny(g, dy, G.WithName("dy")))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what string
				op   G.Op
				args []G.Value
			}{
				{"forward", y.Op(), []G.Value{x}},
				{"gradient", grads[0].Op(), []G.Value{x, dy}},
			} {
				if _, err := c.op.Do(c.args...); err != nil {
					t.Fatal(err)
				}
				if n := allocsPerCall(5, func() { c.op.Do(c.args...) }); n != 0 {
					t.Errorf("%s: %v allocations per call", c.what, n)
				}
			}
		})
	}
}

// TestActivationsHashesDistinguishParameters checks that ops with other
// parameters or shapes, and the gradient ops, hash differently, so that
// Gorgonia never merges them, while the same op on the same node merges.
func TestActivationsHashesDistinguishParameters(t *testing.T) {
	g := G.NewGraph()
	a := G.NewTensor(g, G.Float64, 3, G.WithShape(2, 3, 4), G.WithName("a"))
	b := G.NewTensor(g, G.Float64, 3, G.WithShape(3, 4, 2), G.WithName("b"))
	dy := G.NewTensor(g, G.Float64, 3, G.WithShape(2, 3, 4), G.WithName("dy"))
	var list []G.Op
	nodes := map[*G.Node]string{}
	for _, tc := range []struct {
		name  string
		build func() (*G.Node, error)
	}{
		{"leaky 0.1", func() (*G.Node, error) { return ops.LeakyReLU(a, 0.1) }},
		{"leaky 0.2", func() (*G.Node, error) { return ops.LeakyReLU(a, 0.2) }},
		{"leaky 0.1 b", func() (*G.Node, error) { return ops.LeakyReLU(b, 0.1) }},
		{"leaky 0", func() (*G.Node, error) { return ops.LeakyReLU(a, 0) }},
		{"leaky -0", func() (*G.Node, error) { return ops.LeakyReLU(a, math.Copysign(0, -1)) }},
		{"elu 1", func() (*G.Node, error) { return ops.ELU(a, 1) }},
		{"elu 0.5", func() (*G.Node, error) { return ops.ELU(a, 0.5) }},
		{"elu 0.1", func() (*G.Node, error) { return ops.ELU(a, 0.1) }},
		{"gelu", func() (*G.Node, error) { return ops.GELU(a) }},
		{"gelu b", func() (*G.Node, error) { return ops.GELU(b) }},
		{"silu", func() (*G.Node, error) { return ops.SiLU(a) }},
		{"softplus", func() (*G.Node, error) { return ops.Softplus(a) }},
		{"relu", func() (*G.Node, error) { return ops.Activate(a, ops.ReLU) }},
	} {
		y, err := tc.build()
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := nodes[y]; ok {
			t.Errorf("%s and %s are one node", prev, tc.name)
		}
		nodes[y] = tc.name
		list = append(list, y.Op())
		if tc.name == "relu" || strings.HasSuffix(tc.name, " b") {
			continue // ReLU's gradient is from y; b's would need a dy of b's shape
		}
		grads, err := y.Op().(G.SDOp).SymDiff(G.Nodes{a}, y, dy)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, grads[0].Op())
	}
	if err := opcheck.CheckHashes(list...); err != nil {
		t.Fatal(err)
	}
	y1, err := ops.LeakyReLU(a, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	y2, err := ops.LeakyReLU(a, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if y1 != y2 {
		t.Errorf("LeakyReLU(a, 0.1) twice: two nodes %v and %v, want Gorgonia to merge them", y1, y2)
	}
}

// TestActivationsConformance runs opcheck.CheckOp on the forward and
// gradient ops in both dtypes.
func TestActivationsConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	x64 := moreActInput(rng, 3, 4, 5)
	dy64 := randDense[float64](rng, 3, 4, 5)
	for _, a := range moreActs() {
		for _, vals := range [][]*tensor.Dense{{x64, dy64}, toFloat32([]*tensor.Dense{x64, dy64})} {
			t.Run(fmt.Sprint(a, "/", vals[0].Dtype()), func(t *testing.T) {
				g := G.NewGraph()
				xn := G.NodeFromAny(g, vals[0], G.WithName("x"))
				y, err := a.build(xn)
				if err != nil {
					t.Fatal(err)
				}
				if err := opcheck.CheckOp(y.Op(), vals[0]); err != nil {
					t.Fatal(err)
				}
				grads, err := y.Op().(G.SDOp).SymDiff(G.Nodes{xn}, y, G.NodeFromAny(g, vals[1], G.WithName("dy")))
				if err != nil {
					t.Fatal(err)
				}
				if err := opcheck.CheckOp(grads[0].Op(), vals[0], vals[1]); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestActivationsSameBitsAnyGOMAXPROCS checks that the output and the
// gradient do not depend on how the loops are split across the cores.
func TestActivationsSameBitsAnyGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(49, 50))
	x := moreActInput(rng, 8, 8, 32, 32)
	for _, a := range []moreAct{leakyAct(0.2), eluAct(1), geluAct, siluAct, softplusAct} {
		for _, vals := range [][]*tensor.Dense{{x}, toFloat32([]*tensor.Dense{x})} {
			t.Run(fmt.Sprint(a, "/", vals[0].Dtype()), func(t *testing.T) {
				build := func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) { return a.build(in[0]) }
				runtime.GOMAXPROCS(1)
				want := gradients(t, build, vals...)
				for _, procs := range []int{2, 3} {
					runtime.GOMAXPROCS(procs)
					got := gradients(t, build, vals...)
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

// TestActivationsScalar applies the ops to a scalar node.
func TestActivationsScalar(t *testing.T) {
	for _, a := range moreActs() {
		t.Run(a.String(), func(t *testing.T) {
			g := G.NewGraph()
			x := G.NewScalar(g, G.Float64, G.WithName("x"), G.WithValue(-1.5))
			y, err := a.build(x)
			if err != nil {
				t.Fatal(err)
			}
			grads, err := G.Grad(y, x)
			if err != nil {
				t.Fatal(err)
			}
			m := G.NewTapeMachine(g)
			defer m.Close()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			gotY, gotD := scalarF64(t, y.Value()), scalarF64(t, grads[0].Value())
			if math.Abs(gotY-a.f(-1.5)) > 1e-15 || math.Abs(gotD-a.df(-1.5)) > 1e-15 {
				t.Errorf("f(-1.5) = %v, f′ = %v; want %v, %v", gotY, gotD, a.f(-1.5), a.df(-1.5))
			}
		})
	}
}

// scalarF64 is the value of a float64 scalar node.
func scalarF64(t *testing.T, v G.Value) float64 {
	t.Helper()
	switch s := v.(type) {
	case *G.F64:
		return float64(*s)
	case *tensor.Dense:
		if d := s.Float64s(); len(d) == 1 {
			return d[0]
		}
	}
	t.Fatalf("value %v (%T) is not a float64 scalar", v, v)
	return 0
}

func TestActivationsRejectBadArguments(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, G.Float32, 2, G.WithShape(2, 3), G.WithName("x"))
	xi := G.NewTensor(g, G.Int, 2, G.WithShape(2, 3), G.WithName("xi"))
	for _, tc := range []struct {
		name  string
		build func() (*G.Node, error)
		words []string
	}{
		{"leaky NaN", func() (*G.Node, error) { return ops.LeakyReLU(x, math.NaN()) }, []string{"ops.LeakyReLU", "slope NaN", "finite"}},
		{"leaky Inf", func() (*G.Node, error) { return ops.LeakyReLU(x, math.Inf(1)) }, []string{"ops.LeakyReLU", "slope +Inf"}},
		{"elu NaN", func() (*G.Node, error) { return ops.ELU(x, math.NaN()) }, []string{"ops.ELU", "alpha NaN"}},
		{"elu -Inf", func() (*G.Node, error) { return ops.ELU(x, math.Inf(-1)) }, []string{"ops.ELU", "alpha -Inf"}},
		{"leaky nil", func() (*G.Node, error) { return ops.LeakyReLU(nil, 0.1) }, []string{"ops.LeakyReLU", "nil"}},
		{"elu nil", func() (*G.Node, error) { return ops.ELU(nil, 1) }, []string{"ops.ELU", "nil"}},
		{"gelu nil", func() (*G.Node, error) { return ops.GELU(nil) }, []string{"ops.GELU", "nil"}},
		{"silu nil", func() (*G.Node, error) { return ops.SiLU(nil) }, []string{"ops.SiLU", "nil"}},
		{"softplus nil", func() (*G.Node, error) { return ops.Softplus(nil) }, []string{"ops.Softplus", "nil"}},
		{"leaky int", func() (*G.Node, error) { return ops.LeakyReLU(xi, 0.1) }, []string{"ops.LeakyReLU", "int", "float32 or float64"}},
		{"gelu int", func() (*G.Node, error) { return ops.GELU(xi) }, []string{"ops.GELU", "int", "(2, 3)"}},
		{"softplus int", func() (*G.Node, error) { return ops.Softplus(xi) }, []string{"ops.Softplus", "int"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y, err := tc.build()
			if err == nil {
				t.Fatalf("no error, node %v", y)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// BenchmarkActivations times each op and its gradient on LeNet's first
// activations at batch 64, (64, 20, 24, 24), in float32.
func BenchmarkActivations(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 8))
	x := randDense[float32](rng, 64, 20, 24, 24)
	for _, a := range []moreAct{leakyAct(0.01), eluAct(1), geluAct, siluAct, softplusAct} {
		act := func(in ...*G.Node) (*G.Node, error) { return a.build(in[0]) }
		name := a.op
		b.Run(name+"/forward", func(b *testing.B) { benchOp(b, act, x) })
		b.Run(name+"/backward", func(b *testing.B) { benchGrad(b, act, 0, x) })
	}
}
