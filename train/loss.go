package train

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// A Loss is a training objective. Build adds it to a graph: a scalar node,
// the mean over the batch of a per-sample loss, of the model's built
// outputs against target, a node shaped like the model's output (one-hot
// labels for a classifier, the input itself for an autoencoder). The
// Trainer builds it once for training and once per evaluation batch size,
// so evaluation uses the very same maths. Write your own from Retina's ops
// or Gorgonia's; the built-ins are CrossEntropy, MSE and BCE.
type Loss interface {
	Build(b *graph.Built, target *G.Node) (*G.Node, error)
	String() string
}

var (
	// CrossEntropy is softmax cross-entropy between the model's scores and
	// one-hot labels, averaged over samples. The scores are the model's
	// output, or the input of its final Softmax layer if it has one: the
	// loss is computed from logits with the log-sum-exp trick
	// (ops.SoftmaxCrossEntropy).
	CrossEntropy Loss = crossEntropy{}
	// MSE is the mean squared error between output and target, averaged
	// over every element (PyTorch's mse_loss).
	MSE Loss = meanSquaredError{}
	// BCE is binary cross-entropy between the output probabilities and
	// targets in [0, 1], averaged over every element. The model must end in
	// a Sigmoid layer; the loss is computed from the logits before it
	// (ops.SigmoidCrossEntropy, PyTorch's BCEWithLogitsLoss), which stays
	// exact when the sigmoid saturates.
	BCE Loss = binaryCrossEntropy{}
)

type (
	crossEntropy       struct{}
	meanSquaredError   struct{}
	binaryCrossEntropy struct{}
)

func (crossEntropy) String() string       { return "cross-entropy" }
func (meanSquaredError) String() string   { return "mse" }
func (binaryCrossEntropy) String() string { return "bce" }

func (crossEntropy) Build(b *graph.Built, target *G.Node) (*G.Node, error) {
	if len(b.Logits[0].Shape()) != 2 {
		return nil, errors.Errorf("train: cross-entropy needs scores of shape (N, classes), model gives %v", b.Logits[0].Shape())
	}
	return ops.SoftmaxCrossEntropy(b.Logits[0], target)
}

func (meanSquaredError) Build(b *graph.Built, target *G.Node) (*G.Node, error) {
	return ops.MSE(b.Outputs[0], target)
}

func (binaryCrossEntropy) Build(b *graph.Built, target *G.Node) (*G.Node, error) {
	if b.Logits[0] == b.Outputs[0] {
		return nil, errors.New("train: BCE needs a model that ends in a Sigmoid layer")
	}
	return ops.SigmoidCrossEntropy(b.Logits[0], target)
}

// ParseLoss returns the built-in loss named by its String form:
// "cross-entropy", "mse" or "bce".
func ParseLoss(name string) (Loss, error) {
	for _, l := range []Loss{CrossEntropy, MSE, BCE} {
		if l.String() == name {
			return l, nil
		}
	}
	return nil, errors.Errorf("train: unknown loss %q (want cross-entropy, mse or bce)", name)
}

// argmax returns the index of the largest element (the first on ties).
func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// squaredError returns Σ (out − target)², the reconstruction error of one sample.
func squaredError(out, target []float32) float64 {
	var s float64
	for j, v := range out {
		d := float64(v) - float64(target[j])
		s += d * d
	}
	return s
}
