package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// TestNewRejectsBadSettings gives New every kind of invalid setting: it
// must return an error naming the field and the value, never panic.
func TestNewRejectsBadSettings(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Epochs: -1}, "Config.Epochs = -1"},
		{Config{Batch: -5}, "Config.Batch = -5"},
		{Config{EvalBatch: -1}, "Config.EvalBatch = -1"},
		{Config{Patience: -2}, "Config.Patience = -2"},
		{Config{Optimizer: &SGD{LearningRate: -1}}, "SGD.LearningRate = -1"},
		{Config{Optimizer: &SGD{LearningRate: nan}}, "SGD.LearningRate = NaN"},
		{Config{Optimizer: &SGD{LearningRate: inf}}, "SGD.LearningRate = +Inf"},
		{Config{Optimizer: &SGD{LearningRate: 0.1, Momentum: 1}}, "SGD.Momentum = 1"},
		{Config{Optimizer: &SGD{LearningRate: 0.1, Momentum: -0.5}}, "SGD.Momentum = -0.5"},
		{Config{Optimizer: &SGD{LearningRate: 0.1, WeightDecay: -1e-4}}, "SGD.WeightDecay = -0.0001"},
		{Config{Optimizer: &SGD{LearningRate: 0.1, WeightDecay: nan}}, "SGD.WeightDecay = NaN"},
		{Config{Optimizer: &SGD{LearningRate: 0.1, Nesterov: true}}, "SGD.Nesterov"},
		{Config{Optimizer: &Adam{LearningRate: -1e-3}}, "Adam.LearningRate = -0.001"},
		{Config{Optimizer: &Adam{LearningRate: 1e-3, Beta1: 1}}, "Adam.Beta1 = 1"},
		{Config{Optimizer: &Adam{LearningRate: 1e-3, Beta2: -0.1}}, "Adam.Beta2 = -0.1"},
		{Config{Optimizer: &Adam{LearningRate: 1e-3, Epsilon: inf}}, "Adam.Epsilon = +Inf"},
		{Config{Optimizer: &Adam{LearningRate: 1e-3, WeightDecay: -1}}, "Adam.WeightDecay = -1"},
		{Config{Schedule: StepDecay{Every: 0, Gamma: 0.5}}, "StepDecay.Every = 0"},
		{Config{Schedule: StepDecay{Every: 10, Gamma: 0}}, "StepDecay.Gamma = 0"},
		{Config{Schedule: Cosine{Min: 2}}, "Cosine.Min = 2"},
		{Config{Schedule: Cosine{Min: nan}}, "Cosine.Min = NaN"},
	} {
		_, err := New(classifier(t, 1), quiet(tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): error %v, want one naming %q", tc.cfg, err, tc.want)
		}
	}
}

