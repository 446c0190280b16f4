package main

// This file is the guide to extending Retina with your own op: a new
// activation, swish(x) = x·σ(x), with its gradient, written outside
// package ops exactly as a user would. An ops.Def gives the op's name
// (with every parameter, shapes included: Gorgonia merges nodes by it),
// its input and output shapes, a kernel per dtype, and its gradient as a
// program of further Defs; Apply makes it a Gorgonia op with all the
// interfaces Gorgonia's machines use (Op, SDOp, ADOp, UsePreallocDoer) and
// an output buffer of its own. swish_test.go checks it with ops/opcheck,
// and a layer type (swishLayer) puts it in a model.

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// Swish returns swish(x) = x·σ(x) elementwise, for x of any shape; its
// gradient is ∂L/∂x = ∂L/∂y ⊙ swish′(x).
func Swish(x *G.Node) (*G.Node, error) {
	s := x.Shape()
	return ops.Def{
		Name: fmt.Sprintf("Swish%v", s),
		In:   []tensor.Shape{s},
		Out:  s,
		F32:  swish[float32],
		F64:  swish[float64],
		Grad: func(g *ops.Grad) {
			g.Set(0, g.Apply(ops.Def{
				Name: fmt.Sprintf("SwishGrad%v", s),
				In:   []tensor.Shape{s, s}, // x, ∂L/∂y
				Out:  s,
				F32:  swishGrad[float32],
				F64:  swishGrad[float64],
			}, g.Input(0), g.OutputGrad()))
		},
	}.Apply(x)
}

// swish sets y = x·σ(x) for x = in[0].
func swish[T ops.Float](y []T, in [][]T) {
	for i, x := range in[0] {
		y[i] = T(float64(x) / (1 + math.Exp(-float64(x))))
	}
}

// swishGrad sets dx = dy ⊙ swish′(x) = dy ⊙ σ(x)·(1 + x·(1 − σ(x))) for
// in = (x, dy).
func swishGrad[T ops.Float](dx []T, in [][]T) {
	for i, x := range in[0] {
		s := 1 / (1 + math.Exp(-float64(x)))
		dx[i] = in[1][i] * T(s*(1+float64(x)*(1-s)))
	}
}

// swishLayer makes the op a graph layer, so models can use it like
// graph.ReLU{}.
type swishLayer struct{}

func (swishLayer) Kind() string { return "swish" }
func (swishLayer) Declare(in []graph.Shape) (graph.Shape, []graph.ParamSpec, error) {
	if len(in) != 1 {
		return nil, nil, errors.Errorf("takes one input, given %d", len(in))
	}
	return in[0], nil, nil
}
func (swishLayer) Build(_ *graph.Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return Swish(in[0])
}
