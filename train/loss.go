package train

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// Loss is the training objective. Every loss is a mean over the batch.
type Loss int

const (
	// CrossEntropy is softmax cross-entropy between the model's scores and
	// one-hot labels, averaged over samples. The scores are the model's
	// output, or the input of its final Softmax layer if it has one: the
	// loss is computed from logits with the log-sum-exp trick
	// (ops.SoftmaxCrossEntropy).
	CrossEntropy Loss = iota
	// MSE is the mean squared error between output and target, averaged
	// over every element (PyTorch's mse_loss).
	MSE
	// BCE is binary cross-entropy between the output probabilities and
	// targets in [0, 1], averaged over every element. The model must end in
	// a Sigmoid layer; the loss is computed from the logits before it
	// (ops.SigmoidCrossEntropy, PyTorch's BCEWithLogitsLoss), which stays
	// exact when the sigmoid saturates.
	BCE
)

func (l Loss) String() string {
	switch l {
	case CrossEntropy:
		return "cross-entropy"
	case MSE:
		return "mse"
	case BCE:
		return "bce"
	}
	return fmt.Sprintf("Loss(%d)", int(l))
}

// ParseLoss returns the loss named by its String form: "cross-entropy",
// "mse" or "bce".
func ParseLoss(name string) (Loss, error) {
	for _, l := range []Loss{CrossEntropy, MSE, BCE} {
		if l.String() == name {
			return l, nil
		}
	}
	return 0, errors.Errorf("train: unknown loss %q (want cross-entropy, mse or bce)", name)
}

// build returns the scalar loss node for a built model and a target node
// shaped like the model's output.
func (l Loss) build(b *graph.Built, target *G.Node) (*G.Node, error) {
	switch l {
	case CrossEntropy:
		if len(b.Logits[0].Shape()) != 2 {
			return nil, errors.Errorf("train: cross-entropy needs scores of shape (N, classes), model gives %v", b.Logits[0].Shape())
		}
		return ops.SoftmaxCrossEntropy(b.Logits[0], target)
	case MSE:
		return ops.MSE(b.Outputs[0], target)
	case BCE:
		if b.Logits[0] == b.Outputs[0] {
			return nil, errors.New("train: BCE needs a model that ends in a Sigmoid layer")
		}
		return ops.SigmoidCrossEntropy(b.Logits[0], target)
	}
	return nil, errors.Errorf("train: unknown loss %d", int(l))
}

// perSample returns sample i's loss from the model's output and logits rows
// (each k wide) and its target row; the mean over a batch equals build's node.
func (l Loss) perSample(out, logits, target []float32) float64 {
	switch l {
	case CrossEntropy:
		m := math.Inf(-1)
		for _, v := range logits {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range logits {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		var loss float64
		for j, t := range target {
			if t != 0 {
				loss += float64(t) * (lse - float64(logits[j]))
			}
		}
		return loss
	case MSE:
		var s float64
		for j, v := range out {
			d := float64(v) - float64(target[j])
			s += d * d
		}
		return s / float64(len(out))
	case BCE:
		var s float64
		for j, v := range logits {
			z := float64(v)
			s += math.Max(z, 0) - z*float64(target[j]) + math.Log1p(math.Exp(-math.Abs(z)))
		}
		return s / float64(len(logits))
	}
	return math.NaN()
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
