package ops

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the parametrised and smooth activations of the ReLU
// family and its relatives: LeakyReLU, ELU, GELU, SiLU and Softplus. Each
// is an elementwise Def for any input shape, float32 or float64, whose
// gradient is one further elementwise Def of the input x and ∂L/∂y. They
// follow PyTorch's torch.nn.functional definitions, including the
// derivative chosen at a kink. The float32 kernels compute in float64 and
// round once (LeakyReLU, which only multiplies, computes in float32 as
// PyTorch does), and every loop runs on all the cores; since each element
// is computed alone, the results do not depend on GOMAXPROCS.

// ewGrainExp is the grain of the elementwise loops that call exp or erf,
// which cost an order of magnitude more per element than ewGrain's.
const ewGrainExp = ewGrain / 8

// Defaults of torch.nn.functional.softplus, which Softplus uses.
const (
	softplusBeta      = 1
	softplusThreshold = 20
)

// LeakyReLU returns the leaky rectifier of x, elementwise, for x of any
// shape, float32 or float64:
//
//	y = x          where x > 0
//	y = slope·x    elsewhere
//
// as torch.nn.functional.leaky_relu(x, negative_slope=slope) (PyTorch's
// default slope is 0.01). slope may be any finite number: 0 gives ReLU's
// values (−0 for negative x), a negative one makes y non-monotonic. The gradient is ∂L/∂x = ∂L/∂y where
// x > 0 and slope·∂L/∂y elsewhere, so slope at x = 0, as in PyTorch. For
// float32, slope is rounded to float32 and the products are computed in
// float32, as PyTorch does.
func LeakyReLU(x *G.Node, slope float64) (*G.Node, error) {
	const what = "ops.LeakyReLU"
	if math.IsNaN(slope) || math.IsInf(slope, 0) {
		return nil, errors.Errorf("%s: slope %v is not finite", what, slope)
	}
	return ewSpec{
		name:  "LeakyReLU",
		param: fmt.Sprintf("slope=%v ", slope),
		grain: ewGrain,
		f32:   leakyReLU(float32(slope)),
		f64:   leakyReLU(slope),
		g32:   leakyReLUGrad(float32(slope)),
		g64:   leakyReLUGrad(slope),
	}.apply(what, x)
}

// ELU returns the exponential linear unit of x, elementwise, for x of any
// shape, float32 or float64:
//
//	y = x              where x > 0
//	y = α·(eˣ − 1)     elsewhere
//
// as torch.nn.functional.elu(x, alpha=α) (PyTorch's default α is 1). alpha
// may be any finite number. The gradient is ∂L/∂x = ∂L/∂y where x > 0 and
// α·eˣ·∂L/∂y elsewhere, so α at x = 0, as in PyTorch. eˣ − 1 is computed
// as expm1(x), accurately near 0; nothing overflows for large |x|.
func ELU(x *G.Node, alpha float64) (*G.Node, error) {
	const what = "ops.ELU"
	if math.IsNaN(alpha) || math.IsInf(alpha, 0) {
		return nil, errors.Errorf("%s: alpha %v is not finite", what, alpha)
	}
	return ewSpec{
		name:  "ELU",
		param: fmt.Sprintf("alpha=%v ", alpha),
		grain: ewGrainExp,
		f32:   elu[float32](alpha),
		f64:   elu[float64](alpha),
		g32:   eluGrad[float32](alpha),
		g64:   eluGrad[float64](alpha),
	}.apply(what, x)
}

// GELU returns the Gaussian error linear unit of x, elementwise, for x of
// any shape, float32 or float64, in its exact form
//
//	y = x·Φ(x) = ½·x·(1 + erf(x/√2))
//
// with Φ the standard normal distribution function, as
// torch.nn.functional.gelu(x) (approximate='none', not the tanh
// approximation). Φ(x) is computed as ½·erfc(−x/√2), accurate for
// negative x too. The gradient is ∂L/∂x = ∂L/∂y·(Φ(x) + x·φ(x)), with
// φ(x) = e^(−x²/2)/√(2π) the normal density.
func GELU(x *G.Node) (*G.Node, error) {
	return ewSpec{
		name:  "GELU",
		grain: ewGrainExp,
		f32:   gelu[float32],
		f64:   gelu[float64],
		g32:   geluGrad[float32],
		g64:   geluGrad[float64],
	}.apply("ops.GELU", x)
}

