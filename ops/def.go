package ops

import (
	"hash"
	"io"
	"unsafe"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Def describes an op by what it computes: its name, its input and output
// shapes, a kernel per dtype and its gradient. Def.Apply turns it into a
// Gorgonia op that implements gorgonia.Op, SDOp (for gorgonia.Grad and the
// TapeMachine), ADOp (for the LispMachine) and UsePreallocDoer, owns its
// output buffer (see Buffers in the package documentation) and checks its
// inputs. Every op of this package is a Def; so can a user's be:
//
//	func Swish(x *G.Node) (*G.Node, error) {
//		s := x.Shape()
//		return ops.Def{
//			Name: fmt.Sprintf("Swish%v", s), In: []tensor.Shape{s}, Out: s,
//			F32: swish[float32], F64: swish[float64],
//			Grad: func(g *ops.Grad) {
//				g.Set(0, g.Apply(ops.Def{
//					Name: fmt.Sprintf("SwishGrad%v", s), In: []tensor.Shape{s, s}, Out: s,
//					F32: swishGrad[float32], F64: swishGrad[float64],
//				}, g.Input(0), g.OutputGrad()))
//			},
//		}.Apply(x)
//	}
//
// with swish(out, in []T) setting out[i] = f(in[0][i]) and swishGrad(dx,
// in) setting dx[i] = in[1][i]·f′(in[0][i]) (examples/custom-op has it in
// full).
type Def struct {
	// Name names the op and every parameter it has, shapes included
	// ("Swish(3, 4)"): String returns it, and the op's hash is computed from
	// it. Gorgonia merges nodes whose ops hash alike on the same inputs, so
	// two Defs that compute different things must have different names.
	Name string
	// In holds the shape of each input, in order; an empty shape is a
	// scalar (a gorgonia.F32 or F64, or a one-element tensor).
	In []tensor.Shape
	// Out is the output shape; empty (nil) for a scalar output.
	Out tensor.Shape
	// F32 and F64 compute the output from the inputs, for float32 and
	// float64 values: out has Out's size, in[i] In[i]'s, all row-major.
	// They must set every element of out, which holds the previous
	// result, and not modify in. A nil kernel makes that dtype an error.
	// Every op applied from one Def calls the same kernels, one call at a
	// time per op; a kernel may run its loop on every core.
	F32 func(out []float32, in [][]float32)
	F64 func(out []float64, in [][]float64)
	// Grad writes the gradient as a program of further Defs (see Grad).
	// nil: the op is not differentiable.
	Grad func(g *Grad)
}

// Apply returns the node of a new op computing f on xs. It checks the
// number, shapes and dtypes of xs against f and, when f has a gradient,
// the shapes of its gradient program, and returns an error that states
// them instead of applying.
func (f Def) Apply(xs ...*G.Node) (*G.Node, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if len(xs) != len(f.In) {
		return nil, errors.Errorf("%s: %d inputs, want %d", f.Name, len(xs), len(f.In))
	}
	var dt tensor.Dtype
	for i, x := range xs {
		if x == nil {
			return nil, errors.Errorf("%s: input %d is nil", f.Name, i)
		}
		if s := x.Shape(); !s.Eq(f.In[i]) {
			return nil, errors.Errorf("%s: input %d has shape %v, want %v", f.Name, i, s, f.In[i])
		}
		switch d := x.Dtype(); {
		case i == 0:
			dt = d
		case d != dt:
			return nil, errors.Errorf("%s: input %d is %v but input 0 is %v", f.Name, i, d, dt)
		}
	}
	if len(xs) > 0 && !f.has(dt) {
		return nil, errors.Errorf("%s: no kernel for %v inputs", f.Name, dt)
	}
	if f.Grad != nil {
		if _, err := f.gradient(); err != nil {
			return nil, err
		}
	}
	return G.ApplyOp(f.op(), xs...)
}

// check returns an error unless f has a name, a kernel and valid shapes.
func (f *Def) check() error {
	if f.Name == "" {
		return errors.Errorf("ops.Def with input shapes %v: no Name", f.In)
	}
	if f.F32 == nil && f.F64 == nil {
		return errors.Errorf("%s: no kernel (F32 and F64 are nil)", f.Name)
	}
	if !positive(f.Out) {
		return errors.Errorf("%s: output shape %v has a dimension < 1", f.Name, f.Out)
	}
	for i, s := range f.In {
		if !positive(s) {
			return errors.Errorf("%s: input %d shape %v has a dimension < 1", f.Name, i, s)
		}
	}
	return nil
}

func positive(s tensor.Shape) bool {
	for _, d := range s {
		if d < 1 {
			return false
		}
	}
	return true
}

func (f *Def) has(dt tensor.Dtype) bool {
	return dt == tensor.Float32 && f.F32 != nil || dt == tensor.Float64 && f.F64 != nil
}

// op returns a new op computing f, with its own buffers.
func (f Def) op() *defOp { return &defOp{f: f} }

// Grad is the gradient of a Def, written as a program: Def.Grad calls
// Apply on Refs to the op's inputs, its output and the gradient ∂L/∂y
// flowing into it, and Set for each input the gradient flows to. The
// program runs on nodes (SymDiff, which adds them to the graph) and on
// values (DoDiff, which adds them into the inputs' gradients), and
// Def.Apply checks every shape in it. For y = x·w, say:
//
//	g.Set(0, g.Apply(timesWT, g.OutputGrad(), g.Input(1))) // ∂L/∂x = ∂L/∂y · wᵀ
//	g.Set(1, g.Apply(xTTimes, g.Input(0), g.OutputGrad())) // ∂L/∂w = xᵀ · ∂L/∂y
//
// A Ref itself may be an input's gradient: the gradient of a sum is
// g.OutputGrad() for every input.
type Grad struct {
	f      *Def
	steps  []gradStep
	shapes []tensor.Shape // of each step's result
	set    []Ref          // per input; the zero Ref: no gradient
	err    error
}

type gradStep struct {
	f    Def
	args []Ref
}

// A Ref names a value of a gradient program: an input of the op, its
// output, the output's gradient or the result of an earlier step. The zero
// Ref names nothing.
type Ref struct {
	kind refKind
	i    int
}

type refKind uint8

const (
	refNone refKind = iota
	refInput
	refOutput
	refOutputGrad
	refStep
)

// Input returns a Ref to input i of the op.
func (g *Grad) Input(i int) Ref {
	if i < 0 || i >= len(g.f.In) {
		g.fail(errors.Errorf("Input(%d): the op has %d inputs", i, len(g.f.In)))
		return Ref{}
	}
	return Ref{refInput, i}
}

// Output returns a Ref to the op's output y.
func (g *Grad) Output() Ref { return Ref{kind: refOutput} }

// OutputGrad returns a Ref to ∂L/∂y, the gradient flowing into the op's
// output (a scalar for a scalar output: 1 at the loss).
func (g *Grad) OutputGrad() Ref { return Ref{kind: refOutputGrad} }

// Apply adds a step applying f to args and returns a Ref to its result.
// The args' shapes must be f.In.
func (g *Grad) Apply(f Def, args ...Ref) Ref {
	if err := f.check(); err != nil {
		g.fail(err)
		return Ref{}
	}
	if len(args) != len(f.In) {
		g.fail(errors.Errorf("step %d (%s): %d arguments, want %d", len(g.steps), f.Name, len(args), len(f.In)))
		return Ref{}
	}
	for i, a := range args {
		s, ok := g.shape(a)
		if !ok {
			g.fail(errors.Errorf("step %d (%s): argument %d is not a Ref of this gradient", len(g.steps), f.Name, i))
			return Ref{}
		}
		if !s.Eq(f.In[i]) {
			g.fail(errors.Errorf("step %d (%s): argument %d has shape %v, want %v", len(g.steps), f.Name, i, s, f.In[i]))
			return Ref{}
		}
	}
	g.steps = append(g.steps, gradStep{f: f, args: append([]Ref(nil), args...)})
	g.shapes = append(g.shapes, f.Out)
	return Ref{refStep, len(g.steps) - 1}
}

// Set makes r the gradient ∂L/∂x of input i; its shape must be input i's.
// Inputs never Set get no gradient (DiffWRT reports them false).
func (g *Grad) Set(input int, r Ref) {
	if input < 0 || input >= len(g.f.In) {
		g.fail(errors.Errorf("Set(%d): the op has %d inputs", input, len(g.f.In)))
		return
	}
	s, ok := g.shape(r)
	switch {
	case !ok:
		g.fail(errors.Errorf("Set(%d): not a Ref of this gradient", input))
	case !s.Eq(g.f.In[input]):
		g.fail(errors.Errorf("Set(%d): gradient has shape %v, input has %v", input, s, g.f.In[input]))
	case g.set[input].kind != refNone:
		g.fail(errors.Errorf("Set(%d) called twice", input))
	default:
		g.set[input] = r
	}
}

func (g *Grad) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// shape returns the shape of the value r names.
func (g *Grad) shape(r Ref) (tensor.Shape, bool) {
	switch r.kind {
	case refInput:
		return g.f.In[r.i], true
	case refOutput, refOutputGrad:
		return g.f.Out, true
	case refStep:
		if r.i < len(g.steps) {
			return g.shapes[r.i], true
		}
	}
	return nil, false
}

// gradient runs f.Grad and returns the program it wrote. Each call makes
// new step Defs, and so new ops with their own buffers.
func (f *Def) gradient() (*Grad, error) {
	if f.Grad == nil {
		return nil, errors.Errorf("%s is not differentiable", f.Name)
	}
	g := &Grad{f: f, set: make([]Ref, len(f.In))}
	f.Grad(g)
	if g.err != nil {
		return nil, errors.Wrapf(g.err, "%s gradient", f.Name)
	}
	return g, nil
}

// evalGrad executes the program on nodes or values: apply computes a step from
// its arguments. It returns each input's gradient (the zero T for none).
func evalGrad[T any](g *Grad, in []T, out, dy T, apply func(f Def, args []T) (T, error)) ([]T, error) {
	steps := make([]T, len(g.steps))
	get := func(r Ref) T {
		switch r.kind {
		case refInput:
			return in[r.i]
		case refOutput:
			return out
		case refOutputGrad:
			return dy
		case refStep:
			return steps[r.i]
		}
		var zero T
		return zero
	}
	for k, st := range g.steps {
		args := make([]T, len(st.args))
		for i, a := range st.args {
			args[i] = get(a)
		}
		v, err := apply(st.f, args)
		if err != nil {
			return nil, errors.Wrapf(err, "%s gradient step %d (%s)", g.f.Name, k, st.f.Name)
		}
		steps[k] = v
	}
	res := make([]T, len(g.set))
	for i, r := range g.set {
		res[i] = get(r)
	}
	return res, nil
}

// defOp is the Gorgonia op of a Def, with its output buffer.
type defOp struct {
	f      Def
	buf    outBuf
	sc     scalarBuf
	args32 [][]float32
	args64 [][]float64
}

var (
	_ G.Op              = (*defOp)(nil)
	_ G.SDOp            = (*defOp)(nil)
	_ G.ADOp            = (*defOp)(nil)
	_ G.UsePreallocDoer = (*defOp)(nil)
)

func (op *defOp) Arity() int { return len(op.f.In) }

func (op *defOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(op.f.In)+1)
	for _, s := range op.f.In {
		ts = append(ts, typeOfShape(s, a))
	}
	ts = append(ts, typeOfShape(op.f.Out, a))
	return hm.NewFnType(ts...)
}

