package ops

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Reshape returns x with a new shape of the same total size, copying the data
// in row-major order into the op's own buffer. Flatten is Reshape to
// (N, everything else).
func Reshape(x *G.Node, shape tensor.Shape) (*G.Node, error) {
	from := x.Shape()
	if shape.TotalSize() != from.TotalSize() || len(shape) == 0 {
		return nil, errors.Errorf("ops.Reshape: cannot reshape %v (%d elements) to %v (%d elements)",
			from, from.TotalSize(), shape, shape.TotalSize())
	}
	return G.ApplyOp(newReshapeOp(from, shape), x)
}

func newReshapeOp(from, to tensor.Shape) *kernelOp {
	return &kernelOp{
		name: fmt.Sprintf("Reshape{%v→%v}", from, to),
		in:   []tensor.Shape{from.Clone()},
		out:  to.Clone(),
		f32:  func(o []float32, a [][]float32, _ *float64) { copy(o, a[0]) },
		f64:  func(o []float64, a [][]float64, _ *float64) { copy(o, a[0]) },
		grad: []gradStep{{newOp: func() *kernelOp { return newReshapeOp(to, from) }, args: []int{argGrad}, input: 0}},
		wrt:  []bool{true},
	}
}

// Flatten returns x (N, …) reshaped to (N, product of the rest).
func Flatten(x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 2 {
		return nil, errors.Errorf("ops.Flatten: input has shape %v, want at least (N, features)", s)
	}
	return Reshape(x, tensor.Shape{s[0], s.TotalSize() / s[0]})
}