// TestZeroConfigRecordsDefaults checks that zero values mean the documented
// defaults and that Trainer.Config reports the values in use.
func TestZeroConfigRecordsDefaults(t *testing.T) {
	tr, err := New(classifier(t, 1), quiet(Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := tr.Config()
	if c.Epochs != 1 || c.Batch != 64 || c.EvalBatch != 500 || c.Seed != 1 || c.Optimizer.String() != (&Adam{LearningRate: 1e-3}).String() {
		t.Errorf("defaults in use: %+v", c)
	}
}

// TestLastUpdateDivergence ruins the parameters in the last step of an
// epoch: Fit must fail naming the step and the parameter, write no metrics
// line and keep the previous epoch's checkpoint.
func TestLastUpdateDivergence(t *testing.T) {
	for _, withTest := range []bool{false, true} {
		dir := t.TempDir()
		m := classifier(t, 1)
		tr, err := New(m, quiet(Config{Epochs: 2, Batch: 20, Dir: dir}))
		if err != nil {
			t.Fatal(err)
		}
		data := Data{Train: blobs(100, 4, 8, 1)}
		if withTest {
			data.Test = blobs(40, 4, 8, 2)
		}
		ckpt := filepath.Join(dir, CheckpointName)
		var before []byte
		tr.afterStep = func(step int) {
			switch step {
			case 6: // the first step of epoch 2: epoch 1's checkpoint is on disk
				if before, err = os.ReadFile(ckpt); err != nil {
					t.Fatal(err)
				}
			case 10: // the last step of epoch 2
				m.Param("dense2/b").Value.Float32s()[1] = float32(math.NaN())
			}
		}
		_, err = tr.Fit(context.Background(), data)
		var d *DivergenceError
		if !errors.As(err, &d) || d.Param != "dense2/b" || d.Step != 9 || !strings.Contains(err.Error(), "dense2/b") {
			t.Fatalf("test set %v: error %v, want a divergence naming dense2/b at step 9", withTest, err)
		}
		after, err := os.ReadFile(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("test set %v: the checkpoint was replaced after divergence", withTest)
		}
		if n := countLines(t, filepath.Join(dir, MetricsLogName)); n != 1 {
			t.Errorf("test set %v: %d metrics lines, want 1 (epoch 1 only)", withTest, n)
		}
		if err := tr.SaveCheckpoint(filepath.Join(dir, "again.ckpt")); err == nil {
			t.Errorf("test set %v: SaveCheckpoint wrote non-finite parameters", withTest)
		}
	}
}

// TestLossDivergenceNamesParameter poisons a weight mid-epoch: the NaN loss
// of the next step is reported with the parameter that caused it.
func TestLossDivergenceNamesParameter(t *testing.T) {
	m := classifier(t, 1)
	tr, err := New(m, quiet(Config{Epochs: 1, Batch: 20}))
	if err != nil {
		t.Fatal(err)
	}
	tr.afterStep = func(step int) {
		if step == 2 {
			m.Param("dense1/W").Value.Float32s()[0] = float32(math.Inf(-1))
		}
	}
	_, err = tr.Fit(context.Background(), Data{Train: blobs(100, 4, 8, 1)})
	var d *DivergenceError
	if !errors.As(err, &d) || d.Step != 2 || d.What != "loss" || d.Param != "dense1/W" {
		t.Fatalf("error %v, want a NaN loss at step 2 naming dense1/W", err)
	}
}

// TestNonFiniteMetricsAreLogged evaluates on a test set holding a NaN: the
// epoch is logged with null metrics instead of failing the JSON encoder.
func TestNonFiniteMetricsAreLogged(t *testing.T) {
	dir := t.TempDir()
	test := blobs(40, 4, 8, 2)
	test.X[5] = float32(math.NaN())
	tr, err := New(classifier(t, 1), quiet(Config{Epochs: 2, Batch: 20, Dir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Fit(context.Background(), Data{Train: blobs(100, 4, 8, 1), Test: test})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(res.Last().Test.Loss) {
		t.Fatalf("test loss %v, want NaN", res.Last().Test.Loss)
	}
	log, err := os.ReadFile(filepath.Join(dir, MetricsLogName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"loss":null`)) {
		t.Errorf("metrics log does not record the NaN loss as null:\n%s", log)
	}
	// The checkpoint carries the history; it must load back.
	again, err := New(classifier(t, 1), quiet(Config{Epochs: 2, Batch: 20}))
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Resume(filepath.Join(dir, CheckpointName)); err != nil {
		t.Fatal(err)
	}
	if h := again.state.History; len(h) != 2 || !math.IsNaN(h[1].Test.Loss) {
		t.Errorf("resumed history %+v, want 2 epochs with a NaN test loss", h)
	}
	if err := WriteJSON(filepath.Join(dir, "m.json"), map[string]any{"loss": math.Inf(1), "n": []any{math.NaN(), 1.0}}); err != nil {
		t.Errorf("WriteJSON with non-finite values: %v", err)
	}
}

// TestResumeComparesShapes saves a model with 3×1 kernels and resumes it
// into one with 1×3 kernels: every parameter has the same number of
// elements, but the shapes differ, so Resume must refuse and leave the
// model unchanged.
func TestResumeComparesShapes(t *testing.T) {
	conv := func(kh, kw int) *graph.Model {
		m, err := graph.Sequential{
			graph.Conv2D{Maps: 4, Window: ops.Kernel(kh, kw)}, graph.ReLU{}, graph.Flatten{}, graph.Dense{Units: 4},
		}.Declare(graph.Shape{1, 5, 5})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	dir := t.TempDir()
	tr, err := New(conv(3, 1), quiet(Config{Batch: 10}))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "c.ckpt")
	if err := tr.SaveCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	other := conv(1, 3)
	w := append([]float32(nil), other.Param("conv1/W").Value.Float32s()...)
	tr2, err := New(other, quiet(Config{Batch: 10}))
	if err != nil {
		t.Fatal(err)
	}
	err = tr2.Resume(ckpt)
	if err == nil || !strings.Contains(err.Error(), "(4, 1, 3, 1)") || !strings.Contains(err.Error(), "(4, 1, 1, 3)") {
		t.Fatalf("error %v, want one naming both shapes", err)
	}
	for i, v := range other.Param("conv1/W").Value.Float32s() {
		if v != w[i] {
			t.Fatal("a refused checkpoint changed the model")
		}
	}
}

// TestResumeRejectsChangedRun resumes with another learning rate, another
// schedule and another training set: each is refused, naming what differs.
func TestResumeRejectsChangedRun(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Epochs: 1, Batch: 20, Dir: dir, Optimizer: &SGD{LearningRate: 0.1}, Schedule: Cosine{}}
	tr, err := New(classifier(t, 1), quiet(cfg))
	if err != nil {
		t.Fatal(err)
	}
	data := Data{Train: blobs(100, 4, 8, 1)}
	if _, err := tr.Fit(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, CheckpointName)
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Optimizer = &SGD{LearningRate: 0.2} }, "optimizer"},
		{func(c *Config) { c.Schedule = Constant{} }, "schedule"},
	} {
		c := cfg
		c.Dir = ""
		tc.change(&c)
		other, err := New(classifier(t, 1), quiet(c))
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Resume(ckpt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming the %s", err, tc.want)
		}
	}
	c := cfg
	c.Dir, c.Epochs, c.Optimizer = "", 2, &SGD{LearningRate: 0.1}
	more, err := New(classifier(t, 1), quiet(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := more.Resume(ckpt); err != nil {
		t.Fatalf("raising the epochs: %v", err)
	}
	if _, err := more.Fit(context.Background(), Data{Train: blobs(80, 4, 8, 1)}); err == nil || !strings.Contains(err.Error(), "100 training samples") {
		t.Errorf("resumed on another training set: error %v", err)
	}
}

// meanAbsolute is a loss written by a user from Gorgonia's own ops: the
// mean absolute error, L1.
type meanAbsolute struct{}

func (meanAbsolute) String() string { return "l1" }
func (meanAbsolute) Build(b *graph.Built, targets G.Nodes) (*G.Node, error) {
	d, err := G.Sub(b.Outputs[0], targets[0])
	if err != nil {
		return nil, err
	}
	a, err := G.Abs(d)
	if err != nil {
		return nil, err
	}
	return G.Mean(a)
}

// TestUserLoss trains a regression with a loss written outside the package:
// the training loss falls, and the evaluation reports the same L1 the
// training graph computes.
func TestUserLoss(t *testing.T) {
	m, err := graph.Sequential{graph.Dense{Units: 8, Init: graph.HeUniform}, graph.ReLU{}, graph.Dense{Units: 8}}.Declare(graph.Shape{8}, graph.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	set := blobs(200, 4, 8, 1)
	tr, err := New(m, quiet(Config{Loss: meanAbsolute{}, Reconstruct: true, Epochs: 20, Batch: 20, EvalBatch: 30,
		Optimizer: &Adam{LearningRate: 0.01}}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	res, err := tr.Fit(context.Background(), Data{Train: set, Test: set})
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Epochs[0], res.Last()
	if last.Train.Loss > first.Train.Loss/2 {
		t.Fatalf("L1 went from %v to %v", first.Train.Loss, last.Train.Loss)
	}
	// The test set is the training set: Evaluate's L1 equals the mean of
	// |output − input| computed here from Predict.
	outs, err := Predict(m, set, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := outs[0]
	var sum float64
	for i, v := range out {
		sum += math.Abs(float64(v) - float64(set.X[i]))
	}
	if want := sum / float64(len(out)); math.Abs(last.Test.Loss-want) > 1e-5 {
		t.Fatalf("evaluation L1 %v, want %v", last.Test.Loss, want)
	}
}
