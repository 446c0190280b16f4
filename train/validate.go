package train

import (
	"math"

	"github.com/pkg/errors"
)

// validator is implemented by optimizers and schedules that can check their
// settings; New calls it, so a bad value is an error before training starts.
type validator interface{ Validate() error }

// Validate reports the first setting of c that is invalid, naming the field
// and its value. Zero values are not errors: they take the documented
// defaults.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"Epochs", c.Epochs}, {"Batch", c.Batch}, {"EvalBatch", c.EvalBatch}, {"Patience", c.Patience}} {
		if f.v < 0 {
			return errors.Errorf("train: Config.%s = %d, want ≥ 0 (0: the default)", f.name, f.v)
		}
	}
	for _, v := range []any{c.Optimizer, c.Schedule} {
		if v, ok := v.(validator); ok {
			if err := v.Validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFloat reports an error naming field unless v is finite and lo ≤ v,
// and v < hi (hi: exclusive upper bound; +Inf for none).
func checkFloat(field string, v, lo, hi float64, want string) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v >= hi {
		return errors.Errorf("train: %s = %v, want %s", field, v, want)
	}
	return nil
}

// Validate checks the settings: a finite learning rate ≥ 0 (as PyTorch: 0 freezes the parameters), momentum in
// [0, 1), a finite weight decay ≥ 0, and Nesterov only with momentum.
func (o *SGD) Validate() error {
	if err := checkFloat("SGD.LearningRate", o.LearningRate, 0, math.Inf(1), "a finite number ≥ 0"); err != nil {
		return err
	}
	if err := checkFloat("SGD.Momentum", o.Momentum, 0, 1, "0 ≤ momentum < 1"); err != nil {
		return err
	}
	if err := checkFloat("SGD.WeightDecay", o.WeightDecay, 0, math.Inf(1), "a finite number ≥ 0"); err != nil {
		return err
	}
	if o.Nesterov && o.Momentum == 0 {
		return errors.New("train: SGD.Nesterov needs a Momentum > 0")
	}
	return nil
}

// Validate checks the settings: a finite learning rate ≥ 0 (as PyTorch: 0 freezes the parameters), betas in
// [0, 1) (0: the defaults 0.9 and 0.999), a finite epsilon ≥ 0 (0: 1e-8)
// and a finite weight decay ≥ 0.
func (o *Adam) Validate() error {
	if err := checkFloat("Adam.LearningRate", o.LearningRate, 0, math.Inf(1), "a finite number ≥ 0"); err != nil {
		return err
	}
	if err := checkFloat("Adam.Beta1", o.Beta1, 0, 1, "0 ≤ β₁ < 1 (0: 0.9)"); err != nil {
		return err
	}
	if err := checkFloat("Adam.Beta2", o.Beta2, 0, 1, "0 ≤ β₂ < 1 (0: 0.999)"); err != nil {
		return err
	}
	if err := checkFloat("Adam.Epsilon", o.Epsilon, 0, math.Inf(1), "a finite number ≥ 0 (0: 1e-8)"); err != nil {
		return err
	}
	return checkFloat("Adam.WeightDecay", o.WeightDecay, 0, math.Inf(1), "a finite number ≥ 0")
}

// Validate checks that Every ≥ 1 and Gamma is finite and > 0.
func (s StepDecay) Validate() error {
	if s.Every < 1 {
		return errors.Errorf("train: StepDecay.Every = %d, want ≥ 1 step", s.Every)
	}
	return checkFloat("StepDecay.Gamma", s.Gamma, math.SmallestNonzeroFloat64, math.Inf(1), "a finite factor > 0")
}

// Validate checks that Min is in [0, 1].
func (c Cosine) Validate() error {
	return checkFloat("Cosine.Min", c.Min, 0, math.Nextafter(1, 2), "0 ≤ Min ≤ 1")
}
