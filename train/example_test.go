package train_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/train"
)

// The main job's recipe, as the README gives it: LeNet on MNIST with SGD,
// momentum and a cosine schedule, 12 epochs (99.38% test accuracy). It is
// compiled, not run, by go test; go run ./examples/mnist-cnn runs it.
func Example_leNet() {
	model, err := graph.Sequential{
		graph.Conv2D{Maps: 20, Window: ops.Kernel(5, 5)}, // 1×28×28 → 20×24×24
		graph.ReLU{},
		graph.MaxPool2D{Window: ops.Square(2, 2, 0)},     // → 20×12×12
		graph.Conv2D{Maps: 50, Window: ops.Kernel(5, 5)}, // → 50×8×8
		graph.ReLU{},
		graph.MaxPool2D{Window: ops.Square(2, 2, 0)}, // → 50×4×4
		graph.Flatten{},
		graph.Dense{Units: 500},
		graph.ReLU{},
		graph.Dense{Units: 10},
	}.Declare(graph.Shape{1, 28, 28}, graph.WithSeed(1))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(model.Summary())
	trainSet, testSet, err := datasets.MNIST("")
	if err != nil {
		log.Fatal(err)
	}
	trainer, err := train.New(model, train.Config{
		Epochs: 12, Batch: 64, Seed: 1,
		Loss:      train.CrossEntropy,
		Optimizer: &train.SGD{LearningRate: 0.05, Momentum: 0.9, WeightDecay: 5e-4},
		Schedule:  train.Cosine{},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer trainer.Close()
	result, err := trainer.Fit(context.Background(), train.Data{Train: trainSet, Test: testSet})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.2f%%\n", 100*result.Last().Test.Accuracy)
}

// A Trainer fits a small classifier to two clusters of points.
func ExampleTrainer() {
	rng := rand.New(rand.NewPCG(1, 2))
	points := func(n int) *datasets.Set {
		s := &datasets.Set{Shape: []int{2}, Classes: 2}
		for i := 0; i < n; i++ {
			c := i % 2
			s.X = append(s.X, float32(4*c-2)+float32(rng.NormFloat64()), float32(rng.NormFloat64()))
			s.Labels = append(s.Labels, c)
		}
		return s
	}
	model, err := graph.Sequential{graph.Dense{Units: 8}, graph.ReLU{}, graph.Dense{Units: 2}}.Declare(graph.Shape{2})
	if err != nil {
		log.Fatal(err)
	}
	trainer, err := train.New(model, train.Config{Epochs: 5, Batch: 16, Progress: io.Discard,
		Optimizer: &train.Adam{LearningRate: 0.01}})
	if err != nil {
		log.Fatal(err)
	}
	defer trainer.Close()
	result, err := trainer.Fit(context.Background(), train.Data{Train: points(640), Test: points(200)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("epochs:", len(result.Epochs))
	fmt.Println("test accuracy above 95%:", result.Last().Test.Accuracy > 0.95)
	// Output:
	// epochs: 5
	// test accuracy above 95%: true
}
