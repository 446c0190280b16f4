// Command custom-op shows how to extend Retina with an op of your own: it
// defines swish(x) = x·σ(x) as an ops.Def (swish.go), a name, shapes, a
// loop per dtype and a gradient program, which Apply makes a Gorgonia op
// with both kinds of gradient and a reused output buffer; checks it with
// ops/opcheck (swish_test.go); wraps it in a layer and trains a
// 784-100-10 network with it on real MNIST:
//
//	func Swish(x *G.Node) (*G.Node, error) {
//		s := x.Shape()
//		return ops.Def{
//			Name: fmt.Sprintf("Swish%v", s), // every parameter: nodes merge by it
//			In:   []tensor.Shape{s},
//			Out:  s,
//			F32:  swish[float32], // func(y []T, in [][]T): y = in[0]·σ(in[0])
//			F64:  swish[float64],
//			Grad: func(g *ops.Grad) { // ∂L/∂x = SwishGrad(x, ∂L/∂y)
//				g.Set(0, g.Apply(ops.Def{
//					Name: fmt.Sprintf("SwishGrad%v", s),
//					In:   []tensor.Shape{s, s},
//					Out:  s,
//					F32:  swishGrad[float32],
//					F64:  swishGrad[float64],
//				}, g.Input(0), g.OutputGrad()))
//			},
//		}.Apply(x)
//	}
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
