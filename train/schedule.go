package train

import (
	"fmt"
	"math"
)

// Schedule scales the optimizer's learning rate over training. Factor
// receives the training progress as the global step (from 0) and the total
// number of steps of the run, and returns the multiplier for that step.
type Schedule interface {
	Factor(step, total int) float64
	String() string
}

// Constant keeps the learning rate fixed. The zero Config uses it.
type Constant struct{}

func (Constant) Factor(int, int) float64 { return 1 }
func (Constant) String() string          { return "constant" }

// StepDecay multiplies the learning rate by Gamma every Every steps
// (steps, not epochs: pass Every = epochs × steps per epoch).
type StepDecay struct {
	Every int
	Gamma float64
}

func (s StepDecay) Factor(step, _ int) float64 {
	if s.Every <= 0 {
		return 1
	}
	return math.Pow(s.Gamma, float64(step/s.Every))
}
func (s StepDecay) String() string { return fmt.Sprintf("step(every %d, ×%g)", s.Every, s.Gamma) }

// Cosine decays the learning rate along half a cosine from 1 to Min over
// the whole run, step by step: Min + (1 − Min)·(1 + cos(π·step/total))/2.
type Cosine struct {
	Min float64 // final factor, default 0
}

func (c Cosine) Factor(step, total int) float64 {
	if total <= 0 {
		return 1
	}
	p := math.Min(float64(step)/float64(total), 1)
	return c.Min + (1-c.Min)*(1+math.Cos(math.Pi*p))/2
}
func (c Cosine) String() string { return fmt.Sprintf("cosine(to %g)", c.Min) }
