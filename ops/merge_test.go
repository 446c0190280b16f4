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

// mergeCase is an Add (axis 0) or a Concat along axis ≥ 1 of inputs of
// the given shapes.
type mergeCase struct {
	axis   int
	shapes [][]int
}

func (c mergeCase) String() string {
	if c.axis == 0 {
		return fmt.Sprintf("add%v", c.shapes)
	}
	return fmt.Sprintf("concat/axis=%d%v", c.axis, c.shapes)
}

func (c mergeCase) build(in ...*G.Node) (*G.Node, error) {
	if c.axis == 0 {
		return ops.Add(in...)
	}
	return ops.Concat(c.axis, in...)
}

func (c mergeCase) inputs(rng *rand.Rand) []*tensor.Dense {
	var in []*tensor.Dense
	for _, s := range c.shapes {
		in = append(in, randDense[float64](rng, s...))
	}
	return in
}

// randomMergeCase draws 2–4 inputs of rank 2–4, and for a Concat an axis
// and the inputs' sizes along it.
func randomMergeCase(rng *rand.Rand, concat bool) mergeCase {
	rank, n := 2+rng.IntN(3), 2+rng.IntN(3)
	base := make([]int, rank)
	for d := range base {
		base[d] = 1 + rng.IntN(4)
	}
	c := mergeCase{}
	if concat {
		c.axis = 1 + rng.IntN(rank-1)
	}
	for i := 0; i < n; i++ {
		s := append([]int(nil), base...)
		if concat {
			s[c.axis] = 1 + rng.IntN(4)
		}
		c.shapes = append(c.shapes, s)
	}
	return c
}

// naiveMerge is the definition: every output element, by its index.
func naiveMerge[T ops.Float](c mergeCase, xs [][]T) []T {
	if c.axis == 0 {
		y := make([]T, len(xs[0]))
		for i := range y {
			y[i] = xs[0][i]
			for _, x := range xs[1:] {
				y[i] += x[i]
			}
		}
		return y
	}
	out := append([]int(nil), c.shapes[0]...)
	out[c.axis] = 0
	for _, s := range c.shapes {
		out[c.axis] += s[c.axis]
	}
	size := 1
	for _, d := range out {
		size *= d
	}
	y := make([]T, size)
	idx := make([]int, len(out))
	for flat := range y {
		// The output index of flat, row-major.
		for d, r := len(out)-1, flat; d >= 0; d-- {
			idx[d] = r % out[d]
			r /= out[d]
		}
		// The input it falls in, and the flat index there.
		i, at := 0, idx[c.axis]
		for at >= c.shapes[i][c.axis] {
			at -= c.shapes[i][c.axis]
			i++
		}
		src := 0
		for d, s := range c.shapes[i] {
			v := idx[d]
			if d == c.axis {
				v = at
			}
			src = src*s + v
		}
		y[flat] = xs[i][src]
	}
	return y
}

func TestMergeForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for rep := 0; rep < 40; rep++ {
		c := randomMergeCase(rng, rep%2 == 1)
		t.Run(c.String(), func(t *testing.T) {
			in := c.inputs(rng)
			var xs [][]float64
			for _, x := range in {
				xs = append(xs, x.Float64s())
			}
			if got, want := runOp(t, c.build, in).Float64s(), naiveMerge(c, xs); maxAbsDiff(got, want) != 0 {
				t.Fatalf("float64: max diff %g", maxAbsDiff(got, want))
			}
			in32 := toFloat32(in)
			var xs32 [][]float32
			for _, x := range in32 {
				xs32 = append(xs32, x.Float32s())
			}
			if got, want := runOp(t, c.build, in32).Float32s(), naiveMerge(c, xs32); maxAbsDiff(got, want) != 0 {
				t.Fatalf("float32: max diff %g", maxAbsDiff(got, want))
			}
		})
	}
}

