package graph

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// Sequential is a model declared as a chain of layers, each feeding the next.
type Sequential []Layer

// Option configures Declare.
type Option func(*options)

type options struct {
	seed  uint64
	dtype tensor.Dtype
}

// WithSeed sets the seed parameters are initialised from (default 1).
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = seed } }

// WithDtype sets the parameters' element type: tensor.Float32 (the default)
// or tensor.Float64.
func WithDtype(dt tensor.Dtype) Option { return func(o *options) { o.dtype = dt } }

// Declare infers the shape after each layer for samples of shape input,
// creates and initialises the parameters, and returns the model. A layer that
// does not accept its input gives an error naming it and both shapes.
func (s Sequential) Declare(input Shape, opts ...Option) (*Model, error) {
	o := options{seed: 1, dtype: tensor.Float32}
	for _, opt := range opts {
		opt(&o)
	}
	if o.dtype != tensor.Float32 && o.dtype != tensor.Float64 {
		return nil, errors.Errorf("graph: dtype %v, want float32 or float64", o.dtype)
	}
	if len(s) == 0 {
		return nil, errors.New("graph: a model needs at least one layer")
	}
	for i, d := range input {
		if d < 1 {
			return nil, errors.Errorf("graph: input shape %v: dimension %d is %d", input, i, d)
		}
	}
	m := &Model{Input: input.Clone(), Layers: append([]Layer(nil), s...), dtype: o.dtype, seed: o.seed}
	counts := map[string]int{}
	used := map[string]bool{}
	in := m.Input
	for i, l := range m.Layers {
		counts[l.Kind()]++
		name := fmt.Sprintf("%s%d", l.Kind(), counts[l.Kind()])
		if n, ok := l.(Named); ok && n.LayerName() != "" {
			name = n.LayerName()
		}
		if used[name] {
			return nil, errors.Errorf("graph: layer %d (%s): name used twice", i, name)
		}
		used[name] = true
		out, specs, err := l.Declare(in)
		if err != nil {
			return nil, errors.Wrapf(err, "graph: layer %d (%s): input %v", i, name, in)
		}
		info := layerInfo{name: name, in: in, out: out}
		for _, sp := range specs {
			if sp.Shape.TotalSize() < 1 {
				return nil, errors.Errorf("graph: layer %d (%s): parameter %s has empty shape %v", i, name, sp.Name, sp.Shape)
			}
			p := &Param{Name: name + "/" + sp.Name, Layer: i, Spec: sp,
				Value: tensor.New(tensor.Of(o.dtype), tensor.WithShape(sp.Shape.Clone()...))}
			info.params = append(info.params, len(m.params))
			m.params = append(m.params, p)
		}
		m.info = append(m.info, info)
		in = out
	}
	m.Init(o.seed)
	return m, nil
}

// Model is a declared sequential model: its layers, their shapes and the
// parameters it owns.
type Model struct {
	Input  Shape   // per-sample input shape
	Layers []Layer // the layers, in order

	info   []layerInfo
	params []*Param
	dtype  tensor.Dtype
	seed   uint64
}

type layerInfo struct {
	name    string
	in, out Shape
	params  []int // indices into Model.params
}

// Param is a learnable tensor of a model.
type Param struct {
	Name  string        // "<layer>/<spec name>", e.g. "conv1/W"
	Layer int           // index of the owning layer
	Spec  ParamSpec     // what the layer declared
	Value *tensor.Dense // the values; updated in place by optimizers
}

// Params returns the model's parameters in declaration order.
func (m *Model) Params() []*Param { return m.params }

