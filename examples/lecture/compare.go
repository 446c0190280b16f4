package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/train"
)

// lectureDenseError is the lecture's figure for the best fully connected
// networks on MNIST (slide 2): "~5% error".
const lectureDenseError = 0.05

// contender is one network of section 3.
type contender struct {
	Name    string // also the subfolder of the run directory it trains in
	Label   string // for the table
	Declare func(...graph.Option) (*graph.Model, error)
}

var contenders = []contender{
	{"mlp", "dense 784-100-10", mlp.Seed},
	{"seedcnn", "SeedCNN (5×5×3, pool, dense 10)", cnn.SeedCNN.Model},
	{"lenet", "LeNet (20, 50 maps, dense 500)", cnn.LeNet.Model},
}

// trained is a contender after training.
type trained struct {
	contender
	Model  *graph.Model
	Result *train.Result
	Params int64
}

// testError returns the last epoch's test error.
func (t trained) testError() float64 { return 1 - t.Result.Last().Test.Accuracy }

// fitAll trains every contender with Adam for the run's epochs, each in its
// own subfolder of the run directory (config, metrics.jsonl, checkpoint).
// With -resume, a contender whose checkpoint exists continues from it; a
// finished one is not trained again.
func fitAll(run *cli.Run, trainSet, testSet *datasets.Set) ([]trained, error) {
	f := run.Flags
	var out []trained
	for _, c := range contenders {
		m, err := c.Declare(graph.WithSeed(f.Seed))
		if err != nil {
			return nil, errors.Wrapf(err, "declaring %s", c.Name)
		}
		dir := filepath.Join(run.Dir, c.Name)
		if run.Primary() {
			fmt.Fprintf(os.Stderr, "training %s (%s parameters) in %s\n", c.Label, commas(m.Summary().Params()), dir)
		}
		tr, err := train.New(m, train.Config{
			Loss:      train.CrossEntropy,
			Optimizer: &train.Adam{LearningRate: f.LR},
			Epochs:    f.Epochs, Batch: f.Batch, Seed: f.Seed, Dir: dir, Comm: run.Comm,
		})
		if err != nil {
			return nil, errors.Wrapf(err, "training %s", c.Name)
		}
		res, err := run.FitIn(tr, train.Data{Train: trainSet, Test: testSet}, dir)
		tr.Close()
		if err != nil {
			return nil, errors.Wrapf(err, "training %s", c.Name)
		}
		if res.Last().Test == nil {
			return nil, errors.Errorf("training %s: no epoch was run", c.Name)
		}
		out = append(out, trained{contender: c, Model: m, Result: res, Params: m.Summary().Params()})
	}
	return out, nil
}

// trainingMetrics are one contender's section 3 figures: the examples'
// standard summary plus the parameter count and test error.
func trainingMetrics(t trained, f *cli.Flags) map[string]any {
	m := cli.Summary(t.Label, f, t.Result)
	m["params"] = t.Params
	m["test_error"] = t.testError()
	m["optimizer"] = "adam"
	return m
}

// reportTraining writes section 3.
func reportTraining(r *report, ts []trained, f *cli.Flags, trainSize, testSize int) map[string]any {
	r.section("3. Dense net vs CNNs on MNIST")
	r.para("**Lecture (slides 2, 9, 24, 25).** The best fully connected attempts reach ~%.0f%% error; weight "+
		"sharing gives far fewer parameters and, with sparse interactions, better accuracy from the same images.",
		100*lectureDenseError)
	r.para("**Retina.** Each network trained for %d epoch(s) on %s training images (batch %d, Adam, learning rate %g, "+
		"seed %d), then evaluated on the %s test images:", f.Epochs, commas(int64(trainSize)), f.Batch, f.LR, f.Seed,
		commas(int64(testSize)))
	rows := [][]string{}
	metrics := map[string]any{}
	for _, t := range ts {
		res := t.Result
		rows = append(rows, []string{t.Label, commas(t.Params), pct(t.testError()),
			fmt.Sprintf("%.1f", res.TrainSeconds), commasf(res.SamplesPerSecond, 0)})
		metrics[t.Name] = trainingMetrics(t, f)
	}
	r.table([]string{"model", "parameters", "test error", "training s", "samples/s"}, rows)
	dense, seed, lenet := ts[0], ts[1], ts[2]
	r.para("Training time is the wall time of the optimizer steps on this machine (%s).", cli.Machine())
	switch {
	case lenet.testError() < dense.testError() && seed.testError() < dense.testError():
		r.verdict(verdictAgrees, "Both CNNs beat the dense net: SeedCNN %s error with %.0f× fewer parameters, "+
			"LeNet %s, against %s for the dense net.", pct(seed.testError()), float64(dense.Params)/float64(seed.Params),
			pct(lenet.testError()), pct(dense.testError()))
	case lenet.testError() < dense.testError():
		r.verdict(verdictPartly, "LeNet beats the dense net (%s against %s error), but the %s-parameter SeedCNN "+
			"(%s) does not in this run of %d epoch(s).",
			pct(lenet.testError()), pct(dense.testError()), commas(seed.Params), pct(seed.testError()), f.Epochs)
	default:
		r.verdict(verdictDisagrees, "In this run the dense net has the lowest error (%s; SeedCNN %s, LeNet %s).",
			pct(dense.testError()), pct(seed.testError()), pct(lenet.testError()))
	}
	if dense.testError() > lectureDenseError {
		r.para("The dense net's %s is above the lecture's ~%.0f%%, which needs more epochs than this run's %d.",
			pct(dense.testError()), 100*lectureDenseError, f.Epochs)
	} else {
		r.para("The dense net's %s is at or below the lecture's ~%.0f%%.", pct(dense.testError()), 100*lectureDenseError)
	}
	return metrics
}
