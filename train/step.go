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

// Step runs one optimizer step on a full (global) batch of a Set and
// returns this process's loss: for a model with one input, the batch's
// values feed it and its one-hot labels (or, unlabelled, its values) are the
// target. Fit trains on Tables too. The learning rate is the optimizer's,
// scaled by the schedule at the current step of a run of total steps
// (total ≤ 0: unscheduled). In a data-parallel run every rank calls Step
// with the same batch and uses its share of it.
func (t *Trainer) Step(b *datasets.Batch, total int) (float64, error) {
	if len(t.xs) != 1 {
		return 0, errors.Errorf("train: Step feeds one input, model %s takes %d: use Fit with a datasets.Table", t.model.Name(), len(t.xs))
	}
	f := &t.single
	f.inputs[0], f.labels, f.size = b.X, b.Labels, b.Size
	if len(f.targets) == 1 {
		f.targets[0] = targetRows(b)
	}
	loss, _, err := t.step(f, total, false)
	return loss, err
}

// step runs one training step on this rank's share of the global batch f:
// the forward and backward passes; in a data-parallel run, one all-reduce
// that averages the gradients, the loss and the ranks' stop requests; the
// divergence check; and the update. It returns this rank's loss and whether
// any rank asked to stop, which all ranks then do after this same step.
func (t *Trainer) step(f *feed, total int, stop bool) (localLoss float64, stopAll bool, err error) {
	if err := t.load(f); err != nil {
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
func (t *Trainer) load(f *feed) error {
	size, rank := t.cfg.Comm.Size(), t.cfg.Comm.Rank()
	if f.size != t.cfg.Batch {
		return errors.Errorf("train: batch of %d samples; the run needs full batches of %d", f.size, t.cfg.Batch)
	}
	n := t.cfg.Batch / size
	lo, hi := rank*n, (rank+1)*n
	share := func(dst *tensor.Dense, rows []float32, what string, k int) ([]float32, error) {
		w := dst.Size() / n
		if len(rows) != t.cfg.Batch*w {
			return nil, errors.Errorf("train: batch has %d values for %s %d, the model needs %d per sample (%v per process)", len(rows), what, k, w, dst.Shape())
		}
		rows = rows[lo*w : hi*w]
		copyInto(dst, rows)
		return rows, nil
	}
	var err error
	for k, x := range t.xs {
		if t.local.inputs[k], err = share(x, f.inputs[k], "input", k); err != nil {
			return err
		}
	}
	for k, y := range t.ys {
		if t.local.targets[k], err = share(y, f.targets[k], "target", k); err != nil {
			return err
		}
	}
	t.local.labels = nil
	if f.labels != nil {
		t.local.labels = f.labels[lo:hi]
	}
	t.local.size = n
	return nil
}

// copyInto copies src into d, a float32 or float64 tensor.
func copyInto(d *tensor.Dense, src []float32) {
	switch d.Dtype() { // not d.Data(), which allocates
	case tensor.Float32:
		copy(d.Float32s(), src)
	case tensor.Float64:
		dst := d.Float64s()
		for i, v := range src {
			dst[i] = float64(v)
		}
	}
}

// run executes the forward and backward passes and returns the loss.
func (t *Trainer) run() (float64, error) {
	t.built.SetRandom(t.cfg.Seed, uint64(t.state.Step))
	if err := t.plan.Run(); err != nil {
		return 0, errors.Wrapf(err, "train: step %d", t.state.Step)
	}
	loss, err := scalar(t.plan.Value(t.loss))
	if err != nil {
		return 0, errors.Wrapf(err, "train: step %d: reading the loss", t.state.Step)
	}
	return loss, nil
}

// collectGrads reads the gradient values the machine computed.
func (t *Trainer) collectGrads() error {
	for i, gn := range t.grads {
		v, ok := t.plan.Value(gn).(*tensor.Dense)
		if !ok {
			return errors.Errorf("train: gradient of %s is %T", t.params[i].Name, t.plan.Value(gn))
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
