// Package opcheck checks that a Gorgonia op is correct: that its shapes,
// hashes and buffers behave as Gorgonia expects (CheckOp, CheckHashes), and
// that its symbolic gradient (SDOp.SymDiff, run on a TapeMachine), its
// automatic gradient (ADOp.DoDiff, run on a LispMachine) and central finite
// differences all agree (CheckGradients).
//
// It works for any op — Retina's or a user's — and is meant to be called
// from tests:
//
//	res, err := opcheck.CheckGradients(func(in ...*gorgonia.Node) (*gorgonia.Node, error) {
//		return myop.Apply(in[0], in[1])
//	}, []*tensor.Dense{x, w}, opcheck.Options{})
//	if err != nil { t.Fatal(err) }   // includes "gradients disagree" when above tolerance
//
// Gradients are checked in float64 through a scalar loss L = Σ y ⊙ R with a
// fixed random R, so every output element contributes with its own weight.
package opcheck

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Builder applies the op under test to input nodes and returns its output.
type Builder func(inputs ...*G.Node) (*G.Node, error)

// Options tune CheckGradients. The zero value is ready to use.
type Options struct {
	// Step is the finite-difference step h: ∂L/∂x ≈ (L(x+h) − L(x−h)) / 2h.
	// Default 1e-6.
	Step float64
	// Tol is the largest accepted relative error (see Result). Default 1e-6.
	Tol float64
	// WRT lists the indices of the inputs to differentiate. Default: all.
	WRT []int
	// Seed seeds the random projection R. Default 1.
	Seed uint64
	// SkipDoDiff skips the LispMachine (ADOp) path, for ops that are only SDOps.
	SkipDoDiff bool
}

