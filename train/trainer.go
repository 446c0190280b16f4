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
	"github.com/retina-ml/retina/train/dist"
)

// Config configures a Trainer. The zero value trains one epoch of batch 64
// with Adam(1e-3) on softmax cross-entropy. A zero field takes its default
// (Trainer.Config reports the values in use); a negative count, or an
// optimizer or schedule setting out of its range, is an error from New
// naming the field (see Validate).
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

	// Comm makes the run data-parallel over the processes of a job (see
	// package train/dist): Batch is then the global batch, split evenly
	// across the ranks; rank 0's parameters are broadcast when Fit starts;
	// gradients are averaged over the ranks before every step; metrics are
	// summed over the ranks; only rank 0 writes to Dir and Progress. Every
	// rank must call Fit (and Evaluate) alike: they are collective. Default
	// dist.Local{}: one process.
	Comm dist.AllReducer
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
	if c.Comm == nil {
		c.Comm = dist.Local{}
	}
	if c.Comm.Rank() != 0 {
		c.Dir, c.Progress = "", io.Discard
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
	Classifier       bool           // accuracy is meaningful (cross-entropy on labels)
	Reconstruct      bool           // an autoencoder run: ReconError is meaningful
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
	opt   *OptimizerState // the optimizer's memory of this model

	// Data parallelism: this rank's share of a global batch, and the
	// buffers averaged over the ranks after each backward pass (the
	// gradients, then sync: the loss and the stop request).
	local    datasets.Batch
	row      []float32 // scratch: one output row
	avg      dist.Averager
	sync     [2]float32
	syncBufs [][]float32

	interruptAt int       // tests: behave as if interrupted when Step reaches it
	afterStep   func(int) // tests: called after each step of Fit with the step count
}

// state is everything about the progress of a run that a checkpoint saves.
type state struct {
	Epoch int `json:"epoch"` // current epoch, from 0
	Batch int `json:"batch"` // batches done in the current epoch
	Step  int `json:"step"`  // global steps done
	// TrainSamples is the size of the training set the run started on: a
	// resumed run must use the same set to continue exactly.
	TrainSamples int            `json:"train_samples"`
	Partial      partial        `json:"partial"`
	History      []EpochMetrics `json:"history"`
	Best         float64        `json:"best_val_loss"`
	BestAt       int            `json:"best_epoch"`
	Bad          int            `json:"epochs_without_improvement"`

	EarlyStopped bool `json:"early_stopped"`
}

// partial accumulates the training metrics of the current epoch.
type partial struct {
	LossSum  float64 `json:"loss_sum"`
	ReconSum float64 `json:"recon_sum"` // autoencoders: Σ of the samples' squared errors
	Correct  int     `json:"correct"`
	Samples  int     `json:"samples"`
	Seconds  float64 `json:"seconds"`
}

// New builds the training graph for m and compiles it.
func New(m *graph.Model, cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Trainer{model: m, cfg: cfg, params: m.Params(), evals: map[int]*evaluator{}}
	t.state.Best = math.MaxFloat64
	if len(m.Inputs()) != 1 || len(m.Outputs()) != 1 {
		return nil, errors.Errorf("train: model %s has %d inputs and %d outputs; the Trainer takes one of each", m.Name(), len(m.Inputs()), len(m.Outputs()))
	}
	if len(t.params) == 0 {
		return nil, errors.New("train: the model has no parameters")
	}
	if m.Dtype() != tensor.Float32 && m.Dtype() != tensor.Float64 {
		return nil, errors.Errorf("train: model dtype %v", m.Dtype())
	}
	if size := cfg.Comm.Size(); cfg.Batch%size != 0 {
		return nil, errors.Errorf("train: batch %d does not split evenly over %d processes", cfg.Batch, size)
	}
	if cfg.Comm.Size() > 1 && m.Dtype() != tensor.Float32 {
		return nil, errors.Errorf("train: data-parallel training needs a float32 model, not %v", m.Dtype())
	}
	t.g = G.NewGraph()
	xn := m.NewInputs(t.g, cfg.Batch/cfg.Comm.Size())[0]
	t.x = tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(xn.Shape().Clone()...))
	if err := G.Let(xn, t.x); err != nil {
		return nil, errors.Wrap(err, "train: binding the input")
	}
	var err error
	if t.built, err = m.Build(t.g, G.Nodes{xn}, graph.Train); err != nil {
		return nil, err
	}
	target := xn
	if !cfg.Reconstruct {
		ys := t.built.Outputs[0].Shape().Clone()
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
	roots := append(G.Nodes{t.loss, t.built.Outputs[0], t.built.Logits[0]}, t.grads...)
	t.vm = G.NewTapeMachine(t.g.ExactSubgraphRoots(roots...))
	t.gvals = make([]*tensor.Dense, len(t.grads))
	t.opt = cfg.Optimizer.NewState(t.params)
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
	if n := t.state.TrainSamples; n > 0 && n != data.Train.Len() {
		return nil, errors.Errorf("train: the run started on %d training samples, this one has %d: a resumed run must train on the same set", n, data.Train.Len())
	}
	t.state.TrainSamples = data.Train.Len()
	if t.cfg.Dir != "" {
		if err := os.MkdirAll(t.cfg.Dir, 0o755); err != nil {
			return nil, errors.Wrap(err, "train")
		}
	}
	if err := t.broadcastParams(); err != nil {
		return nil, err
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
			if !it.Next(&batch) {
				if err := it.Err(); err != nil {
					return res, errors.Wrap(err, "train: batches")
				}
				break
			}
			begin := time.Now()
			stop := ctx.Err() != nil || (t.interruptAt > 0 && st.Step == t.interruptAt)
			loss, stopAll, err := t.step(&batch, total, stop)
			if err != nil {
				rep.finish()
				t.fillResult(res)
				return res, err
			}
			t.tally(loss)
			if t.afterStep != nil {
				t.afterStep(st.Step)
			}
			st.Partial.Seconds += time.Since(begin).Seconds()
			st.Batch++
			rep.update(st.Batch, st.Partial.LossSum/float64(st.Partial.Samples), float64(st.Partial.Samples)/st.Partial.Seconds)
			if stopAll {
				// Every rank stops after this same step: save and leave.
				rep.finish()
				res.Stopped = "interrupted"
				t.fillResult(res)
				saved := st.Partial
				if st.Partial, err = t.globalPartial(); err != nil {
					return res, err
				}
				err := t.checkpoint()
				st.Partial = saved
				if err != nil {
					return res, err
				}
				return res, ErrInterrupted
			}
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

// tally adds this rank's loss and correct predictions on its share of the
// batch to the epoch's running sums.
func (t *Trainer) tally(loss float64) {
	b, p := &t.local, &t.state.Partial
	p.LossSum += loss * float64(b.Size)
	p.Samples += b.Size
	if t.cfg.Reconstruct {
		width := len(b.X) / b.Size
		out := make32(&t.row, width)
		for i := 0; i < b.Size; i++ {
			row(t.built.Outputs[0].Value(), i, out)
			p.ReconSum += squaredError(out, b.X[i*width:(i+1)*width])
		}
	}
	if !t.classifier() {
		return
	}
	k := t.y.Shape()[1]
	switch z := t.built.Logits[0].Value().Data().(type) {
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

// endEpoch evaluates, records the epoch's metrics, logs and checkpoints.
func (t *Trainer) endEpoch(data Data, total int) (EpochMetrics, error) {
	st := &t.state
	if err := t.checkFinite(); err != nil {
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
