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

// bnCase is a batch normalisation of x of the given shape, with its
// running statistics before the first forward pass.
type bnCase struct {
	shape         []int
	train         bool
	momentum, eps float64
	mean, vari    []float64 // running statistics
	batches       float64
}

func (c bnCase) String() string {
	mode := "eval"
	if c.train {
		mode = "train"
	}
	return fmt.Sprintf("%v/%s/momentum=%g/eps=%g", c.shape, mode, c.momentum, c.eps)
}

// newBNCase draws the running statistics of a case.
func newBNCase(rng *rand.Rand, shape []int, train bool, momentum, eps float64) bnCase {
	c := bnCase{shape: shape, train: train, momentum: momentum, eps: eps, batches: 3}
	for i := 0; i < shape[1]; i++ {
		c.mean = append(c.mean, 2*rng.Float64()-1)
		c.vari = append(c.vari, 0.5+rng.Float64())
	}
	return c
}

// state returns a new state holding the case's running statistics in dt.
func (c bnCase) state(dt tensor.Dtype) *ops.BatchNormState {
	st := ops.NewBatchNormState(c.shape[1], dt)
	setFloats(st.Mean, c.mean)
	setFloats(st.Var, c.vari)
	setFloats(st.Batches, []float64{c.batches})
	return st
}

// build returns a builder applying the batch normalisation with st.
func (c bnCase) build(st *ops.BatchNormState) opcheck.Builder {
	return func(in ...*G.Node) (*G.Node, error) {
		return ops.BatchNorm(in[0], in[1], in[2], st, c.train, c.momentum, c.eps)
	}
}

// inputs draws x, with an offset and a scale per channel, gamma and beta.
func (c bnCase) inputs(rng *rand.Rand) []*tensor.Dense {
	ch := c.shape[1]
	inner := 1
	for _, d := range c.shape[2:] {
		inner *= d
	}
	x := randDense[float64](rng, c.shape...)
	off, scale := make([]float64, ch), make([]float64, ch)
	for i := range off {
		off[i], scale[i] = 6*rng.Float64()-3, 0.5+2*rng.Float64()
	}
	for i := range x.Float64s() {
		k := (i / inner) % ch
		x.Float64s()[i] = off[k] + scale[k]*x.Float64s()[i]
	}
	gamma, beta := randDense[float64](rng, ch), randDense[float64](rng, ch)
	for i := range gamma.Float64s() {
		gamma.Float64s()[i] += 1.5 * math.Copysign(1, gamma.Float64s()[i])
	}
	return []*tensor.Dense{x, gamma, beta}
}

func setFloats(d *tensor.Dense, v []float64) {
	switch s := d.Data().(type) {
	case []float32:
		for i := range s {
			s[i] = float32(v[i])
		}
	case []float64:
		copy(s, v)
	case float32: // a scalar tensor
		d.Set(0, float32(v[0]))
	case float64:
		d.Set(0, v[0])
	}
}

// stateOf returns the running mean, variance and batch count of st.
func stateOf(st *ops.BatchNormState) (mean, vari []float64, batches float64) {
	return asF64(st.Mean), asF64(st.Var), asF64(st.Batches)[0]
}

// naiveBatchNorm is the definition in plain float64 loops: the output and
// the running statistics after one forward pass.
func naiveBatchNorm(c bnCase, x, gamma, beta []float64) (y, mean, vari []float64) {
	n, ch := c.shape[0], c.shape[1]
	inner := len(x) / (n * ch)
	y = make([]float64, len(x))
	mean, vari = append([]float64(nil), c.mean...), append([]float64(nil), c.vari...)
	cnt := float64(n * inner)
	for k := 0; k < ch; k++ {
		mu, v := c.mean[k], c.vari[k]
		if c.train {
			var s float64
			for i := 0; i < n; i++ {
				for j := 0; j < inner; j++ {
					s += x[(i*ch+k)*inner+j]
				}
			}
			mu = s / cnt
			var q float64
			for i := 0; i < n; i++ {
				for j := 0; j < inner; j++ {
					d := x[(i*ch+k)*inner+j] - mu
					q += d * d
				}
			}
			v = q / cnt
			mean[k] = (1-c.momentum)*mean[k] + c.momentum*mu
			vari[k] = (1-c.momentum)*vari[k] + c.momentum*v*cnt/(cnt-1)
		}
		for i := 0; i < n; i++ {
			for j := 0; j < inner; j++ {
				at := (i*ch+k)*inner + j
				y[at] = gamma[k]*(x[at]-mu)/math.Sqrt(v+c.eps) + beta[k]
			}
		}
	}
	return y, mean, vari
}

// randomBNShape draws (N, C) or (N, C, H, W) with N ≥ 2.
func randomBNShape(rng *rand.Rand) []int {
	if rng.IntN(2) == 0 {
		return []int{2 + rng.IntN(8), 1 + rng.IntN(6)}
	}
	return []int{2 + rng.IntN(3), 1 + rng.IntN(5), 1 + rng.IntN(6), 1 + rng.IntN(6)}
}

func TestBatchNormForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	shapes := [][]int{{2, 3}, {2, 1}, {7, 4}, {2, 3, 4, 5}, {5, 2, 3, 3}, {2, 4, 1, 1}, {3, 4, 7},
		{3, 2, 100, 100}, // a reduction of several blocks per channel
		{17000, 3},       // (N, C), two blocks
	}
	for i := 0; i < 16; i++ {
		shapes = append(shapes, randomBNShape(rng))
	}
	for i, s := range shapes {
		for _, train := range []bool{true, false} {
			c := newBNCase(rng, s, train, []float64{0.1, 0.3, 0, 1}[i%4], []float64{1e-5, 1e-3}[i%2])
			t.Run(c.String(), func(t *testing.T) {
				in := c.inputs(rng)
				t.Run("float64", func(t *testing.T) { checkBNForward(t, c, in, 1e-12) })
				t.Run("float32", func(t *testing.T) { checkBNForward(t, c, toFloat32(in), 1e-5) })
			})
		}
	}
}

// checkBNForward runs the op twice on the same input, and checks the
// output and the running statistics after each pass against the naive
// definition on the same (possibly float32-rounded) values.
func checkBNForward(t *testing.T, c bnCase, in []*tensor.Dense, tol float64) {
	dt := in[0].Dtype()
	st := c.state(dt)
	c.mean, c.vari, c.batches = stateOf(st) // rounded to dt
	g := G.NewGraph()
	var nodes G.Nodes
	var vals []G.Value
	for i, v := range in {
		nodes = append(nodes, G.NodeFromAny(g, v, G.WithName(fmt.Sprint("in", i))))
		vals = append(vals, v)
	}
	y, err := c.build(st)(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	x, gamma, beta := asF64(in[0]), asF64(in[1]), asF64(in[2])
	var first []float64
	for pass := 1; pass <= 2; pass++ {
		out, err := y.Op().Do(vals...)
		if err != nil {
			t.Fatal(err)
		}
		want, mean, vari := naiveBatchNorm(c, x, gamma, beta)
		got := asF64(out)
		if d := relDiff(got, want); d > tol {
			t.Errorf("pass %d: output differs from the definition by %g", pass, d)
		}
		if pass == 1 {
			first = got
		} else if !sameBits(got, first) {
			t.Errorf("the second pass's output differs from the first's: it depends on the running statistics")
		}
		gm, gv, gb := stateOf(st)
		if !c.train {
			if !sameBits(gm, c.mean) || !sameBits(gv, c.vari) || gb != c.batches {
				t.Fatalf("pass %d: eval mode changed the state", pass)
			}
			continue
		}
		if d := relDiff(gm, mean); d > tol {
			t.Errorf("pass %d: running mean differs from the definition by %g", pass, d)
		}
		if d := relDiff(gv, vari); d > tol {
			t.Errorf("pass %d: running variance differs from the definition by %g", pass, d)
		}
		if gb != c.batches+1 {
			t.Errorf("pass %d: batches %v, want %v", pass, gb, c.batches+1)
		}
		c.mean, c.vari, c.batches = gm, gv, gb
	}
	if err := opcheck.CheckOp(y.Op(), vals...); err != nil {
		t.Fatal(err)
	}
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestBatchNormStateShapes runs the op with a scalar Batches and a float32
// state, and checks that two layers on the same inputs are two nodes.
func TestBatchNormStateShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	c := newBNCase(rng, []int{4, 3, 2, 2}, true, 0.1, 1e-5)
	in := toFloat32(c.inputs(rng))
	st := c.state(tensor.Float32)
	st.Batches = tensor.New(tensor.FromScalar(float32(7)))
	g := G.NewGraph()
	nodes := bind(g, in)
	y, err := ops.BatchNorm(nodes[0], nodes[1], nodes[2], st, true, 0.1, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := y.Op().Do(in[0], in[1], in[2]); err != nil {
		t.Fatal(err)
	}
	if b := st.Batches.Data().(float32); b != 8 {
		t.Errorf("scalar Batches is %v after one pass, want 8", b)
	}
	// A second layer on the same inputs, and the same layer in eval mode.
	y2, err := ops.BatchNorm(nodes[0], nodes[1], nodes[2], c.state(tensor.Float32), true, 0.1, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	y3, err := ops.BatchNorm(nodes[0], nodes[1], nodes[2], st, false, 0.1, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if y == y2 || y == y3 {
		t.Error("Gorgonia merged two batch normalisations")
	}
	// float64 values into a float32 op.
	if _, err := y.Op().Do(c.inputs(rng)[0], c.inputs(rng)[1], c.inputs(rng)[2]); err == nil {
		t.Error("a float32 batch normalisation ran on float64 values")
	}
}

func TestBatchNormHashesDistinguishParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	g := G.NewGraph()
	x := G.NewTensor(g, G.Float64, 4, G.WithShape(2, 3, 4, 4), G.WithName("x"))
	x2 := G.NewTensor(g, G.Float64, 2, G.WithShape(2, 3), G.WithName("x2"))
	gamma := G.NewTensor(g, G.Float64, 1, G.WithShape(3), G.WithName("gamma"))
	beta := G.NewTensor(g, G.Float64, 1, G.WithShape(3), G.WithName("beta"))
	c := newBNCase(rng, []int{2, 3, 4, 4}, true, 0.1, 1e-5)
	st1, st2 := c.state(tensor.Float64), c.state(tensor.Float64)
	var list []G.Op
	for _, b := range []struct {
		x     *G.Node
		st    *ops.BatchNormState
		train bool
		m, e  float64
	}{
		{x, st1, true, 0.1, 1e-5},
		{x, st2, true, 0.1, 1e-5},
		{x, st1, false, 0.1, 1e-5},
		{x, st1, true, 0.3, 1e-5},
		{x, st1, true, 0.1, 1e-3},
		{x2, st1, true, 0.1, 1e-5},
	} {
		y, err := ops.BatchNorm(b.x, gamma, beta, b.st, b.train, b.m, b.e)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, y.Op())
		if b.x == x && b.st == st1 && b.train && b.m == 0.1 && b.e == 1e-5 {
			dy := G.NewTensor(g, G.Float64, 4, G.WithShape(2, 3, 4, 4))
			grads, err := y.Op().(G.SDOp).SymDiff(G.Nodes{x, gamma, beta}, y, dy)
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, grads[0].Op(), grads[1].Op(), grads[2].Op())
			for it := g.From(grads[0].ID()); it.Next(); {
				if n := it.Node().(*G.Node); n.Op() != nil && strings.Contains(n.Op().String(), "Stats") {
					list = append(list, n.Op())
				}
			}
		}
	}
	for _, s := range [][]int{{2, 3, 4}, {2, 12}} {
		xn := G.NewTensor(g, G.Float64, len(s), G.WithShape(s...))
		ps := s[1:]
		y, err := ops.LayerNorm(xn, G.NewTensor(g, G.Float64, len(ps), G.WithShape(ps...)), G.NewTensor(g, G.Float64, len(ps), G.WithShape(ps...)), 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, y.Op())
	}
	if len(list) != 12 {
		t.Fatalf("%d ops, want 12", len(list))
	}
	if err := opcheck.CheckHashes(list...); err != nil {
		t.Fatal(err)
	}
}

// TestBatchNormGradients checks SymDiff, DoDiff and finite differences
// with respect to x, gamma and beta, in train mode (through the batch
// statistics; the running statistics change on every one of opcheck's
// forward passes, which the output does not depend on) and in eval mode.
func TestBatchNormGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	shapes := [][]int{{2, 3}, {5, 4}, {3, 2, 3, 4}, {2, 3, 2, 2}, {4, 2, 3}, randomBNShape(rng), randomBNShape(rng),
		{2, 2, 5, 7}, // planes of 32 or more values: the row kernels
	}
	for i, s := range shapes {
		for _, train := range []bool{true, false} {
			c := newBNCase(rng, s, train, 0.1, []float64{1e-5, 1e-3}[i%2])
			t.Run(c.String(), func(t *testing.T) {
				build := func(in ...*G.Node) (*G.Node, error) { return c.build(c.state(tensor.Float64))(in...) }
				res, err := opcheck.CheckGradients(build, c.inputs(rng), opcheck.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Log(res)
			})
		}
	}
}

// lnCase is a layer normalisation of x of the given shape.
type lnCase struct {
	shape []int
	eps   float64
}

func (c lnCase) build(in ...*G.Node) (*G.Node, error) {
	return ops.LayerNorm(in[0], in[1], in[2], c.eps)
}

func (c lnCase) inputs(rng *rand.Rand) []*tensor.Dense {
	x := randDense[float64](rng, c.shape...)
	for i := range x.Float64s() {
		x.Float64s()[i] = 3*x.Float64s()[i] + 1
	}
	gamma, beta := randDense[float64](rng, c.shape[1:]...), randDense[float64](rng, c.shape[1:]...)
	for i := range gamma.Float64s() {
		gamma.Float64s()[i] += 1.5
	}
	return []*tensor.Dense{x, gamma, beta}
}

func naiveLayerNorm(shape []int, eps float64, x, gamma, beta []float64) []float64 {
	n := shape[0]
	d := len(x) / n
	y := make([]float64, len(x))
	for r := 0; r < n; r++ {
		var s float64
		for i := 0; i < d; i++ {
			s += x[r*d+i]
		}
		mu := s / float64(d)
		var q float64
		for i := 0; i < d; i++ {
			q += (x[r*d+i] - mu) * (x[r*d+i] - mu)
		}
		v := q / float64(d)
		for i := 0; i < d; i++ {
			y[r*d+i] = gamma[i]*(x[r*d+i]-mu)/math.Sqrt(v+eps) + beta[i]
		}
	}
	return y
}

func TestLayerNormForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 50))
	cases := []lnCase{{[]int{2, 3}, 1e-5}, {[]int{4, 1}, 1e-5}, {[]int{3, 4, 5}, 1e-3}, {[]int{2, 3, 4, 5}, 1e-5}, {[]int{64, 512}, 1e-5}, {[]int{3, 40000}, 1e-5}}
	for i := 0; i < 8; i++ {
		s := []int{1 + rng.IntN(6)}
		for r := rng.IntN(3); r >= 0; r-- {
			s = append(s, 1+rng.IntN(7))
		}
		cases = append(cases, lnCase{s, 1e-5})
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.shape), func(t *testing.T) {
			in := c.inputs(rng)
			for _, vals := range [][]*tensor.Dense{in, toFloat32(in)} {
				tol := 1e-12
				if vals[0].Dtype() == tensor.Float32 {
					tol = 1e-5
				}
				want := naiveLayerNorm(c.shape, c.eps, asF64(vals[0]), asF64(vals[1]), asF64(vals[2]))
				if d := relDiff(asF64(runOp(t, c.build, vals)), want); d > tol {
					t.Errorf("%v: output differs from the definition by %g", vals[0].Dtype(), d)
				}
			}
		})
	}
}

func TestLayerNormGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, c := range []lnCase{{[]int{3, 5}, 1e-5}, {[]int{2, 3, 4}, 1e-3}, {[]int{2, 2, 3, 2}, 1e-5}, {[]int{4, 1}, 1e-5}, {[]int{1, 7}, 1e-5}, {[]int{2, 37}, 1e-5}} {
		t.Run(fmt.Sprint(c.shape), func(t *testing.T) {
			res, err := opcheck.CheckGradients(c.build, c.inputs(rng), opcheck.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(res)
		})
	}
}

// TestNormFloat32MatchesFloat64 compares the outputs and gradients of
// float32 BatchNorm and LayerNorm (the assembly kernels on AVX-512) with
// float64's (Go), on shapes that take every path: planes shorter than 32
// values (column sums), of 32 and more with a tail (one block per channel,
// and several), rows of every length near 32.
func TestNormFloat32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(59, 60))
	type tc struct {
		name  string
		build func(dt tensor.Dtype) opcheck.Builder
		in    []*tensor.Dense
	}
	var cases []tc
	for _, s := range [][]int{{64, 7}, {4, 3, 14, 14}, {3, 2, 33}, {11, 2, 40, 40}, {2, 3, 4, 8}} {
		for _, train := range []bool{true, false} {
			c := newBNCase(rng, s, train, 0.1, 1e-5)
			cases = append(cases, tc{"BatchNorm" + c.String(), func(dt tensor.Dtype) opcheck.Builder { return c.build(c.state(dt)) }, c.inputs(rng)})
		}
	}
	for _, s := range [][]int{{64, 512}, {5, 31}, {5, 32}, {5, 33}, {3, 2, 50}, {2, 1000}} {
		c := lnCase{s, 1e-5}
		cases = append(cases, tc{fmt.Sprint("LayerNorm", s), func(tensor.Dtype) opcheck.Builder { return c.build }, c.inputs(rng)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := asF64(randDense[float64](rng, c.in[0].Shape()...))
			want := gradientsAgainst(t, c.build(tensor.Float64), c.in, r)
			got := gradientsAgainst(t, c.build(tensor.Float32), toFloat32(c.in), r)
			for i := range want {
				if d := relDiff(got[i], want[i]); !(d <= 2e-5) {
					t.Errorf("result %d (output, then gradients): float32 differs from float64 by %g", i, d)
				}
			}
		})
	}
}

