package autoencoder_test

import (
	"io"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/internal/traintest"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/train"
)

// BenchmarkTrainStepDeepAE times one optimizer step of the deep autoencoder
// — Hinton topology 784-1000-500-250-30-250-500-1000-784, ReLU hidden
// units, linear code, sigmoid outputs, float32 — with MSE loss and Adam
// (1e-3) on a batch of 64 real MNIST training images, and reports
// samples/s. Data loading and graph building happen before the timer, and
// 20 warm-up steps run first (traintest.BenchSteps). Compare with
// bench/torch_ref.py --arch ae.
func BenchmarkTrainStepDeepAE(b *testing.B) {
	const batch = 64
	trainImages, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	m, err := autoencoder.Hinton()
	if err != nil {
		b.Fatal(err)
	}
	tr, err := train.New(m, train.Config{
		Loss: train.MSE, Reconstruct: true, Optimizer: &train.Adam{LearningRate: 1e-3},
		Batch: batch, Progress: io.Discard,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	traintest.BenchSteps(b, tr, autoencoder.Unlabelled(trainImages), batch)
}
