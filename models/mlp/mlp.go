// Package mlp builds fully connected networks (multi-layer perceptrons).
package mlp

import (
	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
)

// New returns a fully connected network with the given widths: widths[0]
// inputs, a hidden layer of each width in widths[1:len−1] followed by the
// activation layer act (nil for linear hidden units), and widths[len−1]
// linear outputs (logits, for a classifier). Hidden weights are drawn
// He-uniform before a ReLU (graph.InitBefore), the output layer's
// Glorot-uniform. opts are passed to Declare.
func New(widths []int, act graph.Layer, opts ...graph.Option) (*graph.Model, error) {
	if len(widths) < 2 {
		return nil, errors.Errorf("mlp: need at least input and output widths, got %v", widths)
	}
	var layers graph.Sequential
	for i, w := range widths[1:] {
		if act != nil && i < len(widths)-2 {
			layers = append(layers, graph.Dense{Units: w, Init: graph.InitBefore(act)}, act)
		} else {
			layers = append(layers, graph.Dense{Units: w})
		}
	}
	m, err := layers.Declare(graph.Shape{widths[0]}, opts...)
	return m, errors.Wrap(err, "mlp")
}

// Seed returns the lecture's network: 784 inputs, 100 ReLU hidden units,
// 10 outputs — 79,400 weights and 110 biases.
func Seed(opts ...graph.Option) (*graph.Model, error) {
	return New([]int{784, 100, 10}, graph.ReLU{}, opts...)
}
