// Package predict runs trained models on new inputs: a Predictor computes a
// model's outputs for batches of samples, Classify turns class scores into
// classes and probabilities, and a Confusion matrix counts how a labelled
// set is classified, with per-class precision, recall and F1.
//
//	p, err := predict.New(model, 64) // evaluation mode, batches of up to 64
//	defer p.Close()
//	preds, err := p.Classify(images) // len(images) = n·784 for n (1, 28, 28) images
//	fmt.Println(preds[0].Class, preds[0].Prob)
//	conf, err := predict.Evaluate(p, testSet) // conf.Accuracy(), conf.F1(3), json.Marshal(conf)
//
// Samples are flat float32 slices in row-major order, n samples back to
// back, whatever the model's dtype (a float64 model's inputs are converted,
// its outputs converted back to float32), as in datasets.Set.X.
package predict

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/exec"
)

// DefaultBatch is the batch size New uses when given 0.
const DefaultBatch = 500

// maxBatchValues bounds batch × sample size for each input and output of a
// Predictor: 2^32 values, 16 GiB of float32.
const maxBatchValues = 1 << 32

// A Predictor runs a model in evaluation mode (dropout off, batch
// normalisation on its running statistics) on batches of up to Batch()
// samples. It shares the model's parameter and state tensors: weights
// loaded into the model (weights.Load) or updated by a Trainer are seen by
// the next call; a tensor replaced by another (Param.Value assigned) is not.
//
// A call on n samples runs ⌈n/Batch()⌉ batches of Batch() rows, the last
// padded with zeros. With Retina's pure-Go matrix multiply (the default
// backend) each sample's outputs depend on that sample alone: padding and
// splitting give the same bits as any other grouping at the same batch
// size. Another batch size may round differently: some convolutions
// (LeNet's second; see ops.Conv2D's package doc) run Winograd's kernels in
// batches of 32 samples and more. OpenBLAS may round a sample's
// outputs differently, in the last bits, with its row in the batch. A call costs a full batch however few
// samples it has: build the Predictor for the batch size you call it with
// (1 for one image at a time).
//
// The graph runs op after op on buffers the ops own, not on Gorgonia's
// TapeMachine, which allocates at every run; the outputs are the
// TapeMachine's, bit for bit. Once warm, PredictInto and ClassifyInto
// allocate nothing for models of Retina's layers: after the first call,
// and, for convolutions, once as many chunks of images have run at once as
// there are cores (each keeps a workspace: a few calls).
//
// A Predictor is not safe for concurrent use; Predictors of the same model
// may run concurrently while nothing writes its tensors.
type Predictor struct {
	model   *graph.Model
	batch   int
	plan    *exec.Plan
	xs      []*tensor.Dense // bound input tensors, (batch, input...)
	inSize  []int           // values per sample of each input
	out     G.Nodes         // each output's node
	logits  G.Nodes         // each output's logits (Built.Logits)
	size    []int           // values per sample of each output
	final   finalKind       // output 0's final layer
	classes int             // Classes()
	filled  int             // leading rows of xs that may hold values; the others are 0
	closed  bool
}

// finalKind is the last layer of an output: the scores are its input.
type finalKind int

const (
	finalNone    finalKind = iota // the output is the scores (logits)
	finalSoftmax                  // a Softmax layer: the output holds probabilities
	finalSigmoid                  // a Sigmoid layer: the output holds per-class probabilities
)

// New builds m for batches of up to batch samples (0: DefaultBatch) in
// evaluation mode, on a graph of its own bound to m's tensors.
func New(m *graph.Model, batch int) (*Predictor, error) {
	if m == nil {
		return nil, errors.New("predict: nil model")
	}
	if batch < 0 {
		return nil, errors.Errorf("predict: batch %d, want ≥ 1 (or 0 for %d)", batch, DefaultBatch)
	}
	if batch == 0 {
		batch = DefaultBatch
	}
	p := &Predictor{model: m, batch: batch, classes: classesOf(m.Outputs()[0])}
	for k, s := range m.Inputs() {
		p.inSize = append(p.inSize, s.TotalSize())
		if int64(batch)*int64(s.TotalSize()) > maxBatchValues {
			return nil, errors.Errorf("predict: batch %d of model %s's input %d %v: more than %d values", batch, m.Name(), k, s, int64(maxBatchValues))
		}
	}
	for k, s := range m.Outputs() {
		p.size = append(p.size, s.TotalSize())
		if int64(batch)*int64(s.TotalSize()) > maxBatchValues {
			return nil, errors.Errorf("predict: batch %d of model %s's output %d %v: more than %d values", batch, m.Name(), k, s, int64(maxBatchValues))
		}
	}
	g := G.NewGraph()
	nodes := m.NewInputs(g, batch)
	for k, in := range nodes {
		x := tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(in.Shape().Clone()...))
		if err := G.Let(in, x); err != nil {
			return nil, errors.Wrapf(err, "predict: binding input %d", k)
		}
		p.xs = append(p.xs, x)
	}
	b, err := m.Build(g, nodes, graph.Eval)
	if err != nil {
		return nil, errors.Wrap(err, "predict")
	}
	names := map[*G.Node]string{}
	layers := m.Layers()
	for i, n := range b.Layers {
		names[n] = layers[i].Name // a fused pair's node is named by its activation
	}
	roots := append(append(G.Nodes(nil), b.Outputs...), b.Logits...)
	if p.plan, err = exec.Compile(g, roots, names); err != nil {
		return nil, errors.Wrap(err, "predict")
	}
	p.out, p.logits = b.Outputs, b.Logits
	if b.Logits[0] != b.Outputs[0] {
		p.final = finalSigmoid
		for i := len(b.Layers) - 1; i >= 0; i-- {
			if b.Layers[i] == b.Outputs[0] {
				if _, ok := layers[i].Layer.(graph.Softmax); ok {
					p.final = finalSoftmax
				}
				break
			}
		}
	}
	return p, nil
}

