package main

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// siamese declares the two-input model: both images go through tower (one
// set of parameters, called twice) and the output is the distance between
// their embeddings, shape (1) per pair.
func siamese(tower *graph.Model) (*graph.Model, error) {
	in := tower.Inputs()[0]
	return graph.Func([]graph.Shape{in, in}, func(s *graph.Scope, x []*graph.Value) []*graph.Value {
		a := s.Call(tower, x[0])[0]
		b := s.Call(tower, x[1])[0]
		return []*graph.Value{s.Apply(distance{}, a, b)}
	}, graph.WithName("siamese"), graph.WithDtype(tower.Dtype()))
}

// distanceEpsilon is added under the square root of the distance, so that
// its gradient stays finite for identical embeddings.
const distanceEpsilon = 1e-6

// distance is a layer without parameters: the Euclidean distance
// d = √(Σ (a − b)² + ε) between two embeddings of shape (E), as shape (1).
type distance struct{}

func (distance) Kind() string { return "distance" }

func (distance) Declare(in []graph.Shape) (graph.Shape, []graph.ParamSpec, error) {
	if len(in) != 2 || len(in[0]) != 1 || !in[0].Eq(in[1]) {
		return nil, nil, errors.Errorf("takes two vectors of one shape, given %v", in)
	}
	return graph.Shape{1}, nil, nil
}

// Build applies the distance op to a and b, both (N, E): the output is
// (N, 1); ∂L/∂a = ∂L/∂d · (a − b)/d and ∂L/∂b = −∂L/∂a.
func (distance) Build(_ *graph.Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	e := in[0].Shape()
	d := tensor.Shape{e[0], 1}
	grad := func(sign float64) ops.Def {
		return ops.Def{
			Name: fmt.Sprintf("DistanceGrad{%v, %g}", e, sign),
			In:   []tensor.Shape{e, e, d, d}, // a, b, d, ∂L/∂d
			Out:  e,
			F32:  distanceGrad[float32](e[1], sign),
			F64:  distanceGrad[float64](e[1], sign),
		}
	}
	return ops.Def{
		Name: fmt.Sprintf("Distance{%v}", e),
		In:   []tensor.Shape{e, e},
		Out:  d,
		F32:  distanceOf[float32](e[1]),
		F64:  distanceOf[float64](e[1]),
		Grad: func(g *ops.Grad) {
			args := []ops.Ref{g.Input(0), g.Input(1), g.Output(), g.OutputGrad()}
			g.Set(0, g.Apply(grad(1), args...))
			g.Set(1, g.Apply(grad(-1), args...))
		},
	}.Apply(in[0], in[1])
}

// distanceOf returns the kernel d[n] = √(Σ_k (a[n,k] − b[n,k])² + ε) for
// rows of width w.
func distanceOf[T ops.Float](w int) func(d []T, in [][]T) {
	return func(d []T, in [][]T) {
		a, b := in[0], in[1]
		for n := range d {
			var s float64
			for k := n * w; k < (n+1)*w; k++ {
				diff := float64(a[k]) - float64(b[k])
				s += diff * diff
			}
			d[n] = T(math.Sqrt(s + distanceEpsilon))
		}
	}
}

// distanceGrad returns the kernel da = sign · ∂L/∂d · (a − b)/d for rows of
// width w, in = (a, b, d, ∂L/∂d).
func distanceGrad[T ops.Float](w int, sign float64) func(da []T, in [][]T) {
	return func(da []T, in [][]T) {
		a, b, d, dd := in[0], in[1], in[2], in[3]
		for n := range d {
			c := sign * float64(dd[n]) / float64(d[n])
			for k := n * w; k < (n+1)*w; k++ {
				da[k] = T(c * (float64(a[k]) - float64(b[k])))
			}
		}
	}
}

// contrastive is the loss of Hadsell, Chopra & LeCun (2006) on the model's
// distances d and the pairs' targets y (1: same digit, 0: not), both (N, 1):
//
//	L = (1/N) Σ y·d² + (1 − y)·max(0, margin − d)²
//
// It is a train.Loss built from one op of its own, whose gradient is
// ∂L/∂d = (2/N)·(y·d − (1 − y)·max(0, margin − d)).
type contrastive struct{ margin float64 }

func (c contrastive) String() string { return fmt.Sprintf("contrastive(margin %g)", c.margin) }

func (c contrastive) Build(b *graph.Built, targets G.Nodes) (*G.Node, error) {
	if len(b.Outputs) != 1 || len(targets) != 1 {
		return nil, errors.Errorf("contrastive loss: one distance and one target, given %d and %d", len(b.Outputs), len(targets))
	}
	s := b.Outputs[0].Shape()
	if len(s) != 2 || s[1] != 1 || !targets[0].Shape().Eq(s) {
		return nil, errors.Errorf("contrastive loss: distances %v and targets %v, want both (N, 1)", s, targets[0].Shape())
	}
	return ops.Def{
		Name: fmt.Sprintf("Contrastive{%v, %g}", s, c.margin),
		In:   []tensor.Shape{s, s},
		F32:  func(l []float32, in [][]float32) { l[0] = float32(contrastiveLoss(c.margin, in[0], in[1])) },
		F64:  func(l []float64, in [][]float64) { l[0] = contrastiveLoss(c.margin, in[0], in[1]) },
		Grad: func(g *ops.Grad) {
			g.Set(0, g.Apply(ops.Def{
				Name: fmt.Sprintf("ContrastiveGrad{%v, %g}", s, c.margin),
				In:   []tensor.Shape{s, s, {}}, // d, y, ∂L/∂L
				Out:  s,
				F32:  func(dd []float32, in [][]float32) { contrastiveGrad(c.margin, dd, in[0], in[1], float64(in[2][0])) },
				F64:  func(dd []float64, in [][]float64) { contrastiveGrad(c.margin, dd, in[0], in[1], in[2][0]) },
			}, g.Input(0), g.Input(1), g.OutputGrad()))
		},
	}.Apply(b.Outputs[0], targets[0])
}

// contrastiveLoss returns (1/N) Σ y·d² + (1 − y)·max(0, margin − d)².
func contrastiveLoss[T ops.Float](margin float64, d, y []T) float64 {
	var s float64
	for i := range d {
		di, yi := float64(d[i]), float64(y[i])
		gap := math.Max(0, margin-di)
		s += yi*di*di + (1-yi)*gap*gap
	}
	return s / float64(len(d))
}

// contrastiveGrad sets dd = g·(2/N)·(y·d − (1 − y)·max(0, margin − d)).
func contrastiveGrad[T ops.Float](margin float64, dd, d, y []T, g float64) {
	n := float64(len(d))
	for i := range d {
		di, yi := float64(d[i]), float64(y[i])
		dd[i] = T(g * 2 / n * (yi*di - (1-yi)*math.Max(0, margin-di)))
	}
}
