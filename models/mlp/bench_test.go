package mlp_test

import (
	"io"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/internal/traintest"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/train"
)

// BenchmarkTrainStepMLP times one Adam step of 784-100-10 on a batch of 64
// real MNIST images in float32 (after 20 warm-up steps).
func BenchmarkTrainStepMLP(b *testing.B) {
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	flat := &datasets.Set{X: trainSet.X, Shape: []int{784}, Labels: trainSet.Labels, Classes: 10}
	m, err := mlp.Seed()
	if err != nil {
		b.Fatal(err)
	}
	tr, err := train.New(m, train.Config{Batch: 64, Optimizer: &train.Adam{LearningRate: 1e-3}, Progress: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	traintest.BenchSteps(b, tr, flat, 64)
}