// Param returns the parameter with the given name, or nil.
func (m *Model) Param(name string) *Param {
	for _, p := range m.params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Dtype returns the parameters' element type.
func (m *Model) Dtype() tensor.Dtype { return m.dtype }

// Seed returns the seed the parameters were last initialised from.
func (m *Model) Seed() uint64 { return m.seed }

// Output returns the per-sample shape the model produces.
func (m *Model) Output() Shape { return m.info[len(m.info)-1].out.Clone() }

// LayerName returns the resolved name of layer i ("conv1", …).
func (m *Model) LayerName(i int) string { return m.info[i].name }

// LayerShapes returns the per-sample input and output shapes of layer i.
func (m *Model) LayerShapes(i int) (in, out Shape) {
	return m.info[i].in.Clone(), m.info[i].out.Clone()
}

// Init draws every parameter afresh from seed: weights He-uniform,
// U(±√(6/fan_in)), when the next layer is a ReLU, Glorot-uniform,
// U(±√(6/(fan_in+fan_out))), otherwise; biases zero. Each parameter has its
// own random stream, so adding a layer does not change the others' values.
func (m *Model) Init(seed uint64) {
	m.seed = seed
	for i, p := range m.params {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		var limit float64
		if !p.Spec.Bias {
			he := p.Layer+1 < len(m.Layers) && isReLU(m.Layers[p.Layer+1])
			if he {
				limit = math.Sqrt(6 / float64(p.Spec.FanIn))
			} else {
				limit = math.Sqrt(6 / float64(p.Spec.FanIn+p.Spec.FanOut))
			}
		}
		switch d := p.Value.Data().(type) {
		case []float32:
			for j := range d {
				d[j] = float32(limit * (2*rng.Float64() - 1))
			}
		case []float64:
			for j := range d {
				d[j] = limit * (2*rng.Float64() - 1)
			}
		}
	}
}

func isReLU(l Layer) bool { _, ok := l.(ReLU); return ok }

// Built is a model added to one graph.
type Built struct {
	Input       *G.Node // (N, input...)
	Output      *G.Node // (N, output...)
	Logits      *G.Node // the input of a final Sigmoid or Softmax layer; Output otherwise
	Params      G.Nodes // parameter nodes, in Model.Params order
	Layers      G.Nodes // output node of each layer
	random      []*ops.DropoutState
	randomLayer []int
}

// SetRandom sets the seed and the training step that random layers
// (dropout) draw their masks from: layer i's masks come from a generator
// seeded with (seed mixed with i, step). Call it before each forward pass;
// the trainer does, with its own seed and step, so a resumed run draws the
// masks the uninterrupted run drew.
func (b *Built) SetRandom(seed, step uint64) {
	for i, st := range b.random {
		st.Seed = seed*0x9e3779b97f4a7c15 + uint64(b.randomLayer[i])
		st.Step = step
	}
}

// NewInput adds an input node for a batch of n samples to g, named "x".
func (m *Model) NewInput(g *G.ExprGraph, n int) *G.Node {
	return G.NewTensor(g, m.dtype, len(m.Input)+1, G.WithShape(append(Shape{n}, m.Input...)...), G.WithName("x"))
}

// Build adds the model to g, applied to x of shape (N, input...), with
// parameter nodes bound to the model's tensors. A Dense layer followed by an
// elementwise activation (other than the model's last layer) becomes one
// fused op.
func (m *Model) Build(g *G.ExprGraph, x *G.Node, mode Mode) (*Built, error) {
	want := append(Shape{0}, m.Input...)
	xs := x.Shape()
	if len(xs) != len(want) || !xs[1:].Eq(m.Input) {
		return nil, errors.Errorf("graph: input node has shape %v, want (N, %v)", xs, m.Input)
	}
	if x.Dtype() != m.dtype {
		return nil, errors.Errorf("graph: input node is %v, model is %v", x.Dtype(), m.dtype)
	}
	b := &Built{Input: x}
	for _, p := range m.params {
		b.Params = append(b.Params, G.NodeFromAny(g, p.Value, G.WithName(p.Name)))
	}
	h := x
	last := len(m.Layers) - 1
	for i := 0; i <= last; i++ {
		l, info := m.Layers[i], m.info[i]
		if i == last {
			switch l.(type) {
			case Sigmoid, Softmax:
				b.Logits = h
			}
		}
		ps := make(G.Nodes, len(info.params))
		for k, j := range info.params {
			ps[k] = b.Params[j]
		}
		ctx := &Context{Mode: mode, Index: i, Name: info.name, built: b}
		var err error
		if f, ok := fusable(m.Layers, i); ok {
			if h, err = l.(fuser).buildAct(h, ps, f); err != nil {
				return nil, errors.Wrapf(err, "graph: layer %d (%s)", i, info.name)
			}
			b.Layers = append(b.Layers, h, h)
			i++
			continue
		}
		if h, err = l.Build(ctx, h, ps); err != nil {
			return nil, errors.Wrapf(err, "graph: layer %d (%s)", i, info.name)
		}
		b.Layers = append(b.Layers, h)
	}
	b.Output = h
	if b.Logits == nil {
		b.Logits = h
	}
	return b, nil
}

// Dot returns the Graphviz DOT source of the model's evaluation graph for a
// batch of n samples (render it with `dot -Tsvg`).
func (m *Model) Dot(n int) (string, error) {
	g := G.NewGraph()
	if _, err := m.Build(g, m.NewInput(g, n), Eval); err != nil {
		return "", err
	}
	return g.ToDot(), nil
}
