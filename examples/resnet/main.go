// Command resnet trains a small residual network with batch normalisation
// and global average pooling on MNIST, and reports its test accuracy.
//
//	go run ./examples/resnet                 # the recipe below
//	go run ./examples/resnet -epochs 1 -limit 5000
//
// The network (He et al. 2016, "Deep residual learning", scaled down to
// 28×28 digits): a 3×3 convolution of Width maps, batch norm and ReLU; three
// stages of two basic blocks each, of Width, 2·Width and 4·Width maps at
// 28×28, 14×14 and 7×7 (the first block of the second and third stages
// halves the size with stride 2, and its shortcut is a strided 1×1
// convolution with batch norm); global average pooling; a dense layer of
// 10. A basic block is relu(x + bn(conv(relu(bn(conv(x)))))). Convolutions
// feeding batch norm have no bias; weights are He-uniform before ReLUs. The
// network is cnn.ResNet (models/cnn).
//
// Trained with SGD (momentum 0.9, weight decay 5·10⁻⁴ on every parameter)
// at a learning rate that follows a cosine to 0, batch 128. It writes
// config.json, metrics.jsonl, a checkpoint (with the running statistics),
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
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/train"
)

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 10, Batch: 128, LR: 0.1, Seed: 1})
	width := flag.Int("width", 16, "feature maps of the first stage (≥ 1); the others have 2× and 4×")
	blocks := flag.Int("blocks", 2, "basic blocks per stage (≥ 1)")
	momentum := flag.Float64("momentum", 0.9, "SGD momentum")
	decay := flag.Float64("weight-decay", 5e-4, "L2 weight decay")
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("resnet", err)
	}
	if err := run(f, *width, *blocks, *momentum, *decay); err != nil {
		cli.Fatal("resnet", err)
	}
}

func run(f *cli.Flags, width, blocks int, momentum, decay float64) error {
	if err := cli.CheckInt("width", width, 1, 512); err != nil {
		return err
	}
	if err := cli.CheckInt("blocks", blocks, 1, 64); err != nil {
		return err
	}
	if err := cli.CheckFloat("momentum", momentum, 0, 1); err != nil {
		return err
	}
	if err := cli.CheckFloat("weight-decay", decay, 0, math.Inf(1)); err != nil {
		return err
	}
	r, err := cli.Start("resnet", f, map[string]any{"width": width, "blocks": blocks, "optimizer": "sgd", "momentum": momentum, "weight_decay": decay, "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	model, err := cnn.ResNet(width, blocks, graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	return r.TrainClassifier("resnet", model, train.Config{
		Loss:      train.CrossEntropy,
		Optimizer: &train.SGD{LearningRate: f.LR, Momentum: momentum, WeightDecay: decay},
		Schedule:  train.Cosine{},
	})
}
