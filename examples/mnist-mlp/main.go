// Command mnist-mlp trains the lecture's fully connected network,
// 784-100-10 with ReLU hidden units, on real MNIST and reports its test
// accuracy.
//
//	go run ./examples/mnist-mlp            # 15 epochs, SGD+momentum, cosine schedule
//	go run ./examples/mnist-mlp -epochs 2 -limit 10000
//
// It writes config.json, metrics.jsonl (one line per epoch), a checkpoint
// and metrics.json to -out. Ctrl-C saves a checkpoint; -out DIR -resume
// continues the run.
package main

import (
	"flag"
	"fmt"

	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/train"
)

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 15, Batch: 64, LR: 0.05, Seed: 1})
	momentum := flag.Float64("momentum", 0.9, "SGD momentum")
	decay := flag.Float64("weight-decay", 5e-4, "L2 weight decay")
	flag.Parse()
	if err := run(f, *momentum, *decay); err != nil {
		cli.Fatal("mnist-mlp", err)
	}
}

func run(f *cli.Flags, momentum, decay float64) error {
	r, err := cli.Start("mnist-mlp", f, map[string]any{"optimizer": "sgd", "momentum": momentum, "weight_decay": decay, "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	trainSet, testSet, err := r.MNIST()
	if err != nil {
		return err
	}
	model, err := mlp.Seed(graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, model.Summary())
	tr, err := train.New(model, train.Config{
		Loss:      train.CrossEntropy,
		Optimizer: &train.SGD{LearningRate: f.LR, Momentum: momentum, WeightDecay: decay},
		Schedule:  train.Cosine{},
		Epochs:    f.Epochs, Batch: f.Batch, Seed: f.Seed, Dir: r.Dir, Comm: r.Comm,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	res, err := r.Fit(tr, train.Data{Train: trainSet, Test: testSet})
	if err != nil {
		return err
	}
	m := cli.Summary("mlp 784-100-10", f, res)
	if err := r.WriteMetrics(m); err != nil {
		return err
	}
	last := res.Last()
	fmt.Fprintf(r.Out, "test accuracy %.2f%% (error %.2f%%) after %d epochs, %.1fs of training, %.0f samples/s\n",
		100*last.Test.Accuracy, 100*(1-last.Test.Accuracy), len(res.Epochs), res.TrainSeconds, res.SamplesPerSecond)
	return nil
}