func (o Options) withDefaults(n int) Options {
	if o.Step == 0 {
		o.Step = 1e-6
	}
	if o.Tol == 0 {
		o.Tol = 1e-6
	}
	if o.WRT == nil {
		for i := 0; i < n; i++ {
			o.WRT = append(o.WRT, i)
		}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Result reports the agreement of the three gradients, per checked input
// (in the order of Options.WRT). Each error is the tensor-normalised maximum
// difference
//
//	‖a − b‖∞ / max(‖a‖∞, ‖b‖∞)
//
// (0 when both are zero), so it is independent of the gradient's scale.
type Result struct {
	SymVsFD     []float64 // SymDiff (TapeMachine) against finite differences
	DoDiffVsFD  []float64 // DoDiff (LispMachine) against finite differences; nil if skipped
	SymVsDoDiff []float64 // SymDiff against DoDiff; nil if skipped
	Max         float64   // the largest of all the above
}

func (r Result) String() string {
	return fmt.Sprintf("max relative error %.3g (sym/fd %.3g, dodiff/fd %.3g, sym/dodiff %.3g)",
		r.Max, r.SymVsFD, r.DoDiffVsFD, r.SymVsDoDiff)
}

// CheckGradients builds the op with build on float64 input nodes holding the
// given values, and compares the gradient of L = Σ y ⊙ R with respect to each
// input in opt.WRT computed three ways. It returns an error if building or
// running fails, or if any relative error exceeds opt.Tol; the Result is
// filled in either way once the gradients are computed. The inputs are not
// modified.
func CheckGradients(build Builder, inputs []*tensor.Dense, opt Options) (Result, error) {
	opt = opt.withDefaults(len(inputs))
	for i, in := range inputs {
		if in.Dtype() != tensor.Float64 {
			return Result{}, errors.Errorf("opcheck: input %d is %v; gradients are checked in float64", i, in.Dtype())
		}
	}
	for _, i := range opt.WRT {
		if i < 0 || i >= len(inputs) {
			return Result{}, errors.Errorf("opcheck: WRT index %d out of range [0, %d)", i, len(inputs))
		}
	}

	sym, proj, err := symbolic(build, inputs, opt)
	if err != nil {
		return Result{}, err
	}
	fd, err := finiteDiff(build, inputs, proj, opt)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for k := range opt.WRT {
		res.SymVsFD = append(res.SymVsFD, relErr(sym[k], fd[k]))
	}
	if !opt.SkipDoDiff {
		ad, err := automatic(build, inputs, proj, opt)
		if err != nil {
			return res, err
		}
		for k := range opt.WRT {
			res.DoDiffVsFD = append(res.DoDiffVsFD, relErr(ad[k], fd[k]))
			res.SymVsDoDiff = append(res.SymVsDoDiff, relErr(sym[k], ad[k]))
		}
	}
	for _, es := range [][]float64{res.SymVsFD, res.DoDiffVsFD, res.SymVsDoDiff} {
		for _, e := range es {
			if e > res.Max || math.IsNaN(e) {
				res.Max = e
			}
		}
	}
	if !(res.Max <= opt.Tol) {
		return res, errors.Errorf("opcheck: gradients disagree: %v > tolerance %g", res, opt.Tol)
	}
	return res, nil
}

// graphFor builds a fresh graph holding copies of the inputs, the op's output
// y and the loss L = Σ y ⊙ R. proj is R; nil means draw it from the seed.
func graphFor(build Builder, inputs []*tensor.Dense, proj *tensor.Dense, opt Options) (g *G.ExprGraph, in G.Nodes, loss *G.Node, r *tensor.Dense, err error) {
	g = G.NewGraph()
	for i, v := range inputs {
		n := G.NodeFromAny(g, v.Clone().(*tensor.Dense), G.WithName(fmt.Sprintf("input%d", i)))
		in = append(in, n)
	}
	y, err := safeBuild(build, in)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if y.Dtype() != tensor.Float64 {
		return nil, nil, nil, nil, errors.Errorf("opcheck: output is %v, want float64", y.Dtype())
	}
	r = proj
	if r == nil {
		rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
		shape := y.Shape()
		size := shape.TotalSize()
		if y.IsScalar() {
			size = 1
		}
		data := make([]float64, size)
		for i := range data {
			data[i] = 2*rng.Float64() - 1
		}
		if y.IsScalar() {
			r = tensor.New(tensor.WithBacking(data), tensor.WithShape(1))
		} else {
			r = tensor.New(tensor.WithBacking(data), tensor.WithShape(shape.Clone()...))
		}
	}
	if y.IsScalar() {
		rs := r.Float64s()[0]
		loss, err = G.Mul(y, G.NewConstant(rs))
	} else {
		rn := G.NodeFromAny(g, r.Clone().(*tensor.Dense), G.WithName("R"))
		var prod *G.Node
		if prod, err = G.HadamardProd(y, rn); err == nil {
			loss, err = G.Sum(prod)
		}
	}
	if err != nil {
		return nil, nil, nil, nil, errors.Wrap(err, "opcheck: building the loss Σ y⊙R")
	}
	return g, in, loss, r, nil
}

// safeBuild calls build, turning a panic into an error: an op under test
// that panics while building is a finding, not a crash of the test binary.
func safeBuild(build Builder, in G.Nodes) (y *G.Node, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.Errorf("opcheck: building the op panicked: %v", p)
		}
	}()
	y, err = build(in...)
	if err == nil && y == nil {
		err = errors.New("opcheck: build returned a nil node")
	}
	return y, errors.Wrap(err, "opcheck: build")
}

// symbolic returns the gradients from gorgonia.Grad run on a TapeMachine.
func symbolic(build Builder, inputs []*tensor.Dense, opt Options) ([][]float64, *tensor.Dense, error) {
	g, in, loss, r, err := graphFor(build, inputs, nil, opt)
	if err != nil {
		return nil, nil, err
	}
	var wrt G.Nodes
	for _, i := range opt.WRT {
		wrt = append(wrt, in[i])
	}
	grads, err := G.Grad(loss, wrt...)
	if err != nil {
		return nil, nil, errors.Wrap(err, "opcheck: gorgonia.Grad (SymDiff)")
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		return nil, nil, errors.Wrap(err, "opcheck: TapeMachine")
	}
	out := make([][]float64, len(grads))
	for k, gn := range grads {
		if out[k], err = floats(gn.Value(), in[opt.WRT[k]].Shape()); err != nil {
			return nil, nil, errors.Wrapf(err, "opcheck: SymDiff gradient of input %d", opt.WRT[k])
		}
	}
	return out, r, nil
}

