// Package graph declares neural networks as sequences of layers and turns
// them into Gorgonia expression graphs.
//
// A model reads like its diagram:
//
//	m, err := graph.Sequential{
//		graph.Conv2D{Maps: 20, Window: ops.Kernel(5, 5)},
//		graph.ReLU{},
//		graph.MaxPool2D{Window: ops.Square(2, 2, 0)},
//		graph.Flatten{},
//		graph.Dense{Units: 10},
//	}.Declare(graph.Shape{1, 28, 28})
//
// Declare infers every layer's output shape at once and returns an error that
// names the layer (index and name) and both shapes when they do not fit. It
// creates the model's parameters, named "<layer>/W" and "<layer>/b" (layers
// are named conv1, conv2, dense1, … unless given a Name), initialised from a
// seed: He-uniform for weights feeding a ReLU, Glorot-uniform otherwise,
// zero biases.
//
// Shapes given to and reported by layers are per sample, without the batch
// dimension: (C, H, W) for images, (features) for vectors. Graph nodes carry
// the batch in front: (N, C, H, W) and (N, features).
//
// The Model owns its parameter tensors. Build adds the model to any graph —
// a training graph with batch 64 and an evaluation graph with batch 1000 can
// share the same parameters — binding parameter nodes to those tensors, so
// an optimizer that updates the tensors in place updates every graph.
package graph