// torchNorm is ops/testdata/torch_ref_norm.json, written by
// torch_ref_norm.py beside it.
type torchNorm struct {
	Torch     string
	BatchNorm []torchBNCase `json:"batch_norm"`
	LayerNorm []torchLNCase `json:"layer_norm"`
}

type torchBNCase struct {
	Shape                    []int
	Train                    bool
	Momentum, Eps            float64
	Weight, Bias             []float64
	Mean0, Var0              []float64
	Batches0                 float64
	X, Upstream, Output      []float64
	GradX                    []float64 `json:"grad_x"`
	GradWeight               []float64 `json:"grad_weight"`
	GradBias                 []float64 `json:"grad_bias"`
	Mean1, Var1              []float64
	Batches1                 float64
	X2, Output2, Mean2, Var2 []float64
	Batches2                 float64
}

type torchLNCase struct {
	Shape            []int
	Eps              float64
	X, Weight, Bias  []float64
	Upstream, Output []float64
	GradX            []float64 `json:"grad_x"`
	GradWeight       []float64 `json:"grad_weight"`
	GradBias         []float64 `json:"grad_bias"`
}

// normErrs keeps the largest difference from PyTorch of each kind of
// result, per dtype, for the log.
type normErrs map[string]float64

func (e normErrs) check(t *testing.T, what string, dt tensor.Dtype, got, want []float64, tol float64) {
	t.Helper()
	d := relDiff(got, want)
	if k := fmt.Sprint(dt, " ", what); d > e[k] || math.IsNaN(d) {
		e[k] = d
	}
	if !(d <= tol) {
		t.Errorf("%s differs from PyTorch by %g (relative)", what, d)
	}
}

