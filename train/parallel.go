package train

import (
	"github.com/pkg/errors"

	"github.com/retina-ml/retina/train/dist"
)

// Data-parallel training: what the ranks of a job exchange besides the
// per-step all-reduce (see Trainer.step).

// broadcastParams gives every rank rank 0's parameters and state tensors.
func (t *Trainer) broadcastParams() error {
	if t.cfg.Comm.Size() == 1 {
		return nil
	}
	for _, p := range append(t.model.Params(), t.model.State()...) {
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

// averageState replaces every state tensor (batch normalisation's running
// statistics) by its mean over the ranks. Between these calls, at the end
// of each epoch, each rank's statistics follow its own share of the
// batches, as under PyTorch's DistributedDataParallel without SyncBatchNorm;
// averaging them makes every rank evaluate, and rank 0 save, the same
// statistics. It is collective.
func (t *Trainer) averageState() error {
	st := t.model.State()
	if t.cfg.Comm.Size() == 1 || len(st) == 0 {
		return nil
	}
	bufs := make([][]float32, len(st))
	for i, p := range st {
		bufs[i] = p.Value.Float32s()
	}
	return errors.Wrap(t.avg.Average(t.cfg.Comm, bufs), "train: averaging the model state over the processes")
}
