package train

import (
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/pkg/errors"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/par"
)

// Optimizer updates a model's parameters in place from their gradients.
// Implementations here never rescale gradients by the batch size: the losses
// are already means over the batch.
type Optimizer interface {
	// Step applies one update with learning rate lr. grads[i] is the
	// gradient of params[i]. A gradient element that is NaN or ±Inf stops the
	// update with a *DivergenceError naming the parameter; the parameters
	// updated before it keep their new values.
	Step(params []*graph.Param, grads []*tensor.Dense, lr float64) error
	// LR returns the base learning rate, which the schedule scales.
	LR() float64
	// Slots returns the optimizer's state buffers for params (allocating
	// them on first use) so checkpoints can save and restore them in place.
	Slots(params []*graph.Param) []Slot
	// Steps returns the number of updates taken; SetSteps restores it.
	Steps() int
	SetSteps(int)
	String() string
}

// Slot is one named optimizer state buffer; exactly one of F32 and F64 is set.
type Slot struct {
	Name string
	F32  []float32
	F64  []float64
}

// DivergenceError reports a non-finite loss, gradient or parameter. No
// checkpoint is written from non-finite parameters: the last one saved holds
// the run before it diverged.
type DivergenceError struct {
	Step  int    // global training step (from 0)
	What  string // "loss", "gradient of <param>" or "parameter <param> after the update"
	Value float64
	Param string // the first parameter holding a NaN or ±Inf; "" if all are finite
}

func (e *DivergenceError) Error() string {
	msg := fmt.Sprintf("train: diverged at step %d: %s is %v", e.Step, e.What, e.Value)
	switch {
	case e.Param == "":
		msg += "; the parameters are finite"
	case !strings.Contains(e.What, e.Param):
		msg += "; first non-finite parameter: " + e.Param
	}
	return msg + " (lower the learning rate?)"
}

// slots holds one state buffer per parameter, shaped like it.
type slots struct {
	f32 [][]float32
	f64 [][]float64
}

func (s *slots) ensure(params []*graph.Param) {
	if len(s.f32) == len(params) {
		return
	}
	s.f32, s.f64 = make([][]float32, len(params)), make([][]float64, len(params))
	for i, p := range params {
		switch p.Value.Dtype() {
		case tensor.Float32:
			s.f32[i] = make([]float32, p.Value.Size())
		case tensor.Float64:
			s.f64[i] = make([]float64, p.Value.Size())
		}
	}
}

func (s *slots) list(prefix string, params []*graph.Param) []Slot {
	s.ensure(params)
	out := make([]Slot, len(params))
	for i, p := range params {
		out[i] = Slot{Name: prefix + "/" + p.Name, F32: s.f32[i], F64: s.f64[i]}
	}
	return out
}

func checkArgs(params []*graph.Param, grads []*tensor.Dense) error {
	if len(params) != len(grads) {
		return errors.Errorf("train: %d parameters but %d gradients", len(params), len(grads))
	}
	for i, p := range params {
		if grads[i] == nil || grads[i].Size() != p.Value.Size() || grads[i].Dtype() != p.Value.Dtype() {
			return errors.Errorf("train: gradient of %s does not match the parameter %v %v", p.Name, p.Value.Dtype(), p.Value.Shape())
		}
	}
	return nil
}

// chunked runs fn over [0, n) split across the cores; elementwise updates
// are independent, so the split does not change results. It reports whether
// every chunk returned true.
func chunked(n int, fn func(lo, hi int) bool) bool {
	const grain = 1 << 14
	ok := make([]bool, par.Chunks(n, grain))
	par.For(n, grain, func(c, lo, hi int) { ok[c] = fn(lo, hi) })
	for _, o := range ok {
		if !o {
			return false
		}
	}
	return true
}

// nonFinite returns the first NaN or ±Inf of g, for error messages.
func nonFinite[T float32 | float64](g []T) float64 {
	for _, v := range g {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return f
		}
	}
	return 0
}

// SGD is stochastic gradient descent with momentum, as PyTorch defines it:
//
//	g ← ∇ + WeightDecay·p;  v ← Momentum·v + g;  p ← p − lr·v
//
// (with Nesterov, p ← p − lr·(g + Momentum·v)). Momentum 0 is plain SGD.
type SGD struct {
	LearningRate float64
	Momentum     float64
	WeightDecay  float64 // L2 penalty added to the gradient
	Nesterov     bool

	v     slots
	steps int
}

func (o *SGD) LR() float64    { return o.LearningRate }
func (o *SGD) Steps() int     { return o.steps }
func (o *SGD) SetSteps(n int) { o.steps = n }
func (o *SGD) String() string {
	return fmt.Sprintf("sgd(lr %g, momentum %g, weight decay %g, nesterov %t)", o.LearningRate, o.Momentum, o.WeightDecay, o.Nesterov)
}
func (o *SGD) Slots(params []*graph.Param) []Slot { return o.v.list("sgd/velocity", params) }

func (o *SGD) Step(params []*graph.Param, grads []*tensor.Dense, lr float64) error {
	if err := checkArgs(params, grads); err != nil {
		return err
	}
	o.v.ensure(params)
	for i, p := range params {
		var ok bool
		switch p.Value.Dtype() {
		case tensor.Float32:
			ok = sgdUpdate(p.Value.Float32s(), grads[i].Float32s(), o.v.f32[i], lr, o.Momentum, o.WeightDecay, o.Nesterov)
		case tensor.Float64:
			ok = sgdUpdate(p.Value.Float64s(), grads[i].Float64s(), o.v.f64[i], lr, o.Momentum, o.WeightDecay, o.Nesterov)
		}
		if !ok {
			return &DivergenceError{Step: o.steps, What: "gradient of " + p.Name, Value: nonFiniteOf(grads[i])}
		}
	}
	o.steps++
	return nil
}