func typeOfShape(s tensor.Shape, a hm.TypeVariable) hm.Type {
	if len(s) == 0 {
		return a
	}
	return tensorType(len(s), a)
}

func (op *defOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if len(op.f.Out) == 0 {
		return tensor.ScalarShape(), nil
	}
	return op.f.Out.Clone(), nil
}
func (op *defOp) ReturnsPtr() bool      { return false }
func (op *defOp) CallsExtern() bool     { return false }
func (op *defOp) OverwritesInput() int  { return -1 }
func (op *defOp) WriteHash(h hash.Hash) { io.WriteString(h, op.f.Name) }
func (op *defOp) Hashcode() uint32      { return hashString(op) }
func (op *defOp) String() string        { return op.f.Name }

// inputs checks the values and loads their data into op.args32/op.args64.
// Scalar inputs may be Gorgonia scalars (*F32, *F64) or one-element tensors.
func (op *defOp) inputs(vs []G.Value) (tensor.Dtype, error) {
	name, in := op.f.Name, op.f.In
	if len(vs) != len(in) {
		return tensor.Dtype{}, errors.Errorf("%s: got %d inputs, want %d", name, len(vs), len(in))
	}
	op.args32, op.args64 = op.args32[:0], op.args64[:0]
	var dt tensor.Dtype
	for i, v := range vs {
		var vdt tensor.Dtype
		switch s := v.(type) {
		case *G.F32:
			if len(in[i]) != 0 {
				return dt, errors.Errorf("%s: input %d is a scalar, want shape %v", name, i, in[i])
			}
			vdt = tensor.Float32
			op.args32 = append(op.args32, unsafe.Slice((*float32)(s), 1))
		case *G.F64:
			if len(in[i]) != 0 {
				return dt, errors.Errorf("%s: input %d is a scalar, want shape %v", name, i, in[i])
			}
			vdt = tensor.Float64
			op.args64 = append(op.args64, unsafe.Slice((*float64)(s), 1))
		default:
			d, err := dense(v, name)
			if err != nil {
				return dt, err
			}
			if !d.Shape().Eq(in[i]) && !(len(in[i]) == 0 && d.Size() == 1) {
				return dt, errors.Errorf("%s: input %d has shape %v, want %v", name, i, d.Shape(), in[i])
			}
			vdt = d.Dtype()
			switch vdt {
			case tensor.Float32:
				op.args32 = append(op.args32, d.Float32s())
			case tensor.Float64:
				op.args64 = append(op.args64, d.Float64s())
			default:
				return dt, errors.Errorf("%s: input %d has unsupported dtype %v (want float32 or float64)", name, i, vdt)
			}
		}
		if i > 0 && vdt != dt {
			return dt, errors.Errorf("%s: mixed dtypes %v and %v", name, dt, vdt)
		}
		dt = vdt
	}
	if !op.f.has(dt) {
		return dt, errors.Errorf("%s: no kernel for %v inputs", name, dt)
	}
	return dt, nil
}