// automatic returns the gradients from ADOp.DoDiff run on a LispMachine.
func automatic(build Builder, inputs []*tensor.Dense, proj *tensor.Dense, opt Options) ([][]float64, error) {
	g, in, _, _, err := graphFor(build, inputs, proj, opt)
	if err != nil {
		return nil, err
	}
	m := G.NewLispMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		return nil, errors.Wrap(err, "opcheck: LispMachine (DoDiff)")
	}
	out := make([][]float64, len(opt.WRT))
	for k, i := range opt.WRT {
		gv, err := in[i].Grad()
		if err != nil {
			return nil, errors.Wrapf(err, "opcheck: DoDiff gradient of input %d", i)
		}
		if out[k], err = floats(gv, in[i].Shape()); err != nil {
			return nil, errors.Wrapf(err, "opcheck: DoDiff gradient of input %d", i)
		}
	}
	return out, nil
}

// finiteDiff returns central finite-difference gradients, evaluating L on a
// forward-only TapeMachine.
func finiteDiff(build Builder, inputs []*tensor.Dense, proj *tensor.Dense, opt Options) ([][]float64, error) {
	g, in, loss, _, err := graphFor(build, inputs, proj, opt)
	if err != nil {
		return nil, err
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	eval := func() (float64, error) {
		m.Reset()
		if err := m.RunAll(); err != nil {
			return 0, errors.Wrap(err, "opcheck: forward pass")
		}
		v, err := floats(loss.Value(), nil)
		if err != nil {
			return 0, err
		}
		return v[0], nil
	}
	out := make([][]float64, len(opt.WRT))
	for k, i := range opt.WRT {
		x := in[i].Value().(*tensor.Dense).Float64s()
		d := make([]float64, len(x))
		for j := range x {
			v := x[j]
			x[j] = v + opt.Step
			hi, err := eval()
			if err != nil {
				return nil, err
			}
			x[j] = v - opt.Step
			lo, err := eval()
			if err != nil {
				return nil, err
			}
			x[j] = v
			d[j] = (hi - lo) / (2 * opt.Step)
		}
		out[k] = d
	}
	return out, nil
}

// floats copies a float64 Value's data; shape, if non-nil, must match.
func floats(v G.Value, shape tensor.Shape) ([]float64, error) {
	switch t := v.(type) {
	case *G.F64:
		return []float64{float64(*t)}, nil
	case *tensor.Dense:
		if t.Dtype() != tensor.Float64 {
			return nil, errors.Errorf("value is %v, want float64", t.Dtype())
		}
		if shape != nil && t.Size() != shape.TotalSize() {
			return nil, errors.Errorf("value has shape %v, want %v", t.Shape(), shape)
		}
		if t.RequiresIterator() {
			t = t.Materialize().(*tensor.Dense)
		}
		return append([]float64(nil), t.Float64s()...), nil
	case nil:
		return nil, errors.New("no value")
	}
	return nil, errors.Errorf("value is %T, want a float64 tensor or scalar", v)
}

// relErr returns ‖a − b‖∞ / max(‖a‖∞, ‖b‖∞), or 0 when both are zero.
func relErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var diff, na, nb float64
	for i := range a {
		diff = math.Max(diff, math.Abs(a[i]-b[i]))
		na = math.Max(na, math.Abs(a[i]))
		nb = math.Max(nb, math.Abs(b[i]))
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			return math.NaN()
		}
	}
	den := math.Max(na, nb)
	if den == 0 {
		return 0
	}
	return diff / den
}

