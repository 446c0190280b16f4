package graph

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// Shape is a per-sample shape, without the batch dimension: (C, H, W) for
// images, (features) for vectors.
type Shape = tensor.Shape

// Mode says whether a graph is built for training or for evaluation. Dropout
// is active only in Train mode.
type Mode int

const (
	Eval  Mode = iota // inference: dropout is the identity
	Train             // training: dropout drops
)

// A Layer is one stage of a model. Layers are values describing the stage;
// the Model holds their parameters.
type Layer interface {
	// Kind is the layer's type name, used for default names: a model's
	// second "conv" layer is called conv2.
	Kind() string
	// Declare checks the per-sample input shape and returns the output shape
	// and the parameters the layer needs (nil for none).
	Declare(in Shape) (out Shape, params []ParamSpec, err error)
	// Build applies the layer to x, whose shape is (N, in...), given its
	// parameter nodes in the order Declare listed them.
	Build(ctx *Context, x *G.Node, params []*G.Node) (*G.Node, error)
}

// MACer is implemented by layers that multiply: MACs returns the
// multiply-accumulates of one forward pass of one sample.
type MACer interface {
	MACs(in Shape) int64
}

// ParamSpec declares one learnable tensor of a layer.
type ParamSpec struct {
	Name   string // suffix after "<layer>/", e.g. "W" or "b"
	Shape  Shape  // full shape of the tensor
	Bias   bool   // biases start at zero; weights are drawn at random
	FanIn  int    // inputs feeding each output unit (weights only)
	FanOut int    // outputs each input feeds (weights only)
}

// Context is what Build knows about the layer being built.
type Context struct {
	Mode  Mode
	Index int    // position of the layer in the model, from 0
	Name  string // resolved layer name, e.g. "conv1"
	built *Built
}

// RandomState registers the random state of an op (such as dropout's) so
// that Built.SetRandom reseeds it for each training step. Layers that draw
// random numbers call it from Build.
func (c *Context) RandomState(st *ops.DropoutState) {
	if c.built != nil {
		c.built.random = append(c.built.random, st)
		c.built.randomLayer = append(c.built.randomLayer, c.Index)
	}
}
