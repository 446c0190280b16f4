package train

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/exec"
	"github.com/retina-ml/retina/predict"
	"github.com/retina-ml/retina/train/dist"
)

// evaluator is the model built for inference at one batch size, sharing the
// training graph's parameter tensors; with a loss, it also computes the
// loss against bound targets.
type evaluator struct {
	plan  *exec.Plan
	built *graph.Built
	xs    []*tensor.Dense
	ys    []*tensor.Dense // the targets; none without a loss, or when the target is the input
	loss  *G.Node
	batch int
}

// newEvaluator builds m for batches of batch samples; loss, if not nil, is
// built against targets shaped like the outputs, or against the input when
// reconstruct is set.
func newEvaluator(m *graph.Model, batch int, loss Loss, reconstruct bool) (*evaluator, error) {
	g := G.NewGraph()
	e := &evaluator{batch: batch}
	var err error
	var targets G.Nodes
	if e.built, e.xs, e.ys, targets, err = buildWithData(g, m, batch, graph.Eval, reconstruct || loss == nil); err != nil {
		return nil, err
	}
	if loss == nil {
		e.ys = nil
	} else if e.loss, err = loss.Build(e.built, targets); err != nil {
		return nil, errors.Wrapf(err, "train: %v loss", loss)
	}
	roots := append(append(G.Nodes(nil), e.built.Outputs...), e.built.Logits...)
	if e.loss != nil {
		roots = append(roots, e.loss)
	}
	if e.plan, err = exec.Compile(g, roots, nil); err != nil {
		return nil, errors.Wrap(err, "train: planning the evaluation")
	}
	return e, nil
}

// load copies the first n rows of each input and target of f into the
// bound tensors (n being the evaluator's batch).
func (e *evaluator) load(f *feed) {
	for k, x := range e.xs {
		copyInto(x, f.inputs[k][:x.Size()])
	}
	for k, y := range e.ys {
		copyInto(y, f.targets[k][:y.Size()])
	}
}

// forward runs the model on the loaded input; Output and Logits hold the
// results until the next call.
func (e *evaluator) forward() error {
	return errors.Wrap(e.plan.Run(), "train: evaluation")
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
// model on every sample of src (a *datasets.Set or *datasets.Table) exactly
// once, in batches of Config.EvalBatch. Dropout is off. In a data-parallel
// run each rank evaluates its share of src and the sums are combined: every
// rank must call Evaluate.
func (t *Trainer) Evaluate(src datasets.Source) (SetMetrics, error) {
	var m SetMetrics
	c, err := newColumns(t.model, src, !t.cfg.Reconstruct, "evaluation data")
	if err != nil {
		return m, err
	}
	if c.samples == 0 {
		return m, errors.New("train: nothing to evaluate")
	}
	if t.classifier() && !c.labelled() {
		return m, errors.New("train: evaluation data: cross-entropy needs a labelled target (a Set with Classes)")
	}
	size, rank := t.cfg.Comm.Size(), t.cfg.Comm.Rank()
	part := c.subset(rank*c.samples/size, (rank+1)*c.samples/size)
	var correct int
	if part.samples > 0 {
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
// error over c, the number of correct predictions and of samples. Full
// batches run at Config.EvalBatch; the last, partial one runs on an
// evaluator of its own size, so the loss node averages real samples only.
func (t *Trainer) evaluateSums(c *columns) (m SetMetrics, correct int, err error) {
	full, err := t.evaluator(min(t.cfg.EvalBatch, c.samples))
	if err != nil {
		return m, 0, err
	}
	it := c.epoch(datasets.Loader{BatchSize: full.batch, Partial: datasets.PadPartial}, 0)
	var out, scratch []float32
	for it.next() {
		f := &it.feed
		e := full
		if f.size < full.batch {
			if e, err = t.evaluator(f.size); err != nil {
				return m, 0, err
			}
		}
		e.load(f)
		if err := e.forward(); err != nil {
			return m, 0, err
		}
		loss, err := scalar(e.plan.Value(e.loss))
		if err != nil {
			return m, 0, errors.Wrap(err, "train: evaluation loss")
		}
		m.Loss += loss * float64(f.size)
		m.Samples += f.size
		if t.cfg.Reconstruct {
			x := f.inputs[0]
			width := len(x) / full.batch
			out = make32(&out, width)
			for i := 0; i < f.size; i++ {
				row(e.plan.Value(e.built.Outputs[0]), i, out)
				m.ReconError += squaredError(out, x[i*width:(i+1)*width])
			}
		}
		if t.classifier() {
			correct += countCorrect(e.plan.Value(e.built.Logits[0]), f.labels[:f.size], make32(&scratch, e.ys[0].Shape()[1]))
		}
	}
	return m, correct, errors.Wrap(it.err(), "train: evaluation batches")
}

// DefaultPredictBatch is the batch size Predict uses when given 0.
const DefaultPredictBatch = predict.DefaultBatch

// Predict runs m in evaluation mode (dropout off) on every sample of src, a
// *datasets.Set for a model with one input or a *datasets.Table with one
// input column per model input (targets are ignored), and returns, for
// each output k, src.Len() rows of m.Outputs()[k].TotalSize() values back
// to back, in float32 whatever m's dtype. A sample must hold as many values
// as its input, whatever their shapes ((1, 28, 28) images feed a (784)
// model). Samples go through in batches of batch (0: DefaultPredictBatch);
// the last is padded and the padding dropped. It needs no Trainer: use it
// with any declared model, trained or not. It is a predict.Predictor's
// Predict over the columns of src; to predict many times, or without a
// Source, use a Predictor.
func Predict(m *graph.Model, src datasets.Source, batch int) ([][]float32, error) {
	c, err := newColumns(m, src, false, "prediction data")
	if err != nil {
		return nil, err
	}
	if c.samples == 0 {
		return nil, errors.New("train: predict: empty set")
	}
	if batch <= 0 {
		batch = DefaultPredictBatch
	}
	p, err := predict.New(m, min(batch, c.samples))
	if err != nil {
		return nil, errors.Wrap(err, "train")
	}
	defer p.Close()
	inputs := make([][]float32, len(c.in))
	for k, i := range c.in {
		inputs[k] = c.sets[i].X
	}
	outs, err := p.Predict(inputs...)
	return outs, errors.Wrap(err, "train")
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
