package cnn_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/traintest"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/predict"
	"github.com/retina-ml/retina/train"
)

// BenchmarkTrainStepLeNet times one Adam step of LeNet on a batch of 64 real
// MNIST images in float32 (after 20 warm-up steps).
func BenchmarkTrainStepLeNet(b *testing.B) {
	benchTrainStep(b, func() (*graph.Model, error) { return cnn.LeNet.Model() })
}

// BenchmarkTrainStepResNet times one Adam step of the ResNet of
// examples/resnet (ResNet(16, 2): batch norm in training mode, residual
// additions, global average pooling) on a batch of 64 real MNIST images in
// float32 (after 20 warm-up steps). Its PyTorch twin: bench/torch_ref.py
// --arch resnet.
func BenchmarkTrainStepResNet(b *testing.B) {
	benchTrainStep(b, func() (*graph.Model, error) { return cnn.ResNet(16, 2) })
}

// benchTrainStep times Adam steps (learning rate 10⁻³) of the model
// declare returns on batches of 64 real MNIST training images.
func benchTrainStep(b *testing.B, declare func() (*graph.Model, error)) {
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	m, err := declare()
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

// BenchmarkPredictLeNet times inference with a predict.Predictor of LeNet
// in float32 on real MNIST test images: one op is one PredictInto call on
// batch images (the test set's images in turn), after warm-up calls, with
// batch=1 (one image at a time, as an interactive tool calls it) and
// batch=1000. It reports samples/s; -benchmem shows the allocations per
// call, which are none.
func BenchmarkPredictLeNet(b *testing.B) {
	_, testSet, err := datasets.MNIST("")
	if err != nil {
		b.Fatal(err)
	}
	m, err := cnn.LeNet.Model()
	if err != nil {
		b.Fatal(err)
	}
	ss := testSet.SampleSize()
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			p, err := predict.New(m, batch)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			out := [][]float32{make([]float32, batch*10)}
			calls := testSet.Len() / batch
			// Warm up: the convolutions and the matrix multiplies keep a
			// workspace per call running at once, made as more of them
			// first run together.
			for range 10 {
				if err := p.PredictInto(out, testSet.X[:batch*ss]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lo := (i % calls) * batch
				if err := p.PredictInto(out, testSet.X[lo*ss:(lo+batch)*ss]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