// run executes the kernel on the loaded inputs, writing into y or, for a
// scalar op (y nil), into the op's scalar, which it returns.
func (op *defOp) run(dt tensor.Dtype, y *tensor.Dense) G.Value {
	if dt == tensor.Float32 {
		o := unsafe.Slice((*float32)(&op.sc.f32), 1)
		if y != nil {
			o = y.Float32s()
		}
		op.f.F32(o, op.args32)
		if y == nil {
			return &op.sc.f32
		}
	} else {
		o := unsafe.Slice((*float64)(&op.sc.f64), 1)
		if y != nil {
			o = y.Float64s()
		}
		op.f.F64(o, op.args64)
		if y == nil {
			return &op.sc.f64
		}
	}
	return y
}

func (op *defOp) Do(vs ...G.Value) (G.Value, error) {
	dt, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	if len(op.f.Out) == 0 {
		return op.run(dt, nil), nil
	}
	return op.run(dt, op.buf.get(dt, op.f.Out)), nil
}

func (op *defOp) UsePreallocDo(p G.Value, vs ...G.Value) (G.Value, error) {
	if len(op.f.Out) == 0 {
		return op.Do(vs...)
	}
	dt, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	y, err := prealloc(p, dt, op.f.Out, op.f.Name)
	if err != nil {
		return nil, err
	}
	return op.run(dt, y), nil
}