func sgdUpdate[T float32 | float64](p, g, v []T, lr, mom, wd float64, nesterov bool) bool {
	l, m, d := T(lr), T(mom), T(wd)
	return chunked(len(p), func(lo, hi int) bool {
		for j := lo; j < hi; j++ {
			gj := g[j]
			if gj-gj != 0 {
				return false
			}
			gj += d * p[j]
			if m == 0 {
				p[j] -= l * gj
				continue
			}
			v[j] = m*v[j] + gj
			if nesterov {
				p[j] -= l * (gj + m*v[j])
			} else {
				p[j] -= l * v[j]
			}
		}
		return true
	})
}

func nonFiniteOf(t *tensor.Dense) float64 {
	switch d := t.Data().(type) {
	case []float32:
		return nonFinite(d)
	case []float64:
		return nonFinite(d)
	}
	return math.NaN()
}

// Adam is the Adam optimizer (Kingma & Ba), as PyTorch defines it, updating
// in place without allocating:
//
//	m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
//	p ← p − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
//
// WeightDecay adds WeightDecay·p to g (L2, PyTorch's Adam); with Decoupled
// it instead shrinks p by lr·WeightDecay before the update (AdamW). Zero
// betas and epsilon take the defaults 0.9, 0.999 and 1e-8.
type Adam struct {
	LearningRate float64
	Beta1, Beta2 float64
	Epsilon      float64
	WeightDecay  float64
	Decoupled    bool // AdamW

	m, v  slots
	steps int
}

func (o *Adam) LR() float64    { return o.LearningRate }
func (o *Adam) Steps() int     { return o.steps }
func (o *Adam) SetSteps(n int) { o.steps = n }
func (o *Adam) String() string {
	b1, b2, eps := o.hyper()
	name := "adam"
	if o.Decoupled {
		name = "adamw"
	}
	return fmt.Sprintf("%s(lr %g, betas %g/%g, eps %g, weight decay %g)", name, o.LearningRate, b1, b2, eps, o.WeightDecay)
}

func (o *Adam) hyper() (b1, b2, eps float64) {
	b1, b2, eps = o.Beta1, o.Beta2, o.Epsilon
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	return
}

func (o *Adam) Slots(params []*graph.Param) []Slot {
	return append(o.m.list("adam/m", params), o.v.list("adam/v", params)...)
}

func (o *Adam) Step(params []*graph.Param, grads []*tensor.Dense, lr float64) error {
	if err := checkArgs(params, grads); err != nil {
		return err
	}
	o.m.ensure(params)
	o.v.ensure(params)
	b1, b2, eps := o.hyper()
	t := float64(o.steps + 1)
	h := adamStep{
		b1: b1, b2: b2, eps: eps,
		step:  lr / (1 - math.Pow(b1, t)),
		bc2:   math.Sqrt(1 - math.Pow(b2, t)),
		decay: o.WeightDecay,
	}
	if o.Decoupled {
		h.shrink, h.decay = 1-lr*o.WeightDecay, 0
	} else {
		h.shrink = 1
	}
	for i, p := range params {
		var ok bool
		switch p.Value.Dtype() {
		case tensor.Float32:
			ok = adamUpdate(h, p.Value.Float32s(), grads[i].Float32s(), o.m.f32[i], o.v.f32[i])
		case tensor.Float64:
			ok = adamUpdate(h, p.Value.Float64s(), grads[i].Float64s(), o.m.f64[i], o.v.f64[i])
		}
		if !ok {
			return &DivergenceError{Step: o.steps, What: "gradient of " + p.Name, Value: nonFiniteOf(grads[i])}
		}
	}
	o.steps++
	return nil
}

// adamStep holds one step's constants: step = lr/(1−β₁ᵗ), bc2 = √(1−β₂ᵗ),
// so p ← shrink·p − step·m/(√v/bc2 + ε).
type adamStep struct {
	b1, b2, eps, step, bc2, decay, shrink float64
}

func adamUpdate[T float32 | float64](h adamStep, p, g, m, v []T) bool {
	if p32, ok := any(p).([]float32); ok && haveAdamAsm {
		g32, m32, v32 := any(g).([]float32), any(m).([]float32), any(v).([]float32)
		c := adamConsts{b1: float32(h.b1), c1: float32(1 - h.b1), b2: float32(h.b2), c2: float32(1 - h.b2),
			step: float32(h.step), inv: float32(1 / h.bc2), eps: float32(h.eps), decay: float32(h.decay), shrink: float32(h.shrink)}
		_, _, _ = g32[len(p32)-1], m32[len(p32)-1], v32[len(p32)-1]
		return chunked(len(p), func(lo, hi int) bool {
			return adamAVX512(unsafe.Pointer(&p32[lo]), unsafe.Pointer(&g32[lo]), unsafe.Pointer(&m32[lo]), unsafe.Pointer(&v32[lo]), hi-lo, &c)
		})
	}
	b1, b2, c1, c2 := T(h.b1), T(h.b2), T(1-h.b1), T(h.b2)
	c2 = 1 - c2
	step, inv, eps, decay, shrink := T(h.step), T(1/h.bc2), T(h.eps), T(h.decay), T(h.shrink)
	return chunked(len(p), func(lo, hi int) bool {
		for j := lo; j < hi; j++ {
			gj := g[j]
			if gj-gj != 0 {
				return false
			}
			if decay != 0 {
				gj += decay * p[j]
			}
			mj := b1*m[j] + c1*gj
			vj := b2*v[j] + c2*gj*gj
			m[j], v[j] = mj, vj
			p[j] = shrink*p[j] - step*mj/(T(math.Sqrt(float64(vj)))*inv+eps)
		}
		return true
	})
}
