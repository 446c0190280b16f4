package ops

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/internal/vec"
)

// Add returns the elementwise sum y = x₀ + x₁ + … of two or more nodes of
// one shape and dtype, float32 or float64: a residual connection is
// Add(x, f(x)). The sum runs left to right, as x₀ + x₁ + x₂ does in
// PyTorch. The gradient ∂L/∂y flows unchanged to every input.
func Add(xs ...*G.Node) (*G.Node, error) {
	return AddAct(Linear, xs...)
}

// AddAct is Add followed by the activation f, fused into one op: f is
// applied while the sum is written, and its gradient (from the output)
// once, for every input. The values are those of the two ops, bit for bit.
func AddAct(f Activation, xs ...*G.Node) (*G.Node, error) {
	if !f.valid() {
		return nil, errors.Errorf("ops.Add: unknown activation %d", int(f))
	}
	if err := mergeInputs("ops.Add", xs); err != nil {
		return nil, err
	}
	s := xs[0].Shape()
	in := make([]tensor.Shape, len(xs))
	for i, x := range xs {
		if !sameDims(x.Shape(), s) {
			return nil, errors.Errorf("ops.Add: input %d has shape %v, input 0 has %v: Add needs one shape", i, x.Shape(), s)
		}
		in[i] = s
	}
	n := len(xs)
	name := fmt.Sprintf("Add{%d×%v}", n, s)
	if f != Linear {
		name = fmt.Sprintf("Add{%d×%v %v}", n, s, f)
	}
	return Def{
		Name: name,
		In:   in,
		Out:  s,
		F32:  addKernel[float32](f),
		F64:  addKernel[float64](f),
		Grad: func(g *Grad) {
			dy := preActGrad(g, f)
			for i := 0; i < n; i++ {
				g.Set(i, dy)
			}
		},
	}.Apply(xs...)
}

// Concat joins two or more nodes of one rank and dtype, float32 or
// float64, along axis, which must be 1 or more (axis 0 is the batch): axis
// 1 stacks the channels of (N, C, H, W) images or the features of (N, F)
// rows. Every other dimension must agree; the output's size along axis is
// the sum of the inputs'. Each input's gradient is its slice of ∂L/∂y.
func Concat(axis int, xs ...*G.Node) (*G.Node, error) {
	if err := mergeInputs("ops.Concat", xs); err != nil {
		return nil, err
	}
	s0 := xs[0].Shape()
	if axis < 1 || axis >= len(s0) {
		return nil, errors.Errorf("ops.Concat: axis %d out of range [1, %d) for input 0 of shape %v", axis, len(s0), s0)
	}
	in := make([]tensor.Shape, len(xs))
	out := s0.Clone()
	out[axis] = 0
	for i, x := range xs {
		s := x.Shape()
		if len(s) != len(s0) {
			return nil, errors.Errorf("ops.Concat: input %d has shape %v, input 0 has %v: ranks differ", i, s, s0)
		}
		for d := range s {
			if d != axis && s[d] != s0[d] {
				return nil, errors.Errorf("ops.Concat: input %d has shape %v, input 0 has %v: only axis %d may differ", i, s, s0, axis)
			}
		}
		in[i] = s
		out[axis] += s[axis]
	}
	j := newJoin(axis, in, out)
	return Def{
		Name: fmt.Sprintf("Concat{axis=%d %v}", axis, in),
		In:   in,
		Out:  out,
		F32:  concatKernel[float32](j),
		F64:  concatKernel[float64](j),
		Grad: func(g *Grad) {
			for i := range in {
				g.Set(i, g.Apply(Def{
					Name: fmt.Sprintf("ConcatSlice{axis=%d [%d:%d] of %v}", axis, j.off[i]/j.inner, (j.off[i]+j.block[i])/j.inner, out),
					In:   []tensor.Shape{out},
					Out:  in[i],
					F32:  sliceKernel[float32](j, i),
					F64:  sliceKernel[float64](j, i),
				}, g.OutputGrad()))
			}
		},
	}.Apply(xs...)
}

// mergeInputs checks that there are two or more non-nil inputs of one
// dtype.
func mergeInputs(what string, xs []*G.Node) error {
	if len(xs) < 2 {
		return errors.Errorf("%s: %d inputs, want 2 or more", what, len(xs))
	}
	for i, x := range xs {
		switch {
		case x == nil:
			return errors.Errorf("%s: input %d is nil", what, i)
		case x.Dtype() != xs[0].Dtype():
			return errors.Errorf("%s: input %d is %v %v, input 0 is %v %v", what, i, x.Dtype(), x.Shape(), xs[0].Dtype(), xs[0].Shape())
		}
	}
	return nil
}

// sameDims reports whether a and b have the same rank and dimensions
// (tensor.Shape.Eq also equates vectors of different ranks).
func sameDims(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// addKernel returns a kernel setting out = f(in[0] + in[1] + …) on every
// core. The loop body is made once, so a call allocates nothing.
func addKernel[T Float](f Activation) func(out []T, in [][]T) {
	var o []T
	var xs [][]T
	body := func(_, lo, hi int) {
		dst := o[lo:hi]
		vec.Add(dst, xs[0][lo:hi], xs[1][lo:hi])
		for _, x := range xs[2:] {
			vec.Add(dst, dst, x[lo:hi])
		}
		if f != Linear {
			activateSerial(f, dst, dst)
		}
	}
	return func(out []T, in [][]T) {
		o, xs = out, in
		parallelFor(len(out), ewGrain, body)
		o, xs = nil, nil
	}
}

// join is the layout of a concatenation, seen as outer rows (the product
// of the dimensions before the axis): row r of input i is the block of
// block[i] elements at r·block[i], and it goes to r·row + off[i] of the
// output.
type join struct {
	outer, inner, row int
	block, off        []int
}

func newJoin(axis int, in []tensor.Shape, out tensor.Shape) *join {
	j := &join{outer: 1, inner: 1}
	for _, d := range out[:axis] {
		j.outer *= d
	}
	for _, d := range out[axis+1:] {
		j.inner *= d
	}
	for _, s := range in {
		j.off = append(j.off, j.row)
		j.block = append(j.block, s[axis]*j.inner)
		j.row += s[axis] * j.inner
	}
	return j
}

// grain is the number of rows a chunk of work copies at least.
func (j *join) grain() int { return max(1, ewGrain/j.row) }

// concatKernel returns a kernel copying each input's rows into the
// output's, on every core, allocating nothing.
func concatKernel[T Float](j *join) func(out []T, in [][]T) {
	var o []T
	var xs [][]T
	body := func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			dst := o[r*j.row : (r+1)*j.row]
			for i, x := range xs {
				copy(dst[j.off[i]:j.off[i]+j.block[i]], x[r*j.block[i]:(r+1)*j.block[i]])
			}
		}
	}
	return func(out []T, in [][]T) {
		o, xs = out, in
		parallelFor(j.outer, j.grain(), body)
		o, xs = nil, nil
	}
}

// sliceKernel returns a kernel copying input i's part of the output's
// rows, its gradient, out of in[0], on every core, allocating nothing.
func sliceKernel[T Float](j *join, i int) func(out []T, in [][]T) {
	var o, src []T
	b, off := j.block[i], j.off[i]
	body := func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(o[r*b:(r+1)*b], src[r*j.row+off:r*j.row+off+b])
		}
	}
	return func(out []T, in [][]T) {
		o, src = out, in[0]
		parallelFor(j.outer, j.grain(), body)
		o, src = nil, nil
	}
}
