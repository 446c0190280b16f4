package ops

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The losses reduce to a scalar and differentiate with respect to their
// first argument only: targets are data, not parameters.

func lossShapes(name string, pred, target *G.Node, rank int) (tensor.Shape, error) {
	ps, ts := pred.Shape(), target.Shape()
	if rank > 0 && len(ps) != rank {
		return nil, errors.Errorf("ops.%s: prediction has shape %v, want rank %d", name, ps, rank)
	}
	if !ps.Eq(ts) {
		return nil, errors.Errorf("ops.%s: prediction has shape %v but target has %v", name, ps, ts)
	}
	if ps.TotalSize() == 0 || ps.IsScalar() {
		return nil, errors.Errorf("ops.%s: empty prediction %v", name, ps)
	}
	return ps.Clone(), nil
}

// SoftmaxCrossEntropy returns the mean over the N rows of the cross-entropy
// between softmax(logits) and target, both (N, K):
//
//	L = −(1/N) Σ_n Σ_k t[n,k] · log softmax(z[n])_k
//
// computed from the logits with the log-sum-exp trick, so it is exact where
// the softmax would underflow. target is usually one-hot; any non-negative
// rows work. ∂L/∂z = (softmax(z)·Σ_k t − t)/N.
func SoftmaxCrossEntropy(logits, target *G.Node) (*G.Node, error) {
	s, err := lossShapes("SoftmaxCrossEntropy", logits, target, 2)
	if err != nil {
		return nil, err
	}
	n, k := s[0], s[1]
	op := &kernelOp{
		name: fmt.Sprintf("SoftmaxCrossEntropy{%v}", s),
		in:   []tensor.Shape{s, s},
		f32:  func(_ []float32, a [][]float32, r *float64) { *r = softmaxCE(a[0], a[1], n, k) },
		f64:  func(_ []float64, a [][]float64, r *float64) { *r = softmaxCE(a[0], a[1], n, k) },
		grad: []gradStep{{newOp: func() *kernelOp {
			return &kernelOp{
				name: fmt.Sprintf("SoftmaxCrossEntropyGrad{%v}", s),
				in:   []tensor.Shape{s, s, {}},
				out:  s,
				f32:  func(o []float32, a [][]float32, _ *float64) { softmaxCEGrad(a[0], a[1], a[2][0], o, n, k) },
				f64:  func(o []float64, a [][]float64, _ *float64) { softmaxCEGrad(a[0], a[1], a[2][0], o, n, k) },
			}
		}, args: []int{0, 1, argGrad}, input: 0}},
		wrt: []bool{true, false},
	}
	return G.ApplyOp(op, logits, target)
}

func softmaxCE[T Float](z, t []T, n, k int) float64 {
	var loss float64
	for r := 0; r < n; r++ {
		row, tr := z[r*k:(r+1)*k], t[r*k:(r+1)*k]
		m := float64(row[0])
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		for i, v := range row {
			if tr[i] != 0 {
				loss += float64(tr[i]) * (lse - float64(v))
			}
		}
	}
	return loss / float64(n)
}

func softmaxCEGrad[T Float](z, t []T, g T, dz []T, n, k int) {
	scale := float64(g) / float64(n)
	for r := 0; r < n; r++ {
		row, tr, out := z[r*k:(r+1)*k], t[r*k:(r+1)*k], dz[r*k:(r+1)*k]
		m := float64(row[0])
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s, ts float64
		for i, v := range row {
			s += math.Exp(float64(v) - m)
			ts += float64(tr[i])
		}
		for i, v := range row {
			p := math.Exp(float64(v)-m) / s
			out[i] = T((p*ts - float64(tr[i])) * scale)
		}
	}
}