// TestNormMatchesPyTorch compares BatchNorm (outputs, the gradients of
// L = Σ y ⊙ R computed by gorgonia.Grad on a TapeMachine, the running
// statistics after one and two passes) and LayerNorm (outputs, gradients)
// with PyTorch's, in float64 and float32.
func TestNormMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_ref_norm.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchNorm
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.BatchNorm) == 0 || len(ref.LayerNorm) == 0 {
		t.Fatal("no reference cases")
	}
	errs := normErrs{}
	tolOf := func(dt tensor.Dtype) float64 {
		if dt == tensor.Float32 {
			return 1e-4
		}
		return 1e-10
	}
	vals := func(dt tensor.Dtype, shapes [][]int, data ...[]float64) []*tensor.Dense {
		var in []*tensor.Dense
		for i, d := range data {
			in = append(in, tensor.New(tensor.WithBacking(append([]float64(nil), d...)), tensor.WithShape(shapes[i]...)))
		}
		if dt == tensor.Float32 {
			in = toFloat32(in)
		}
		return in
	}
	for _, tc := range ref.BatchNorm {
		c := bnCase{shape: tc.Shape, train: tc.Train, momentum: tc.Momentum, eps: tc.Eps, mean: tc.Mean0, vari: tc.Var0, batches: tc.Batches0}
		ch := []int{tc.Shape[1]}
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprint("BatchNorm", c, "/", dt), func(t *testing.T) {
				tol := tolOf(dt)
				st := c.state(dt)
				got := gradientsAgainst(t, c.build(st), vals(dt, [][]int{tc.Shape, ch, ch}, tc.X, tc.Weight, tc.Bias), tc.Upstream)
				errs.check(t, "BN output", dt, got[0], tc.Output, tol)
				errs.check(t, "BN grad x", dt, got[1], tc.GradX, tol)
				errs.check(t, "BN grad weight", dt, got[2], tc.GradWeight, tol)
				errs.check(t, "BN grad bias", dt, got[3], tc.GradBias, tol)
				m, v, b := stateOf(st)
				errs.check(t, "BN running mean", dt, m, tc.Mean1, tol)
				errs.check(t, "BN running var", dt, v, tc.Var1, tol)
				if b != tc.Batches1 {
					t.Errorf("batches %v after one pass, want %v", b, tc.Batches1)
				}
				// The second pass, on a graph of its own sharing the state.
				y2 := runNoCheck(t, c.build(st), vals(dt, [][]int{tc.Shape, ch, ch}, tc.X2, tc.Weight, tc.Bias))
				errs.check(t, "BN output", dt, y2, tc.Output2, tol)
				m, v, b = stateOf(st)
				errs.check(t, "BN running mean", dt, m, tc.Mean2, tol)
				errs.check(t, "BN running var", dt, v, tc.Var2, tol)
				if b != tc.Batches2 {
					t.Errorf("batches %v after two passes, want %v", b, tc.Batches2)
				}
			})
		}
	}
	for _, tc := range ref.LayerNorm {
		c := lnCase{shape: tc.Shape, eps: tc.Eps}
		ps := tc.Shape[1:]
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprint("LayerNorm", tc.Shape, "/", dt), func(t *testing.T) {
				tol := tolOf(dt)
				got := gradientsAgainst(t, c.build, vals(dt, [][]int{tc.Shape, ps, ps}, tc.X, tc.Weight, tc.Bias), tc.Upstream)
				errs.check(t, "LN output", dt, got[0], tc.Output, tol)
				errs.check(t, "LN grad x", dt, got[1], tc.GradX, tol)
				errs.check(t, "LN grad weight", dt, got[2], tc.GradWeight, tol)
				errs.check(t, "LN grad bias", dt, got[3], tc.GradBias, tol)
			})
		}
	}
	t.Logf("PyTorch %s: %d batch norm and %d layer norm cases; largest differences (‖a − b‖∞ / max(‖b‖∞, 1)):", ref.Torch, len(ref.BatchNorm), len(ref.LayerNorm))
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, what := range []string{"BN output", "BN grad x", "BN grad weight", "BN grad bias", "BN running mean", "BN running var", "LN output", "LN grad x", "LN grad weight", "LN grad bias"} {
			k := fmt.Sprint(dt, " ", what)
			t.Logf("  %-28s %.3g", k, errs[k])
		}
	}
}

// runNoCheck builds the op on nodes holding vals and returns the output
// of one Do.
func runNoCheck(t *testing.T, build opcheck.Builder, vals []*tensor.Dense) []float64 {
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
	out, err := y.Op().Do(values...)
	if err != nil {
		t.Fatal(err)
	}
	return asF64(out)
}

// normStep is an op with its arguments.
type normStep struct {
	name string
	op   G.Op
	args []G.Value
}

