package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/datasets"
)

// The epoch policy of Fit: shuffled batches, running metrics, evaluation,
// early stopping, logging and checkpoints.

// totalSteps is the number of steps of the whole run.
func (t *Trainer) totalSteps(perEpoch int) int { return perEpoch * t.cfg.Epochs }

// classifier reports whether accuracy is meaningful for this run.
func (t *Trainer) classifier() bool { return !t.cfg.Reconstruct && t.cfg.Loss == CrossEntropy }

// Fit trains for the configured epochs (continuing a resumed run), evaluating
// Val and Test after every epoch. When ctx is cancelled it finishes the
// current step, saves a checkpoint and returns ErrInterrupted.
func (t *Trainer) Fit(ctx context.Context, data Data) (*Result, error) {
	train, err := newColumns(t.model, data.Train, !t.cfg.Reconstruct, "training data")
	if err != nil {
		return nil, err
	}
	if train.samples < t.cfg.Batch {
		return nil, errors.Errorf("train: need at least one full batch of %d training samples, have %d", t.cfg.Batch, train.samples)
	}
	if t.classifier() && !train.labelled() {
		return nil, errors.New("train: cross-entropy needs a labelled target (a Set with Classes)")
	}
	if err := t.planAugmentation(train); err != nil {
		return nil, err
	}
	if t.cfg.Patience > 0 && !present(data.Val) {
		return nil, errors.New("train: early stopping (Patience) needs a validation set")
	}
	if n := t.state.TrainSamples; n > 0 && n != train.samples {
		return nil, errors.Errorf("train: the run started on %d training samples, this one has %d: a resumed run must train on the same set", n, train.samples)
	}
	t.state.TrainSamples = train.samples
	if t.cfg.Dir != "" {
		if err := os.MkdirAll(t.cfg.Dir, 0o755); err != nil {
			return nil, errors.Wrap(err, "train")
		}
	}
	if err := t.broadcastParams(); err != nil {
		return nil, err
	}
	loader := datasets.Loader{Set: train.sets[0], BatchSize: t.cfg.Batch, Shuffle: true, Seed: t.cfg.Seed, Partial: datasets.DropPartial}
	perEpoch := loader.Batches()
	total := t.totalSteps(perEpoch)
	rep := newReporter(t.cfg.Progress)
	res := &Result{Stopped: "completed"}
	st := &t.state
	for ; st.Epoch < t.cfg.Epochs && !st.EarlyStopped; st.Epoch, st.Batch, st.Partial = st.Epoch+1, 0, (partial{}) {
		it := train.epoch(loader, st.Epoch)
		for i := 0; i < st.Batch && it.next(); i++ {
			// Skip the batches a resumed epoch already trained on.
		}
		rep.start(st.Epoch+1, t.cfg.Epochs, perEpoch)
		interrupted, err := t.trainEpoch(ctx, it, total, perEpoch, rep)
		if err != nil || interrupted {
			rep.finish()
			t.fillResult(res)
			if interrupted {
				res.Stopped = "interrupted"
				if err == nil {
					err = ErrInterrupted
				}
			}
			return res, err
		}
		rep.finish()
		em, err := t.endEpoch(data, total)
		if err != nil {
			return res, err
		}
		fmt.Fprintln(t.cfg.Progress, em.line(t.classifier(), t.cfg.Reconstruct))
	}
	if st.EarlyStopped {
		res.Stopped = "early stopping"
	}
	t.fillResult(res)
	return res, nil
}

// trainEpoch runs the remaining steps of the current epoch on the batches
// of it, loaded and augmented one ahead. When a rank asks to stop (Ctrl-C)
// every rank stops after the same step and the run is checkpointed:
// interrupted is then true.
func (t *Trainer) trainEpoch(ctx context.Context, it *batches, total, perEpoch int, rep reporter) (interrupted bool, err error) {
	st := &t.state
	epoch := st.Epoch
	var prepare func(*feed)
	if t.cfg.Augment != nil {
		prepare = func(f *feed) { t.augment(f, epoch) }
	}
	next := loadAhead(it, prepare)
	defer next.close()
	for st.Batch < perEpoch {
		s, ok := next.next()
		if !ok {
			if err := it.err(); err != nil {
				return false, errors.Wrap(err, "train: batches")
			}
			return false, nil
		}
		begin := time.Now()
		stop := ctx.Err() != nil || (t.interruptAt > 0 && st.Step == t.interruptAt)
		loss, stopAll, err := t.step(&s.feed, total, stop)
		if err != nil {
			return false, err
		}
		t.tally(loss)
		next.release(s)
		if t.afterStep != nil {
			t.afterStep(st.Step)
		}
		st.Partial.Seconds += time.Since(begin).Seconds()
		st.Batch++
		rep.update(st.Batch, st.Partial.LossSum/float64(st.Partial.Samples), float64(st.Partial.Samples)/st.Partial.Seconds)
		if stopAll {
			// Every rank stops after this same step: save and leave.
			saved := st.Partial
			if st.Partial, err = t.globalPartial(); err != nil {
				return true, err
			}
			err := t.checkpoint()
			st.Partial = saved
			return true, err
		}
	}
	return false, nil
}

