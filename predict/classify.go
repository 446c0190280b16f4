package predict

import (
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
)

// A Prediction is the classification of one sample.
type Prediction struct {
	// Class is the predicted class, 0..Classes()-1: the index of the
	// largest logit, the first of equal ones (as the Trainer's accuracy
	// counts); for a single-logit model, 1 if the logit is > 0, else 0.
	Class int
	// Prob is Probs[Class].
	Prob float32
	// Probs holds the probability of each of the Classes() classes (see
	// Predictor.Classify).
	Probs []float32
	// Logits holds the model's class scores (K values): output 0, or the
	// input of its final Softmax or Sigmoid layer.
	Logits []float32
}

// Classes returns the number of classes Classify tells apart: K for a
// model whose output 0 is a vector of K ≥ 2 scores, 2 for a single score
// (a binary classifier), and 0 when output 0 is not a vector (an
// autoencoder's image, say), which Classify refuses.
func (p *Predictor) Classes() int { return p.classes }

// classesOf returns Classes for an output of shape s.
func classesOf(s graph.Shape) int {
	switch {
	case len(s) != 1:
		return 0
	case s[0] == 1:
		return 2
	}
	return s[0]
}

// Classify runs the model on n samples (see Predict for inputs) and
// classifies each by output 0, a vector of K class scores:
//
//   - K ≥ 2 scores and no final activation: Probs is the softmax of the
//     logits, computed in float64 as exp(zᵢ − max z) / Σⱼ exp(zⱼ − max z),
//     so large logits do not overflow;
//   - K ≥ 2 and a final Softmax layer: Probs is its output, Logits its input;
//   - K ≥ 2 and a final Sigmoid layer (a multi-label model): Probs is its
//     output, one independent probability per class, not summing to 1;
//   - K = 1 (a binary classifier): p = σ(z) of the logit z (the output of a
//     final Sigmoid layer, if any), Probs = [1 − p, p], Logits = [z].
//
// Class is the index of the largest logit. It returns an error when output
// 0 is not a vector (Classes() == 0), and for the errors of Predict.
func (p *Predictor) Classify(inputs ...[]float32) ([]Prediction, error) {
	n, err := p.samples(inputs)
	if err != nil {
		return nil, err
	}
	if err := p.classifier(); err != nil {
		return nil, err
	}
	k, c := p.size[0], p.Classes()
	logits, probs := make([]float32, n*k), make([]float32, n*c)
	dst := make([]Prediction, n)
	for i := range dst {
		dst[i].Logits = logits[i*k : (i+1)*k : (i+1)*k]
		dst[i].Probs = probs[i*c : (i+1)*c : (i+1)*c]
	}
	return dst, p.ClassifyInto(dst, inputs...)
}

// ClassifyInto is Classify writing into dst, which must hold one Prediction
// per sample. Their Logits and Probs slices are reused when they have the
// capacity, else allocated: once the Predictor is warm, classifying into
// the same dst again allocates nothing.
func (p *Predictor) ClassifyInto(dst []Prediction, inputs ...[]float32) error {
	n, err := p.samples(inputs)
	if err != nil {
		return err
	}
	if err := p.classifier(); err != nil {
		return err
	}
	if len(dst) != n {
		return errors.Errorf("predict: %d predictions for %d samples", len(dst), n)
	}
	k, c := p.size[0], p.Classes()
	for lo := 0; lo < n; lo += p.batch {
		hi := min(lo+p.batch, n)
		if err := p.forward(inputs, lo, hi); err != nil {
			return err
		}
		z, err := p.value(p.logits[0])
		if err != nil {
			return err
		}
		out, err := p.value(p.out[0])
		if err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			d := &dst[i]
			d.Logits = resize(d.Logits, k)
			d.Probs = resize(d.Probs, c)
			row := (i - lo) * k
			copyRow(d.Logits, z, row)
			switch {
			case k == 1:
				var q float64
				if p.final == finalSigmoid {
					q = at(out, row)
				} else {
					q = sigmoid(at(z, row))
				}
				d.Probs[0], d.Probs[1] = float32(1-q), float32(q)
				d.Class = 0
				if at(z, row) > 0 {
					d.Class = 1
				}
			case p.final == finalNone:
				softmax(d.Probs, z, row)
				d.Class = argmax(d.Logits)
			default:
				copyRow(d.Probs, out, row)
				d.Class = argmax(d.Logits)
			}
			d.Prob = d.Probs[d.Class]
		}
	}
	return nil
}

// classifier returns an error unless output 0 holds class scores.
func (p *Predictor) classifier() error {
	if p.Classes() == 0 {
		return errors.Errorf("predict: model %s's output 0 has shape %v; classifying needs a vector of class scores (K)", p.model.Name(), p.model.Outputs()[0])
	}
	return nil
}

// value returns the tensor at vals[i].
func (p *Predictor) value(n *G.Node) (*tensor.Dense, error) {
	d, ok := p.plan.Value(n).(*tensor.Dense)
	if !ok || (d.Dtype() != tensor.Float32 && d.Dtype() != tensor.Float64) {
		return nil, errors.Errorf("predict: an output is %T, want a float32 or float64 tensor", p.plan.Value(n))
	}
	return d, nil
}

// resize returns s with length n, reusing its array if it has the capacity.
func resize(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// at returns element j of t as float64.
func at(t *tensor.Dense, j int) float64 {
	if t.Dtype() == tensor.Float64 {
		return t.Float64s()[j]
	}
	return float64(t.Float32s()[j])
}

// copyRow copies len(dst) elements of t from offset off into dst.
func copyRow(dst []float32, t *tensor.Dense, off int) {
	if t.Dtype() == tensor.Float64 {
		for j, v := range t.Float64s()[off : off+len(dst)] {
			dst[j] = float32(v)
		}
		return
	}
	copy(dst, t.Float32s()[off:off+len(dst)])
}

// softmax sets dst to the softmax of the len(dst) logits of t at offset
// off, computed in float64 after subtracting their maximum.
func softmax(dst []float32, t *tensor.Dense, off int) {
	m := math.Inf(-1)
	for j := range dst {
		m = max(m, at(t, off+j))
	}
	var sum float64
	for j := range dst {
		sum += math.Exp(at(t, off+j) - m)
	}
	for j := range dst {
		dst[j] = float32(math.Exp(at(t, off+j)-m) / sum)
	}
}

// sigmoid returns 1/(1 + e^−z) without overflow.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// argmax returns the index of the largest value, the first of equal ones;
// NaNs are never larger (as the Trainer's accuracy counts).
func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}
