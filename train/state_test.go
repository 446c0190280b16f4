package train

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/retina-ml/retina/graph"
)

// normalised is a classifier with batch normalisation, whose running
// statistics are model state.
func normalised(t *testing.T, seed uint64) *graph.Model {
	t.Helper()
	m, err := graph.Sequential{graph.Dense{Units: 16, Init: graph.HeUniform}, graph.BatchNorm{}, graph.ReLU{}, graph.Dense{Units: 4}}.Declare(graph.Shape{8}, graph.WithSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestModelStateTrainsAndResumes trains a model with batch normalisation:
// its running statistics are not parameters (no optimizer sees them), they
// follow the training batches, evaluation uses them, and a run interrupted
// mid-epoch and resumed from its checkpoint ends with the same parameters
// and statistics, bit for bit, as the run that was not interrupted.
func TestModelStateTrainsAndResumes(t *testing.T) {
	m := normalised(t, 3)
	if n, s := len(m.Params()), len(m.State()); n != 6 || s != 3 {
		t.Fatalf("%d parameters and %d state tensors, want 6 (2 dense W, b; gamma, beta) and 3", n, s)
	}
	for _, p := range m.Params() {
		if p.Spec.State {
			t.Fatalf("state %s among the parameters", p.Name)
		}
	}
	data := Data{Train: blobs(1000, 4, 8, 1), Val: blobs(200, 4, 8, 2)}
	cfg := func(dir string) Config {
		return quiet(Config{Epochs: 3, Batch: 25, Dir: dir, Optimizer: &Adam{LearningRate: 0.01}})
	}
	ta, err := New(m, cfg(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	before, err := ta.Evaluate(data.Val)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ta.Fit(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if acc := want.Last().Val.Accuracy; acc < 0.95 {
		t.Fatalf("validation accuracy %.3f (%.3f before training)", acc, before.Accuracy)
	}
	st := m.State()
	if got := st[2].Value.Float32s()[0]; got != 3*40 {
		t.Fatalf("num_batches_tracked = %v after 120 steps", got)
	}
	for _, v := range st[1].Value.Float32s() {
		if v == 1 {
			t.Fatal("running_var still at its initial 1")
		}
	}

	dir := t.TempDir()
	tb, err := New(normalised(t, 3), cfg(dir))
	if err != nil {
		t.Fatal(err)
	}
	tb.interruptAt = 40 + 17
	if _, err := tb.Fit(context.Background(), data); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	resumed := normalised(t, 99)
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
	sameParams(t, m, resumed)
}

// TestEvaluationUsesRunningStatistics checks that evaluation normalises with
// the running statistics, not the batch's: changing them changes the
// evaluation loss, while a training step's loss does not depend on them.
func TestEvaluationUsesRunningStatistics(t *testing.T) {
	m := normalised(t, 5)
	set := blobs(50, 4, 8, 3)
	tr, err := New(m, quiet(Config{Batch: 50, EvalBatch: 50}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	a, err := tr.Evaluate(set)
	if err != nil {
		t.Fatal(err)
	}
	mean := m.State()[0].Value.Float32s()
	for i := range mean {
		mean[i] = 3
	}
	b, err := tr.Evaluate(set)
	if err != nil {
		t.Fatal(err)
	}
	if a.Loss == b.Loss {
		t.Fatalf("evaluation loss %v whatever the running mean", a.Loss)
	}
}
