package mlp_test

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/internal/traintest"
)

// BenchmarkStockGorgoniaMLP times one Adam step (learning rate 1e-3) of the
// 784-100 ReLU-10 MLP with softmax cross-entropy on a batch of 64 real MNIST
// images in float32, built and trained with stock Gorgonia v0.9.18 only:
// its built-in ops (Mul, BroadcastAdd, Rectify, LogSoftMax, HadamardProd,
// Sum, Mean, Neg), Grad, a TapeMachine, its AdamSolver and its default
// pure-Go (gonum) BLAS. Each timed step loads the next batch, copies it
// into the bound input tensors, runs the tape, steps the solver and resets
// the machine; 20 warm-up steps run first. It is the baseline for
// BenchmarkTrainStepMLP, which does the same work with Retina's ops.
func BenchmarkStockGorgoniaMLP(b *testing.B) {
	const batch = 64
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	flat := &datasets.Set{X: trainSet.X, Shape: []int{784}, Labels: trainSet.Labels, Classes: 10}

	g := gorgonia.NewGraph()
	x := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, 784), gorgonia.WithName("x"))
	y := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, 10), gorgonia.WithName("y"))
	w1 := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(784, 100), gorgonia.WithName("w1"), gorgonia.WithInit(gorgonia.GlorotU(1)))
	b1 := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(100), gorgonia.WithName("b1"), gorgonia.WithInit(gorgonia.Zeroes()))
	w2 := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(100, 10), gorgonia.WithName("w2"), gorgonia.WithInit(gorgonia.GlorotU(1)))
	b2 := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(10), gorgonia.WithName("b2"), gorgonia.WithInit(gorgonia.Zeroes()))
	learnables := gorgonia.Nodes{w1, b1, w2, b2}

	h, err := traintest.StockDense(x, w1, b1)
	if err != nil {
		b.Fatal(err)
	}
	if h, err = gorgonia.Rectify(h); err != nil {
		b.Fatal(err)
	}
	logits, err := traintest.StockDense(h, w2, b2)
	if err != nil {
		b.Fatal(err)
	}
	cost, err := traintest.StockCrossEntropy(logits, y)
	if err != nil {
		b.Fatal(err)
	}
	traintest.StockSteps(b, g, cost, learnables, x, y, flat, batch)
}
