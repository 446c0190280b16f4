package train

import (
	"github.com/pkg/errors"

	"github.com/retina-ml/retina/train/dist"
)

// Data-parallel training: what the ranks of a job exchange besides the
// per-step all-reduce (see Trainer.step).

// broadcastParams gives every rank rank 0's parameters.
func (t *Trainer) broadcastParams() error {
	if t.cfg.Comm.Size() == 1 {
		return nil
	}
	for _, p := range t.params {
		if err := t.cfg.Comm.Broadcast(p.Value.Float32s(), 0); err != nil {
			return errors.Wrapf(err, "train: broadcasting %s", p.Name)
		}
	}
	return nil
}

// globalPartial returns the epoch's running sums over all ranks (wall time:
// the largest). It is collective.
func (t *Trainer) globalPartial() (partial, error) {
	p := t.state.Partial
	if t.cfg.Comm.Size() == 1 {
		return p, nil
	}
	correct, samples := float64(p.Correct), float64(p.Samples)
	if err := dist.SumFloat64s(t.cfg.Comm, &p.LossSum, &p.ReconSum, &correct, &samples); err != nil {
		return p, errors.Wrap(err, "train: summing metrics over the processes")
	}
	p.Correct, p.Samples = int(correct), int(samples)
	return p, nil
}
