// Command mnist-mlp trains the lecture's fully connected network,
// 784-100-10 with ReLU hidden units, on real MNIST and reports its test
// accuracy.
//
//	go run ./examples/mnist-mlp            # 15 epochs, SGD+momentum, cosine schedule
//	go run ./examples/mnist-mlp -epochs 2 -limit 10000
//	go run ./examples/mnist-mlp -augment   # shifted and rotated training images, 30 epochs: 98.44% (README)
//
// It writes config.json, metrics.jsonl (one line per epoch), a checkpoint,
// metrics.json (with the test set's per-class metrics and confusion
// matrix), confusion.png and the trained weights, model.safetensors
// (examples/predict reads the run), to -out. Ctrl-C saves a checkpoint;
// -out DIR -resume continues the run.
package main

import (
	"flag"
	"math"
	"os"

	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/train"
)

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 15, Batch: 64, LR: 0.05, Seed: 1})
	f.RegisterAugment(30)
	momentum := flag.Float64("momentum", 0.9, "SGD momentum")
	decay := flag.Float64("weight-decay", 5e-4, "L2 weight decay")
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("mnist-mlp", err)
	}
	if err := run(f, *momentum, *decay); err != nil {
		cli.Fatal("mnist-mlp", err)
	}
}

func run(f *cli.Flags, momentum, decay float64) error {
	if err := cli.CheckFloat("momentum", momentum, 0, 1); err != nil {
		return err
	}
	if err := cli.CheckFloat("weight-decay", decay, 0, math.Inf(1)); err != nil {
		return err
	}
	r, err := cli.Start("mnist-mlp", f, map[string]any{"optimizer": "sgd", "momentum": momentum, "weight_decay": decay, "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	model, err := mlp.Seed(graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	return r.TrainClassifier("mlp 784-100-10", model, train.Config{
		Loss:      train.CrossEntropy,
		Optimizer: &train.SGD{LearningRate: f.LR, Momentum: momentum, WeightDecay: decay},
		Schedule:  train.Cosine{},
	})
}