// Model returns the model the Predictor runs.
func (p *Predictor) Model() *graph.Model { return p.model }

// Batch returns the number of samples the Predictor computes at once.
func (p *Predictor) Batch() int { return p.batch }

// Close releases the Predictor's graph and buffers; later calls return an
// error. Close is idempotent and always returns nil.
func (p *Predictor) Close() error {
	p.closed, p.plan, p.xs = true, nil, nil
	return nil
}

// Predict runs the model on n samples and returns, for each output k, n
// rows of Model().Outputs()[k].TotalSize() values back to back. inputs
// holds one slice per model input, each n samples of that input's size
// (whatever their shape: (1, 28, 28) images feed a (784) input). Any n ≥ 0
// is accepted; more than Batch() samples run in several batches.
func (p *Predictor) Predict(inputs ...[]float32) ([][]float32, error) {
	n, err := p.samples(inputs)
	if err != nil {
		return nil, err
	}
	outs := make([][]float32, len(p.size))
	for k, w := range p.size {
		outs[k] = make([]float32, n*w)
	}
	return outs, p.PredictInto(outs, inputs...)
}

// PredictInto is Predict writing into outputs, one slice per model output,
// each of exactly n rows of that output's size. Once the Predictor is warm
// it allocates nothing.
func (p *Predictor) PredictInto(outputs [][]float32, inputs ...[]float32) error {
	n, err := p.samples(inputs)
	if err != nil {
		return err
	}
	if len(outputs) != len(p.size) {
		return errors.Errorf("predict: %d output slices, model %s has %d outputs", len(outputs), p.model.Name(), len(p.size))
	}
	for k, w := range p.size {
		if len(outputs[k]) != n*w {
			return errors.Errorf("predict: output slice %d has %d values, want %d (%d samples of %v)", k, len(outputs[k]), n*w, n, p.model.Outputs()[k])
		}
	}
	for lo := 0; lo < n; lo += p.batch {
		hi := min(lo+p.batch, n)
		if err := p.forward(inputs, lo, hi); err != nil {
			return err
		}
		for k, w := range p.size {
			if err := p.rows(p.out[k], outputs[k][lo*w:hi*w]); err != nil {
				return err
			}
		}
	}
	return nil
}

// samples checks inputs against the model and returns their number of
// samples.
func (p *Predictor) samples(inputs [][]float32) (int, error) {
	if p.closed {
		return 0, errors.New("predict: the Predictor is closed")
	}
	if len(inputs) != len(p.inSize) {
		return 0, errors.Errorf("predict: %d inputs, model %s takes %d", len(inputs), p.model.Name(), len(p.inSize))
	}
	n := 0
	for k, x := range inputs {
		w := p.inSize[k]
		if len(x)%w != 0 {
			return 0, errors.Errorf("predict: input %d has %d values, not a multiple of the sample size %d (model %s's input %v)",
				k, len(x), w, p.model.Name(), p.model.Inputs()[k])
		}
		if k == 0 {
			n = len(x) / w
		} else if len(x)/w != n {
			return 0, errors.Errorf("predict: input %d holds %d samples, input 0 holds %d", k, len(x)/w, n)
		}
	}
	return n, nil
}

// forward loads samples lo..hi-1 of every input into rows 0..hi-lo-1 of the
// input tensors, zeroes rows that held other samples, and runs the graph.
func (p *Predictor) forward(inputs [][]float32, lo, hi int) error {
	n := hi - lo
	for k, x := range p.xs {
		w := p.inSize[k]
		src := inputs[k][lo*w : hi*w]
		if x.Dtype() == tensor.Float64 {
			d := x.Float64s()
			for i, v := range src {
				d[i] = float64(v)
			}
			clear(d[n*w : max(p.filled, n)*w])
		} else {
			d := x.Float32s()
			copy(d, src)
			clear(d[n*w : max(p.filled, n)*w])
		}
	}
	p.filled = n
	return errors.Wrap(p.plan.Run(), "predict")
}

// rows copies the first len(dst) values of node n's value into dst, as
// float32.
func (p *Predictor) rows(n *G.Node, dst []float32) error {
	d, ok := p.plan.Value(n).(*tensor.Dense)
	if !ok {
		return errors.Errorf("predict: an output is %T, want a tensor", p.plan.Value(n))
	}
	switch d.Dtype() {
	case tensor.Float32:
		copy(dst, d.Float32s()[:len(dst)])
	case tensor.Float64:
		for j, v := range d.Float64s()[:len(dst)] {
			dst[j] = float32(v)
		}
	default:
		return errors.Errorf("predict: an output is %v, want float32 or float64", d.Dtype())
	}
	return nil
}
