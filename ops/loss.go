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

// lossDef is the scalar loss L(p, t) of a prediction p and a target t of
// shape s, whose gradient ∂L/∂p (for the loss's own gradient g, 1 when it
// is the cost) is written by grad32/grad64.
func lossDef(name string, s tensor.Shape,
	loss32 func(p, t []float32) float64, loss64 func(p, t []float64) float64,
	grad32 func(p, t []float32, g float32, dp []float32), grad64 func(p, t []float64, g float64, dp []float64)) Def {
	return Def{
		Name: fmt.Sprintf("%s{%v}", name, s),
		In:   []tensor.Shape{s, s},
		F32:  func(o []float32, a [][]float32) { o[0] = float32(loss32(a[0], a[1])) },
		F64:  func(o []float64, a [][]float64) { o[0] = loss64(a[0], a[1]) },
		Grad: func(g *Grad) {
			g.Set(0, g.Apply(Def{
				Name: fmt.Sprintf("%sGrad{%v}", name, s),
				In:   []tensor.Shape{s, s, {}},
				Out:  s,
				F32:  func(o []float32, a [][]float32) { grad32(a[0], a[1], a[2][0], o) },
				F64:  func(o []float64, a [][]float64) { grad64(a[0], a[1], a[2][0], o) },
			}, g.Input(0), g.Input(1), g.OutputGrad()))
		},
	}
}

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
	return lossDef("SoftmaxCrossEntropy", s,
		func(z, t []float32) float64 { return softmaxCE(z, t, n, k) },
		func(z, t []float64) float64 { return softmaxCE(z, t, n, k) },
		func(z, t []float32, g float32, dz []float32) { softmaxCEGrad(z, t, g, dz, n, k) },
		func(z, t []float64, g float64, dz []float64) { softmaxCEGrad(z, t, g, dz, n, k) },
	).Apply(logits, target)
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
	return lossDef("MSE", s,
		func(p, t []float32) float64 { return sqDiff(p, t) / m },
		func(p, t []float64) float64 { return sqDiff(p, t) / m },
		func(p, t []float32, g float32, dp []float32) { scaledDiff(p, t, 2*float64(g)/m, dp) },
		func(p, t []float64, g float64, dp []float64) { scaledDiff(p, t, 2*g/m, dp) },
	).Apply(pred, target)
}

func sqDiff[T Float](p, t []T) float64 {
	var s float64
	for i, v := range p {
		d := float64(v) - float64(t[i])
		s += d * d
	}
	return s
}

// scaledDiff sets o = c·(p − t) on every core.
func scaledDiff[T Float](p, t []T, c float64, o []T) { lossGrad(false, p, t, c, o) }

// lossGrad sets o = c·(p − t), or o = c·(σ(p) − t) with sigmoid, on every
// core. It allocates nothing (see loopPool).
func lossGrad[T Float](sigmoid bool, p, t []T, c float64, o []T) {
	pool := poolFor[lossGradLoop[T]](&lossGradLoops32, &lossGradLoops64)
	l := pool.get(newLossGradLoop[T])
	l.sigmoid, l.p, l.t, l.c, l.o = sigmoid, p, t[:len(p)], T(c), o[:len(p)]
	parallelFor(len(p), ewGrain, l.body)
	l.p, l.t, l.o = nil, nil, nil
	pool.put(l)
}

// lossGradLoop is the state of lossGrad's loop.
type lossGradLoop[T Float] struct {
	sigmoid bool
	p, t, o []T
	c       T
	body    func(chunk, lo, hi int) // run
}

var (
	lossGradLoops32 loopPool[lossGradLoop[float32]]
	lossGradLoops64 loopPool[lossGradLoop[float64]]
)

func newLossGradLoop[T Float]() *lossGradLoop[T] {
	l := &lossGradLoop[T]{}
	l.body = l.run
	return l
}

func (l *lossGradLoop[T]) run(_, lo, hi int) {
	p, t, o, c := l.p[lo:hi], l.t[lo:hi], l.o[lo:hi], l.c
	if l.sigmoid {
		for i, v := range p {
			o[i] = c * (sigmoid(v) - t[i])
		}
		return
	}
	for i, v := range p {
		o[i] = c * (v - t[i])
	}
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
	return lossDef("SigmoidCrossEntropy", s,
		func(z, t []float32) float64 { return sigmoidCE(z, t) / m },
		func(z, t []float64) float64 { return sigmoidCE(z, t) / m },
		func(z, t []float32, g float32, dz []float32) { sigmoidCEGrad(z, t, float64(g)/m, dz) },
		func(z, t []float64, g float64, dz []float64) { sigmoidCEGrad(z, t, g/m, dz) },
	).Apply(logits, target)
}

func sigmoidCE[T Float](z, t []T) float64 {
	var s float64
	for i, v := range z {
		x := float64(v)
		s += math.Max(x, 0) - x*float64(t[i]) + math.Log1p(math.Exp(-math.Abs(x)))
	}
	return s
}

// sigmoidCEGrad sets o = c·(σ(z) − t) on every core.
func sigmoidCEGrad[T Float](z, t []T, c float64, o []T) { lossGrad(true, z, t, c, o) }
