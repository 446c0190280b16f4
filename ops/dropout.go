package ops

import (
	"fmt"
	"math/rand/v2"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DropoutState is the random state shared by a dropout op and its gradient.
// The mask for step s is drawn from a PCG generator seeded with (Seed, s), so
// a run resumed at step s draws exactly the masks the uninterrupted run drew:
// set Step before each forward pass (the trainer does).
type DropoutState struct {
	Seed uint64
	Step uint64

	maskStep  uint64
	maskValid bool
	mask      []float64 // 0 or 1/(1−p) per element
	pcg       rand.PCG
	rng       *rand.Rand
}

// Dropout returns inverted dropout of x: each element is zeroed with
// probability p and the survivors scaled by 1/(1−p), so the expected value is
// unchanged and evaluation needs no rescaling (use x itself there). 0 ≤ p < 1.
// The mask depends only on state.Seed and state.Step.
func Dropout(x *G.Node, p float64, state *DropoutState) (*G.Node, error) {
	if !(p >= 0 && p < 1) {
		return nil, errors.Errorf("ops.Dropout: probability %v not in [0, 1)", p)
	}
	if state == nil {
		return nil, errors.New("ops.Dropout: nil state")
	}
	return dropoutDef(x.Shape(), p, state, false).Apply(x)
}

// dropoutDef applies the mask of the current step: to x, or to ∂L/∂y for
// the gradient (grad), which is the same op with another name.
func dropoutDef(shape tensor.Shape, p float64, st *DropoutState, grad bool) Def {
	name := "Dropout"
	if grad {
		name = "DropoutGrad"
	}
	f := Def{
		// The state's address tells apart two dropouts on the same input.
		Name: fmt.Sprintf("%s{%v p=%g seed=%d state=%p}", name, shape, p, st.Seed, st),
		In:   []tensor.Shape{shape},
		Out:  shape,
		F32:  func(o []float32, a [][]float32) { applyMask(st.maskFor(len(o), p), a[0], o) },
		F64:  func(o []float64, a [][]float64) { applyMask(st.maskFor(len(o), p), a[0], o) },
	}
	if !grad {
		f.Grad = func(g *Grad) { g.Set(0, g.Apply(dropoutDef(shape, p, st, true), g.OutputGrad())) }
	}
	return f
}

// maskFor returns the mask of the current step, drawing it once per step.
func (st *DropoutState) maskFor(n int, p float64) []float64 {
	if st.maskValid && st.maskStep == st.Step && len(st.mask) == n {
		return st.mask
	}
	if len(st.mask) != n {
		st.mask = make([]float64, n)
	}
	if st.rng == nil {
		st.rng = rand.New(&st.pcg)
	}
	st.pcg.Seed(st.Seed, st.Step)
	rng := st.rng
	keep := 1 / (1 - p)
	for i := range st.mask {
		if rng.Float64() < p {
			st.mask[i] = 0
		} else {
			st.mask[i] = keep
		}
	}
	st.maskStep, st.maskValid = st.Step, true
	return st.mask
}

func applyMask[T Float](mask []float64, x, y []T) {
	for i, m := range mask {
		y[i] = x[i] * T(m)
	}
}