func (op *defOp) DiffWRT(n int) []bool {
	wrt := make([]bool, n)
	if op.f.Grad == nil {
		return wrt
	}
	g, err := op.f.gradient()
	if err != nil {
		return wrt // Apply checked the program; not reached
	}
	for i, r := range g.set {
		if i < n {
			wrt[i] = r.kind != refNone
		}
	}
	return wrt
}

func (op *defOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != len(op.f.In) {
		return nil, errors.Errorf("%s: SymDiff got %d inputs, want %d", op.f.Name, len(inputs), len(op.f.In))
	}
	g, err := op.f.gradient()
	if err != nil {
		return nil, err
	}
	return evalGrad(g, inputs, output, grad, func(f Def, args []*G.Node) (*G.Node, error) {
		return G.ApplyOp(f.op(), args...)
	})
}

// DoDiff adds each input's gradient into its dual value's gradient: a node
// with several consumers accumulates theirs.
func (op *defOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if len(inputs) != len(op.f.In) {
		return errors.Errorf("%s: DoDiff got %d inputs, want %d", op.f.Name, len(inputs), len(op.f.In))
	}
	g, err := op.f.gradient()
	if err != nil {
		return err
	}
	dy, err := output.Grad()
	if err != nil {
		return errors.Wrapf(err, "%s DoDiff", op.f.Name)
	}
	vals := make([]G.Value, len(inputs))
	for i, n := range inputs {
		vals[i] = n.Value()
	}
	grads, err := evalGrad(g, vals, output.Value(), dy, func(f Def, args []G.Value) (G.Value, error) {
		return f.op().Do(args...)
	})
	if err != nil {
		return errors.Wrapf(err, "%s DoDiff", op.f.Name)
	}
	for i, v := range grads {
		if v == nil {
			continue
		}
		dst, err := inputs[i].Grad()
		if err != nil {
			return errors.Wrapf(err, "%s DoDiff input %d", op.f.Name, i)
		}
		if err := addTo(dst, v, op.f.Name+" DoDiff"); err != nil {
			return err
		}
	}
	return nil
}
