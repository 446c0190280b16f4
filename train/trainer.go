package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// Config configures a Trainer. The zero value trains one epoch of batch 64
// with Adam(1e-3) on softmax cross-entropy.
type Config struct {
	Loss      Loss      // default CrossEntropy
	Optimizer Optimizer // default &Adam{LearningRate: 1e-3}
	Schedule  Schedule  // learning-rate schedule over the run; default Constant
	Epochs    int       // default 1
	Batch     int       // training batch size (part of the graph); default 64
	EvalBatch int       // evaluation batch size; default 500
	Seed      uint64    // shuffling and dropout masks; default 1

	// Reconstruct trains an autoencoder: the target is the input itself and
	// labels are not used.
	Reconstruct bool

	// Patience enables early stopping: training stops after Patience epochs
	// in a row without a lower validation loss. Needs a validation set.
	Patience int

	// Dir, if set, receives the per-epoch log metrics.jsonl and the
	// checkpoint checkpoint.ckpt (written atomically after every epoch and
	// when training is interrupted).
	Dir string

	// Progress receives the progress bar (on a terminal) or periodic lines,
	// and one summary line per epoch. Default os.Stderr; io.Discard for none.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.Optimizer == nil {
		c.Optimizer = &Adam{LearningRate: 1e-3}
	}
	if c.Schedule == nil {
		c.Schedule = Constant{}
	}
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = 500
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Progress == nil {
		c.Progress = os.Stderr
	}
	return c
}

// CheckpointName is the checkpoint's file name inside Config.Dir.
const CheckpointName = "checkpoint.ckpt"

// MetricsLogName is the per-epoch log's file name inside Config.Dir.
const MetricsLogName = "metrics.jsonl"

// Data are the sets Fit uses; Val and Test may be nil.
type Data struct {
	Train, Val, Test *datasets.Set
}

// Result summarises a Fit.
type Result struct {
	Epochs           []EpochMetrics // every epoch run, resumed ones included
	BestEpoch        int            // epoch with the lowest validation loss (0 without validation)
	Stopped          string         // "completed", "early stopping" or "interrupted"
	TrainSeconds     float64        // wall time of all training steps
	SamplesPerSecond float64        // training samples / TrainSeconds
}

// Last returns the last epoch's metrics.
func (r *Result) Last() EpochMetrics {
	if len(r.Epochs) == 0 {
		return EpochMetrics{}
	}
	return r.Epochs[len(r.Epochs)-1]
}

// ErrInterrupted is returned by Fit when its context is cancelled (Ctrl-C):
// a checkpoint has been written if Config.Dir is set.
var ErrInterrupted = errors.New("train: interrupted")

// Trainer trains a graph.Model: it builds the training graph once (model,
// loss, gradients from gorgonia.Grad), compiles one TapeMachine, and runs
// optimizer steps over batches.
type Trainer struct {
	model  *graph.Model
	cfg    Config
	params []*graph.Param

	g     *G.ExprGraph
	vm    G.VM
	built *graph.Built
	x, y  *tensor.Dense // bound to the input and target nodes
	loss  *G.Node
	grads G.Nodes
	gvals []*tensor.Dense

	evals map[int]*evaluator
	state state

	interruptAt int // tests: behave as if interrupted when Step reaches it
}

// state is everything about the progress of a run that a checkpoint saves.
type state struct {
	Epoch   int            `json:"epoch"` // current epoch, from 0
	Batch   int            `json:"batch"` // batches done in the current epoch
	Step    int            `json:"step"`  // global steps done
	Partial partial        `json:"partial"`
	History []EpochMetrics `json:"history"`
	Best    float64        `json:"best_val_loss"`
	BestAt  int            `json:"best_epoch"`
	Bad     int            `json:"epochs_without_improvement"`

	EarlyStopped bool `json:"early_stopped"`
}

// partial accumulates the training metrics of the current epoch.
type partial struct {
	LossSum float64 `json:"loss_sum"`
	Correct int     `json:"correct"`
	Samples int     `json:"samples"`
	Seconds float64 `json:"seconds"`
}

