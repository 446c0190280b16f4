// Package graph declares neural networks and turns them into Gorgonia
// expression graphs.
//
// A chain of layers reads like its diagram:
//
//	m, err := graph.Sequential{
//		graph.Conv2D{Maps: 20, Window: ops.Kernel(5, 5), Init: graph.HeUniform},
//		graph.ReLU{},
//		graph.MaxPool2D{Window: ops.Square(2, 2, 0)},
//		graph.Flatten{},
//		graph.Dense{Units: 10},
//	}.Declare(graph.Shape{1, 28, 28})
//
// Any other graph is a Go function (Func) that applies layers to symbolic
// values and returns the outputs: residual paths (Add), channel joins
// (Concat), several inputs and outputs. A model is itself usable inside
// another (Scope.Call): its layers join the outer model over its own
// parameter tensors, so calling one tower on two inputs shares its weights,
// and an autoencoder that calls an encoder and a decoder trains both, each
// still a model that predicts alone (Model.Submodel):
//
//	siamese, err := graph.Func([]graph.Shape{{1, 28, 28}, {1, 28, 28}},
//		func(s *graph.Scope, in []*graph.Value) []*graph.Value {
//			a := s.Call(tower, in[0])[0] // the same weights…
//			b := s.Call(tower, in[1])[0] // …applied twice
//			return []*graph.Value{s.Apply(graph.Concat{}, a, b)}
//		})
//
// Shapes are inferred while the function runs; a layer that does not fit
// its inputs stops the declaration with an error naming the layer by its
// path ("graph: layer 6 (block2/conv1): input (4, 4, 4): …"). Layers are
// named by their Name field or by kind and count within their scope
// (conv1, conv2, …; Scope.Sub adds a path element), and their parameters
// "<path>/W" and "<path>/b". Parameters are initialised from a seed (WithSeed):
// weights as each layer states (Init: GlorotUniform by default, HeUniform
// for layers feeding a ReLU; InitBefore picks one), biases zero.
//
// Shapes given to and reported by layers are per sample, without the batch
// dimension: (C, H, W) for images, (features) for vectors. Graph nodes carry
// the batch in front: (N, C, H, W) and (N, features).
//
// The Model owns its parameter tensors. Build adds the model to any graph —
// a training graph with batch 64 and an evaluation graph with batch 1000 can
// share the same parameters — binding parameter nodes to those tensors, so
// an optimizer that updates the tensors in place updates every graph.
// Summary and Dot describe the layer graph: each layer's inputs, output
// shape, parameters and multiply-accumulates.
package graph
