package train

import (
	"fmt"
	"io"
	"math"
	"os"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/exec"
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

	// Augment, if set, transforms the training samples Fit feeds the model
	// (never Step's, nor evaluation's): every input column whose samples
	// are images (C, H, W), whatever shape the model takes them in (an MLP
	// reads them as 784 values), column k with its own random stream,
	// sample i of epoch e from (Augment.Seed, e, i, k) alone, so augmented
	// runs reproduce and resume exactly. The next batch is loaded and
	// augmented while the current step runs.
	Augment *datasets.Augmentation

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
	// across the ranks; rank 0's parameters and state tensors are broadcast
	// when Fit starts; gradients are averaged over the ranks before every
	// step; state tensors (batch normalisation's running statistics) follow
	// each rank's own share of the batches, as under PyTorch's
	// DistributedDataParallel without SyncBatchNorm, and are averaged over
	// the ranks at the end of every epoch, before evaluation and the
	// checkpoint; metrics are summed over the ranks; only rank 0 writes to
	// Dir and Progress. Every
	// rank must call Fit (and Evaluate) alike: they are collective. Default
	// dist.Local{}: one process.
	Comm dist.AllReducer
}

func (c Config) withDefaults() Config {
	if c.Loss == nil {
		c.Loss = CrossEntropy
	}
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

// Data are the sets Fit uses: each a *datasets.Set, for a model with one
// input, or a *datasets.Table, whose columns feed a model's several inputs
// and targets (see datasets.Source). Val and Test may be nil.
type Data struct {
	Train, Val, Test datasets.Source
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
// loss, gradients from gorgonia.Grad), plans its ops once (internal/exec,
// which runs them as Gorgonia's TapeMachine would, without allocating),
// and runs optimizer steps over batches.
type Trainer struct {
	model  *graph.Model
	cfg    Config
	params []*graph.Param

	g     *G.ExprGraph
	plan  *exec.Plan
	built *graph.Built
	xs    []*tensor.Dense // bound to the input nodes
	ys    []*tensor.Dense // bound to the target nodes; none under Reconstruct
	loss  *G.Node
	grads G.Nodes
	gvals []*tensor.Dense

	evals map[int]*evaluator
	state state
	opt   *OptimizerState // the optimizer's memory of this model

	// Data parallelism: this rank's share of a global batch, and the
	// buffers averaged over the ranks after each backward pass (the
	// gradients, then sync: the loss and the stop request).
	local    feed
	single   feed      // Step's view of a Set's batch
	row      []float32 // scratch: one output row
	avg      dist.Averager
	sync     [2]float32
	syncBufs [][]float32

	augmented [][]int // per input: the (C, H, W) shape Fit augments, or nil

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
	if cfg.Reconstruct && (len(m.Inputs()) != 1 || len(m.Outputs()) != 1) {
		return nil, errors.Errorf("train: Reconstruct needs a model with one input and one output, %s has %d and %d", m.Name(), len(m.Inputs()), len(m.Outputs()))
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
	var err error
	var targets G.Nodes
	if t.built, t.xs, t.ys, targets, err = buildWithData(t.g, m, cfg.Batch/cfg.Comm.Size(), graph.Train, cfg.Reconstruct); err != nil {
		return nil, err
	}
	if t.loss, err = cfg.Loss.Build(t.built, targets); err != nil {
		return nil, errors.Wrapf(err, "train: %v loss", cfg.Loss)
	}
	if t.grads, err = G.Grad(t.loss, t.built.Params...); err != nil {
		return nil, errors.Wrap(err, "train: differentiating the loss")
	}
	// Compile only what the step needs: the loss, the outputs and the
	// parameter gradients (not, say, the gradient of the input images).
	roots := append(append(append(G.Nodes{t.loss}, t.built.Outputs...), t.built.Logits...), t.grads...)
	if t.plan, err = exec.Compile(t.g, roots, nil); err != nil {
		return nil, errors.Wrap(err, "train: planning the training step")
	}
	t.gvals = make([]*tensor.Dense, len(t.grads))
	t.local = feed{inputs: make([][]float32, len(t.xs)), targets: make([][]float32, len(t.ys))}
	t.single = feed{inputs: make([][]float32, 1), targets: make([][]float32, len(t.ys))}
	t.opt = cfg.Optimizer.NewState(t.params)
	return t, nil
}

// Close releases the graphs and their buffers. It always returns nil.
func (t *Trainer) Close() error {
	t.plan, t.evals = nil, nil
	return nil
}

// Model returns the model being trained.
func (t *Trainer) Model() *graph.Model { return t.model }

// Config returns the configuration with defaults filled in.
func (t *Trainer) Config() Config { return t.cfg }

// StepsDone returns the number of optimizer steps taken.
func (t *Trainer) StepsDone() int { return t.state.Step }

// buildWithData builds m on g for batches of n samples, with its inputs
// bound to new tensors xs and, unless reconstruct, one target per output,
// shaped like it, bound to new tensors ys. Under reconstruct the target is
// the input itself.
func buildWithData(g *G.ExprGraph, m *graph.Model, n int, mode graph.Mode, reconstruct bool) (b *graph.Built, xs, ys []*tensor.Dense, targets G.Nodes, err error) {
	inputs := m.NewInputs(g, n)
	for k, in := range inputs {
		x := tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(in.Shape().Clone()...))
		if err := G.Let(in, x); err != nil {
			return nil, nil, nil, nil, errors.Wrapf(err, "train: binding input %d", k)
		}
		xs = append(xs, x)
	}
	if b, err = m.Build(g, inputs, mode); err != nil {
		return nil, nil, nil, nil, err
	}
	if reconstruct {
		return b, xs, nil, inputs[:1], nil
	}
	for k, out := range b.Outputs {
		shape := out.Shape().Clone()
		name := "target"
		if len(b.Outputs) > 1 {
			name = fmt.Sprintf("target%d", k)
		}
		yn := G.NewTensor(g, m.Dtype(), len(shape), G.WithShape(shape...), G.WithName(name))
		y := tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(shape...))
		if err := G.Let(yn, y); err != nil {
			return nil, nil, nil, nil, errors.Wrapf(err, "train: binding target %d", k)
		}
		ys, targets = append(ys, y), append(targets, yn)
	}
	return b, xs, ys, targets, nil
}