// planAugmentation finds the input columns of c that Config.Augment
// transforms, those of (C, H, W) images, and checks it applies to them.
func (t *Trainer) planAugmentation(c *columns) error {
	t.augmented = nil
	if t.cfg.Augment == nil {
		return nil
	}
	t.augmented = make([][]int, len(c.in))
	images := 0
	for k, i := range c.in {
		shape := c.sets[i].Shape
		if len(shape) != 3 {
			continue
		}
		if err := t.cfg.Augment.Check(shape); err != nil {
			return errors.Wrapf(err, "train: Augment, input column %d", k)
		}
		t.augmented[k] = shape
		images++
	}
	if images == 0 {
		return errors.New("train: Augment needs a column of images (C, H, W) among the training inputs")
	}
	return nil
}

// augment transforms this rank's share of the image inputs of f as the
// samples of epoch epoch (see Config.Augment).
func (t *Trainer) augment(f *feed, epoch int) {
	n := t.cfg.Batch / t.cfg.Comm.Size()
	lo, hi := t.cfg.Comm.Rank()*n, (t.cfg.Comm.Rank()+1)*n
	for k, shape := range t.augmented {
		if shape == nil {
			continue
		}
		w := shape[0] * shape[1] * shape[2]
		t.cfg.Augment.Apply(f.inputs[k][lo*w:hi*w], f.index[lo:hi], shape, epoch, k)
	}
}

// tally adds this rank's loss and correct predictions on its share of the
// batch to the epoch's running sums.
func (t *Trainer) tally(loss float64) {
	b, p := &t.local, &t.state.Partial
	p.LossSum += loss * float64(b.size)
	p.Samples += b.size
	if t.cfg.Reconstruct {
		x := b.inputs[0]
		width := len(x) / b.size
		out := make32(&t.row, width)
		for i := 0; i < b.size; i++ {
			row(t.plan.Value(t.built.Outputs[0]), i, out)
			p.ReconSum += squaredError(out, x[i*width:(i+1)*width])
		}
	}
	if t.classifier() {
		p.Correct += countCorrect(t.plan.Value(t.built.Logits[0]), b.labels, make32(&t.row, t.ys[0].Shape()[1]))
	}
}

// countCorrect returns how many rows of the scores z have their largest value
// at the row's label; scratch holds one row.
func countCorrect(z G.Value, labels []int, scratch []float32) int {
	n := 0
	for i, l := range labels {
		row(z, i, scratch)
		if argmax(scratch) == l {
			n++
		}
	}
	return n
}

// endEpoch evaluates, records the epoch's metrics, logs and checkpoints.
func (t *Trainer) endEpoch(data Data, total int) (EpochMetrics, error) {
	st := &t.state
	if err := t.checkFinite(); err != nil {
		return EpochMetrics{}, err
	}
	if err := t.averageState(); err != nil {
		return EpochMetrics{}, err
	}
	p, err := t.globalPartial()
	if err != nil {
		return EpochMetrics{}, err
	}
	em := EpochMetrics{
		Epoch: st.Epoch + 1, Step: st.Step,
		LR:      t.cfg.Optimizer.LR() * t.cfg.Schedule.Factor(max(st.Step-1, 0), total),
		Train:   SetMetrics{Samples: p.Samples, Loss: p.LossSum / float64(p.Samples), ReconError: p.ReconSum / float64(p.Samples)},
		Seconds: p.Seconds, SamplesPerSecond: float64(p.Samples) / p.Seconds,
	}
	if t.classifier() {
		em.Train.Accuracy = float64(p.Correct) / float64(p.Samples)
	}
	for _, s := range []struct {
		set datasets.Source
		dst **SetMetrics
	}{{data.Val, &em.Val}, {data.Test, &em.Test}} {
		if !present(s.set) {
			continue
		}
		m, err := t.Evaluate(s.set)
		if err != nil {
			return em, err
		}
		*s.dst = &m
	}
	if em.Val != nil {
		if em.Val.Loss < st.Best {
			st.Best, st.BestAt, st.Bad = em.Val.Loss, em.Epoch, 0
		} else {
			st.Bad++
		}
		st.EarlyStopped = t.cfg.Patience > 0 && st.Bad >= t.cfg.Patience
	}
	st.History = append(st.History, em)
	if t.cfg.Dir != "" {
		if err := appendJSONLine(filepath.Join(t.cfg.Dir, MetricsLogName), em); err != nil {
			return em, err
		}
		// The checkpoint records the next epoch as current.
		st.Epoch++
		st.Batch, st.Partial = 0, partial{}
		err := t.checkpoint()
		st.Epoch--
		if err != nil {
			return em, err
		}
	}
	return em, nil
}

func (t *Trainer) fillResult(r *Result) {
	r.Classifier, r.Reconstruct = t.classifier(), t.cfg.Reconstruct
	r.Epochs = append([]EpochMetrics(nil), t.state.History...)
	r.BestEpoch = t.state.BestAt
	r.TrainSeconds, r.SamplesPerSecond = 0, 0
	var samples int
	for _, e := range r.Epochs {
		r.TrainSeconds += e.Seconds
		samples += e.Train.Samples
	}
	if r.TrainSeconds > 0 {
		r.SamplesPerSecond = float64(samples) / r.TrainSeconds
	}
}

// checkpoint saves the run to Dir, if set.
func (t *Trainer) checkpoint() error {
	if t.cfg.Dir == "" {
		return nil
	}
	return t.SaveCheckpoint(filepath.Join(t.cfg.Dir, CheckpointName))
}
