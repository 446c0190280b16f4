// Package autoencoder builds autoencoders — networks trained, without
// labels, to reproduce their input through a narrow code layer — and the
// principal component analysis (PCA) they generalise, used as a baseline
// and as a test oracle.
//
// The models are plain graph.Models of Dense layers over vectors: give them
// images flattened to (784) (see Unlabelled). Train them with
// train.Config{Reconstruct: true} and train.MSE, or train.BCE for models
// that end in a Sigmoid layer:
//
//   - Linear(n, k): the lecture's "PCA using neural networks", an n-k-n
//     hourglass of linear units. Trained with squared error it learns the
//     top-k principal subspace of the data.
//   - Shallow(n, k, act): the lecture's "non-linear PCA", n-k-n with a
//     nonlinear code and logistic outputs; with a linear code (act nil)
//     it is the "logistic PCA" of Hinton & Salakhutdinov.
//   - Deep(widths, hidden): symmetric deep autoencoders, and Hinton(), the
//     784-1000-500-250-30 network of Hinton & Salakhutdinov (Science 2006).
//
// Encoder extracts the encoder half of a trained model (sharing its
// parameters); train.Predict runs any model on a data set. PCA, FitPCA and
// PrincipalAngles compute the linear baseline with gonum, and ReconError is
// the papers' measure: squared error summed over each sample's elements,
// averaged over samples.
package autoencoder