// SiLU returns the sigmoid linear unit (swish) of x, elementwise, for x of
// any shape, float32 or float64:
//
//	y = x·σ(x) = x / (1 + e^−x)
//
// as torch.nn.functional.silu(x). The gradient is
// ∂L/∂x = ∂L/∂y·σ(x)·(1 + x·(1 − σ(x))). Neither overflows for large |x|.
func SiLU(x *G.Node) (*G.Node, error) {
	return ewSpec{
		name:  "SiLU",
		grain: ewGrainExp,
		f32:   silu[float32],
		f64:   silu[float64],
		g32:   siluGrad[float32],
		g64:   siluGrad[float64],
	}.apply("ops.SiLU", x)
}

// Softplus returns the softplus of x, elementwise, for x of any shape,
// float32 or float64, with PyTorch's defaults β = 1 and threshold 20:
//
//	y = x              where x > 20
//	y = log(1 + eˣ)    elsewhere, computed as log1p(eˣ)
//
// as torch.nn.functional.softplus(x) (beta=1, threshold=20). It neither
// overflows for large x nor loses eˣ for very negative x. The gradient is
// ∂L/∂x = ∂L/∂y where x > 20 and ∂L/∂y·eˣ/(eˣ + 1) = ∂L/∂y·σ(x)
// elsewhere, as PyTorch's.
func Softplus(x *G.Node) (*G.Node, error) {
	return ewSpec{
		name:  "Softplus",
		param: fmt.Sprintf("beta=%v threshold=%v ", softplusBeta, softplusThreshold),
		grain: ewGrainExp,
		f32:   softplus[float32],
		f64:   softplus[float64],
		g32:   softplusGrad[float32],
		g64:   softplusGrad[float64],
	}.apply("ops.Softplus", x)
}

// ewSpec describes an elementwise op y = f(x) whose gradient ∂L/∂x is an
// elementwise function of x and ∂L/∂y: its name, its parameters as they
// go in the Def's name (with a trailing space), the grain of its loops and
// the functions that compute f and the gradient on one chunk of elements
// on the calling goroutine. Those hold no state, so every op may share
// them.
type ewSpec struct {
	name, param string
	grain       int
	f32         func(y, x []float32)
	f64         func(y, x []float64)
	g32         func(dx, x, dy []float32)
	g64         func(dx, x, dy []float64)
}

// apply checks x and applies the op to it, with errors prefixed by what.
func (e ewSpec) apply(what string, x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.Errorf("%s: input is nil", what)
	}
	if dt := x.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, errors.Errorf("%s: input of shape %v is %v, want float32 or float64", what, x.Shape(), dt)
	}
	y, err := e.def(x.Shape()).Apply(x)
	if err != nil {
		return nil, errors.Wrap(err, what)
	}
	return y, nil
}

// def returns the op for inputs of shape s, named "Name{param shape}".
// Its gradient step, "NameGrad{param shape}", takes (x, ∂L/∂y). Each Def,
// the gradient's included, gets kernels of its own (see ewKernel).
func (e ewSpec) def(s tensor.Shape) Def {
	return Def{
		Name: fmt.Sprintf("%s{%s%v}", e.name, e.param, s),
		In:   []tensor.Shape{s},
		Out:  s,
		F32:  ewKernel(e.f32, e.grain),
		F64:  ewKernel(e.f64, e.grain),
		Grad: func(g *Grad) {
			g.Set(0, g.Apply(Def{
				Name: fmt.Sprintf("%sGrad{%s%v}", e.name, e.param, s),
				In:   []tensor.Shape{s, s}, // x, ∂L/∂y
				Out:  s,
				F32:  ewGradKernel(e.g32, e.grain),
				F64:  ewGradKernel(e.g64, e.grain),
			}, g.Input(0), g.OutputGrad()))
		},
	}
}

// ewKernel returns a kernel setting out = f(in[0]) on every core, in
// chunks of at least grain elements. The loop body is made once and reads
// the call's slices from the kernel's own variables, so a call allocates
// nothing; a kernel serves one op, which runs one call at a time.
func ewKernel[T Float](f func(y, x []T), grain int) func(out []T, in [][]T) {
	var o, x []T
	body := func(_, lo, hi int) { f(o[lo:hi], x[lo:hi]) }
	return func(out []T, in [][]T) {
		o, x = out, in[0]
		parallelFor(len(out), grain, body)
		o, x = nil, nil
	}
}

