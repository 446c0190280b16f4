package train

import (
	"bytes"
	"encoding/json"
	"path/filepath"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/atomicfile"
	"github.com/retina-ml/retina/train/checkpoint"
)

// checkpointMeta is the JSON metadata of a training checkpoint. Tensors are
// stored as "param/<name>" (model parameters) and "opt/<slot>" (optimizer
// state). Random state needs no bytes of its own: shuffling is a function
// of (Seed, epoch) and dropout masks of (model seed, step).
type checkpointMeta struct {
	Format         string `json:"format"`
	Optimizer      string `json:"optimizer"`
	OptimizerSteps int    `json:"optimizer_steps"`
	Loss           string `json:"loss"`
	Schedule       string `json:"schedule,omitempty"`
	Batch          int    `json:"batch"`
	Epochs         int    `json:"epochs"`
	Seed           uint64 `json:"seed"`
	ModelSeed      uint64 `json:"model_seed"`
	Reconstruct    bool   `json:"reconstruct"`
	Augment        string `json:"augment,omitempty"`
	State          state  `json:"state"`
}

const checkpointFormat = "retina-train/1"

// SaveCheckpoint writes the model's parameters and state tensors (see
// graph.Model.State), the optimizer's state and
// the run's progress to path, atomically. In a data-parallel run, Fit saves
// from rank 0 only, with the running metrics summed over the ranks; every
// rank resumes from the same file.
func (t *Trainer) SaveCheckpoint(path string) error {
	if name, v, ok := firstNonFinite(t.params); !ok {
		return errors.Errorf("train: not saving %s: parameter %s holds %v", path, name, v)
	}
	meta := checkpointMeta{
		Format: checkpointFormat, Optimizer: t.cfg.Optimizer.String(), OptimizerSteps: t.opt.Steps,
		Loss: t.cfg.Loss.String(), Schedule: t.cfg.Schedule.String(), Batch: t.cfg.Batch, Epochs: t.cfg.Epochs, Seed: t.cfg.Seed,
		ModelSeed: t.model.Seed(), Reconstruct: t.cfg.Reconstruct, Augment: t.augmentName(), State: t.state,
	}
	raw, err := json.Marshal(meta)
	if err != nil {
		return errors.Wrap(err, "train: encoding checkpoint metadata")
	}
	f := &checkpoint.File{Meta: raw}
	for _, p := range t.modelTensors() {
		ct := checkpoint.Tensor{Name: p.name, Shape: p.Value.Shape().Clone()}
		switch d := p.Value.Data().(type) {
		case []float32:
			ct.F32 = d
		case []float64:
			ct.F64 = d
		}
		f.Tensors = append(f.Tensors, ct)
	}
	for _, s := range t.opt.Slots {
		n := len(s.F32) + len(s.F64)
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: "opt/" + s.Name, Shape: []int{n}, F32: s.F32, F64: s.F64})
	}
	return errors.Wrap(checkpoint.Write(path, f), "train: saving checkpoint")
}