// New builds the training graph for m and compiles it.
func New(m *graph.Model, cfg Config) (*Trainer, error) {
	cfg = cfg.withDefaults()
	t := &Trainer{model: m, cfg: cfg, params: m.Params(), evals: map[int]*evaluator{}}
	t.state.Best = math.MaxFloat64
	if len(t.params) == 0 {
		return nil, errors.New("train: the model has no parameters")
	}
	if m.Dtype() != tensor.Float32 && m.Dtype() != tensor.Float64 {
		return nil, errors.Errorf("train: model dtype %v", m.Dtype())
	}
	t.g = G.NewGraph()
	xn := m.NewInput(t.g, cfg.Batch)
	t.x = tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(xn.Shape().Clone()...))
	if err := G.Let(xn, t.x); err != nil {
		return nil, errors.Wrap(err, "train: binding the input")
	}
	var err error
	if t.built, err = m.Build(t.g, xn, graph.Train); err != nil {
		return nil, err
	}
	target := xn
	if !cfg.Reconstruct {
		ys := t.built.Output.Shape().Clone()
		yn := G.NewTensor(t.g, m.Dtype(), len(ys), G.WithShape(ys...), G.WithName("target"))
		t.y = tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(ys...))
		if err := G.Let(yn, t.y); err != nil {
			return nil, errors.Wrap(err, "train: binding the target")
		}
		target = yn
	}
	if t.loss, err = cfg.Loss.build(t.built, target); err != nil {
		return nil, errors.Wrapf(err, "train: %v loss", cfg.Loss)
	}
	if t.grads, err = G.Grad(t.loss, t.built.Params...); err != nil {
		return nil, errors.Wrap(err, "train: differentiating the loss")
	}
	// Compile only what the step needs: the loss, the outputs and the
	// parameter gradients (not, say, the gradient of the input images).
	roots := append(G.Nodes{t.loss, t.built.Output, t.built.Logits}, t.grads...)
	t.vm = G.NewTapeMachine(t.g.ExactSubgraphRoots(roots...))
	t.gvals = make([]*tensor.Dense, len(t.grads))
	return t, nil
}

// Close releases the machines.
func (t *Trainer) Close() error {
	t.vm.Close()
	for _, e := range t.evals {
		e.vm.Close()
	}
	return nil
}

// Model returns the model being trained.
func (t *Trainer) Model() *graph.Model { return t.model }

// Config returns the configuration with defaults filled in.
func (t *Trainer) Config() Config { return t.cfg }

// StepsDone returns the number of optimizer steps taken.
func (t *Trainer) StepsDone() int { return t.state.Step }

// totalSteps is the number of steps of the whole run.
func (t *Trainer) totalSteps(perEpoch int) int { return perEpoch * t.cfg.Epochs }

// Step runs one optimizer step on a full batch and returns its loss. The
// learning rate is the optimizer's, scaled by the schedule at the current
// step of a run of total steps (total ≤ 0: unscheduled).
func (t *Trainer) Step(b *datasets.Batch, total int) (float64, error) {
	if err := t.load(b); err != nil {
		return 0, err
	}
	loss, err := t.run()
	if err != nil {
		return loss, err
	}
	return loss, t.update(total)
}

// load copies a batch into the bound input and target tensors.
func (t *Trainer) load(b *datasets.Batch) error {
	if len(b.X) != t.x.Size() {
		return errors.Errorf("train: batch holds %d values, the graph's input %v needs %d", len(b.X), t.x.Shape(), t.x.Size())
	}
	copyInto(t.x, b.X)
	if t.y != nil {
		if len(b.OneHot) != t.y.Size() {
			return errors.Errorf("train: batch has %d one-hot values, the model's output %v needs %d", len(b.OneHot), t.y.Shape(), t.y.Size())
		}
		copyInto(t.y, b.OneHot)
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

// run executes forward and backward passes and returns the loss.
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
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, &DivergenceError{Step: t.state.Step, What: "loss", Value: loss}
	}
	return loss, nil
}

