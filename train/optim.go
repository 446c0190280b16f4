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

// Optimizer is an update rule. Its fields are settings, values that one
// Optimizer may share between any number of models and runs; what it
// remembers between steps (momentum, Adam's moments, the step count) lives
// in an OptimizerState made for one model's parameters, which the Trainer
// owns and checkpoints. Implementations here never rescale gradients by the
// batch size: the losses are already means over the batch.
type Optimizer interface {
	// NewState returns the state for params, zeroed: a step count of 0 and
	// the optimizer's named buffers, shaped like the parameters.
	NewState(params []*graph.Param) *OptimizerState
	// Step applies one update with learning rate lr, using and advancing
	// st, which must have been made by NewState for params. grads[i] is the
	// gradient of params[i]. A gradient element that is NaN or ±Inf stops
	// the update with a *DivergenceError naming the parameter; the
	// parameters updated before it (Retina's optimizers go from the last
	// parameter to the first) keep their new values.
	Step(params []*graph.Param, grads []*tensor.Dense, st *OptimizerState, lr float64) error
	// LR returns the base learning rate, which the schedule scales.
	LR() float64
	String() string
}

// OptimizerState is what an optimizer remembers about one model's
// parameters between steps.
type OptimizerState struct {
	Steps int    // updates taken
	Slots []Slot // the state buffers, each shaped like one parameter
	sizes []int  // element counts of the parameters it was made for

	loop32 updateLoop[float32] // the updates' loops over the cores, reused
	loop64 updateLoop[float64]
}

// Slot is one named optimizer state buffer; exactly one of F32 and F64 is set.
type Slot struct {
	Name string
	F32  []float32
	F64  []float64
}

// newState makes a state with one buffer per parameter for each prefix
// ("adam/m", "adam/v"), named "<prefix>/<parameter>".
func newState(params []*graph.Param, prefixes ...string) *OptimizerState {
	st := &OptimizerState{}
	for _, p := range params {
		st.sizes = append(st.sizes, p.Value.Size())
	}
	for _, prefix := range prefixes {
		for _, p := range params {
			s := Slot{Name: prefix + "/" + p.Name}
			switch p.Value.Dtype() {
			case tensor.Float64:
				s.F64 = make([]float64, p.Value.Size())
			default:
				s.F32 = make([]float32, p.Value.Size())
			}
			st.Slots = append(st.Slots, s)
		}
	}
	return st
}

