package train

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"

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
	Batch          int    `json:"batch"`
	Epochs         int    `json:"epochs"`
	Seed           uint64 `json:"seed"`
	ModelSeed      uint64 `json:"model_seed"`
	Reconstruct    bool   `json:"reconstruct"`
	State          state  `json:"state"`
}

const checkpointFormat = "retina-train/1"

// SaveCheckpoint writes the model's parameters, the optimizer's state and
// the run's progress to path, atomically. In a data-parallel run, Fit saves
// from rank 0 only, with the running metrics summed over the ranks; every
// rank resumes from the same file.
func (t *Trainer) SaveCheckpoint(path string) error {
	meta := checkpointMeta{
		Format: checkpointFormat, Optimizer: t.cfg.Optimizer.String(), OptimizerSteps: t.cfg.Optimizer.Steps(),
		Loss: t.cfg.Loss.String(), Batch: t.cfg.Batch, Epochs: t.cfg.Epochs, Seed: t.cfg.Seed,
		ModelSeed: t.model.Seed(), Reconstruct: t.cfg.Reconstruct, State: t.state,
	}
	raw, err := json.Marshal(meta)
	if err != nil {
		return errors.Wrap(err, "train: encoding checkpoint metadata")
	}
	f := &checkpoint.File{Meta: raw}
	for _, p := range t.params {
		ct := checkpoint.Tensor{Name: "param/" + p.Name, Shape: p.Value.Shape().Clone()}
		switch d := p.Value.Data().(type) {
		case []float32:
			ct.F32 = d
		case []float64:
			ct.F64 = d
		}
		f.Tensors = append(f.Tensors, ct)
	}
	for _, s := range t.cfg.Optimizer.Slots(t.params) {
		n := len(s.F32) + len(s.F64)
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: "opt/" + s.Name, Shape: []int{n}, F32: s.F32, F64: s.F64})
	}
	return errors.Wrap(checkpoint.Write(path, f), "train: saving checkpoint")
}

// Resume restores a run saved by SaveCheckpoint (or by Fit into Config.Dir):
// parameters, optimizer state, epoch, step and the metrics so far. The
// trainer must have the same batch size, seed, loss and optimizer type as the
// saved run; then Fit continues exactly where it stopped, producing the
// metrics the uninterrupted run would have.
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
	case optName(meta.Optimizer) != optName(t.cfg.Optimizer.String()):
		return mismatch("optimizer", meta.Optimizer, t.cfg.Optimizer)
	}
	load := func(name string, f32 []float32, f64 []float64) error {
		ct, ok := f.Tensor(name)
		if !ok {
			return errors.Errorf("train: %s: checkpoint has no tensor %q", path, name)
		}
		switch {
		case f32 != nil && len(ct.F32) == len(f32):
			copy(f32, ct.F32)
		case f64 != nil && len(ct.F64) == len(f64):
			copy(f64, ct.F64)
		default:
			return errors.Errorf("train: %s: tensor %q has shape %v (%d float32, %d float64 values), want %d values",
				path, name, ct.Shape, len(ct.F32), len(ct.F64), len(f32)+len(f64))
		}
		return nil
	}
	for _, p := range t.params {
		var f32 []float32
		var f64 []float64
		switch d := p.Value.Data().(type) {
		case []float32:
			f32 = d
		case []float64:
			f64 = d
		}
		if err := load("param/"+p.Name, f32, f64); err != nil {
			return err
		}
	}
	for _, s := range t.cfg.Optimizer.Slots(t.params) {
		if err := load("opt/"+s.Name, s.F32, s.F64); err != nil {
			return err
		}
	}
	t.cfg.Optimizer.SetSteps(meta.OptimizerSteps)
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
		if err := writeFileAtomic(filepath.Join(t.cfg.Dir, MetricsLogName), b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// optName is the optimizer's kind, the part of String() before "(".
func optName(s string) string {
	name, _, _ := strings.Cut(s, "(")
	return name
}
