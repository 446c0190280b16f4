package cnn_test

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/internal/traintest"
)

// BenchmarkStockGorgoniaLeNet times one Adam step (learning rate 1e-3) of
// LeNet — Conv2d 5×5×20 + bias, ReLU, MaxPool2D 2×2/2, Conv2d 5×5×50 +
// bias, ReLU, MaxPool2D 2×2/2, dense 800-500 ReLU, dense 500-10 — with
// softmax cross-entropy on a batch of 64 real MNIST images (64, 1, 28, 28)
// in float32, built and trained with stock Gorgonia v0.9.18 only: its
// built-in ops (Conv2d, MaxPool2D, BroadcastAdd, Rectify, Reshape, Mul,
// LogSoftMax, HadamardProd, Sum, Mean, Neg), Grad, a TapeMachine, its
// AdamSolver and its default pure-Go (gonum) BLAS. Each timed step loads
// the next batch, copies it into the bound input tensors, runs the tape,
// steps the solver and resets the machine; 20 warm-up steps run first. It
// is the baseline for BenchmarkTrainStepLeNet, which does the same work
// with Retina's ops.
func BenchmarkStockGorgoniaLeNet(b *testing.B) {
	const batch = 64
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}

	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(batch, 1, 28, 28), gorgonia.WithName("x"))
	y := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, 10), gorgonia.WithName("y"))
	k1 := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(20, 1, 5, 5), gorgonia.WithName("k1"), gorgonia.WithInit(gorgonia.GlorotU(1)))
	c1 := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(20), gorgonia.WithName("c1"), gorgonia.WithInit(gorgonia.Zeroes()))
	k2 := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(50, 20, 5, 5), gorgonia.WithName("k2"), gorgonia.WithInit(gorgonia.GlorotU(1)))
	c2 := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(50), gorgonia.WithName("c2"), gorgonia.WithInit(gorgonia.Zeroes()))
	w3 := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(800, 500), gorgonia.WithName("w3"), gorgonia.WithInit(gorgonia.GlorotU(1)))
	b3 := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(500), gorgonia.WithName("b3"), gorgonia.WithInit(gorgonia.Zeroes()))
	w4 := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(500, 10), gorgonia.WithName("w4"), gorgonia.WithInit(gorgonia.GlorotU(1)))
	b4 := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(10), gorgonia.WithName("b4"), gorgonia.WithInit(gorgonia.Zeroes()))
	learnables := gorgonia.Nodes{k1, c1, k2, c2, w3, b3, w4, b4}

	h, err := stockConvBlock(x, k1, c1) // (64, 20, 12, 12)
	if err != nil {
		b.Fatal(err)
	}
	if h, err = stockConvBlock(h, k2, c2); err != nil { // (64, 50, 4, 4)
		b.Fatal(err)
	}
	if h, err = gorgonia.Reshape(h, tensor.Shape{batch, 800}); err != nil {
		b.Fatal(err)
	}
	if h, err = traintest.StockDense(h, w3, b3); err != nil {
		b.Fatal(err)
	}
	if h, err = gorgonia.Rectify(h); err != nil {
		b.Fatal(err)
	}
	logits, err := traintest.StockDense(h, w4, b4)
	if err != nil {
		b.Fatal(err)
	}
	cost, err := traintest.StockCrossEntropy(logits, y)
	if err != nil {
		b.Fatal(err)
	}
	traintest.StockSteps(b, g, cost, learnables, x, y, trainSet, batch)
}

// stockConvBlock returns MaxPool2D(ReLU(Conv2d(x, k) + c), 2×2, stride 2):
// a valid, stride-1 convolution with kernel k (out, in, 5, 5) and bias c
// (a vector of out values, broadcast over batch, height and width).
func stockConvBlock(x, k, c *gorgonia.Node) (*gorgonia.Node, error) {
	conv, err := gorgonia.Conv2d(x, k, tensor.Shape{5, 5}, []int{0, 0}, []int{1, 1}, []int{1, 1})
	if err != nil {
		return nil, err
	}
	if conv, err = gorgonia.BroadcastAdd(conv, c, nil, []byte{0, 2, 3}); err != nil {
		return nil, err
	}
	if conv, err = gorgonia.Rectify(conv); err != nil {
		return nil, err
	}
	return gorgonia.MaxPool2D(conv, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
}
