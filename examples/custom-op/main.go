// Command custom-op shows how to extend Retina with an op of your own: it
// defines swish(x) = x·σ(x) and its gradient as Gorgonia ops (swish.go),
// checks them with ops/opcheck (swish_test.go), wraps the op in a layer and
// trains a 784-100-10 network with it on real MNIST.
//
//	go run ./examples/custom-op -epochs 1
//	go test ./examples/custom-op       # the gradient checks
package main

import (
	"flag"
	"os"

	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/train"
)

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 3, Batch: 64, LR: 1e-3, Seed: 1})
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("custom-op", err)
	}
	if err := run(f); err != nil {
		cli.Fatal("custom-op", err)
	}
}

func run(f *cli.Flags) error {
	r, err := cli.Start("custom-op", f, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	model, err := graph.Sequential{
		graph.Flatten{},
		graph.Dense{Units: 100},
		swishLayer{},
		graph.Dense{Units: 10},
	}.Declare(graph.Shape{1, 28, 28}, graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	return r.TrainClassifier("784-100(swish)-10", model, train.Config{Optimizer: &train.Adam{LearningRate: f.LR}})
}