// update applies the optimizer with the scheduled learning rate.
func (t *Trainer) update(total int) error {
	for i, gn := range t.grads {
		v, ok := gn.Value().(*tensor.Dense)
		if !ok {
			return errors.Errorf("train: gradient of %s is %T", t.params[i].Name, gn.Value())
		}
		t.gvals[i] = v
	}
	lr := t.cfg.Optimizer.LR()
	if total > 0 {
		lr *= t.cfg.Schedule.Factor(t.state.Step, total)
	}
	if err := t.cfg.Optimizer.Step(t.params, t.gvals, lr); err != nil {
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

// classifier reports whether accuracy is meaningful for this run.
func (t *Trainer) classifier() bool { return !t.cfg.Reconstruct && t.cfg.Loss == CrossEntropy }

// Fit trains for the configured epochs (continuing a resumed run), evaluating
// Val and Test after every epoch. When ctx is cancelled it finishes the
// current step, saves a checkpoint and returns ErrInterrupted.
func (t *Trainer) Fit(ctx context.Context, data Data) (*Result, error) {
	if data.Train == nil || data.Train.Len() < t.cfg.Batch {
		return nil, errors.Errorf("train: need at least one full batch of %d training samples", t.cfg.Batch)
	}
	if t.cfg.Patience > 0 && data.Val == nil {
		return nil, errors.New("train: early stopping (Patience) needs a validation set")
	}
	if t.cfg.Dir != "" {
		if err := os.MkdirAll(t.cfg.Dir, 0o755); err != nil {
			return nil, errors.Wrap(err, "train")
		}
	}
	loader := &datasets.Loader{Set: data.Train, BatchSize: t.cfg.Batch, Shuffle: true, Seed: t.cfg.Seed, Partial: datasets.DropPartial}
	perEpoch := loader.Batches()
	total := t.totalSteps(perEpoch)
	rep := newReporter(t.cfg.Progress)
	res := &Result{Stopped: "completed"}
	var batch datasets.Batch
	st := &t.state
	for ; st.Epoch < t.cfg.Epochs && !st.EarlyStopped; st.Epoch, st.Batch, st.Partial = st.Epoch+1, 0, (partial{}) {
		it := loader.Epoch(st.Epoch)
		for i := 0; i < st.Batch && it.Next(&batch); i++ {
			// Skip the batches a resumed epoch already trained on.
		}
		rep.start(st.Epoch+1, t.cfg.Epochs, perEpoch)
		for st.Batch < perEpoch {
			if ctx.Err() != nil || (t.interruptAt > 0 && st.Step == t.interruptAt) {
				rep.finish()
				res.Stopped = "interrupted"
				t.fillResult(res)
				if err := t.checkpoint(); err != nil {
					return res, err
				}
				return res, ErrInterrupted
			}
			if !it.Next(&batch) {
				if err := it.Err(); err != nil {
					return res, errors.Wrap(err, "train: batches")
				}
				break
			}
			begin := time.Now()
			if err := t.load(&batch); err != nil {
				return res, err
			}
			loss, err := t.run()
			if err == nil {
				t.tally(&batch, loss)
				err = t.update(total)
			}
			if err != nil {
				rep.finish()
				t.fillResult(res)
				return res, err
			}
			st.Partial.Seconds += time.Since(begin).Seconds()
			st.Batch++
			rep.update(st.Batch, st.Partial.LossSum/float64(st.Partial.Samples), float64(st.Partial.Samples)/st.Partial.Seconds)
		}
		rep.finish()
		em, err := t.endEpoch(data, total)
		if err != nil {
			return res, err
		}
		fmt.Fprintln(t.cfg.Progress, em.String(t.classifier()))
	}
	if st.EarlyStopped {
		res.Stopped = "early stopping"
	}
	t.fillResult(res)
	return res, nil
}

// tally adds a training batch's loss and correct predictions to the epoch.
func (t *Trainer) tally(b *datasets.Batch, loss float64) {
	p := &t.state.Partial
	p.LossSum += loss * float64(b.Size)
	p.Samples += b.Size
	if !t.classifier() {
		return
	}
	k := t.y.Shape()[1]
	switch z := t.built.Logits.Value().Data().(type) {
	case []float32:
		for i := 0; i < b.Size; i++ {
			if argmax(z[i*k:(i+1)*k]) == b.Labels[i] {
				p.Correct++
			}
		}
	case []float64:
		for i := 0; i < b.Size; i++ {
			row := z[i*k : (i+1)*k]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			if best == b.Labels[i] {
				p.Correct++
			}
		}
	}
}

// endEpoch evaluates, records the epoch's metrics, logs and checkpoints.
func (t *Trainer) endEpoch(data Data, total int) (EpochMetrics, error) {
	st := &t.state
	p := st.Partial
	em := EpochMetrics{
		Epoch: st.Epoch + 1, Step: st.Step,
		LR:      t.cfg.Optimizer.LR() * t.cfg.Schedule.Factor(max(st.Step-1, 0), total),
		Train:   SetMetrics{Samples: p.Samples, Loss: p.LossSum / float64(p.Samples)},
		Seconds: p.Seconds, SamplesPerSecond: float64(p.Samples) / p.Seconds,
	}
	if t.classifier() {
		em.Train.Accuracy = float64(p.Correct) / float64(p.Samples)
	}
	for _, s := range []struct {
		set *datasets.Set
		dst **SetMetrics
	}{{data.Val, &em.Val}, {data.Test, &em.Test}} {
		if s.set == nil {
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
