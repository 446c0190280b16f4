// Package cnn builds convolutional networks: stacks of convolution and
// pooling stages followed by dense layers, and the lecture's networks
// (SeedCNN, LeNet, and a LeNet that downsamples by strided convolution
// instead of pooling).
package cnn

import (
	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// Conv is one convolution stage: a square convolution, the activation, and
// optionally max-pooling.
type Conv struct {
	Maps       int // feature maps (filters)
	Kernel     int // kernel size (square)
	Stride     int // convolution stride; 0 means 1
	Pad        int // zero padding on each side
	Pool       int // max-pooling window after the activation; 0: no pooling
	PoolStride int // pooling stride; 0 means Pool (non-overlapping windows)
}

// Spec describes a convolutional classifier.
type Spec struct {
	Input   graph.Shape // per-sample image shape (C, H, W); (3, H, W) for RGB
	Convs   []Conv      // convolution stages, in order
	Dense   []int       // widths of the hidden dense layers after flattening
	Classes int         // outputs (logits)
	Act     graph.Layer // activation after each convolution and hidden dense layer; default graph.ReLU{}
}

// Layers returns the spec as a layer sequence. Weights feeding the
// activation are drawn as graph.InitBefore(Act) says (He-uniform before a
// ReLU); the output layer's Glorot-uniform.
func (s Spec) Layers() graph.Sequential {
	act := s.Act
	if act == nil {
		act = graph.ReLU{}
	}
	var ls graph.Sequential
	for _, c := range s.Convs {
		stride := c.Stride
		if stride == 0 {
			stride = 1
		}
		ls = append(ls, graph.Conv2D{Maps: c.Maps, Window: ops.Square(c.Kernel, stride, c.Pad), Init: graph.InitBefore(act)}, act)
		if c.Pool > 0 {
			ps := c.PoolStride
			if ps == 0 {
				ps = c.Pool
			}
			ls = append(ls, graph.MaxPool2D{Window: ops.Square(c.Pool, ps, 0)})
		}
	}
	ls = append(ls, graph.Flatten{})
	for _, w := range s.Dense {
		ls = append(ls, graph.Dense{Units: w, Init: graph.InitBefore(act)}, act)
	}
	return append(ls, graph.Dense{Units: s.Classes})
}

// Model declares the network; shape errors name the offending layer.
func (s Spec) Model(opts ...graph.Option) (*graph.Model, error) {
	if len(s.Input) != 3 {
		return nil, errors.Errorf("cnn: input shape %v, want (C, H, W)", s.Input)
	}
	m, err := s.Layers().Declare(s.Input, opts...)
	return m, errors.Wrap(err, "cnn")
}

// SeedCNN is the lecture's network: a 28×28 image, a 5×5 convolution with 3
// feature maps (24×24×3), 2×2 max-pooling with stride 2 (12×12×3), and a
// dense layer of 10 outputs. It has 75 shared convolution weights.
var SeedCNN = Spec{
	Input:   graph.Shape{1, 28, 28},
	Convs:   []Conv{{Maps: 3, Kernel: 5, Pool: 2}},
	Classes: 10,
}

// LeNet is conv 5×5×20 – ReLU – max-pool 2/2 – conv 5×5×50 – ReLU –
// max-pool 2/2 – dense 500 ReLU – dense 10, on 1×28×28 images (431,080
// parameters).
var LeNet = Spec{
	Input:   graph.Shape{1, 28, 28},
	Convs:   []Conv{{Maps: 20, Kernel: 5, Pool: 2}, {Maps: 50, Kernel: 5, Pool: 2}},
	Dense:   []int{500},
	Classes: 10,
}

// StridedLeNet replaces LeNet's pooling by stride-2 convolutions, as the
// lecture mentions: conv 5×5×20 stride 2 pad 2 (14×14) – ReLU – conv 5×5×50
// stride 2 pad 2 (7×7) – ReLU – dense 500 ReLU – dense 10.
var StridedLeNet = Spec{
	Input:   graph.Shape{1, 28, 28},
	Convs:   []Conv{{Maps: 20, Kernel: 5, Stride: 2, Pad: 2}, {Maps: 50, Kernel: 5, Stride: 2, Pad: 2}},
	Dense:   []int{500},
	Classes: 10,
}
