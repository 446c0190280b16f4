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
	"fmt"

	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/train"
)

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 3, Batch: 64, LR: 1e-3, Seed: 1})
	flag.Parse()
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
	trainSet, testSet, err := r.MNIST()
	if err != nil {
		return err
	}
	model, err := graph.Sequential{
		graph.Flatten{},
		graph.Dense{Units: 100},
		swishLayer{},
		graph.Dense{Units: 10},
	}.Declare(graph.Shape{1, 28, 28}, graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, model.Summary())
	tr, err := train.New(model, train.Config{
		Optimizer: &train.Adam{LearningRate: f.LR},
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
	if err := r.WriteMetrics(cli.Summary("784-100(swish)-10", f, res)); err != nil {
		return err
	}
	fmt.Fprintf(r.Out, "test accuracy %.2f%% with the custom swish op\n", 100*res.Last().Test.Accuracy)
	return nil
}
