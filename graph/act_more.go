package graph

import (
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/ops"
)

// LeakyReLU is the layer x where x > 0 and Slope·x elsewhere, elementwise
// (ops.LeakyReLU; torch.nn.LeakyReLU). Slope 0, the zero value, means
// PyTorch's default 0.01: for a slope of zero use ReLU.
type LeakyReLU struct {
	Name  string
	Slope float64 // negative-side slope, any finite number; 0 means 0.01
}

// ELU is the layer x where x > 0 and Alpha·(eˣ − 1) elsewhere, elementwise
// (ops.ELU; torch.nn.ELU). Alpha 0, the zero value, means PyTorch's
// default 1.
type ELU struct {
	Name  string
	Alpha float64 // any finite number; 0 means 1
}

// GELU is the layer x·Φ(x), elementwise, in its exact erf form (ops.GELU;
// torch.nn.GELU()).
type GELU struct{ Name string }

// SiLU is the layer x·σ(x) (swish), elementwise (ops.SiLU; torch.nn.SiLU).
type SiLU struct{ Name string }

// Softplus is the layer log(1 + eˣ), elementwise, and x where x > 20
// (ops.Softplus; torch.nn.Softplus() with beta 1, threshold 20).
type Softplus struct{ Name string }

// Default parameters, PyTorch's.
const (
	defaultLeakySlope = 0.01
	defaultELUAlpha   = 1.0
)

func (LeakyReLU) Kind() string { return "leakyrelu" }
func (ELU) Kind() string       { return "elu" }
func (GELU) Kind() string      { return "gelu" }
func (SiLU) Kind() string      { return "silu" }
func (Softplus) Kind() string  { return "softplus" }

// slope returns the slope the layer applies: Slope, or 0.01 for 0.
func (l LeakyReLU) slope() float64 {
	if l.Slope == 0 {
		return defaultLeakySlope
	}
	return l.Slope
}

// alpha returns the α the layer applies: Alpha, or 1 for 0.
func (l ELU) alpha() float64 {
	if l.Alpha == 0 {
		return defaultELUAlpha
	}
	return l.Alpha
}

func (l LeakyReLU) Declare(in []Shape) (Shape, []ParamSpec, error) {
	if math.IsNaN(l.Slope) || math.IsInf(l.Slope, 0) {
		return nil, nil, errors.Errorf("Slope = %v, want a finite number", l.Slope)
	}
	return elementwiseShape(in)
}
func (l ELU) Declare(in []Shape) (Shape, []ParamSpec, error) {
	if math.IsNaN(l.Alpha) || math.IsInf(l.Alpha, 0) {
		return nil, nil, errors.Errorf("Alpha = %v, want a finite number", l.Alpha)
	}
	return elementwiseShape(in)
}
func (GELU) Declare(in []Shape) (Shape, []ParamSpec, error)     { return elementwiseShape(in) }
func (SiLU) Declare(in []Shape) (Shape, []ParamSpec, error)     { return elementwiseShape(in) }
func (Softplus) Declare(in []Shape) (Shape, []ParamSpec, error) { return elementwiseShape(in) }

func (l LeakyReLU) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.LeakyReLU(in[0], l.slope())
}
func (l ELU) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.ELU(in[0], l.alpha())
}
func (GELU) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.GELU(in[0])
}
func (SiLU) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.SiLU(in[0])
}
func (Softplus) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Softplus(in[0])
}

func (l LeakyReLU) LayerName() string { return l.Name }
func (l ELU) LayerName() string       { return l.Name }
func (l GELU) LayerName() string      { return l.Name }
func (l SiLU) LayerName() string      { return l.Name }
func (l Softplus) LayerName() string  { return l.Name }