// normSteps builds y = build(vals) and its gradient ops for a random
// ∂L/∂y through SymDiff, and returns the forward op and each gradient op
// with its arguments, in an order that runs them, each run once.
func normSteps(tb testing.TB, build opcheck.Builder, vals []*tensor.Dense) []normStep {
	g := G.NewGraph()
	nodes := bind(g, vals)
	y, err := build(nodes...)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(53, 54))
	dyv := randDense[float64](rng, y.Shape()...)
	if y.Dtype() == tensor.Float32 {
		dyv = toFloat32([]*tensor.Dense{dyv})[0]
	}
	dy := G.NodeFromAny(g, dyv, G.WithName("dy"))
	grads, err := y.Op().(G.SDOp).SymDiff(nodes, y, dy)
	if err != nil {
		tb.Fatal(err)
	}
	var steps []normStep
	memo := map[*G.Node]G.Value{}
	var value func(n *G.Node) G.Value
	value = func(n *G.Node) G.Value {
		if v, ok := memo[n]; ok {
			return v
		}
		if v := n.Value(); v != nil {
			return v
		}
		var args []G.Value
		for it := g.From(n.ID()); it.Next(); {
			args = append(args, value(it.Node().(*G.Node)))
		}
		v, err := n.Op().Do(args...)
		if err != nil {
			tb.Fatal(err)
		}
		memo[n] = v
		steps = append(steps, normStep{n.Op().String(), n.Op(), args})
		return v
	}
	value(y)
	for _, gr := range grads {
		value(gr)
	}
	return steps
}

// TestNormAllocatesNothing runs the forward and gradient ops on tensors
// large enough to split across the cores.
func TestNormAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	type tc struct {
		name  string
		build opcheck.Builder
		in    []*tensor.Dense
	}
	var cases []tc
	for _, s := range [][]int{{16, 32, 14, 14}, {8, 4, 64, 64}, {256, 100}} {
		for _, train := range []bool{true, false} {
			c := newBNCase(rng, s, train, 0.1, 1e-5)
			cases = append(cases, tc{"BatchNorm" + c.String(), c.build(c.state(tensor.Float32)), toFloat32(c.inputs(rng))})
		}
	}
	for _, s := range [][]int{{64, 512}, {8, 16, 32}} {
		c := lnCase{s, 1e-5}
		cases = append(cases, tc{fmt.Sprint("LayerNorm", s), c.build, toFloat32(c.inputs(rng))})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := normSteps(t, c.build, c.in)
			if len(steps) != 5 {
				t.Fatalf("%d ops, want the forward op and 4 gradient steps", len(steps))
			}
			for _, st := range steps {
				if a := allocsPerCall(20, func() { st.op.Do(st.args...) }); a != 0 {
					t.Errorf("%s: %v allocations per call", st.name, a)
				}
			}
		})
	}
}

// TestNormSameBitsAnyGOMAXPROCS checks that outputs, gradients and running
// statistics are the same bits whatever GOMAXPROCS, on shapes whose
// reductions are split in several blocks and whose loops in several chunks.
func TestNormSameBitsAnyGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(57, 58))
	type tc struct {
		name string
		run  func(t *testing.T) [][]float64
	}
	var cases []tc
	for _, s := range [][]int{{8, 6, 48, 48}, {17000, 3}, {64, 32, 14, 14}} {
		for _, train := range []bool{true, false} {
			c := newBNCase(rng, s, train, 0.1, 1e-5)
			in := c.inputs(rng)
			for _, vals := range [][]*tensor.Dense{in, toFloat32(in)} {
				r := asF64(randDense[float64](rng, s...))
				cases = append(cases, tc{fmt.Sprint("BatchNorm", c, "/", vals[0].Dtype()), func(t *testing.T) [][]float64 {
					st := c.state(vals[0].Dtype())
					res := gradientsAgainst(t, c.build(st), vals, r)
					m, v, b := stateOf(st)
					return append(res, m, v, []float64{b})
				}})
			}
		}
	}
	for _, s := range [][]int{{64, 512}, {16, 2000}, {4, 3, 40000}} {
		c := lnCase{s, 1e-5}
		in := c.inputs(rng)
		for _, vals := range [][]*tensor.Dense{in, toFloat32(in)} {
			r := asF64(randDense[float64](rng, s...))
			cases = append(cases, tc{fmt.Sprint("LayerNorm", s, "/", vals[0].Dtype()), func(t *testing.T) [][]float64 {
				return gradientsAgainst(t, c.build, vals, r)
			}})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runtime.GOMAXPROCS(1)
			want := c.run(t)
			for _, procs := range []int{2, 3, 5} {
				runtime.GOMAXPROCS(procs)
				got := c.run(t)
				for i := range want {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("GOMAXPROCS=%d: result %d differs from GOMAXPROCS=1's", procs, i)
					}
				}
			}
		})
	}
}