// TestMergeGradients checks SymDiff, DoDiff and finite differences, on
// fixed and random cases, and where the gradients meet others: a residual
// connection x + tanh(x), and one node given twice.
func TestMergeGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	cases := []mergeCase{
		{0, [][]int{{2, 3, 4, 5}, {2, 3, 4, 5}}},
		{0, [][]int{{3, 7}, {3, 7}, {3, 7}}},
		{1, [][]int{{2, 3, 4, 5}, {2, 2, 4, 5}}},
		{1, [][]int{{3, 4}, {3, 1}, {3, 6}}},
		{2, [][]int{{2, 3, 1, 4}, {2, 3, 5, 4}}},
		{3, [][]int{{2, 2, 3, 2}, {2, 2, 3, 3}, {2, 2, 3, 1}}},
	}
	for i := 0; i < 6; i++ {
		cases = append(cases, randomMergeCase(rng, i%2 == 1))
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			if _, err := opcheck.CheckGradients(c.build, c.inputs(rng), opcheck.Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	x := []*tensor.Dense{randDense[float64](rng, 2, 3, 4)}
	for _, tc := range []struct {
		name  string
		build opcheck.Builder
	}{
		{"residual", func(in ...*G.Node) (*G.Node, error) {
			h, err := ops.Activate(in[0], ops.Tanh)
			if err != nil {
				return nil, err
			}
			return ops.Add(h, in[0])
		}},
		{"add x x", func(in ...*G.Node) (*G.Node, error) { return ops.Add(in[0], in[0]) }},
		{"concat x x", func(in ...*G.Node) (*G.Node, error) { return ops.Concat(2, in[0], in[0]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := opcheck.CheckGradients(tc.build, x, opcheck.Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMergeHashesDistinguishParameters(t *testing.T) {
	g := G.NewGraph()
	node := func(s ...int) *G.Node { return G.NewTensor(g, G.Float64, len(s), G.WithShape(s...)) }
	a, b, c := node(2, 3, 4), node(2, 3, 4), node(2, 4, 4)
	var list []G.Op
	for _, build := range []func() (*G.Node, error){
		func() (*G.Node, error) { return ops.Add(a, b) },
		func() (*G.Node, error) { return ops.Add(a, b, a) },
		func() (*G.Node, error) { return ops.Concat(1, a, b) },
		func() (*G.Node, error) { return ops.Concat(2, a, b) },
		func() (*G.Node, error) { return ops.Concat(1, a, c) },
		func() (*G.Node, error) { return ops.Concat(1, c, a) }, // same output shape, other split
	} {
		y, err := build()
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, y.Op())
	}
	// The gradient slices of Concat(1, a, c) and Concat(1, c, a).
	for _, y := range []int{4, 5} {
		n, _ := ops.Concat(1, map[int][]*G.Node{4: {a, c}, 5: {c, a}}[y]...)
		dy := node(n.Shape()...)
		grads, err := n.Op().(G.SDOp).SymDiff(G.Nodes{a, c}, n, dy)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, grads[0].Op(), grads[1].Op())
	}
	if err := opcheck.CheckHashes(list...); err != nil {
		t.Fatal(err)
	}
}

func TestMergeRejectsBadInputs(t *testing.T) {
	g := G.NewGraph()
	node := func(dt tensor.Dtype, s ...int) *G.Node { return G.NewTensor(g, dt, len(s), G.WithShape(s...)) }
	f32, f64 := tensor.Float32, tensor.Float64
	for _, tc := range []struct {
		name  string
		build func() (*G.Node, error)
		words []string
	}{
		{"add one input", func() (*G.Node, error) { return ops.Add(node(f32, 2, 3)) }, []string{"ops.Add", "1 inputs", "2 or more"}},
		{"add shapes", func() (*G.Node, error) { return ops.Add(node(f32, 2, 3), node(f32, 3, 2)) }, []string{"ops.Add", "(3, 2)", "(2, 3)"}},
		{"add ranks", func() (*G.Node, error) { return ops.Add(node(f32, 1, 3), node(f32, 3)) }, []string{"(3)", "(1, 3)"}},
		{"add dtypes", func() (*G.Node, error) { return ops.Add(node(f32, 2, 3), node(f64, 2, 3)) }, []string{"Add", "float64", "float32"}},
		{"add nil", func() (*G.Node, error) { return ops.Add(node(f32, 2, 3), nil) }, []string{"input 1 is nil"}},
		{"concat axis 0", func() (*G.Node, error) { return ops.Concat(0, node(f32, 2, 3), node(f32, 2, 3)) }, []string{"axis 0", "(2, 3)"}},
		{"concat axis rank", func() (*G.Node, error) { return ops.Concat(2, node(f32, 2, 3), node(f32, 2, 3)) }, []string{"axis 2", "[1, 2)"}},
		{"concat ranks", func() (*G.Node, error) { return ops.Concat(1, node(f32, 2, 3), node(f32, 2, 3, 1)) }, []string{"(2, 3, 1)", "(2, 3)", "ranks"}},
		{"concat other axis", func() (*G.Node, error) {
			return ops.Concat(1, node(f32, 2, 3, 4, 4), node(f32, 2, 5, 4, 5))
		}, []string{"(2, 5, 4, 5)", "(2, 3, 4, 4)", "axis 1"}},
		{"concat batch", func() (*G.Node, error) { return ops.Concat(1, node(f32, 2, 3), node(f32, 4, 3)) }, []string{"(4, 3)", "(2, 3)"}},
		{"concat dtypes", func() (*G.Node, error) { return ops.Concat(1, node(f64, 2, 3), node(f32, 2, 3)) }, []string{"Concat", "float32", "float64"}},
		{"concat one input", func() (*G.Node, error) { return ops.Concat(1, node(f32, 2, 3)) }, []string{"ops.Concat", "2 or more"}},
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

// TestMergeAllocatesNothing runs the ops and their gradient ops on tensors
// large enough to split across the cores.
func TestMergeAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	for _, c := range []mergeCase{
		{0, [][]int{{64, 20, 24, 24}, {64, 20, 24, 24}}},
		{1, [][]int{{64, 20, 24, 24}, {64, 12, 24, 24}}},
	} {
		t.Run(c.String(), func(t *testing.T) {
			g := G.NewGraph()
			var nodes G.Nodes
			var vals []G.Value
			for i, x := range toFloat32(c.inputs(rng)) {
				nodes = append(nodes, G.NodeFromAny(g, x, G.WithName(fmt.Sprint("x", i))))
				vals = append(vals, x)
			}
			y, err := c.build(nodes...)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, op G.Op, args ...G.Value) {
				if _, err := op.Do(args...); err != nil {
					t.Fatal(err)
				}
				if a := allocsPerCall(50, func() { op.Do(args...) }); a != 0 {
					t.Errorf("%s: %v allocations per call", what, a)
				}
			}
			check("forward", y.Op(), vals...)
			dy := randDense[float32](rng, y.Shape()...)
			grads, err := y.Op().(G.SDOp).SymDiff(nodes, y, G.NodeFromAny(g, dy, G.WithName("dy")))
			if err != nil {
				t.Fatal(err)
			}
			for i, gr := range grads {
				if gr.Op() != nil && gr.Op().Arity() == 1 {
					check(fmt.Sprint("gradient ", i), gr.Op(), dy)
				}
			}
		})
	}
}

// allocsPerCall is testing.AllocsPerRun without its GOMAXPROCS = 1, so
// that the pool's workers take part: the fewest allocations per call over
// five rounds of n calls, after n warm-up calls. (The runtime allocates
// now and then on its own, and the count is the whole process's.)
func allocsPerCall(n int, f func()) float64 {
	for i := 0; i < n; i++ {
		f()
	}
	least := math.Inf(1)
	for round := 0; round < 5; round++ {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < n; i++ {
			f()
		}
		runtime.ReadMemStats(&after)
		least = math.Min(least, float64(after.Mallocs-before.Mallocs)/float64(n))
	}
	return least
}

// torchMerge is ops/testdata/torch_ref_merge.json, written by
// torch_ref_merge.py beside it.
type torchMerge struct {
	Torch  string
	Add    []torchMergeCase
	Concat []torchMergeCase
}

type torchMergeCase struct {
	Axis     int
	Shapes   [][]int
	Inputs   [][]float64
	Upstream []float64
	Output   []float64
	Grads    [][]float64
}

// TestMergeMatchesPyTorch compares the forward pass and the gradients of
// L = Σ y ⊙ R, computed by gorgonia.Grad on a TapeMachine, with PyTorch's
// torch.cat and +, in float64 and float32.
func TestMergeMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_ref_merge.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchMerge
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Add) == 0 || len(ref.Concat) == 0 {
		t.Fatal("no reference cases")
	}
	for _, tc := range append(ref.Add, ref.Concat...) {
		c := mergeCase{axis: tc.Axis, shapes: tc.Shapes}
		var in []*tensor.Dense
		for i, s := range tc.Shapes {
			in = append(in, tensor.New(tensor.WithBacking(tc.Inputs[i]), tensor.WithShape(s...)))
		}
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprint(c, "/", dt), func(t *testing.T) {
				vals, tol := in, 1e-15
				if dt == tensor.Float32 {
					vals, tol = toFloat32(in), 1e-6
				}
				got := gradientsAgainst(t, c.build, vals, tc.Upstream)
				for k, want := range append([][]float64{tc.Output}, tc.Grads...) {
					if d := relDiff(got[k], want); d > tol {
						t.Errorf("%s differs from PyTorch by %g (relative)", [...]string{"output", "gradient"}[min(k, 1)], d)
					}
				}
			})
		}
	}
}

// gradientsAgainst builds y = build(inputs) and L = Σ y ⊙ R on a new
// graph, and returns y followed by ∂L/∂x for every input.
func gradientsAgainst(t *testing.T, build opcheck.Builder, vals []*tensor.Dense, r []float64) [][]float64 {
	t.Helper()
	g := G.NewGraph()
	in := bind(g, vals)
	y, err := build(in...)
	if err != nil {
		t.Fatal(err)
	}
	rt := tensor.New(tensor.WithBacking(append([]float64(nil), r...)), tensor.WithShape(y.Shape()...))
	if vals[0].Dtype() == tensor.Float32 {
		rt = toFloat32([]*tensor.Dense{rt})[0]
	}
	prod, err := G.HadamardProd(y, G.NodeFromAny(g, rt, G.WithName("R")))
	if err != nil {
		t.Fatal(err)
	}
	loss, err := G.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(loss, in...)
	if err != nil {
		t.Fatal(err)
	}
	vs := make([]G.Value, 1+len(grads))
	G.Read(y, &vs[0])
	for i, gr := range grads {
		G.Read(gr, &vs[1+i])
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	var res [][]float64
	for _, v := range vs {
		res = append(res, asF64(v))
	}
	return res
}

// relDiff is ‖a − b‖∞ / max(‖b‖∞, 1).
func relDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, n float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		n = math.Max(n, math.Abs(b[i]))
	}
	return d / math.Max(n, 1)
}