// CheckOp runs op directly on the given input values and checks that it
// behaves as Gorgonia's machines expect:
//   - Arity matches the number of inputs (unless the op is variadic);
//   - the shape InferShape predicts equals the shape Do returns;
//   - Do is deterministic and does not modify its inputs;
//   - Hashcode is stable across calls and String is not empty;
//   - if the op is a UsePreallocDoer, writing into a preallocated value gives
//     the same result as Do.
func CheckOp(op G.Op, inputs ...G.Value) error {
	name := op.String()
	if name == "" {
		return errors.New("opcheck: String() is empty")
	}
	if a := op.Arity(); a >= 0 && a != len(inputs) {
		return errors.Errorf("opcheck: %s: Arity() = %d but %d inputs given", name, a, len(inputs))
	}
	if h1, h2 := op.Hashcode(), op.Hashcode(); h1 != h2 {
		return errors.Errorf("opcheck: %s: Hashcode() not stable: %x then %x", name, h1, h2)
	}
	shapes := make([]G.DimSizer, len(inputs))
	before := make([]G.Value, len(inputs))
	for i, v := range inputs {
		shapes[i] = v.Shape()
		c, err := G.CloneValue(v)
		if err != nil {
			return errors.Wrapf(err, "opcheck: %s: cloning input %d", name, i)
		}
		before[i] = c
	}
	want, err := op.InferShape(shapes...)
	if err != nil {
		return errors.Wrapf(err, "opcheck: %s: InferShape", name)
	}
	out, err := op.Do(inputs...)
	if err != nil {
		return errors.Wrapf(err, "opcheck: %s: Do", name)
	}
	if got := out.Shape(); !got.Eq(want) && !(got.IsScalar() && want.IsScalar()) {
		return errors.Errorf("opcheck: %s: InferShape says %v but Do returned %v", name, want, got)
	}
	first, err := G.CloneValue(out)
	if err != nil {
		return errors.Wrapf(err, "opcheck: %s: cloning output", name)
	}
	for i := range inputs {
		if !sameValue(inputs[i], before[i]) {
			return errors.Errorf("opcheck: %s: Do modified input %d", name, i)
		}
	}
	again, err := op.Do(inputs...)
	if err != nil {
		return errors.Wrapf(err, "opcheck: %s: second Do", name)
	}
	if !sameValue(again, first) {
		return errors.Errorf("opcheck: %s: Do is not deterministic", name)
	}
	if pd, ok := op.(G.UsePreallocDoer); ok {
		p, err := G.CloneValue(first)
		if err != nil {
			return errors.Wrapf(err, "opcheck: %s: cloning output", name)
		}
		scramble(p)
		got, err := pd.UsePreallocDo(p, inputs...)
		if err != nil {
			return errors.Wrapf(err, "opcheck: %s: UsePreallocDo", name)
		}
		if !sameValue(got, first) {
			return errors.Errorf("opcheck: %s: UsePreallocDo differs from Do", name)
		}
	}
	return nil
}

// scramble overwrites a tensor's data with NaNs, so a UsePreallocDo that
// reads stale output instead of overwriting it is caught.
func scramble(v G.Value) {
	if t, ok := v.(*tensor.Dense); ok {
		switch d := t.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32(math.NaN())
			}
		case []float64:
			for i := range d {
				d[i] = math.NaN()
			}
		}
	}
}

// sameValue reports whether two values have equal shape and bitwise-equal
// data (NaNs compare equal to themselves).
func sameValue(a, b G.Value) bool {
	if !a.Shape().Eq(b.Shape()) && !(a.Shape().IsScalar() && b.Shape().IsScalar()) {
		return false
	}
	switch x := a.Data().(type) {
	case []float32:
		y, ok := b.Data().([]float32)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
		return true
	case []float64:
		y, ok := b.Data().([]float64)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				return false
			}
		}
		return true
	}
	return fmt.Sprint(a.Data()) == fmt.Sprint(b.Data())
}

// CheckHashes checks that every op's Hashcode is stable and that ops built
// with different parameters hash differently. Pass ops that differ in at least
// one parameter (shape, window, stride, …).
func CheckHashes(ops ...G.Op) error {
	seen := make(map[uint32]string, len(ops))
	for _, op := range ops {
		h := op.Hashcode()
		if h != op.Hashcode() {
			return errors.Errorf("opcheck: %v: Hashcode not stable", op)
		}
		w := fnv.New32a()
		op.WriteHash(w)
		w2 := fnv.New32a()
		op.WriteHash(w2)
		if w.Sum32() != w2.Sum32() {
			return errors.Errorf("opcheck: %v: WriteHash not stable", op)
		}
		if prev, ok := seen[h]; ok {
			return errors.Errorf("opcheck: ops %q and %q share Hashcode %x", prev, op.String(), h)
		}
		seen[h] = op.String()
	}
	return nil
}
