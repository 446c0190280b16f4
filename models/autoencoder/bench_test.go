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
func BenchmarkTrainStepDeepAE(b *testing.B) { benchDeepAE(b, 64) }

// BenchmarkDeepAEStepBatch256 is BenchmarkTrainStepDeepAE on batches of
// 256: a step reads and writes the weights and Adam's moments once
// whatever the batch (34 MB, and the 11 MB gradient), which a batch of 64
// cannot amortise; its share of the SGEMM peak shows what the products
// reach once that traffic weighs four times less per sample.
func BenchmarkDeepAEStepBatch256(b *testing.B) { benchDeepAE(b, 256) }

// benchDeepAE times steps of the deep autoencoder on batches of batch.
func benchDeepAE(b *testing.B, batch int) {
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
