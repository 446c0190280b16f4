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

// kernelOp is the common body of the simpler ops: fixed input shapes, a
// fixed output shape (or a scalar), and a kernel per dtype. Its gradient is a
// short program of further kernelOps (see gradStep).
type kernelOp struct {
	name   string         // the op and all its parameters; String and hashes use it
	in     []tensor.Shape // expected input shapes
	out    tensor.Shape   // output shape; nil for a scalar
	f32    func(out []float32, in [][]float32, s *float64)
	f64    func(out []float64, in [][]float64, s *float64)
	grad   []gradStep // nil: not differentiable
	wrt    []bool     // which inputs the gradient flows to
	buf    outBuf
	sc     scalarBuf
	args32 [][]float32
	args64 [][]float64
}

// A gradStep applies the op made by newOp to the listed arguments. An
// argument is an input index ≥ 0, argOut (the op's output), argGrad (the
// gradient flowing into the output) or argStep(k) (the result of step k).
// If input ≥ 0, the step's result is that input's gradient.
type gradStep struct {
	newOp func() *kernelOp
	args  []int
	input int
}

const (
	argOut  = -1
	argGrad = -2
)

func argStep(k int) int { return -10 - k }

func (op *kernelOp) Arity() int { return len(op.in) }

func (op *kernelOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(op.in)+1)
	for _, s := range op.in {
		ts = append(ts, typeOfShape(s, a))
	}
	ts = append(ts, typeOfShape(op.out, a))
	return hm.NewFnType(ts...)
}

func typeOfShape(s tensor.Shape, a hm.TypeVariable) hm.Type {
	if len(s) == 0 {
		return a
	}
	return tensorType(len(s), a)
}

func (op *kernelOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if op.out == nil {
		return tensor.ScalarShape(), nil
	}
	return op.out.Clone(), nil
}
func (op *kernelOp) ReturnsPtr() bool      { return false }
func (op *kernelOp) CallsExtern() bool     { return false }
func (op *kernelOp) OverwritesInput() int  { return -1 }
func (op *kernelOp) WriteHash(h hash.Hash) { io.WriteString(h, op.name) }
func (op *kernelOp) Hashcode() uint32      { return hashString(op) }
func (op *kernelOp) String() string        { return op.name }

// inputs checks the values and loads their data into op.args32/op.args64.
// Scalar inputs may be Gorgonia scalars (*F32, *F64) or one-element tensors.
func (op *kernelOp) inputs(vs []G.Value) (tensor.Dtype, error) {
	if len(vs) != len(op.in) {
		return tensor.Dtype{}, errors.Errorf("%s: got %d inputs, want %d", op.name, len(vs), len(op.in))
	}
	op.args32, op.args64 = op.args32[:0], op.args64[:0]
	var dt tensor.Dtype
	for i, v := range vs {
		var vdt tensor.Dtype
		switch s := v.(type) {
		case *G.F32:
			if len(op.in[i]) != 0 {
				return dt, errors.Errorf("%s: input %d is a scalar, want shape %v", op.name, i, op.in[i])
			}
			vdt = tensor.Float32
			op.args32 = append(op.args32, unsafe.Slice((*float32)(s), 1))
		case *G.F64:
			if len(op.in[i]) != 0 {
				return dt, errors.Errorf("%s: input %d is a scalar, want shape %v", op.name, i, op.in[i])
			}
			vdt = tensor.Float64
			op.args64 = append(op.args64, unsafe.Slice((*float64)(s), 1))
		default:
			d, err := dense(v, op.name)
			if err != nil {
				return dt, err
			}
			if !d.Shape().Eq(op.in[i]) && !(len(op.in[i]) == 0 && d.Size() == 1) {
				return dt, errors.Errorf("%s: input %d has shape %v, want %v", op.name, i, d.Shape(), op.in[i])
			}
			vdt = d.Dtype()
			switch vdt {
			case tensor.Float32:
				op.args32 = append(op.args32, d.Float32s())
			case tensor.Float64:
				op.args64 = append(op.args64, d.Float64s())
			default:
				return dt, errors.Errorf("%s: input %d has unsupported dtype %v (want float32 or float64)", op.name, i, vdt)
			}
		}
		if i > 0 && vdt != dt {
			return dt, errors.Errorf("%s: mixed dtypes %v and %v", op.name, dt, vdt)
		}
		dt = vdt
	}
	return dt, nil
}

