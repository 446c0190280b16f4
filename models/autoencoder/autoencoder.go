// Package autoencoder builds autoencoders — networks trained, without
// labels, to reproduce their input through a narrow code layer — and the
// principal component analysis (PCA) they generalise, used as a baseline
// and as a test oracle.
//
// Each autoencoder is a graph.Model of Dense layers over vectors (give it
// images flattened to (784), see Unlabelled) that calls two models of its
// own, Submodel("encoder") and Submodel("decoder"), over the same parameter
// tensors: each half predicts alone and sees every update of the whole. Train them with
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
// Encoder returns the encoder half of a model; train.Predict runs any model on a data set. PCA, FitPCA and
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
// the encoder Dense(k) — the code — then the decoder Dense(n), the output.
// Its weights are encoder/dense1/W (n, k) and decoder/dense1/W (k, n): the
// rows of decoder/dense1/W span the subspace the decoder reconstructs in.
// Train it with train.MSE; at the minimum of the squared error that
// subspace is the top-k principal subspace of the training data and the
// error is PCA's (Baldi & Hornik 1989). opts are passed to graph.Func.
func Linear(n, k int, opts ...graph.Option) (*graph.Model, error) {
	if err := checkWidths([]int{n, k}); err != nil {
		return nil, err
	}
	return join(n, graph.Sequential{graph.Dense{Units: k}}, graph.Sequential{graph.Dense{Units: n}}, k, opts)
}

// Shallow returns the nonlinear counterpart of Linear, n-k-n: the encoder
// Dense(k) followed by the code activation act (nil: a linear code), then
// the decoder Dense(n) and a Sigmoid, so that outputs are intensities in
// (0, 1). Train it with train.BCE (or train.MSE). With act nil it is
// logistic PCA; with act = graph.Sigmoid{} it is the classic
// single-hidden-layer nonlinear autoencoder. opts are passed to graph.Func.
func Shallow(n, k int, act graph.Layer, opts ...graph.Option) (*graph.Model, error) {
	if err := checkWidths([]int{n, k}); err != nil {
		return nil, err
	}
	enc := graph.Sequential{graph.Dense{Units: k, Init: graph.InitBefore(act)}}
	if act != nil {
		enc = append(enc, act)
	}
	return join(n, enc, graph.Sequential{graph.Dense{Units: n}, graph.Sigmoid{}}, k, opts)
}

// Deep returns a symmetric deep autoencoder. widths are the encoder's
// widths from the input to the code, e.g. [784 1000 500 250 30]; the
// decoder mirrors them back to widths[0]. Every hidden Dense layer is
// followed by the activation layer hidden (nil: linear hidden units), its
// weights drawn as graph.InitBefore(hidden) says; the code layer,
// widths[len−1] wide, is linear, and the output layer is a Sigmoid so that
// reconstructions lie in (0, 1) and train.BCE applies. The encoder and the
// decoder are models of their own, Submodel("encoder") and
// Submodel("decoder"), each with len(widths)−1 Dense layers named dense1,
// dense2, …; hidden must not carry a Name, as it appears several times.
// opts are passed to graph.Func.
func Deep(widths []int, hidden graph.Layer, opts ...graph.Option) (*graph.Model, error) {
	if err := checkWidths(widths); err != nil {
		return nil, err
	}
	d := len(widths) - 1
	var enc, dec graph.Sequential
	for i := 1; i <= d; i++ {
		if i < d && hidden != nil {
			enc = append(enc, graph.Dense{Units: widths[i], Init: graph.InitBefore(hidden)}, hidden)
		} else {
			enc = append(enc, graph.Dense{Units: widths[i]})
		}
	}
	for i := d - 1; i >= 0; i-- {
		if i > 0 && hidden != nil {
			dec = append(dec, graph.Dense{Units: widths[i], Init: graph.InitBefore(hidden)}, hidden)
		} else {
			dec = append(dec, graph.Dense{Units: widths[i]})
		}
	}
	dec = append(dec, graph.Sigmoid{})
	return join(widths[0], enc, dec, widths[d], opts)
}

// join declares the encoder enc for n inputs and the decoder dec for a
// code of k units as models named "encoder" and "decoder", and the
// autoencoder that applies one after the other, over the same tensors.
func join(n int, enc, dec graph.Sequential, k int, opts []graph.Option) (*graph.Model, error) {
	// The halves take opts too (the dtype), under their own names; the
	// autoencoder then initialises all parameters from its seed.
	encoder, err := enc.Declare(graph.Shape{n}, append(opts[:len(opts):len(opts)], graph.WithName("encoder"))...)
	if err != nil {
		return nil, errors.Wrap(err, "autoencoder: encoder")
	}
	decoder, err := dec.Declare(graph.Shape{k}, append(opts[:len(opts):len(opts)], graph.WithName("decoder"))...)
	if err != nil {
		return nil, errors.Wrap(err, "autoencoder: decoder")
	}
	m, err := graph.Func([]graph.Shape{{n}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		return s.Call(decoder, s.Call(encoder, in[0])...)
	}, append([]graph.Option{graph.WithName("autoencoder")}, opts...)...)
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

// Encoder returns the encoder of an autoencoder built by this package: the
// model m calls first, whose output is the code, of shape (k). It is m's
// Submodel("encoder"): the same parameter tensors, so it sees every update
// of m, and it predicts alone.
func Encoder(m *graph.Model) (*graph.Model, error) {
	enc := m.Submodel("encoder")
	if enc == nil {
		return nil, errors.Errorf("autoencoder: model %s has no encoder", m.Name())
	}
	return enc, nil
}

// Unlabelled returns set's samples flattened to vectors, (SampleSize()),
// without labels: the training data of an autoencoder, which learns
// without them. The images are shared with set, not copied.
func Unlabelled(set *datasets.Set) *datasets.Set {
	return &datasets.Set{X: set.X, Shape: []int{set.SampleSize()}}
}