func TestNormRejectsBadArguments(t *testing.T) {
	g := G.NewGraph()
	node := func(dt tensor.Dtype, s ...int) *G.Node { return G.NewTensor(g, dt, len(s), G.WithShape(s...)) }
	f32, f64 := tensor.Float32, tensor.Float64
	x, gamma, beta := node(f64, 4, 3, 2, 2), node(f64, 3), node(f64, 3)
	st := func(mod func(*ops.BatchNormState)) *ops.BatchNormState {
		s := ops.NewBatchNormState(3, f64)
		if mod != nil {
			mod(s)
		}
		return s
	}
	bn := func(x, gamma, beta *G.Node, s *ops.BatchNormState, train bool, m, e float64) func() (*G.Node, error) {
		return func() (*G.Node, error) { return ops.BatchNorm(x, gamma, beta, s, train, m, e) }
	}
	ln := func(x, gamma, beta *G.Node, e float64) func() (*G.Node, error) {
		return func() (*G.Node, error) { return ops.LayerNorm(x, gamma, beta, e) }
	}
	for _, tc := range []struct {
		name  string
		build func() (*G.Node, error)
		words []string
	}{
		{"gamma shape", bn(x, node(f64, 4), beta, st(nil), true, 0.1, 1e-5), []string{"ops.BatchNorm", "gamma", "(4)", "want (3)"}},
		{"beta shape", bn(x, gamma, node(f64, 1, 3), st(nil), true, 0.1, 1e-5), []string{"ops.BatchNorm", "beta", "(1, 3)", "want (3)"}},
		{"gamma dtype", bn(x, node(f32, 3), beta, st(nil), true, 0.1, 1e-5), []string{"gamma", "float32", "float64"}},
		{"gamma nil", bn(x, nil, beta, st(nil), true, 0.1, 1e-5), []string{"gamma is nil"}},
		{"x rank", bn(node(f64, 3), gamma, beta, st(nil), true, 0.1, 1e-5), []string{"x has shape (3)"}},
		{"state nil", bn(x, gamma, beta, nil, true, 0.1, 1e-5), []string{"ops.BatchNorm", "state is nil"}},
		{"state mean shape", bn(x, gamma, beta, st(func(s *ops.BatchNormState) {
			s.Mean = tensor.New(tensor.Of(f64), tensor.WithShape(4))
		}), true, 0.1, 1e-5), []string{"state.Mean", "(4)", "want (3)"}},
		{"state var shape", bn(x, gamma, beta, st(func(s *ops.BatchNormState) {
			s.Var = tensor.New(tensor.Of(f64), tensor.WithShape(3, 1))
		}), false, 0.1, 1e-5), []string{"state.Var", "(3, 1)", "want (3)"}},
		{"state batches shape", bn(x, gamma, beta, st(func(s *ops.BatchNormState) {
			s.Batches = tensor.New(tensor.Of(f64), tensor.WithShape(2))
		}), true, 0.1, 1e-5), []string{"state.Batches", "(2)"}},
		{"state var nil", bn(x, gamma, beta, st(func(s *ops.BatchNormState) { s.Var = nil }), true, 0.1, 1e-5), []string{"state.Var is nil"}},
		{"state dtype", bn(x, gamma, beta, ops.NewBatchNormState(3, f32), true, 0.1, 1e-5), []string{"state.Mean", "float32", "float64"}},
		{"state shared", bn(x, gamma, beta, st(func(s *ops.BatchNormState) { s.Var = s.Mean }), true, 0.1, 1e-5), []string{"distinct"}},
		{"one value per channel", bn(node(f64, 1, 3), gamma, beta, st(nil), true, 0.1, 1e-5), []string{"Expected more than 1 value per channel when training", "(1, 3)"}},
		{"one value per channel 2-D", bn(node(f64, 1, 3, 1, 1), gamma, beta, st(nil), true, 0.1, 1e-5), []string{"Expected more than 1 value per channel", "(1, 3, 1, 1)"}},
		{"momentum negative", bn(x, gamma, beta, st(nil), true, -0.1, 1e-5), []string{"momentum -0.1", "[0, 1]"}},
		{"momentum above 1", bn(x, gamma, beta, st(nil), true, 1.5, 1e-5), []string{"momentum 1.5", "[0, 1]"}},
		{"momentum NaN", bn(x, gamma, beta, st(nil), false, math.NaN(), 1e-5), []string{"momentum NaN"}},
		{"eps zero", bn(x, gamma, beta, st(nil), true, 0.1, 0), []string{"eps 0", "positive"}},
		{"eps negative", bn(x, gamma, beta, st(nil), true, 0.1, -1e-5), []string{"eps -1e-05"}},
		{"ln gamma shape", ln(node(f64, 2, 3, 4), node(f64, 12), node(f64, 3, 4), 1e-5), []string{"ops.LayerNorm", "gamma", "(12)", "(3, 4)"}},
		{"ln beta shape", ln(node(f64, 2, 3, 4), node(f64, 3, 4), node(f64, 4), 1e-5), []string{"ops.LayerNorm", "beta", "(4)", "(3, 4)"}},
		{"ln dtype", ln(node(f64, 2, 3), node(f32, 3), node(f64, 3), 1e-5), []string{"gamma", "float32", "float64"}},
		{"ln rank", ln(node(f64, 3), node(f64, 3), node(f64, 3), 1e-5), []string{"ops.LayerNorm", "x has shape (3)"}},
		{"ln eps", ln(node(f64, 2, 3), node(f64, 3), node(f64, 3), 0), []string{"ops.LayerNorm", "eps 0"}},
		{"ln eps inf", ln(node(f64, 2, 3), node(f64, 3), node(f64, 3), math.Inf(1)), []string{"eps +Inf"}},
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
	// One value per channel is fine in eval mode.
	if _, err := ops.BatchNorm(node(f64, 1, 3), gamma, beta, st(nil), false, 0.1, 1e-5); err != nil {
		t.Errorf("eval mode with one value per channel: %v", err)
	}
}

// normTrainStep times the forward op and every gradient op, run in order.
func normTrainStep(b *testing.B, build opcheck.Builder, vals ...*tensor.Dense) {
	steps := normSteps(b, build, vals)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, st := range steps {
			if _, err := st.op.Do(st.args...); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBatchNorm times a batch normalisation of (64, 32, 14, 14)
// float32 maps in train mode: the forward op alone, and the forward op
// with the gradient ops of x, gamma and beta.
func BenchmarkBatchNorm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 8))
	c := newBNCase(rng, []int{64, 32, 14, 14}, true, 0.1, 1e-5)
	in := toFloat32(c.inputs(rng))
	build := c.build(c.state(tensor.Float32))
	b.Run("forward", func(b *testing.B) { benchOp(b, build, in...) })
	b.Run("forward+backward", func(b *testing.B) { normTrainStep(b, build, in...) })
}