// check reports an error unless st was made for params with buffers of the
// given count per parameter.
func (st *OptimizerState) check(params []*graph.Param, perParam int) error {
	if st == nil {
		return errors.New("train: optimizer step without a state (make one with NewState)")
	}
	if len(st.sizes) != len(params) || len(st.Slots) != perParam*len(params) {
		return errors.Errorf("train: optimizer state made for %d parameters, stepping %d", len(st.sizes), len(params))
	}
	for i, p := range params {
		if st.sizes[i] != p.Value.Size() {
			return errors.Errorf("train: optimizer state for %d values, parameter %s has %d", st.sizes[i], p.Name, p.Value.Size())
		}
	}
	return nil
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

// updateLoop runs one parameter's update over the cores: elementwise
// updates are independent, so the split does not change results. Its body
// is bound once and its arguments are fields, so that an update allocates
// nothing (a closure handed to par.For would be allocated at every call).
type updateLoop[T float32 | float64] struct {
	rule    int // sgdRule, adamRule or adamAsmRule
	p, g    []T // the parameter and its gradient
	a, b    []T // the state: SGD's velocity in a; Adam's moments in a and b
	sgd     sgdConsts[T]
	adam    adamConsts64[T]
	adamAsm adamConsts // adam's constants for adamAVX512
	ok      []bool     // per chunk: every gradient element was finite
	body    func(chunk, lo, hi int)
}

const (
	sgdRule = iota
	adamRule
	adamAsmRule
)

// updateGrain is the fewest elements worth handing to another core.
const updateGrain = 1 << 14

// run updates elements [0, len(l.p)) and reports whether every gradient
// element was finite; it then drops its slices.
func (l *updateLoop[T]) run() bool {
	if l.body == nil {
		l.body = l.chunk
	}
	n := len(l.p)
	l.g, l.a = l.g[:n], l.a[:n]
	if l.b != nil {
		l.b = l.b[:n]
	}
	chunks := par.Chunks(n, updateGrain)
	if cap(l.ok) < chunks {
		l.ok = make([]bool, chunks)
	}
	l.ok = l.ok[:chunks]
	par.For(n, updateGrain, l.body)
	l.p, l.g, l.a, l.b = nil, nil, nil, nil
	for _, ok := range l.ok {
		if !ok {
			return false
		}
	}
	return true
}

func (l *updateLoop[T]) chunk(c, lo, hi int) {
	switch l.rule {
	case sgdRule:
		l.ok[c] = sgdRange(&l.sgd, l.p[lo:hi], l.g[lo:hi], l.a[lo:hi])
	case adamRule:
		l.ok[c] = adamRange(&l.adam, l.p[lo:hi], l.g[lo:hi], l.a[lo:hi], l.b[lo:hi])
	case adamAsmRule:
		if lo < hi {
			l.ok[c] = adamAVX512(unsafe.Pointer(&l.p[lo]), unsafe.Pointer(&l.g[lo]), unsafe.Pointer(&l.a[lo]), unsafe.Pointer(&l.b[lo]), hi-lo, &l.adamAsm)
		} else {
			l.ok[c] = true
		}
	}
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
}

func (o *SGD) LR() float64 { return o.LearningRate }
func (o *SGD) String() string {
	return fmt.Sprintf("sgd(lr %g, momentum %g, weight decay %g, nesterov %t)", o.LearningRate, o.Momentum, o.WeightDecay, o.Nesterov)
}

// NewState returns one velocity buffer per parameter, "sgd/velocity/<name>".
func (o *SGD) NewState(params []*graph.Param) *OptimizerState {
	return newState(params, "sgd/velocity")
}

func (o *SGD) Step(params []*graph.Param, grads []*tensor.Dense, st *OptimizerState, lr float64) error {
	if err := checkArgs(params, grads); err != nil {
		return err
	}
	if err := st.check(params, 1); err != nil {
		return err
	}
	for i := len(params) - 1; i >= 0; i-- { // see Adam.Step
		var ok bool
		p, v := params[i], st.Slots[i]
		switch p.Value.Dtype() {
		case tensor.Float32:
			ok = sgdUpdate(&st.loop32, p.Value.Float32s(), grads[i].Float32s(), v.F32, lr, o.Momentum, o.WeightDecay, o.Nesterov)
		case tensor.Float64:
			ok = sgdUpdate(&st.loop64, p.Value.Float64s(), grads[i].Float64s(), v.F64, lr, o.Momentum, o.WeightDecay, o.Nesterov)
		}
		if !ok {
			return &DivergenceError{Step: st.Steps, What: "gradient of " + p.Name, Value: nonFiniteOf(grads[i])}
		}
	}
	st.Steps++
	return nil
}

// sgdConsts are one SGD step's settings in the parameters' type.
type sgdConsts[T float32 | float64] struct {
	lr, momentum, decay T
	nesterov            bool
}

func sgdUpdate[T float32 | float64](l *updateLoop[T], p, g, v []T, lr, mom, wd float64, nesterov bool) bool {
	l.rule, l.p, l.g, l.a, l.b = sgdRule, p, g, v, nil
	l.sgd = sgdConsts[T]{lr: T(lr), momentum: T(mom), decay: T(wd), nesterov: nesterov}
	return l.run()
}

// sgdRange updates p with g and the velocity v (slices of one length).
func sgdRange[T float32 | float64](c *sgdConsts[T], p, g, v []T) bool {
	l, m, d := c.lr, c.momentum, c.decay
	g, v = g[:len(p)], v[:len(p)]
	for j := range p {
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
		if c.nesterov {
			p[j] -= l * (gj + m*v[j])
		} else {
			p[j] -= l * v[j]
		}
	}
	return true
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
}

func (o *Adam) LR() float64 { return o.LearningRate }
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

// NewState returns the first and second moments of every parameter,
// "adam/m/<name>" and "adam/v/<name>".
func (o *Adam) NewState(params []*graph.Param) *OptimizerState {
	return newState(params, "adam/m", "adam/v")
}

func (o *Adam) Step(params []*graph.Param, grads []*tensor.Dense, st *OptimizerState, lr float64) error {
	if err := checkArgs(params, grads); err != nil {
		return err
	}
	if err := st.check(params, 2); err != nil {
		return err
	}
	b1, b2, eps := o.hyper()
	t := float64(st.Steps + 1)
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
	// The last parameters first: the forward pass that follows reads the
	// first layers' first, and finds them still in the cache (the deep
	// autoencoder's first layer took 12% less time, 3 rounds alternated).
	n := len(params)
	for i := n - 1; i >= 0; i-- {
		var ok bool
		p, m, v := params[i], st.Slots[i], st.Slots[n+i]
		switch p.Value.Dtype() {
		case tensor.Float32:
			ok = adamUpdate(&st.loop32, h, p.Value.Float32s(), grads[i].Float32s(), m.F32, v.F32)
		case tensor.Float64:
			ok = adamUpdate(&st.loop64, h, p.Value.Float64s(), grads[i].Float64s(), m.F64, v.F64)
		}
		if !ok {
			return &DivergenceError{Step: st.Steps, What: "gradient of " + p.Name, Value: nonFiniteOf(grads[i])}
		}
	}
	st.Steps++
	return nil
}

// adamStep holds one step's constants: step = lr/(1−β₁ᵗ), bc2 = √(1−β₂ᵗ),
// so p ← shrink·p − step·m/(√v/bc2 + ε).
type adamStep struct {
	b1, b2, eps, step, bc2, decay, shrink float64
}

// adamConsts64 are adamStep's constants in the parameters' type.
type adamConsts64[T float32 | float64] struct {
	b1, c1, b2, c2, step, inv, eps, decay, shrink T
}

func adamUpdate[T float32 | float64](l *updateLoop[T], h adamStep, p, g, m, v []T) bool {
	l.p, l.g, l.a, l.b = p, g, m, v
	if _, ok := any(p).([]float32); ok && haveAdamAsm {
		l.rule = adamAsmRule
		l.adamAsm = adamConsts{b1: float32(h.b1), c1: float32(1 - h.b1), b2: float32(h.b2), c2: float32(1 - h.b2),
			step: float32(h.step), inv: float32(1 / h.bc2), eps: float32(h.eps), decay: float32(h.decay), shrink: float32(h.shrink)}
		return l.run()
	}
	l.rule = adamRule
	c2 := T(h.b2)
	l.adam = adamConsts64[T]{b1: T(h.b1), c1: T(1 - h.b1), b2: T(h.b2), c2: 1 - c2,
		step: T(h.step), inv: T(1 / h.bc2), eps: T(h.eps), decay: T(h.decay), shrink: T(h.shrink)}
	return l.run()
}

// adamRange updates p with g and the moments m, v (slices of one length).
func adamRange[T float32 | float64](c *adamConsts64[T], p, g, m, v []T) bool {
	b1, b2, c1, c2 := c.b1, c.b2, c.c1, c.c2
	step, inv, eps, decay, shrink := c.step, c.inv, c.eps, c.decay, c.shrink
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for j := range p {
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
}
