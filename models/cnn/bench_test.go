package cnn_test

import (
	"io"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/internal/traintest"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/train"
)

// BenchmarkTrainStepLeNet times one Adam step of LeNet on a batch of 64 real
// MNIST images in float32 (after 20 warm-up steps).
func BenchmarkTrainStepLeNet(b *testing.B) {
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	m, err := cnn.LeNet.Model()
	if err != nil {
		b.Fatal(err)
	}
	tr, err := train.New(m, train.Config{Batch: 64, Optimizer: &train.Adam{LearningRate: 1e-3}, Progress: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	traintest.BenchSteps(b, tr, trainSet, 64)
}
