// Package traintest helps test and benchmark training: it runs a Trainer
// over real batches the way the models' benchmarks need.
package traintest

import (
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/train"
)

// BenchSteps runs b.N optimizer steps of tr over batches of set after 20
// warm-up steps (a TapeMachine's first steps are slower), and reports
// samples/s. It is the body of the models' BenchmarkTrainStep* benchmarks.
func BenchSteps(b *testing.B, tr *train.Trainer, set *datasets.Set, batch int) {
	b.Helper()
	loader := &datasets.Loader{Set: set, BatchSize: batch, Shuffle: true, Seed: 1}
	it := loader.Epoch(0)
	var bt datasets.Batch
	epoch := 0
	next := func() *datasets.Batch {
		if !it.Next(&bt) {
			epoch++
			it = loader.Epoch(epoch)
			it.Next(&bt)
		}
		return &bt
	}
	for i := 0; i < 20; i++ {
		if _, err := tr.Step(next(), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(next(), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
}
