package autoencoder_test

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/internal/traintest"
)

// BenchmarkStockGorgoniaDeepAE times one Adam step (learning rate 1e-3) of
// the deep autoencoder — 784-1000-500-250-30-250-500-1000-784, ReLU hidden
// units, linear 30-unit code, sigmoid outputs — with MSE loss against the
// input (averaged over every element) on a batch of 64 real MNIST images
// in float32, built and trained with stock Gorgonia v0.9.18 only: its
// built-in ops (Mul, BroadcastAdd, Rectify, Sigmoid, Sub, Square, Mean),
// Grad, a TapeMachine, its AdamSolver and its default pure-Go (gonum)
// BLAS. Each timed step loads the next batch, copies it into the bound
// input tensor, runs the tape, steps the solver and resets the machine; 20
// warm-up steps run first. It is the baseline for BenchmarkTrainStepDeepAE,
// which does the same work with Retina's ops.
func BenchmarkStockGorgoniaDeepAE(b *testing.B) {
	const batch = 64
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	flat := &datasets.Set{X: trainSet.X, Shape: []int{784}}

	dims := []int{784, 1000, 500, 250, 30, 250, 500, 1000, 784}
	g := gorgonia.NewGraph()
	x := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, 784), gorgonia.WithName("x"))
	var learnables gorgonia.Nodes
	h := x
	for i := 0; i+1 < len(dims); i++ {
		w := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(dims[i], dims[i+1]), gorgonia.WithName(fmt.Sprintf("w%d", i)), gorgonia.WithInit(gorgonia.GlorotU(1)))
		bias := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(dims[i+1]), gorgonia.WithName(fmt.Sprintf("b%d", i)), gorgonia.WithInit(gorgonia.Zeroes()))
		learnables = append(learnables, w, bias)
		if h, err = traintest.StockDense(h, w, bias); err != nil {
			b.Fatal(err)
		}
		switch i {
		case 3: // linear 30-unit code
		case len(dims) - 2:
			h, err = gorgonia.Sigmoid(h)
		default:
			h, err = gorgonia.Rectify(h)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	diff, err := gorgonia.Sub(h, x)
	if err != nil {
		b.Fatal(err)
	}
	sq, err := gorgonia.Square(diff)
	if err != nil {
		b.Fatal(err)
	}
	cost, err := gorgonia.Mean(sq)
	if err != nil {
		b.Fatal(err)
	}
	traintest.StockSteps(b, g, cost, learnables, x, nil, flat, batch)
}
