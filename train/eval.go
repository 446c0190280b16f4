package train

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/train/dist"
)

// evaluator is the model built for inference at one batch size, sharing the
// training graph's parameter tensors; with a loss, it also computes the
// loss against a bound target.
type evaluator struct {
	vm    G.VM
	built *graph.Built
	x     *tensor.Dense
	y     *tensor.Dense // the target; nil without a loss, or when it is the input
	loss  *G.Node
	batch int
}

// newEvaluator builds m for batches of batch samples; loss, if not nil, is
// built against a target shaped like the output, or against the input when
// reconstruct is set.
func newEvaluator(m *graph.Model, batch int, loss Loss, reconstruct bool) (*evaluator, error) {
	g := G.NewGraph()
	xn := m.NewInputs(g, batch)[0]
	e := &evaluator{batch: batch, x: tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(xn.Shape().Clone()...))}
	if err := G.Let(xn, e.x); err != nil {
		return nil, errors.Wrap(err, "train: binding the evaluation input")
	}
	var err error
	if e.built, err = m.Build(g, G.Nodes{xn}, graph.Eval); err != nil {
		return nil, err
	}
	if loss != nil {
		target := xn
		if !reconstruct {
			ys := e.built.Outputs[0].Shape().Clone()
			target = G.NewTensor(g, m.Dtype(), len(ys), G.WithShape(ys...), G.WithName("target"))
			e.y = tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(ys...))
			if err := G.Let(target, e.y); err != nil {
				return nil, errors.Wrap(err, "train: binding the evaluation target")
			}
		}
		if e.loss, err = loss.Build(e.built, target); err != nil {
			return nil, errors.Wrapf(err, "train: %v loss", loss)
		}
	}
	e.vm = G.NewTapeMachine(g)
	return e, nil
}

// forward runs the model on the loaded input; Output and Logits hold the
// results until the next call.
func (e *evaluator) forward() error {
	e.vm.Reset()
	return errors.Wrap(e.vm.RunAll(), "train: evaluation")
}

// evaluator returns the cached evaluation graph for batch size n.
func (t *Trainer) evaluator(n int) (*evaluator, error) {
	if e, ok := t.evals[n]; ok {
		return e, nil
	}
	e, err := newEvaluator(t.model, n, t.cfg.Loss, t.cfg.Reconstruct)
	if err != nil {
		return nil, err
	}
	t.evals[n] = e
	return e, nil
}

// Evaluate computes the loss (and accuracy, or reconstruction error) of the
// model on every sample of set exactly once, in batches of Config.EvalBatch;
// the last batch is padded and the padding ignored. Dropout is off. In a
// data-parallel run each rank evaluates its share of set and the sums are
// combined: every rank must call Evaluate.
func (t *Trainer) Evaluate(set *datasets.Set) (SetMetrics, error) {
	var m SetMetrics
	if set == nil || set.Len() == 0 {
		return m, errors.New("train: nothing to evaluate")
	}
	size, rank := t.cfg.Comm.Size(), t.cfg.Comm.Rank()
	part := set.Subset(rank*set.Len()/size, (rank+1)*set.Len()/size)
	var correct int
	if part.Len() > 0 {
		var err error
		if m, correct, err = t.evaluateSums(part); err != nil {
			return m, err
		}
	}
	if size > 1 {
		c, n := float64(correct), float64(m.Samples)
		if err := dist.SumFloat64s(t.cfg.Comm, &m.Loss, &m.ReconError, &c, &n); err != nil {
			return m, errors.Wrap(err, "train: summing evaluation metrics over the processes")
		}
		correct, m.Samples = int(c), int(n)
	}
	n := float64(m.Samples)
	m.Loss /= n
	m.ReconError /= n
	if t.classifier() {
		m.Accuracy = float64(correct) / n
	}
	return m, nil
}

