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
	return reshapeDef(from, shape).Apply(x)
}

func reshapeDef(from, to tensor.Shape) Def {
	return Def{
		Name: fmt.Sprintf("Reshape{%v→%v}", from, to),
		In:   []tensor.Shape{from},
		Out:  to,
		F32:  func(o []float32, a [][]float32) { copy(o, a[0]) },
		F64:  func(o []float64, a [][]float64) { copy(o, a[0]) },
		Grad: func(g *Grad) { g.Set(0, g.Apply(reshapeDef(to, from), g.OutputGrad())) },
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
