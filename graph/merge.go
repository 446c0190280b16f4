package graph

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/ops"
)

// Add is the elementwise sum of two or more inputs of one shape: the
// residual connection x + f(x) is Add applied to x and f(x). An activation
// layer right after it is fused into the same op.
type Add struct{ Name string }

func (Add) Kind() string { return "add" }

func (Add) Declare(in []Shape) (Shape, []ParamSpec, error) {
	if len(in) < 2 {
		return nil, nil, errors.Errorf("adds two or more inputs, given %d", len(in))
	}
	for i, s := range in[1:] {
		if !s.Eq(in[0]) {
			return nil, nil, errors.Errorf("input %d has shape %v, input 0 has %v: Add needs one shape", i+1, s, in[0])
		}
	}
	return in[0].Clone(), nil, nil
}

func (a Add) Build(ctx *Context, in []*G.Node, p []*G.Node) (*G.Node, error) {
	return a.buildAct(ctx, in, p, ops.Linear)
}

func (Add) buildAct(_ *Context, in []*G.Node, _ []*G.Node, f ops.Activation) (*G.Node, error) {
	return ops.AddAct(f, in...)
}

// Concat joins two or more inputs along a per-sample axis: Axis 0 (the
// default) stacks the channels of images (C, H, W) or the features of
// vectors; every other dimension must agree.
type Concat struct {
	Name string
	Axis int // per-sample axis, from 0
}

func (Concat) Kind() string { return "concat" }

func (c Concat) Declare(in []Shape) (Shape, []ParamSpec, error) {
	if len(in) < 2 {
		return nil, nil, errors.Errorf("joins two or more inputs, given %d", len(in))
	}
	if c.Axis < 0 || c.Axis >= len(in[0]) {
		return nil, nil, errors.Errorf("Axis = %d, inputs have %d dimensions", c.Axis, len(in[0]))
	}
	out := in[0].Clone()
	for i, s := range in[1:] {
		if len(s) != len(out) {
			return nil, nil, errors.Errorf("input %d has shape %v, input 0 has %v", i+1, s, in[0])
		}
		for d := range s {
			if d != c.Axis && s[d] != in[0][d] {
				return nil, nil, errors.Errorf("input %d has shape %v, input 0 has %v: only dimension %d may differ", i+1, s, in[0], c.Axis)
			}
		}
		out[c.Axis] += s[c.Axis]
	}
	return out, nil, nil
}

func (c Concat) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Concat(c.Axis+1, in...)
}

func (l Add) LayerName() string    { return l.Name }
func (l Concat) LayerName() string { return l.Name }
