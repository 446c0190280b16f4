package ops

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Activation is an elementwise nonlinearity.
type Activation int

const (
	Linear  Activation = iota // identity: f(x) = x
	ReLU                      // f(x) = max(x, 0); f'(0) = 0
	Sigmoid                   // f(x) = 1 / (1 + e^−x)
	Tanh                      // f(x) = tanh x
)

func (a Activation) String() string {
	switch a {
	case Linear:
		return "Linear"
	case ReLU:
		return "ReLU"
	case Sigmoid:
		return "Sigmoid"
	case Tanh:
		return "Tanh"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

func (a Activation) valid() bool { return a >= Linear && a <= Tanh }

// Activate returns f(x) elementwise, for x of any shape. Linear returns x
// itself. The gradient is computed from the output: ReLU′ = [y > 0],
// σ′ = y(1 − y), tanh′ = 1 − y².
func Activate(x *G.Node, a Activation) (*G.Node, error) {
	if !a.valid() {
		return nil, errors.Errorf("ops.Activate: unknown activation %d", int(a))
	}
	if a == Linear {
		return x, nil
	}
	return actDef(a, x.Shape()).Apply(x)
}

// elementwise grain: below this many elements a loop runs on one goroutine.
const ewGrain = 1 << 15

func actDef(a Activation, shape tensor.Shape) Def {
	return Def{
		Name: fmt.Sprintf("%v{%v}", a, shape),
		In:   []tensor.Shape{shape},
		Out:  shape,
		F32:  func(out []float32, in [][]float32) { activate(a, in[0], out) },
		F64:  func(out []float64, in [][]float64) { activate(a, in[0], out) },
		Grad: func(g *Grad) { g.Set(0, preActGrad(g, a)) },
	}
}

// preActGrad returns ∂L/∂z for the op's output y = f(z): ∂L/∂y itself for
// Linear, else a step computing ∂L/∂y ⊙ f′ from y.
func preActGrad(g *Grad, f Activation) Ref {
	if f == Linear {
		return g.OutputGrad()
	}
	y, _ := g.shape(g.Output())
	return g.Apply(actGradDef(f, y), g.Output(), g.OutputGrad())
}

// actGradDef computes dx = dy ⊙ f′ from the activation's output y and dy.
func actGradDef(a Activation, shape tensor.Shape) Def {
	return Def{
		Name: fmt.Sprintf("%vGrad{%v}", a, shape),
		In:   []tensor.Shape{shape, shape},
		Out:  shape,
		F32:  func(out []float32, in [][]float32) { activateGrad(a, in[0], in[1], out) },
		F64:  func(out []float64, in [][]float64) { activateGrad(a, in[0], in[1], out) },
	}
}

// activate sets y = f(x) on every core; x and y may be the same slice. It
// allocates nothing (see loopPool).
func activate[T Float](a Activation, x, y []T) {
	pool := poolFor[activateLoop[T]](&activateLoops32, &activateLoops64)
	l := pool.get(newActivateLoop[T])
	l.a, l.x, l.y = a, x, y
	parallelFor(len(x), ewGrain, l.body)
	l.x, l.y = nil, nil
	pool.put(l)
}

// activateLoop is the state of activate's and activateGrad's loops.
type activateLoop[T Float] struct {
	a              Activation
	x, y, dy       []T
	body, gradBody func(chunk, lo, hi int) // run, grad
}

var (
	activateLoops32 loopPool[activateLoop[float32]]
	activateLoops64 loopPool[activateLoop[float64]]
)

func newActivateLoop[T Float]() *activateLoop[T] {
	l := &activateLoop[T]{}
	l.body, l.gradBody = l.run, l.grad
	return l
}

func (l *activateLoop[T]) run(_, lo, hi int) { activateSerial(l.a, l.x[lo:hi], l.y[lo:hi]) }

// activateSerial sets y = f(x) on the calling goroutine.
func activateSerial[T Float](a Activation, xs, ys []T) {
	switch a {
	case Linear:
		copy(ys, xs)
	case ReLU:
		relu(xs, ys)
	case Sigmoid:
		if x32, ok := any(xs).([]float32); ok && haveRowsAsm && len(xs) >= 8 {
			n := len(xs) &^ 7
			sigmoidAsm(unsafe.Pointer(&any(ys).([]float32)[:len(xs)][0]), unsafe.Pointer(&x32[0]), n)
			xs, ys = xs[n:], ys[n:]
		}
		for i, v := range xs {
			ys[i] = sigmoid(v)
		}
	case Tanh:
		for i, v := range xs {
			ys[i] = T(math.Tanh(float64(v)))
		}
	}
}

// relu sets y = max(x, 0) by clearing the bits of negative numbers: a
// comparison would branch, and the branch mispredicts on real activations.
// −0 becomes +0.
func relu[T Float](x, y []T) {
	switch xs := any(x).(type) {
	case []float32:
		ys := any(y).([]float32)[:len(xs)]
		if haveRowsAsm && len(xs) > 0 {
			reluAsm(unsafe.Pointer(&ys[0]), unsafe.Pointer(&xs[0]), len(xs))
			return
		}
		for i, v := range xs {
			b := math.Float32bits(v)
			ys[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
		}
	case []float64:
		ys := any(y).([]float64)[:len(xs)]
		for i, v := range xs {
			b := math.Float64bits(v)
			ys[i] = math.Float64frombits(b &^ uint64(int64(b)>>63))
		}
	}
}

// reluGrad sets dx = dy where y > 0 and 0 elsewhere, for y = relu(x) (so
// y ≥ +0), with a bit mask instead of a branch.
func reluGrad[T Float](y, dy, dx []T) {
	switch ys := any(y).(type) {
	case []float32:
		dys, dxs := any(dy).([]float32)[:len(ys)], any(dx).([]float32)[:len(ys)]
		if haveRowsAsm && len(ys) > 0 {
			reluGradAsm(unsafe.Pointer(&dxs[0]), unsafe.Pointer(&ys[0]), unsafe.Pointer(&dys[0]), len(ys))
			return
		}
		for i, v := range ys {
			mask := uint32(-int32(math.Float32bits(v)) >> 31) // all ones iff y > 0
			dxs[i] = math.Float32frombits(math.Float32bits(dys[i]) & mask)
		}
	case []float64:
		dys, dxs := any(dy).([]float64)[:len(ys)], any(dx).([]float64)[:len(ys)]
		for i, v := range ys {
			mask := uint64(-int64(math.Float64bits(v)) >> 63)
			dxs[i] = math.Float64frombits(math.Float64bits(dys[i]) & mask)
		}
	}
}

// sigmoid is 1/(1+e^−x), computed without overflow for large |x|.
func sigmoid[T Float](x T) T {
	if x >= 0 {
		return T(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return T(e / (1 + e))
}

// activateGrad sets dx = dy ⊙ f′ given the output y. It allocates nothing
// (see loopPool).
func activateGrad[T Float](a Activation, y, dy, dx []T) {
	pool := poolFor[activateLoop[T]](&activateLoops32, &activateLoops64)
	l := pool.get(newActivateLoop[T])
	l.a, l.x, l.dy, l.y = a, y, dy, dx
	parallelFor(len(y), ewGrain, l.gradBody)
	l.x, l.dy, l.y = nil, nil, nil
	pool.put(l)
}

// grad sets l.y = l.dy ⊙ f′(l.x) on [lo, hi), l.x holding f's output.
func (l *activateLoop[T]) grad(_, lo, hi int) {
	ys, dys, dxs := l.x[lo:hi], l.dy[lo:hi], l.y[lo:hi]
	switch l.a {
	case Linear:
		copy(dxs, dys)
	case ReLU:
		reluGrad(ys, dys, dxs)
	case Sigmoid:
		for i, v := range ys {
			dxs[i] = dys[i] * v * (1 - v)
		}
	case Tanh:
		for i, v := range ys {
			dxs[i] = dys[i] * (1 - v*v)
		}
	}
}

// Softmax returns the softmax of each row of x (N, K): y[n,k] = e^x[n,k] / Σ_j e^x[n,j].
// For training a classifier use SoftmaxCrossEntropy on the logits instead,
// which is exact where the softmax underflows.
func Softmax(x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 2 {
		return nil, errors.Errorf("ops.Softmax: input has shape %v, want (N, K)", s)
	}
	return softmaxDef(s).Apply(x)
}

func softmaxDef(shape tensor.Shape) Def {
	k := shape[1]
	return Def{
		Name: fmt.Sprintf("Softmax{%v}", shape),
		In:   []tensor.Shape{shape},
		Out:  shape,
		F32:  func(out []float32, in [][]float32) { softmaxRows(in[0], out, k) },
		F64:  func(out []float64, in [][]float64) { softmaxRows(in[0], out, k) },
		Grad: func(g *Grad) {
			g.Set(0, g.Apply(Def{ // dx = y ⊙ (dy − Σ_k dy_k y_k) per row
				Name: fmt.Sprintf("SoftmaxGrad{%v}", shape),
				In:   []tensor.Shape{shape, shape},
				Out:  shape,
				F32:  func(out []float32, in [][]float32) { softmaxGrad(in[0], in[1], out, k) },
				F64:  func(out []float64, in [][]float64) { softmaxGrad(in[0], in[1], out, k) },
			}, g.Output(), g.OutputGrad()))
		},
	}
}

// softmaxRows writes the softmax of each k-element row of x into y.
func softmaxRows[T Float](x, y []T, k int) {
	for r := 0; r+k <= len(x); r += k {
		row, out := x[r:r+k], y[r:r+k]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for i, v := range row {
			e := math.Exp(float64(v - m))
			out[i] = T(e)
			s += e
		}
		inv := T(1 / s)
		for i := range out {
			out[i] *= inv
		}
	}
}

func softmaxGrad[T Float](y, dy, dx []T, k int) {
	for r := 0; r+k <= len(y); r += k {
		var dot float64
		for i, v := range y[r : r+k] {
			dot += float64(v) * float64(dy[r+i])
		}
		for i, v := range y[r : r+k] {
			dx[r+i] = v * (dy[r+i] - T(dot))
		}
	}
}