// run executes the kernel on the loaded inputs, writing into out (nil for a
// scalar op), and returns the scalar result of scalar ops.
func (op *kernelOp) run(dt tensor.Dtype, out *tensor.Dense) float64 {
	var s float64
	switch dt {
	case tensor.Float32:
		var o []float32
		if out != nil {
			o = out.Float32s()
		}
		op.f32(o, op.args32, &s)
	case tensor.Float64:
		var o []float64
		if out != nil {
			o = out.Float64s()
		}
		op.f64(o, op.args64, &s)
	}
	return s
}

func (op *kernelOp) Do(vs ...G.Value) (G.Value, error) {
	dt, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	if op.out == nil {
		return op.sc.set(dt, op.run(dt, nil))
	}
	y := op.buf.get(dt, op.out)
	op.run(dt, y)
	return y, nil
}

func (op *kernelOp) UsePreallocDo(p G.Value, vs ...G.Value) (G.Value, error) {
	if op.out == nil {
		return op.Do(vs...)
	}
	dt, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	y, err := prealloc(p, dt, op.out, op.name)
	if err != nil {
		return nil, err
	}
	op.run(dt, y)
	return y, nil
}

func (op *kernelOp) DiffWRT(n int) []bool {
	if op.grad == nil {
		return make([]bool, n)
	}
	return append([]bool(nil), op.wrt...)
}

func (op *kernelOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad == nil {
		return nil, errors.Errorf("%s is not differentiable", op.name)
	}
	if len(inputs) != len(op.in) {
		return nil, errors.Errorf("%s: SymDiff got %d inputs, want %d", op.name, len(inputs), len(op.in))
	}
	res := make(G.Nodes, len(inputs))
	steps := make(G.Nodes, len(op.grad))
	for k, st := range op.grad {
		args := make(G.Nodes, len(st.args))
		for i, a := range st.args {
			switch {
			case a >= 0:
				args[i] = inputs[a]
			case a == argOut:
				args[i] = output
			case a == argGrad:
				args[i] = grad
			default:
				args[i] = steps[-10-a]
			}
		}
		n, err := G.ApplyOp(st.newOp(), args...)
		if err != nil {
			return nil, errors.Wrapf(err, "%s gradient", op.name)
		}
		steps[k] = n
		if st.input >= 0 {
			res[st.input] = n
		}
	}
	return res, nil
}

func (op *kernelOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if op.grad == nil {
		return errors.Errorf("%s is not differentiable", op.name)
	}
	dy, err := output.Grad()
	if err != nil {
		return errors.Wrapf(err, "%s DoDiff", op.name)
	}
	steps := make([]G.Value, len(op.grad))
	for k, st := range op.grad {
		args := make([]G.Value, len(st.args))
		for i, a := range st.args {
			switch {
			case a >= 0:
				args[i] = inputs[a].Value()
			case a == argOut:
				args[i] = output.Value()
			case a == argGrad:
				args[i] = dy
			default:
				args[i] = steps[-10-a]
			}
		}
		v, err := st.newOp().Do(args...)
		if err != nil {
			return errors.Wrapf(err, "%s DoDiff", op.name)
		}
		steps[k] = v
		if st.input < 0 {
			continue
		}
		dst, err := inputs[st.input].Grad()
		if err != nil {
			return errors.Wrapf(err, "%s DoDiff", op.name)
		}
		if err := addTo(dst, v.(*tensor.Dense), op.name+" DoDiff"); err != nil {
			return err
		}
	}
	return nil
}
