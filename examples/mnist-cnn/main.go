// Command mnist-cnn is Retina's main job: it trains LeNet (conv 5×5×20 –
// pool – conv 5×5×50 – pool – dense 500 – dense 10) on real MNIST and
// reports its test accuracy.
//
//	go run ./examples/mnist-cnn              # 12 epochs, SGD+momentum, cosine schedule
//	go run ./examples/mnist-cnn -epochs 1 -limit 5000
//	go run ./examples/mnist-cnn -model seed  # the lecture's 3-feature-map network
//	go run ./examples/mnist-cnn -augment    # shifted and rotated training images, 30 epochs: 99.60% (README)
//
// It prints per-epoch progress, the final accuracy and each class's F1,
// and writes config.json, metrics.jsonl, a checkpoint, metrics.json (with
// the test set's per-class metrics and confusion matrix), confusion.png
// and the trained weights, model.safetensors (examples/predict reads the
// run), to -out. Ctrl-C saves a checkpoint; -out DIR -resume continues the
// run.
package main

import (
	"flag"
	"math"
	"os"

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
	f.RegisterAugment(30)
	momentum := flag.Float64("momentum", 0.9, "SGD momentum")
	decay := flag.Float64("weight-decay", 5e-4, "L2 weight decay")
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("mnist-cnn", err)
	}
	if err := run(f, *model, *momentum, *decay); err != nil {
		cli.Fatal("mnist-cnn", err)
	}
}

func run(f *cli.Flags, name string, momentum, decay float64) error {
	spec, ok := specs[name]
	if !ok {
		return errors.Errorf("-model %q: want lenet, seed or strided", name)
	}
	if err := cli.CheckFloat("momentum", momentum, 0, 1); err != nil {
		return err
	}
	if err := cli.CheckFloat("weight-decay", decay, 0, math.Inf(1)); err != nil {
		return err
	}
	r, err := cli.Start("mnist-cnn", f, map[string]any{"model": name, "optimizer": "sgd", "momentum": momentum, "weight_decay": decay, "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	model, err := spec.Model(graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	return r.TrainClassifier(name, model, train.Config{
		Loss:      train.CrossEntropy,
		Optimizer: &train.SGD{LearningRate: f.LR, Momentum: momentum, WeightDecay: decay},
		Schedule:  train.Cosine{},
	})
}
