package train

import (
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// One training step: load a batch, run the forward and backward passes on
// the compiled machine, check for divergence and update the parameters.

// Step runs one optimizer step on a full (global) batch and returns this
// process's loss. The learning rate is the optimizer's, scaled by the
// schedule at the current step of a run of total steps (total ≤ 0:
// unscheduled). In a data-parallel run every rank calls Step with the same
// batch and uses its share of it.
func (t *Trainer) Step(b *datasets.Batch, total int) (float64, error) {
	loss, _, err := t.step(b, total, false)
	return loss, err
}

// step runs one training step on this rank's share of the global batch b:
// the forward and backward passes; in a data-parallel run, one all-reduce
// that averages the gradients, the loss and the ranks' stop requests; the
// divergence check; and the update. It returns this rank's loss and whether
// any rank asked to stop, which all ranks then do after this same step.
func (t *Trainer) step(b *datasets.Batch, total int, stop bool) (localLoss float64, stopAll bool, err error) {
	if err := t.load(b); err != nil {
		return 0, stop, err
	}
	if localLoss, err = t.run(); err != nil {
		return localLoss, stop, err
	}
	if err := t.collectGrads(); err != nil {
		return localLoss, stop, err
	}
	loss, stopAll := localLoss, stop
	if t.cfg.Comm.Size() > 1 {
		t.sync = [2]float32{float32(localLoss), 0}
		if stop {
			t.sync[1] = 1
		}
		t.syncBufs = t.syncBufs[:0]
		for _, g := range t.gvals {
			t.syncBufs = append(t.syncBufs, g.Float32s())
		}
		t.syncBufs = append(t.syncBufs, t.sync[:])
		if err := t.avg.Average(t.cfg.Comm, t.syncBufs); err != nil {
			return localLoss, stop, errors.Wrapf(err, "train: step %d: averaging gradients", t.state.Step)
		}
		loss, stopAll = float64(t.sync[0]), t.sync[1] > 0
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return localLoss, stopAll, t.diverged(&DivergenceError{Step: t.state.Step, What: "loss", Value: loss})
	}
	if err := t.update(total); err != nil {
		if d, ok := err.(*DivergenceError); ok {
			return localLoss, stopAll, t.diverged(d)
		}
		return localLoss, stopAll, err
	}
	return localLoss, stopAll, nil
}

// load copies this rank's share of a global batch into the bound input and
// target tensors, and keeps a view of it in t.local.
func (t *Trainer) load(b *datasets.Batch) error {
	size, rank := t.cfg.Comm.Size(), t.cfg.Comm.Rank()
	if len(b.X) != t.x.Size()*size || b.Size != t.cfg.Batch {
		return errors.Errorf("train: batch of %d samples (%d values); the run needs full batches of %d (input %v per process)",
			b.Size, len(b.X), t.cfg.Batch, t.x.Shape())
	}
	n := t.cfg.Batch / size
	lo, hi := rank*n, (rank+1)*n
	sample := len(b.X) / t.cfg.Batch
	t.local = datasets.Batch{X: b.X[lo*sample : hi*sample], Size: n}
	if len(b.Labels) > 0 {
		t.local.Labels = b.Labels[lo:hi]
	}
	copyInto(t.x, t.local.X)
	if t.y != nil {
		k := t.y.Size() / n
		if len(b.OneHot) != t.cfg.Batch*k {
			return errors.Errorf("train: batch has %d one-hot values, the model's output %v needs %d per sample", len(b.OneHot), t.y.Shape(), k)
		}
		t.local.OneHot = b.OneHot[lo*k : hi*k]
		copyInto(t.y, t.local.OneHot)
	}
	return nil
}

func copyInto(d *tensor.Dense, src []float32) {
	switch dst := d.Data().(type) {
	case []float32:
		copy(dst, src)
	case []float64:
		for i, v := range src {
			dst[i] = float64(v)
		}
	}
}

// run executes the forward and backward passes and returns the loss.
func (t *Trainer) run() (float64, error) {
	t.built.SetRandom(t.cfg.Seed, uint64(t.state.Step))
	t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return 0, errors.Wrapf(err, "train: step %d", t.state.Step)
	}
	loss, err := scalar(t.loss.Value())
	if err != nil {
		return 0, errors.Wrapf(err, "train: step %d: reading the loss", t.state.Step)
	}
	return loss, nil
}

// collectGrads reads the gradient values the machine computed.
func (t *Trainer) collectGrads() error {
	for i, gn := range t.grads {
		v, ok := gn.Value().(*tensor.Dense)
		if !ok {
			return errors.Errorf("train: gradient of %s is %T", t.params[i].Name, gn.Value())
		}
		t.gvals[i] = v
	}
	return nil
}

// update applies the optimizer with the scheduled learning rate.
func (t *Trainer) update(total int) error {
	lr := t.cfg.Optimizer.LR()
	if total > 0 {
		lr *= t.cfg.Schedule.Factor(t.state.Step, total)
	}
	if err := t.cfg.Optimizer.Step(t.params, t.gvals, t.opt, lr); err != nil {
		if d, ok := err.(*DivergenceError); ok {
			d.Step = t.state.Step
		}
		return err
	}
	t.state.Step++
	return nil
}

func scalar(v G.Value) (float64, error) {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s), nil
	case *G.F64:
		return float64(*s), nil
	}
	return 0, errors.Errorf("loss value is %T", v)
}

// checkFinite returns a *DivergenceError naming the first parameter that
// holds a NaN or ±Inf, if any: the last update ruined it.
func (t *Trainer) checkFinite() error {
	name, v, ok := firstNonFinite(t.params)
	if ok {
		return nil
	}
	return &DivergenceError{Step: t.state.Step - 1, What: "parameter " + name + " after the update", Value: v, Param: name}
}

// diverged completes d with the first non-finite parameter, if any.
func (t *Trainer) diverged(d *DivergenceError) error {
	if name, _, ok := firstNonFinite(t.params); !ok {
		d.Param = name
	}
	return d
}

// firstNonFinite returns the name and value of the first parameter element
// that is NaN or ±Inf; ok is true when there is none.
func firstNonFinite(params []*graph.Param) (name string, v float64, ok bool) {
	for _, p := range params {
		if v := nonFiniteOf(p.Value); v != 0 {
			return p.Name, v, false
		}
	}
	return "", 0, true
}

// make32 returns (*buf)[:n], growing *buf if needed.
func make32(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}