// ewGradKernel returns a kernel setting out = f′(in[0], in[1]) on every
// core, as ewKernel does.
func ewGradKernel[T Float](f func(dx, x, dy []T), grain int) func(out []T, in [][]T) {
	var o, x, dy []T
	body := func(_, lo, hi int) { f(o[lo:hi], x[lo:hi], dy[lo:hi]) }
	return func(out []T, in [][]T) {
		o, x, dy = out, in[0], in[1]
		parallelFor(len(out), grain, body)
		o, x, dy = nil, nil, nil
	}
}

// leakyReLU returns the chunk function y = x > 0 ? x : slope·x, computed
// in T as PyTorch does (x·1 is x, NaN included).
func leakyReLU[T Float](slope T) func(y, x []T) {
	return func(y, x []T) {
		y = y[:len(x)]
		for i, v := range x {
			s := slope
			if v > 0 {
				s = 1
			}
			y[i] = v * s
		}
	}
}

// leakyReLUGrad returns the chunk function dx = x > 0 ? dy : slope·dy.
func leakyReLUGrad[T Float](slope T) func(dx, x, dy []T) {
	return func(dx, x, dy []T) {
		dx, dy = dx[:len(x)], dy[:len(x)]
		for i, v := range x {
			s := slope
			if v > 0 {
				s = 1
			}
			dx[i] = dy[i] * s
		}
	}
}

// elu returns the chunk function y = x > 0 ? x : α·expm1(x).
func elu[T Float](alpha float64) func(y, x []T) {
	return func(y, x []T) {
		y = y[:len(x)]
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = T(alpha * math.Expm1(float64(v)))
			}
		}
	}
}

// eluGrad returns the chunk function dx = x > 0 ? dy : α·eˣ·dy.
func eluGrad[T Float](alpha float64) func(dx, x, dy []T) {
	return func(dx, x, dy []T) {
		dx, dy = dx[:len(x)], dy[:len(x)]
		for i, v := range x {
			if v > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = T(float64(dy[i]) * alpha * math.Exp(float64(v)))
			}
		}
	}
}

const (
	sqrt1_2    = 1 / math.Sqrt2                 // 1/√2
	invSqrt2Pi = 1 / (math.Sqrt2 * math.SqrtPi) // 1/√(2π)
)

// normCDF is Φ(x) = ½·erfc(−x/√2), with full relative accuracy in both
// tails.
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x*sqrt1_2) }

// gelu sets y = x·Φ(x).
func gelu[T Float](y, x []T) {
	y = y[:len(x)]
	for i, v := range x {
		f := float64(v)
		y[i] = T(f * normCDF(f))
	}
}

// geluGrad sets dx = dy·(Φ(x) + x·φ(x)).
func geluGrad[T Float](dx, x, dy []T) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		f := float64(v)
		pdf := invSqrt2Pi * math.Exp(-0.5*f*f)
		dx[i] = T(float64(dy[i]) * (normCDF(f) + f*pdf))
	}
}

// sigmoid64 is σ(x) = 1/(1 + e^−x), without overflow for large |x|.
func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// silu sets y = x·σ(x).
func silu[T Float](y, x []T) {
	y = y[:len(x)]
	for i, v := range x {
		f := float64(v)
		y[i] = T(f * sigmoid64(f))
	}
}

// siluGrad sets dx = dy·σ(x)·(1 + x·(1 − σ(x))).
func siluGrad[T Float](dx, x, dy []T) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		f := float64(v)
		s := sigmoid64(f)
		dx[i] = T(float64(dy[i]) * s * (1 + f*(1-s)))
	}
}

// softplus sets y = x > 20 ? x : log1p(eˣ) (β = 1): eˣ ≤ e²⁰ cannot
// overflow, and log1p keeps eˣ where it is tiny.
func softplus[T Float](y, x []T) {
	y = y[:len(x)]
	for i, v := range x {
		if f := float64(v); f > softplusThreshold {
			y[i] = v
		} else {
			y[i] = T(math.Log1p(math.Exp(f)))
		}
	}
}

// softplusGrad sets dx = x > 20 ? dy : dy·eˣ/(eˣ + 1).
func softplusGrad[T Float](dx, x, dy []T) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		if f := float64(v); f > softplusThreshold {
			dx[i] = dy[i]
		} else {
			z := math.Exp(f)
			dx[i] = T(float64(dy[i]) * (z / (z + 1)))
		}
	}
}
