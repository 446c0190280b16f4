// Package traintest helps test and benchmark training: it runs a Trainer
// over real batches the way the models' benchmarks need.
package traintest

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/ops/blas"
	"github.com/retina-ml/retina/train"
)

// BenchSteps runs b.N optimizer steps of tr over batches of set after 20
// warm-up steps (a TapeMachine's first steps are slower), and reports
// samples/s and rss-growth-KB: how much resident memory the last 90% of
// the b.N steps kept, measured after a garbage collection that returns freed
// memory to the system at both ends (run with -benchtime 5000x to check
// that nothing accumulates). It is the body of the models' BenchmarkTrainStep*
// benchmarks.
//
// It also reports the step's arithmetic rate, GFLOP/s (6 floating-point
// operations per forward multiply-accumulate per sample: the forward pass,
// the input gradient and the weight gradient, each a multiply and an add),
// and peak-%: that rate as a share of the machine's matrix-multiply peak,
// the GFLOP/s of Retina's own 1024³ SGEMM measured in the same run just
// before the steps (best of 3, reported as sgemm-GFLOP/s).
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
	peak := SgemmGFLOPs(1024, 3)
	var rss0 int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i == b.N/10 {
			b.StopTimer()
			rss0 = rssKB()
			b.StartTimer()
		}
		if _, err := tr.Step(next(), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perSecond := float64(b.N*batch) / b.Elapsed().Seconds()
	b.ReportMetric(perSecond, "samples/s")
	gflops := perSecond * 6 * float64(tr.Model().Summary().MACs) / 1e9
	b.ReportMetric(gflops, "GFLOP/s")
	b.ReportMetric(peak, "sgemm-GFLOP/s")
	b.ReportMetric(100*gflops/peak, "peak-%")
	if rss0 > 0 {
		b.ReportMetric(float64(rssKB()-rss0), "rss-growth-KB")
	}
	runtime.KeepAlive(set) // the data must not be freed before the measurement
}

// rssKB collects garbage, returns free memory to the system and reports the
// resident set size in KiB from /proc/self/statm, or 0 where it cannot be
// read.
func rssKB() int64 {
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize()) / 1024
}

// SgemmGFLOPs returns the best rate, in GFLOP/s, of reps n×n×n float32
// matrix multiplies (2n³ operations each) by Retina's Sgemm (ops/blas,
// whichever backend is in use), after one untimed multiply.
func SgemmGFLOPs(n, reps int) float64 {
	a, c := make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	blas.Sgemm(false, false, n, n, n, 1, a, n, a, n, 0, c, n)
	best := 0.0
	for range reps {
		start := time.Now()
		blas.Sgemm(false, false, n, n, n, 1, a, n, a, n, 0, c, n)
		best = max(best, 2*float64(n)*float64(n)*float64(n)/time.Since(start).Seconds()/1e9)
	}
	return best
}
