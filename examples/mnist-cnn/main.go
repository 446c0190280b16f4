// Command mnist-cnn is Retina's main job: it trains LeNet (conv 5×5×20 –
// pool – conv 5×5×50 – pool – dense 500 – dense 10) on real MNIST and
// reports its test accuracy.
//
//	go run ./examples/mnist-cnn              # 12 epochs, SGD+momentum, cosine schedule
//	go run ./examples/mnist-cnn -epochs 1 -limit 5000
//	go run ./examples/mnist-cnn -model seed  # the lecture's 3-feature-map network
//
// It prints per-epoch progress and the final accuracy, and writes
// config.json, metrics.jsonl, a checkpoint and metrics.json to -out.
// Ctrl-C saves a checkpoint; -out DIR -resume continues the run.
package main

import (
	"flag"
	"fmt"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/train"
)

var specs = map[string]cnn.Spec{"lenet": cnn.LeNet, "seed": cnn.SeedCNN, "strided": cnn.StridedLeNet}

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 12, Batch: 64, LR: 0.05, Seed: 1})
	model := flag.String("model", "lenet", "network: lenet, seed (the lecture's SeedCNN) or strided (LeNet with strided convolutions instead of pooling)")
	momentum := flag.Float64("momentum", 0.9, "SGD momentum")
	decay := flag.Float64("weight-decay", 5e-4, "L2 weight decay")
	flag.Parse()
	if err := run(f, *model, *momentum, *decay); err != nil {
		cli.Fatal("mnist-cnn", err)
	}
}

func run(f *cli.Flags, name string, momentum, decay float64) error {
	spec, ok := specs[name]
	if !ok {
		return errors.Errorf("unknown -model %q (lenet, seed, strided)", name)
	}
	r, err := cli.Start("mnist-cnn", f, map[string]any{"model": name, "optimizer": "sgd", "momentum": momentum, "weight_decay": decay, "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	trainSet, testSet, err := r.MNIST()
	if err != nil {
		return err
	}
	model, err := spec.Model(graph.WithSeed(f.Seed))
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
	if err := r.WriteMetrics(cli.Summary(name, f, res)); err != nil {
		return err
	}
	last := res.Last()
	fmt.Fprintf(r.Out, "test accuracy %.2f%% (error %.2f%%) after %d epochs, %.1fs of training, %.0f samples/s\n",
		100*last.Test.Accuracy, 100*(1-last.Test.Accuracy), len(res.Epochs), res.TrainSeconds, res.SamplesPerSecond)
	return nil
}