// evaluateSums returns the sums of the per-sample loss and reconstruction
// error over set, the number of correct predictions and of samples. Full
// batches run at Config.EvalBatch; the last, partial one runs on an
// evaluator of its own size, so the loss node averages real samples only.
func (t *Trainer) evaluateSums(set *datasets.Set) (m SetMetrics, correct int, err error) {
	full, err := t.evaluator(min(t.cfg.EvalBatch, set.Len()))
	if err != nil {
		return m, 0, err
	}
	loader := &datasets.Loader{Set: set, BatchSize: full.batch, Partial: datasets.PadPartial}
	it := loader.Epoch(0)
	var b datasets.Batch
	width := full.built.Outputs[0].Shape().TotalSize() / full.batch
	out := make([]float32, width)
	logits := make([]float32, full.built.Logits[0].Shape().TotalSize()/full.batch)
	sample := set.SampleSize()
	for it.Next(&b) {
		e := full
		if b.Size < full.batch {
			if e, err = t.evaluator(b.Size); err != nil {
				return m, 0, err
			}
		}
		copyInto(e.x, b.X[:b.Size*sample])
		if e.y != nil {
			copyInto(e.y, b.OneHot[:b.Size*width])
		}
		if err := e.forward(); err != nil {
			return m, 0, err
		}
		loss, err := scalar(e.loss.Value())
		if err != nil {
			return m, 0, errors.Wrap(err, "train: evaluation loss")
		}
		m.Loss += loss * float64(b.Size)
		ov, lv := e.built.Outputs[0].Value(), e.built.Logits[0].Value()
		for i := 0; i < b.Size; i++ {
			if t.cfg.Reconstruct {
				row(ov, i, out)
				m.ReconError += squaredError(out, b.X[i*width:(i+1)*width])
			}
			if t.classifier() {
				row(lv, i, logits)
				if argmax(logits) == b.Labels[i] {
					correct++
				}
			}
			m.Samples++
		}
	}
	return m, correct, errors.Wrap(it.Err(), "train: evaluation batches")
}

// DefaultPredictBatch is the batch size Predict uses when given 0.
const DefaultPredictBatch = 500

// Predict runs m in evaluation mode (dropout off) on every sample of set
// and returns the outputs back to back: set.Len() rows of
// m.Outputs()[0].TotalSize() values, in float32 whatever m's dtype. A sample
// must hold as many values as m's input, whatever their shapes ((1, 28, 28)
// images feed a (784) model). Samples go through in batches of batch
// (0: DefaultPredictBatch); the last is padded and the padding dropped. It
// needs no Trainer: use it with any declared model, trained or not.
func Predict(m *graph.Model, set *datasets.Set, batch int) ([]float32, error) {
	if set == nil || set.Len() == 0 {
		return nil, errors.New("train: predict: empty set")
	}
	if set.SampleSize() != m.Inputs()[0].TotalSize() {
		return nil, errors.Errorf("train: predict: samples of shape %v do not fit the model's input %v", set.Shape, m.Inputs()[0])
	}
	if batch <= 0 {
		batch = DefaultPredictBatch
	}
	e, err := newEvaluator(m, min(batch, set.Len()), nil, false)
	if err != nil {
		return nil, err
	}
	defer e.vm.Close()
	width := m.Outputs()[0].TotalSize()
	out := make([]float32, set.Len()*width)
	loader := &datasets.Loader{Set: &datasets.Set{X: set.X, Shape: set.Shape}, BatchSize: e.batch, Partial: datasets.PadPartial}
	it := loader.Epoch(0)
	var b datasets.Batch
	n := 0
	for it.Next(&b) {
		copyInto(e.x, b.X)
		if err := e.forward(); err != nil {
			return nil, err
		}
		for i := 0; i < b.Size; i, n = i+1, n+1 {
			row(e.built.Outputs[0].Value(), i, out[n*width:(n+1)*width])
		}
	}
	return out, errors.Wrap(it.Err(), "train: prediction batches")
}

// row copies sample i of a batched value into dst (converting to float32).
func row(v G.Value, i int, dst []float32) {
	switch d := v.Data().(type) {
	case []float32:
		copy(dst, d[i*len(dst):(i+1)*len(dst)])
	case []float64:
		for j := range dst {
			dst[j] = float32(d[i*len(dst)+j])
		}
	}
}
