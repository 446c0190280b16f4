package cnn_test

import (
	"context"
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

// BenchmarkFitLeNet times Fit's training steps of LeNet, batch 64 of real
// MNIST images, without and with augmentation (shifts of up to 2 pixels,
// rotations of up to 10°, elastic distortions α = 34, σ = 4): one op is one
// step, its batch loaded (and augmented) ahead while the previous step runs.
func BenchmarkFitLeNet(b *testing.B) {
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	aug := &datasets.Augmentation{Seed: 1, Steps: []datasets.Transform{
		datasets.Shift{Max: 2}, datasets.Rotate{MaxDegrees: 10}, datasets.Elastic{Alpha: 34, Sigma: 4}}}
	for _, bc := range []struct {
		name string
		aug  *datasets.Augmentation
	}{{"plain", nil}, {"augmented", aug}} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := cnn.LeNet.Model()
			if err != nil {
				b.Fatal(err)
			}
			tr, err := train.New(m, train.Config{Batch: 64, Augment: bc.aug, Optimizer: &train.Adam{LearningRate: 1e-3}, Progress: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			// Warm up, then time an epoch of b.N steps.
			if _, err := tr.Fit(context.Background(), train.Data{Train: trainSet.Subset(0, 64*20)}); err != nil {
				b.Fatal(err)
			}
			tr2, err := train.New(m, train.Config{Batch: 64, Augment: bc.aug, Optimizer: &train.Adam{LearningRate: 1e-3}, Progress: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			defer tr2.Close()
			// b.N batches: the first images, or as many passes over them as needed.
			idx := make([]int, 64*b.N)
			for i := range idx {
				idx[i] = i % trainSet.Len()
			}
			set := trainSet.Gather(idx)
			b.ResetTimer()
			res, err := tr2.Fit(context.Background(), train.Data{Train: set})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.SamplesPerSecond, "samples/s")
		})
	}
}