import (
	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// Linear returns an n-k-n hourglass of purely linear units with biases:
// Dense(k) "dense1" — the code — then Dense(n) "dense2", the output. Its
// weights are dense1/W (n, k) and dense2/W (k, n): the rows of dense2/W
// span the subspace the decoder reconstructs in. Train it with train.MSE;
// at the minimum of the squared error that subspace is the top-k principal
// subspace of the training data and the error is PCA's (Baldi & Hornik
// 1989). opts are passed to graph.Sequential.Declare.
func Linear(n, k int, opts ...graph.Option) (*graph.Model, error) {
	if err := checkWidths([]int{n, k}); err != nil {
		return nil, err
	}
	m, err := graph.Sequential{graph.Dense{Units: k}, graph.Dense{Units: n}}.Declare(graph.Shape{n}, opts...)
	return m, errors.Wrap(err, "autoencoder")
}

// Shallow returns the nonlinear counterpart of Linear, n-k-n: Dense(k)
// followed by the code activation act (nil: a linear code), then Dense(n)
// and a Sigmoid, so that outputs are intensities in (0, 1). Train it with
// train.BCE (or train.MSE). With act nil it is logistic PCA; with
// act = graph.Sigmoid{} it is the classic single-hidden-layer nonlinear
// autoencoder. opts are passed to graph.Sequential.Declare.
func Shallow(n, k int, act graph.Layer, opts ...graph.Option) (*graph.Model, error) {
	if err := checkWidths([]int{n, k}); err != nil {
		return nil, err
	}
	layers := graph.Sequential{graph.Dense{Units: k}}
	if act != nil {
		layers = append(layers, act)
	}
	layers = append(layers, graph.Dense{Units: n}, graph.Sigmoid{})
	m, err := layers.Declare(graph.Shape{n}, opts...)
	return m, errors.Wrap(err, "autoencoder")
}

// Deep returns a symmetric deep autoencoder. widths are the encoder's
// widths from the input to the code, e.g. [784 1000 500 250 30]; the
// decoder mirrors them back to widths[0]. Every hidden Dense layer is
// followed by the activation layer hidden (nil: linear hidden units); the
// code layer, widths[len−1] wide, is linear, and the output layer is a
// Sigmoid so that reconstructions lie in (0, 1) and train.BCE applies.
// The model has 2·(len(widths)−1) Dense layers, named dense1, dense2, …;
// hidden must not carry a Name, as it appears several times. opts are
// passed to graph.Sequential.Declare.
func Deep(widths []int, hidden graph.Layer, opts ...graph.Option) (*graph.Model, error) {
	if err := checkWidths(widths); err != nil {
		return nil, err
	}
	d := len(widths) - 1
	var layers graph.Sequential
	for i := 1; i <= d; i++ { // encoder
		layers = append(layers, graph.Dense{Units: widths[i]})
		if i < d && hidden != nil {
			layers = append(layers, hidden)
		}
	}
	for i := d - 1; i >= 0; i-- { // decoder
		layers = append(layers, graph.Dense{Units: widths[i]})
		if i > 0 && hidden != nil {
			layers = append(layers, hidden)
		}
	}
	layers = append(layers, graph.Sigmoid{})
	m, err := layers.Declare(graph.Shape{widths[0]}, opts...)
	return m, errors.Wrap(err, "autoencoder")
}

// HintonWidths are the encoder widths of Hinton & Salakhutdinov's MNIST
// autoencoder: 784-1000-500-250-30.
var HintonWidths = []int{784, 1000, 500, 250, 30}

// Hinton returns the deep autoencoder of Hinton & Salakhutdinov (Science
// 2006) for MNIST: 784-1000-500-250-30-250-500-1000-784 with a linear
// 30-unit code and sigmoid outputs — 2,833,000 weights and 4,314 biases.
//
// It deviates from the paper in two ways, following the PyTorch reference
// (bench/torch_ref.py): the hidden units are ReLUs instead of
// logistic units, and the weights start from He/Glorot-uniform random
// values instead of a stack of pretrained RBMs. With ReLUs the deep stack
// trains from random weights by backpropagation alone (see
// examples/deep-autoencoder: 3.38 on the paper's measure, against its 3.00).
func Hinton(opts ...graph.Option) (*graph.Model, error) {
	return Deep(HintonWidths, graph.ReLU{}, opts...)
}

// checkWidths rejects a width list that cannot make an autoencoder.
func checkWidths(widths []int) error {
	if len(widths) < 2 {
		return errors.Errorf("autoencoder: widths %v: need at least the input and the code width", widths)
	}
	for i, w := range widths {
		if w < 1 {
			return errors.Errorf("autoencoder: widths %v: width %d is %d, want at least 1", widths, i, w)
		}
	}
	return nil
}

// Encoder returns the encoder half of an autoencoder built by this package:
// its layers up to and including the code layer — the middle Dense layer —
// and the code's activation if it has one. Its output is the code, of shape
// (k). The encoder shares m's parameter tensors (same names, same values),
// so it sees every later update of m.
func Encoder(m *graph.Model) (*graph.Model, error) {
	var dense []int
	for i, l := range m.Layers {
		if _, ok := l.(graph.Dense); ok {
			dense = append(dense, i)
		}
	}
	if len(dense) < 2 || len(dense)%2 != 0 {
		return nil, errors.Errorf("autoencoder: a model with %d Dense layers is not a symmetric autoencoder", len(dense))
	}
	end := dense[len(dense)/2-1] + 1 // just past the code layer
	if end < len(m.Layers) {
		switch m.Layers[end].(type) {
		case graph.ReLU, graph.Sigmoid, graph.Tanh, graph.Linear:
			end++ // the code's activation
		}
	}
	enc, err := graph.Sequential(m.Layers[:end]).Declare(m.Input, graph.WithDtype(m.Dtype()), graph.WithSeed(m.Seed()))
	if err != nil {
		return nil, errors.Wrap(err, "autoencoder: encoder")
	}
	for _, p := range enc.Params() {
		src := m.Param(p.Name)
		if src == nil || !src.Value.Shape().Eq(p.Value.Shape()) {
			return nil, errors.Errorf("autoencoder: encoder parameter %s does not match the model's", p.Name)
		}
		p.Value = src.Value
	}
	return enc, nil
}

// Unlabelled returns set's samples flattened to vectors, (SampleSize()),
// without labels: the training data of an autoencoder, which learns
// without them. The images are shared with set, not copied.
func Unlabelled(set *datasets.Set) *datasets.Set {
	return &datasets.Set{X: set.X, Shape: []int{set.SampleSize()}}
}
