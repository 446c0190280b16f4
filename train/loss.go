package train

import (
	"fmt"
	"math"
	"strings"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// A Loss is a training objective. Build adds it to a graph: a scalar node,
// the mean over the batch of a per-sample loss, of the model's built
// outputs against targets, one node per output shaped like it (one-hot
// labels for a classifier), or the model's input alone when the Trainer
// reconstructs it (an autoencoder). The Trainer builds it once for training
// and once per evaluation batch size, so evaluation uses the very same
// maths. Write your own from Retina's ops or Gorgonia's; the built-ins are
// CrossEntropy, MSE and BCE, for a model with one output, and PerOutput
// combines them for a model with several.
type Loss interface {
	Build(b *graph.Built, targets G.Nodes) (*G.Node, error)
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

func (l crossEntropy) Build(b *graph.Built, targets G.Nodes) (*G.Node, error) {
	if err := oneOutput(l, b, targets); err != nil {
		return nil, err
	}
	if len(b.Logits[0].Shape()) != 2 {
		return nil, errors.Errorf("train: cross-entropy needs scores of shape (N, classes), model gives %v", b.Logits[0].Shape())
	}
	return ops.SoftmaxCrossEntropy(b.Logits[0], targets[0])
}

func (l meanSquaredError) Build(b *graph.Built, targets G.Nodes) (*G.Node, error) {
	if err := oneOutput(l, b, targets); err != nil {
		return nil, err
	}
	return ops.MSE(b.Outputs[0], targets[0])
}

func (l binaryCrossEntropy) Build(b *graph.Built, targets G.Nodes) (*G.Node, error) {
	if err := oneOutput(l, b, targets); err != nil {
		return nil, err
	}
	if b.Logits[0] == b.Outputs[0] {
		return nil, errors.New("train: BCE needs a model that ends in a Sigmoid layer")
	}
	return ops.SigmoidCrossEntropy(b.Logits[0], targets[0])
}

// oneOutput checks that a single-output loss got one output and one target.
func oneOutput(l Loss, b *graph.Built, targets G.Nodes) error {
	if len(b.Outputs) != 1 || len(targets) != 1 {
		return errors.Errorf("train: %v takes one output and one target, got %d and %d: give a model with several outputs a PerOutput loss", l, len(b.Outputs), len(targets))
	}
	return nil
}

// PerOutput is the loss of a model with several outputs: the weighted sum
// Σₖ Weights[k]·Losses[k], term k computed on output k alone against target
// k, as Keras's loss and loss_weights lists. Weights nil means 1 each.
// Each term sees a graph.Built holding only its output, so any Loss for
// one output serves, the built-ins included.
type PerOutput struct {
	Losses  []Loss
	Weights []float64
}

func (p PerOutput) String() string {
	var s strings.Builder
	s.WriteString("per-output(")
	for k, l := range p.Losses {
		if k > 0 {
			s.WriteString(", ")
		}
		fmt.Fprintf(&s, "%v×%g", l, p.weight(k))
	}
	s.WriteString(")")
	return s.String()
}

func (p PerOutput) weight(k int) float64 {
	if p.Weights == nil {
		return 1
	}
	return p.Weights[k]
}

// Build returns Σₖ Weights[k]·Losses[k](output k, target k).
func (p PerOutput) Build(b *graph.Built, targets G.Nodes) (*G.Node, error) {
	if len(p.Losses) != len(b.Outputs) || len(targets) != len(b.Outputs) {
		return nil, errors.Errorf("train: PerOutput has %d losses for a model with %d outputs and %d targets", len(p.Losses), len(b.Outputs), len(targets))
	}
	if p.Weights != nil && len(p.Weights) != len(p.Losses) {
		return nil, errors.Errorf("train: PerOutput has %d weights for %d losses", len(p.Weights), len(p.Losses))
	}
	var sum *G.Node
	for k, l := range p.Losses {
		w := p.weight(k)
		if l == nil || math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			return nil, errors.Errorf("train: PerOutput term %d: loss %v with weight %g, want a loss and a finite weight ≥ 0", k, l, w)
		}
		view := &graph.Built{Inputs: b.Inputs, Outputs: b.Outputs[k : k+1], Logits: b.Logits[k : k+1], Params: b.Params, Layers: b.Layers}
		term, err := l.Build(view, targets[k:k+1])
		if err != nil {
			return nil, errors.Wrapf(err, "output %d", k)
		}
		if w != 1 {
			var c *G.Node
			if term.Dtype() == tensor.Float32 {
				c = G.NewConstant(float32(w))
			} else {
				c = G.NewConstant(w)
			}
			if term, err = G.Mul(term, c); err != nil {
				return nil, errors.Wrapf(err, "train: PerOutput: weighting output %d", k)
			}
		}
		if sum == nil {
			sum = term
		} else if sum, err = G.Add(sum, term); err != nil {
			return nil, errors.Wrapf(err, "train: PerOutput: adding output %d", k)
		}
	}
	return sum, nil
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
