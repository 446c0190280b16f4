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
		return denseDef(xs[0], xs[1], ws[1], false, f).Apply(x, w)
	}
	if bs := b.Shape(); !bs.Eq(tensor.Shape{ws[1]}) {
		return nil, errors.Errorf("ops.Dense: bias has shape %v, want (%d)", bs, ws[1])
	}
	return denseDef(xs[0], xs[1], ws[1], true, f).Apply(x, w, b)
}

func denseDef(n, in, out int, bias bool, f Activation) Def {
	shapes := []tensor.Shape{{n, in}, {in, out}}
	if bias {
		shapes = append(shapes, tensor.Shape{out})
	}
	return Def{
		Name: fmt.Sprintf("Dense{x(%d,%d) w(%d,%d) bias=%t %v}", n, in, in, out, bias, f),
		In:   shapes,
		Out:  tensor.Shape{n, out},
		F32:  func(o []float32, a [][]float32) { denseForward(n, in, out, f, a, o) },
		F64:  func(o []float64, a [][]float64) { denseForward(n, in, out, f, a, o) },
		Grad: func(g *Grad) {
			dz := preActGrad(g, f)
			g.Set(0, g.Apply(denseInputGradDef(n, in, out), dz, g.Input(1)))
			g.Set(1, g.Apply(denseWeightGradDef(n, in, out), g.Input(0), dz))
			if bias {
				g.Set(2, g.Apply(channelSumDef(tensor.Shape{n, out}), dz))
			}
		},
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

// denseInputGradDef computes dx (N, in) = dz (N, out) · wᵀ.
func denseInputGradDef(n, in, out int) Def {
	return Def{
		Name: fmt.Sprintf("DenseInputGrad{dz(%d,%d) w(%d,%d)}", n, out, in, out),
		In:   []tensor.Shape{{n, out}, {in, out}},
		Out:  tensor.Shape{n, in},
		F32:  func(o []float32, a [][]float32) { gemm(false, true, n, in, out, 1, a[0], out, a[1], out, 0, o, in) },
		F64:  func(o []float64, a [][]float64) { gemm(false, true, n, in, out, 1, a[0], out, a[1], out, 0, o, in) },
	}
}

// denseWeightGradDef computes dw (in, out) = xᵀ · dz.
func denseWeightGradDef(n, in, out int) Def {
	return Def{
		Name: fmt.Sprintf("DenseWeightGrad{x(%d,%d) dz(%d,%d)}", n, in, n, out),
		In:   []tensor.Shape{{n, in}, {n, out}},
		Out:  tensor.Shape{in, out},
		F32:  func(o []float32, a [][]float32) { gemm(true, false, in, out, n, 1, a[0], in, a[1], out, 0, o, out) },
		F64:  func(o []float64, a [][]float64) { gemm(true, false, in, out, n, 1, a[0], in, a[1], out, 0, o, out) },
	}
}