// Resume restores a run saved by SaveCheckpoint (or by Fit into Config.Dir):
// parameters, model state, optimizer state, epoch, step and the metrics so far. The
// trainer must have the same batch size, seed, loss and optimizer type as the
// saved run, and the same optimizer and schedule settings (the number of
// epochs may differ); every parameter must match the saved tensor's name,
// shape and dtype. Then Fit continues exactly where it stopped, producing
// the metrics the uninterrupted run would have. A resumed Fit must be given
// a training set of the same size.
func (t *Trainer) Resume(path string) error {
	f, err := checkpoint.Read(path)
	if err != nil {
		return errors.Wrap(err, "train: resuming")
	}
	var meta checkpointMeta
	dec := json.NewDecoder(bytes.NewReader(f.Meta))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return errors.Wrapf(err, "train: %s: checkpoint metadata", path)
	}
	if meta.Format != checkpointFormat {
		return errors.Errorf("train: %s: format %q, want %q", path, meta.Format, checkpointFormat)
	}
	mismatch := func(what string, saved, now any) error {
		return errors.Errorf("train: %s: checkpoint was saved with %s %v, this run has %v", path, what, saved, now)
	}
	switch {
	case meta.Batch != t.cfg.Batch:
		return mismatch("batch", meta.Batch, t.cfg.Batch)
	case meta.Seed != t.cfg.Seed:
		return mismatch("seed", meta.Seed, t.cfg.Seed)
	case meta.Loss != t.cfg.Loss.String():
		return mismatch("loss", meta.Loss, t.cfg.Loss)
	case meta.Reconstruct != t.cfg.Reconstruct:
		return mismatch("reconstruct", meta.Reconstruct, t.cfg.Reconstruct)
	case meta.Optimizer != t.cfg.Optimizer.String():
		return mismatch("optimizer", meta.Optimizer, t.cfg.Optimizer)
	case meta.Schedule != "" && meta.Schedule != t.cfg.Schedule.String():
		return mismatch("schedule", meta.Schedule, t.cfg.Schedule)
	case meta.Augment != t.augmentName():
		return mismatch("augmentation", meta.Augment, t.augmentName())
	}
	type target struct {
		name  string
		shape []int
		f32   []float32
		f64   []float64
	}
	var targets []target
	for _, p := range t.modelTensors() {
		tg := target{name: p.name, shape: p.Value.Shape()}
		switch d := p.Value.Data().(type) {
		case []float32:
			tg.f32 = d
		case []float64:
			tg.f64 = d
		}
		targets = append(targets, tg)
	}
	for _, s := range t.opt.Slots {
		targets = append(targets, target{"opt/" + s.Name, []int{len(s.F32) + len(s.F64)}, s.F32, s.F64})
	}
	// Check every tensor before changing any, so that a checkpoint that
	// does not fit leaves the model as it was.
	saved := make([]*checkpoint.Tensor, len(targets))
	for i, tg := range targets {
		ct, ok := f.Tensor(tg.name)
		if !ok {
			return errors.Errorf("train: %s: checkpoint has no tensor %q", path, tg.name)
		}
		dtype := "float32"
		if tg.f64 != nil {
			dtype = "float64"
		}
		if err := ct.Matches(tg.shape, dtype); err != nil {
			return errors.Wrapf(err, "train: %s", path)
		}
		saved[i] = ct
	}
	for i, tg := range targets {
		copy(tg.f32, saved[i].F32)
		copy(tg.f64, saved[i].F64)
	}
	t.opt.Steps = meta.OptimizerSteps
	t.state = meta.State
	if t.cfg.Comm.Rank() != 0 {
		// The saved running sums are the job's; rank 0 carries them on.
		t.state.Partial = partial{}
	}
	if t.cfg.Dir != "" {
		// Make the per-epoch log agree with the checkpoint, whatever happened
		// after it was written.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, e := range t.state.History {
			if err := enc.Encode(e); err != nil {
				return errors.Wrap(err, "train: rewriting the metrics log")
			}
		}
		if err := atomicfile.Write(filepath.Join(t.cfg.Dir, MetricsLogName), b.Bytes()); err != nil {
			return errors.Wrap(err, "train")
		}
	}
	return nil
}

// namedTensor is a model tensor under its checkpoint name.
type namedTensor struct {
	name string
	*graph.Param
}

// modelTensors returns the model's tensors as checkpoints name them: the
// parameters as "param/NAME", then the state tensors (batch normalisation's
// running statistics, say) as "state/NAME".
func (t *Trainer) modelTensors() []namedTensor {
	var ts []namedTensor
	for _, p := range t.params {
		ts = append(ts, namedTensor{"param/" + p.Name, p})
	}
	for _, p := range t.model.State() {
		ts = append(ts, namedTensor{"state/" + p.Name, p})
	}
	return ts
}

// augmentName names the run's augmentation for checkpoints; "" for none.
func (t *Trainer) augmentName() string {
	if t.cfg.Augment == nil || len(t.cfg.Augment.Steps) == 0 {
		return ""
	}
	return t.cfg.Augment.String()
}
