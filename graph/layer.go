package graph

import (
	"github.com/pkg/errors"
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
// the Model holds their parameters. Most layers take one input; Add and
// Concat take several.
type Layer interface {
	// Kind is the layer's type name, used for default names: a scope's
	// second "conv" layer is called conv2.
	Kind() string
	// Declare checks the per-sample input shapes and returns the output
	// shape and the parameters the layer needs (nil for none).
	Declare(in []Shape) (out Shape, params []ParamSpec, err error)
	// Build applies the layer to its inputs, of shapes (N, in...), given its
	// parameter nodes in the order Declare listed them.
	Build(ctx *Context, in []*G.Node, params []*G.Node) (*G.Node, error)
}

// MACer is implemented by layers that multiply: MACs returns the
// multiply-accumulates of one forward pass of one sample, given the layer's
// first input shape.
type MACer interface {
	MACs(in Shape) int64
}

// Init says how a layer's weights are drawn (biases always start at zero).
type Init int

const (
	// GlorotUniform draws from U(±√(6/(fan_in+fan_out))) (Glorot & Bengio
	// 2010), for layers feeding a linear, sigmoid or tanh unit. The default.
	GlorotUniform Init = iota
	// HeUniform draws from U(±√(6/fan_in)) (He et al. 2015), for layers
	// feeding a ReLU-family activation.
	HeUniform
)

func (i Init) String() string {
	switch i {
	case HeUniform:
		return "he-uniform"
	case Zeros:
		return "zeros"
	case Ones:
		return "ones"
	}
	return "glorot-uniform"
}

// ParamSpec declares one tensor of a layer: a learnable parameter, or,
// with State set, a tensor of model state.
type ParamSpec struct {
	Name  string // suffix after "<layer>/", e.g. "W" or "b"
	Shape Shape  // full shape of the tensor
	Bias  bool   // biases start at zero; weights are drawn at random
	Init  Init   // how weights are drawn (Zeros or Ones: filled)
	// State marks a tensor that is not learnt but updated by the layer
	// itself as it trains, such as batch normalisation's running
	// statistics: no optimizer sees it (Model.State, not Model.Params),
	// checkpoints save it, and evaluation uses it.
	State  bool
	FanIn  int // inputs feeding each output unit (weights only)
	FanOut int // outputs each input feeds (weights only)
}

// Context is what Build knows about the layer being built.
type Context struct {
	Mode  Mode
	Index int    // position of the layer in the model, from 0
	Name  string // the layer's path, e.g. "block2/conv1"
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

// one returns the single input shape of a one-input layer.
func one(in []Shape) (Shape, error) {
	if len(in) != 1 {
		return nil, errors.Errorf("takes one input, given %d", len(in))
	}
	return in[0], nil
}

// InitBefore returns the initialisation for weights that feed the
// activation layer act: HeUniform before the ReLU family (ReLU,
// LeakyReLU, ELU, GELU and SiLU), GlorotUniform otherwise (Linear,
// Sigmoid, Tanh, Softplus, …).
func InitBefore(act Layer) Init {
	switch act.(type) {
	case ReLU, LeakyReLU, ELU, GELU, SiLU:
		return HeUniform
	}
	return GlorotUniform
}
