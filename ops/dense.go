package ops

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Dense returns the fully connected layer y = f(x·w + b), fused into one op:
// x is (N, in), w is (in, out), b is (out) or nil, and y is (N, out). f is
// applied in place after the bias, so the layer costs one matrix product and
// one pass over y, and its gradient one product per input plus one pass.
func Dense(x, w, b *G.Node, f Activation) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	switch {
	case len(xs) != 2:
		return nil, errors.Errorf("ops.Dense: input has shape %v, want (N, in)", xs)
	case len(ws) != 2:
		return nil, errors.Errorf("ops.Dense: weights have shape %v, want (in, out)", ws)
	case xs[1] != ws[0]:
		return nil, errors.Errorf("ops.Dense: input has %d features %v but weights expect %d %v", xs[1], xs, ws[0], ws)
	case !f.valid():
		return nil, errors.Errorf("ops.Dense: unknown activation %d", int(f))
	}
	if b == nil {
		return G.ApplyOp(newDenseOp(xs[0], xs[1], ws[1], false, f), x, w)
	}
	if bs := b.Shape(); !bs.Eq(tensor.Shape{ws[1]}) {
		return nil, errors.Errorf("ops.Dense: bias has shape %v, want (%d)", bs, ws[1])
	}
	return G.ApplyOp(newDenseOp(xs[0], xs[1], ws[1], true, f), x, w, b)
}

func newDenseOp(n, in, out int, bias bool, f Activation) *kernelOp {
	shapes := []tensor.Shape{{n, in}, {in, out}}
	if bias {
		shapes = append(shapes, tensor.Shape{out})
	}
	y := tensor.Shape{n, out}
	dz := argGrad
	var grad []gradStep
	if f != Linear {
		grad = append(grad, gradStep{newOp: func() *kernelOp { return newActGradOp(f, y) }, args: []int{argOut, argGrad}, input: -1})
		dz = argStep(0)
	}
	grad = append(grad,
		gradStep{newOp: func() *kernelOp { return newDenseInputGradOp(n, in, out) }, args: []int{dz, 1}, input: 0},
		gradStep{newOp: func() *kernelOp { return newDenseWeightGradOp(n, in, out) }, args: []int{0, dz}, input: 1},
	)
	wrt := []bool{true, true}
	if bias {
		grad = append(grad, gradStep{newOp: func() *kernelOp { return newChannelSumOp(y) }, args: []int{dz}, input: 2})
		wrt = append(wrt, true)
	}
	return &kernelOp{
		name: fmt.Sprintf("Dense{x(%d,%d) w(%d,%d) bias=%t %v}", n, in, in, out, bias, f),
		in:   shapes,
		out:  y,
		f32:  func(o []float32, a [][]float32, _ *float64) { denseForward(n, in, out, f, a, o) },
		f64:  func(o []float64, a [][]float64, _ *float64) { denseForward(n, in, out, f, a, o) },
		grad: grad,
		wrt:  wrt,
	}
}

// denseForward sets y = f(x·w + b); a holds x, w and optionally b.
func denseForward[T Float](n, in, out int, f Activation, a [][]T, y []T) {
	var beta T
	if len(a) == 3 {
		for r := 0; r < n; r++ {
			copy(y[r*out:(r+1)*out], a[2])
		}
		beta = 1
	}
	gemm(false, false, n, out, in, 1, a[0], in, a[1], out, beta, y, out)
	if f != Linear {
		activate(f, y, y)
	}
}

// newDenseInputGradOp computes dx (N, in) = dz (N, out) · wᵀ.
func newDenseInputGradOp(n, in, out int) *kernelOp {
	return &kernelOp{
		name: fmt.Sprintf("DenseInputGrad{dz(%d,%d) w(%d,%d)}", n, out, in, out),
		in:   []tensor.Shape{{n, out}, {in, out}},
		out:  tensor.Shape{n, in},
		f32: func(o []float32, a [][]float32, _ *float64) {
			gemm(false, true, n, in, out, 1, a[0], out, a[1], out, 0, o, in)
		},
		f64: func(o []float64, a [][]float64, _ *float64) {
			gemm(false, true, n, in, out, 1, a[0], out, a[1], out, 0, o, in)
		},
	}
}

// newDenseWeightGradOp computes dw (in, out) = xᵀ · dz.
func newDenseWeightGradOp(n, in, out int) *kernelOp {
	return &kernelOp{
		name: fmt.Sprintf("DenseWeightGrad{x(%d,%d) dz(%d,%d)}", n, in, n, out),
		in:   []tensor.Shape{{n, in}, {n, out}},
		out:  tensor.Shape{in, out},
		f32: func(o []float32, a [][]float32, _ *float64) {
			gemm(true, false, in, out, n, 1, a[0], in, a[1], out, 0, o, out)
		},
		f64: func(o []float64, a [][]float64, _ *float64) {
			gemm(true, false, in, out, n, 1, a[0], in, a[1], out, 0, o, out)
		},
	}
}
