package cnn

import (
	"fmt"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// MaxResNetSize bounds ResNet's width and blocks: at width 1024 each 3×3
// convolution of the last stage already holds 151M weights.
const MaxResNetSize = 1024

// ResNet declares a small residual network (He et al. 2016, "Deep residual
// learning for image recognition", scaled down to 28×28 digits) for
// (1, 28, 28) images and 10 classes, named "resnet" unless an option names
// it otherwise:
//
//	stem:    3×3 conv of width maps (no bias) – batch norm – ReLU      (width, 28, 28)
//	stage1:  blocks basic blocks of width maps                          (width, 28, 28)
//	stage2:  blocks basic blocks of 2·width maps, the first of stride 2 (2·width, 14, 14)
//	stage3:  blocks basic blocks of 4·width maps, the first of stride 2 (4·width, 7, 7)
//	gap1:    global average pooling                                     (4·width)
//	dense1:  dense layer of 10 logits                                   (10)
//
// A basic block is relu(x + bn(conv(relu(bn(conv(x)))))) with 3×3
// convolutions (padding 1); where the shape changes (the first block of
// stages 2 and 3), the shortcut is bn(conv1×1(x)) of stride 2 instead of
// x. Layers are named stem/conv1, stage2/block1/conv3 (that shortcut), …;
// convolutions feeding batch norm have no bias; weights are He-uniform,
// except the shortcuts' and the dense layer's, Glorot-uniform. Width 16
// and 2 blocks (examples/resnet's defaults) give 174,400 weights and 570
// biases, plus the batch norms' running statistics (Model.State).
//
// width and blocks must be 1 to MaxResNetSize.
func ResNet(width, blocks int, opts ...graph.Option) (*graph.Model, error) {
	if width < 1 || width > MaxResNetSize || blocks < 1 || blocks > MaxResNetSize {
		return nil, errors.Errorf("cnn: ResNet width %d and blocks %d, want 1 to %d", width, blocks, MaxResNetSize)
	}
	m, err := graph.Func([]graph.Shape{{1, 28, 28}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		stem := s.Sub("stem")
		h := stem.Apply(graph.Conv2D{Maps: width, Window: ops.Square(3, 1, 1), NoBias: true, Init: graph.HeUniform}, in[0])
		h = stem.Apply(graph.ReLU{}, stem.Apply(graph.BatchNorm{}, h))
		for stage := range 3 {
			st := s.Sub(fmt.Sprintf("stage%d", stage+1))
			for b := range blocks {
				stride := 1
				if stage > 0 && b == 0 {
					stride = 2
				}
				h = basicBlock(st.Sub(fmt.Sprintf("block%d", b+1)), h, width<<stage, stride)
			}
		}
		h = s.Apply(graph.GlobalAvgPool2D{}, h)
		return []*graph.Value{s.Apply(graph.Dense{Units: 10}, h)}
	}, append([]graph.Option{graph.WithName("resnet")}, opts...)...)
	return m, errors.Wrap(err, "cnn: ResNet")
}

// basicBlock is relu(x + bn(conv(relu(bn(conv(x)))))) with 3×3
// convolutions of maps feature maps, the first of the given stride; when
// the shape changes, the shortcut is bn(conv1×1(x)) of that stride.
func basicBlock(s *graph.Scope, x *graph.Value, maps, stride int) *graph.Value {
	conv := func(k, stride, pad int) graph.Conv2D {
		return graph.Conv2D{Maps: maps, Window: ops.Square(k, stride, pad), NoBias: true, Init: graph.HeUniform}
	}
	h := s.Apply(conv(3, stride, 1), x)
	h = s.Apply(graph.ReLU{}, s.Apply(graph.BatchNorm{}, h))
	h = s.Apply(graph.BatchNorm{}, s.Apply(conv(3, 1, 1), h))
	short := x
	if stride != 1 || x.Shape()[0] != maps {
		c := conv(1, stride, 0)
		c.Init = graph.GlorotUniform
		short = s.Apply(graph.BatchNorm{}, s.Apply(c, x))
	}
	return s.Apply(graph.ReLU{}, s.Apply(graph.Add{}, h, short))
}