// BenchmarkLayerNorm times a layer normalisation of (64, 512) float32.
func BenchmarkLayerNorm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 9))
	c := lnCase{[]int{64, 512}, 1e-5}
	in := toFloat32(c.inputs(rng))
	b.Run("forward", func(b *testing.B) { benchOp(b, c.build, in...) })
	b.Run("forward+backward", func(b *testing.B) { normTrainStep(b, c.build, in...) })
}

// TestBatchNormUpdatesOncePerPass runs a training graph, forward and
// backward, on a TapeMachine (twice) and on a LispMachine: each run
// updates the running statistics once, as a PyTorch forward pass does.
func TestBatchNormUpdatesOncePerPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(59, 60))
	c := newBNCase(rng, []int{4, 3, 2, 2}, true, 0.1, 1e-5)
	in := c.inputs(rng)
	want, mean1, vari1 := naiveBatchNorm(c, asF64(in[0]), asF64(in[1]), asF64(in[2]))
	c2 := c
	c2.mean, c2.vari = mean1, vari1
	_, mean2, vari2 := naiveBatchNorm(c2, asF64(in[0]), asF64(in[1]), asF64(in[2]))
	for _, lisp := range []bool{false, true} {
		st := c.state(tensor.Float64)
		g := G.NewGraph()
		var nodes G.Nodes
		for i, v := range in {
			nodes = append(nodes, G.NewTensor(g, G.Float64, v.Dims(), G.WithShape(v.Shape()...), G.WithValue(v.Clone()), G.WithName(fmt.Sprint("in", i))))
		}
		y, err := c.build(st)(nodes...)
		if err != nil {
			t.Fatal(err)
		}
		r := G.NewTensor(g, G.Float64, 4, G.WithShape(c.shape...), G.WithValue(randDense[float64](rng, c.shape...)))
		prod, err := G.HadamardProd(y, r)
		if err != nil {
			t.Fatal(err)
		}
		loss, err := G.Sum(prod)
		if err != nil {
			t.Fatal(err)
		}
		var out G.Value
		G.Read(y, &out)
		var m G.VM
		if lisp {
			m = G.NewLispMachine(g)
		} else {
			if _, err := G.Grad(loss, nodes...); err != nil {
				t.Fatal(err)
			}
			m = G.NewTapeMachine(g)
		}
		runs := 1
		if !lisp {
			runs = 2
		}
		for run := 1; run <= runs; run++ {
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			m.Reset()
			gm, gv, gb := stateOf(st)
			wm, wv := mean1, vari1
			if run == 2 {
				wm, wv = mean2, vari2
			}
			if gb != c.batches+float64(run) || relDiff(gm, wm) > 1e-12 || relDiff(gv, wv) > 1e-12 {
				t.Errorf("lisp=%t, after run %d: batches %v (want %v), running statistics off by %g, %g",
					lisp, run, gb, c.batches+float64(run), relDiff(gm, wm), relDiff(gv, wv))
			}
			if d := relDiff(asF64(out), want); d > 1e-12 {
				t.Errorf("lisp=%t, run %d: output off by %g", lisp, run, d)
			}
		}
		m.Close()
		if lisp {
			if gr, err := nodes[1].Grad(); err != nil || gr == nil {
				t.Errorf("LispMachine computed no gradient for gamma: %v", err)
			}
		}
	}
}