// MSE returns the mean squared error over all M elements of pred and target
// (same shape): L = (1/M) Σ (p − t)². ∂L/∂p = 2(p − t)/M.
func MSE(pred, target *G.Node) (*G.Node, error) {
	s, err := lossShapes("MSE", pred, target, 0)
	if err != nil {
		return nil, err
	}
	m := float64(s.TotalSize())
	op := &kernelOp{
		name: fmt.Sprintf("MSE{%v}", s),
		in:   []tensor.Shape{s, s},
		f32:  func(_ []float32, a [][]float32, r *float64) { *r = sqDiff(a[0], a[1]) / m },
		f64:  func(_ []float64, a [][]float64, r *float64) { *r = sqDiff(a[0], a[1]) / m },
		grad: []gradStep{{newOp: func() *kernelOp {
			return &kernelOp{
				name: fmt.Sprintf("MSEGrad{%v}", s),
				in:   []tensor.Shape{s, s, {}},
				out:  s,
				f32:  func(o []float32, a [][]float32, _ *float64) { scaledDiff(a[0], a[1], 2*float64(a[2][0])/m, o) },
				f64:  func(o []float64, a [][]float64, _ *float64) { scaledDiff(a[0], a[1], 2*a[2][0]/m, o) },
			}
		}, args: []int{0, 1, argGrad}, input: 0}},
		wrt: []bool{true, false},
	}
	return G.ApplyOp(op, pred, target)
}

func sqDiff[T Float](p, t []T) float64 {
	var s float64
	for i, v := range p {
		d := float64(v) - float64(t[i])
		s += d * d
	}
	return s
}

// scaledDiff sets o = c·(p − t).
func scaledDiff[T Float](p, t []T, c float64, o []T) {
	ct := T(c)
	parallelFor(len(p), ewGrain, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = ct * (p[i] - t[i])
		}
	})
}

// SigmoidCrossEntropy returns the binary cross-entropy between sigmoid(logits)
// and target (same shape, targets in [0, 1]), averaged over all M elements:
//
//	L = (1/M) Σ −[t·log σ(z) + (1 − t)·log(1 − σ(z))]
//	  = (1/M) Σ max(z, 0) − z·t + log(1 + e^−|z|)
//
// computed in the second, overflow-free form. ∂L/∂z = (σ(z) − t)/M. This is
// PyTorch's BCEWithLogitsLoss: put the sigmoid in the loss, not the model.
func SigmoidCrossEntropy(logits, target *G.Node) (*G.Node, error) {
	s, err := lossShapes("SigmoidCrossEntropy", logits, target, 0)
	if err != nil {
		return nil, err
	}
	m := float64(s.TotalSize())
	op := &kernelOp{
		name: fmt.Sprintf("SigmoidCrossEntropy{%v}", s),
		in:   []tensor.Shape{s, s},
		f32:  func(_ []float32, a [][]float32, r *float64) { *r = sigmoidCE(a[0], a[1]) / m },
		f64:  func(_ []float64, a [][]float64, r *float64) { *r = sigmoidCE(a[0], a[1]) / m },
		grad: []gradStep{{newOp: func() *kernelOp {
			return &kernelOp{
				name: fmt.Sprintf("SigmoidCrossEntropyGrad{%v}", s),
				in:   []tensor.Shape{s, s, {}},
				out:  s,
				f32:  func(o []float32, a [][]float32, _ *float64) { sigmoidCEGrad(a[0], a[1], float64(a[2][0])/m, o) },
				f64:  func(o []float64, a [][]float64, _ *float64) { sigmoidCEGrad(a[0], a[1], a[2][0]/m, o) },
			}
		}, args: []int{0, 1, argGrad}, input: 0}},
		wrt: []bool{true, false},
	}
	return G.ApplyOp(op, logits, target)
}

func sigmoidCE[T Float](z, t []T) float64 {
	var s float64
	for i, v := range z {
		x := float64(v)
		s += math.Max(x, 0) - x*float64(t[i]) + math.Log1p(math.Exp(-math.Abs(x)))
	}
	return s
}

func sigmoidCEGrad[T Float](z, t []T, c float64, o []T) {
	ct := T(c)
	parallelFor(len(z), ewGrain, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = ct * (sigmoid(z[i]) - t[i])
		}
	})
}
