package train

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// blobs returns n samples of k well-separated Gaussian classes in d
// dimensions; the class centres are fixed, seed draws the samples.
func blobs(n, k, d int, seed uint64) *datasets.Set {
	crng := rand.New(rand.NewPCG(1, 99))
	centers := make([]float64, k*d)
	for i := range centers {
		centers[i] = 3 * crng.NormFloat64()
	}
	rng := rand.New(rand.NewPCG(seed, 98))
	s := &datasets.Set{Shape: []int{d}, Classes: k}
	for i := 0; i < n; i++ {
		c := rng.IntN(k)
		for j := 0; j < d; j++ {
			s.X = append(s.X, float32(centers[c*d+j]+0.5*rng.NormFloat64()))
		}
		s.Labels = append(s.Labels, c)
	}
	return s
}

func classifier(t *testing.T, seed uint64) *graph.Model {
	t.Helper()
	m, err := graph.Sequential{graph.Dense{Units: 16}, graph.ReLU{}, graph.Dropout{P: 0.1}, graph.Dense{Units: 4}}.Declare(graph.Shape{8}, graph.WithSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func quiet(c Config) Config {
	c.Progress = io.Discard
	return c
}

func TestFitLearnsAndLogs(t *testing.T) {
	dir := t.TempDir()
	tr, err := New(classifier(t, 1), quiet(Config{Epochs: 3, Batch: 32, EvalBatch: 70, Dir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	res, err := tr.Fit(context.Background(), Data{Train: blobs(2000, 4, 8, 1), Val: blobs(300, 4, 8, 2), Test: blobs(333, 4, 8, 3)})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Last()
	if len(res.Epochs) != 3 || last.Test == nil || last.Val == nil || last.Test.Samples != 333 {
		t.Fatalf("result %+v", res)
	}
	if last.Test.Accuracy < 0.95 {
		t.Fatalf("test accuracy %.3f after 3 epochs on separable blobs", last.Test.Accuracy)
	}
	if last.Train.Loss >= res.Epochs[0].Train.Loss {
		t.Fatalf("train loss did not fall: %v → %v", res.Epochs[0].Train.Loss, last.Train.Loss)
	}
	if last.Train.Samples != 2000/32*32 || last.Step != 3*(2000/32) {
		t.Fatalf("samples %d, step %d", last.Train.Samples, last.Step)
	}
	lines := countLines(t, filepath.Join(dir, MetricsLogName))
	if lines != 3 {
		t.Fatalf("%d lines in the metrics log, want 3", lines)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointName)); err != nil {
		t.Fatal(err)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); n++ {
	}
	return n
}

// stripTimes zeroes the wall-time fields, which differ between runs.
func stripTimes(es []EpochMetrics) []EpochMetrics {
	out := append([]EpochMetrics(nil), es...)
	for i := range out {
		out[i].Seconds, out[i].SamplesPerSecond = 0, 0
	}
	return out
}

func sameMetrics(t *testing.T, a, b []EpochMetrics) {
	t.Helper()
	a, b = stripTimes(a), stripTimes(b)
	if len(a) != len(b) {
		t.Fatalf("%d epochs vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Train != b[i].Train || *a[i].Val != *b[i].Val || a[i].LR != b[i].LR || a[i].Step != b[i].Step {
			t.Fatalf("epoch %d differs:\n%+v %+v\n%+v %+v", i+1, a[i], *a[i].Val, b[i], *b[i].Val)
		}
	}
}

// sameParams checks that two models hold the same parameters and state
// tensors, bit for bit.
func sameParams(t *testing.T, a, b *graph.Model) {
	t.Helper()
	bs := append(b.Params(), b.State()...)
	for i, p := range append(a.Params(), a.State()...) {
		x, y := p.Value.Float32s(), bs[i].Value.Float32s()
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				t.Fatalf("%s[%d]: %v vs %v", p.Name, j, x[j], y[j])
			}
		}
	}
}

// TestResumeReproducesUninterruptedRun interrupts a run mid-epoch (as Ctrl-C
// does), resumes it from its checkpoint in a fresh trainer, and checks that
// metrics and parameters equal those of a run that was never interrupted.
func TestResumeReproducesUninterruptedRun(t *testing.T) {
	data := Data{Train: blobs(1000, 4, 8, 1), Val: blobs(200, 4, 8, 2)}
	cfg := func(dir string) Config {
		return quiet(Config{Epochs: 3, Batch: 25, Dir: dir, Optimizer: &Adam{LearningRate: 0.01}, Schedule: Cosine{}})
	}
	full := classifier(t, 7)
	ta, err := New(full, cfg(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ta.Fit(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	first := classifier(t, 7)
	tb, err := New(first, cfg(dir))
	if err != nil {
		t.Fatal(err)
	}
	tb.interruptAt = 40 + 17 // epoch 2, batch 17 of 40
	if _, err := tb.Fit(context.Background(), data); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	if n := countLines(t, filepath.Join(dir, MetricsLogName)); n != 1 {
		t.Fatalf("%d epochs logged before the interruption, want 1", n)
	}

	resumed := classifier(t, 99) // different init: everything must come from the checkpoint
	tc, err := New(resumed, cfg(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Resume(filepath.Join(dir, CheckpointName)); err != nil {
		t.Fatal(err)
	}
	got, err := tc.Fit(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, want.Epochs, got.Epochs)
	sameParams(t, full, resumed)
	if n := countLines(t, filepath.Join(dir, MetricsLogName)); n != 3 {
		t.Fatalf("%d epochs logged after resuming, want 3", n)
	}
}

func TestSameSeedSameMetrics(t *testing.T) {
	data := Data{Train: blobs(600, 4, 8, 1), Val: blobs(100, 4, 8, 2)}
	run := func() *Result {
		tr, err := New(classifier(t, 3), quiet(Config{Epochs: 2, Batch: 20, Seed: 5}))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		res, err := tr.Fit(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	sameMetrics(t, run().Epochs, run().Epochs)
}

func TestResumeRejectsOtherConfig(t *testing.T) {
	dir := t.TempDir()
	tr, err := New(classifier(t, 1), quiet(Config{Batch: 20, Dir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Fit(context.Background(), Data{Train: blobs(100, 4, 8, 1)}); err != nil {
		t.Fatal(err)
	}
	other, err := New(classifier(t, 1), quiet(Config{Batch: 10}))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Resume(filepath.Join(dir, CheckpointName)); err == nil {
		t.Fatal("resumed a batch-20 run with batch 10")
	}
}

// TestDivergenceStopsBeforeCheckpoint poisons a weight after one good epoch:
// training must stop with an error naming the step, and the checkpoint of the
// good epoch must be left as it was.
func TestDivergenceStopsBeforeCheckpoint(t *testing.T) {
	dir := t.TempDir()
	m := classifier(t, 1)
	tr, err := New(m, quiet(Config{Epochs: 1, Batch: 20, Dir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	data := Data{Train: blobs(100, 4, 8, 1)}
	if _, err := tr.Fit(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, CheckpointName)
	before, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	m.Param("dense1/W").Value.Float32s()[3] = float32(math.Inf(1))
	tr.cfg.Epochs = 2
	_, err = tr.Fit(context.Background(), data)
	var d *DivergenceError
	if !errors.As(err, &d) || d.Step != 5 {
		t.Fatalf("error %v, want a divergence at step 5", err)
	}
	after, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the checkpoint was overwritten after divergence")
	}
}

func TestEarlyStopping(t *testing.T) {
	tr, err := New(classifier(t, 1), quiet(Config{Epochs: 10, Batch: 20, Patience: 2, Optimizer: &SGD{LearningRate: 0}}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Fit(context.Background(), Data{Train: blobs(100, 4, 8, 1), Val: blobs(50, 4, 8, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// A zero learning rate never improves on epoch 1: stop after epoch 3.
	if res.Stopped != "early stopping" || len(res.Epochs) != 3 || res.BestEpoch != 1 {
		t.Fatalf("stopped %q after %d epochs, best %d", res.Stopped, len(res.Epochs), res.BestEpoch)
	}
}

// TestEvaluatePadsExactly checks that padding the last evaluation batch does
// not change the metrics: batch 64 over 150 samples equals batch 1.
func TestEvaluatePadsExactly(t *testing.T) {
	set := blobs(150, 4, 8, 4)
	m := classifier(t, 2)
	eval := func(batch int) SetMetrics {
		tr, err := New(m, quiet(Config{Batch: 8, EvalBatch: batch}))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		r, err := tr.Evaluate(set)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := eval(64), eval(1)
	if a.Samples != 150 || b.Samples != 150 || math.Abs(a.Loss-b.Loss) > 1e-6 || a.Accuracy != b.Accuracy {
		t.Fatalf("batch 64: %+v, batch 1: %+v", a, b)
	}
}

// TestEvaluationLossMatchesTraining checks the evaluation's loss against
// the training graph's on the same batch, for every built-in loss.
func TestEvaluationLossMatchesTraining(t *testing.T) {
	for _, tc := range []struct {
		loss        Loss
		reconstruct bool
		model       graph.Sequential
	}{
		{CrossEntropy, false, graph.Sequential{graph.Dense{Units: 4}}},
		{CrossEntropy, false, graph.Sequential{graph.Dense{Units: 4}, graph.Softmax{}}},
		{MSE, true, graph.Sequential{graph.Dense{Units: 3}, graph.Tanh{}, graph.Dense{Units: 8}}},
		{BCE, true, graph.Sequential{graph.Dense{Units: 3}, graph.Dense{Units: 8}, graph.Sigmoid{}}},
	} {
		t.Run(tc.loss.String(), func(t *testing.T) {
			m, err := tc.model.Declare(graph.Shape{8})
			if err != nil {
				t.Fatal(err)
			}
			set := blobs(16, 4, 8, 5)
			if tc.loss == BCE {
				for i, v := range set.X {
					set.X[i] = float32(1 / (1 + math.Exp(-float64(v))))
				}
			}
			tr, err := New(m, quiet(Config{Loss: tc.loss, Reconstruct: tc.reconstruct, Batch: 16, EvalBatch: 16}))
			if err != nil {
				t.Fatal(err)
			}
			c, err := newColumns(m, set, !tc.reconstruct, "test data")
			if err != nil {
				t.Fatal(err)
			}
			it := c.epoch(datasets.Loader{BatchSize: 16}, 0)
			it.next()
			if err := tr.load(&it.feed); err != nil {
				t.Fatal(err)
			}
			graphLoss, err := tr.run()
			if err != nil {
				t.Fatal(err)
			}
			ev, err := tr.Evaluate(set)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(graphLoss-ev.Loss) > 1e-5*math.Max(1, math.Abs(graphLoss)) {
				t.Fatalf("graph loss %v, evaluation %v", graphLoss, ev.Loss)
			}
		})
	}
}

func TestReconstructTrainsWithoutLabels(t *testing.T) {
	set := blobs(500, 4, 8, 6)
	set.Labels, set.Classes = nil, 0
	m, err := graph.Sequential{graph.Dense{Units: 4}, graph.Dense{Units: 8}}.Declare(graph.Shape{8})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(m, quiet(Config{Loss: MSE, Reconstruct: true, Epochs: 5, Batch: 25, Optimizer: &Adam{LearningRate: 0.01}}))
	if err != nil {
		t.Fatal(err)
	}
	before, err := tr.Evaluate(set)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Fit(context.Background(), Data{Train: set, Test: set})
	if err != nil {
		t.Fatal(err)
	}
	after := res.Last().Test
	// Squared error summed over 8 features equals 8 × the per-element mean,
	// in evaluation and in the running training metrics alike.
	if math.Abs(after.ReconError-8*after.Loss) > 1e-4*after.ReconError {
		t.Fatalf("recon %v vs 8 × loss %v", after.ReconError, after.Loss)
	}
	if tr := res.Last().Train; tr.ReconError == 0 || math.Abs(tr.ReconError-8*tr.Loss) > 1e-4*tr.ReconError {
		t.Fatalf("training recon %v vs 8 × loss %v", tr.ReconError, tr.Loss)
	}
	if after.ReconError > 0.5*before.ReconError {
		t.Fatalf("reconstruction error %v → %v", before.ReconError, after.ReconError)
	}
}

// TestPredictMatchesEvaluation checks Predict, with a padded last batch and
// images fed to a flat model, against the evaluation graph one sample at a
// time.
func TestPredictMatchesEvaluation(t *testing.T) {
	set := blobs(37, 4, 8, 9)
	images := &datasets.Set{X: set.X, Shape: []int{2, 2, 2}}
	m := classifier(t, 4)
	gotAll, err := Predict(m, images, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantAll, err := Predict(m, set, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, want := gotAll[0], wantAll[0]
	if len(got) != 37*4 || len(want) != len(got) {
		t.Fatalf("%d and %d values, want %d", len(got), len(want), 37*4)
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("value %d: %v in batches of 10, %v one by one", i, got[i], want[i])
		}
	}
	if _, err := Predict(m, &datasets.Set{X: set.X[:36], Shape: []int{9}}, 0); err == nil {
		t.Fatal("samples of 9 values accepted by a model of 8 inputs")
	}
}
