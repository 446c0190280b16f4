package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// Option configures Func and Sequential.Declare.
type Option func(*options)

type options struct {
	seed  uint64
	dtype tensor.Dtype
	name  string
}

// WithSeed sets the seed parameters are initialised from (default 1).
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = seed } }

// WithDtype sets the parameters' element type: tensor.Float32 (the default)
// or tensor.Float64.
func WithDtype(dt tensor.Dtype) Option { return func(o *options) { o.dtype = dt } }

// WithName names the model: a model called inside another contributes its
// layers and parameters under this name ("encoder/dense1/W"). Default
// "model".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// Model is a declared model: a graph of layers from its inputs to its
// outputs, with the shapes of every value and the parameters it owns.
type Model struct {
	name    string
	inputs  []Shape
	outputs []int // value ids
	layers  []layerNode
	values  []Shape // per-sample shape of each value: inputs first, then one per layer
	params  []*Param
	subs    map[string]*Model // models called by name
	dtype   tensor.Dtype
	seed    uint64
}

// layerNode is one application of a layer: it reads values and writes one.
type layerNode struct {
	name   string // path, e.g. "block2/conv1"
	layer  Layer
	in     []int // value ids read
	out    int   // value id written
	params []int // indices into Model.params
	shared bool  // a second application of a called model's layer: its parameters are counted once
}

// Param is a learnable tensor of a model.
type Param struct {
	Name  string        // path, e.g. "conv1/W" or "encoder/dense1/W"
	Spec  ParamSpec     // what the layer declared
	Value *tensor.Dense // the values; updated in place by optimizers
}

// LayerInfo describes one layer application of a model.
type LayerInfo struct {
	Name string // path, e.g. "block2/conv1"; "tower/conv1#2" for a model's second call

	Layer  Layer    // the layer
	Inputs []string // names of the values it reads: "input", "input2", or layer paths
	In     []Shape  // per-sample input shapes
	Out    Shape    // per-sample output shape
	Params []*Param
	Shared bool // its parameters belong to an earlier application (a model called twice)
}

// Name returns the model's name (WithName; default "model").
func (m *Model) Name() string { return m.name }

// Inputs returns the per-sample shapes of the model's inputs.
func (m *Model) Inputs() []Shape { return cloneShapes(m.inputs) }

// Outputs returns the per-sample shapes of the model's outputs.
func (m *Model) Outputs() []Shape {
	out := make([]Shape, len(m.outputs))
	for i, v := range m.outputs {
		out[i] = m.values[v].Clone()
	}
	return out
}

// Layers describes the model's layer applications in the order they run.
func (m *Model) Layers() []LayerInfo {
	infos := make([]LayerInfo, len(m.layers))
	for i, n := range m.layers {
		li := LayerInfo{Name: m.layerName(i), Layer: n.layer, Out: m.values[n.out].Clone(), Shared: n.shared}
		for _, v := range n.in {
			li.Inputs = append(li.Inputs, m.valueName(v))
			li.In = append(li.In, m.values[v].Clone())
		}
		for _, j := range n.params {
			li.Params = append(li.Params, m.params[j])
		}
		infos[i] = li
	}
	return infos
}

// valueName names value v: "input" (or "input2", …) or its layer's path.
func (m *Model) valueName(v int) string {
	if v < len(m.inputs) {
		if v == 0 {
			return "input"
		}
		return fmt.Sprintf("input%d", v+1)
	}
	return m.layerName(v - len(m.inputs))
}

// layerName names layer i by its path, suffixed #k for the k-th
// application of that path (k ≥ 2: a model called k times).
func (m *Model) layerName(i int) string {
	k := 1
	for _, n := range m.layers[:i] {
		if n.name == m.layers[i].name {
			k++
		}
	}
	if k == 1 {
		return m.layers[i].name
	}
	return fmt.Sprintf("%s#%d", m.layers[i].name, k)
}

// Params returns the model's learnable parameters in declaration order; a
// parameter of a model called twice appears once. State tensors are not
// among them (see State).
func (m *Model) Params() []*Param {
	var ps []*Param
	for _, p := range m.params {
		if !p.Spec.State {
			ps = append(ps, p)
		}
	}
	return ps
}

// Param returns the parameter or state tensor with the given name, or nil.
func (m *Model) Param(name string) *Param {
	for _, p := range m.params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Submodel returns the model called under name inside m (Scope.Call), or
// nil. It shares m's parameter tensors: training m trains it.
func (m *Model) Submodel(name string) *Model { return m.subs[name] }

// Dtype returns the parameters' element type.
func (m *Model) Dtype() tensor.Dtype { return m.dtype }

// Seed returns the seed the parameters were last initialised from.
func (m *Model) Seed() uint64 { return m.seed }

// Init draws every parameter afresh from seed, those of called models
// included (they are the same tensors): weights from the distribution their
// layer states (ParamSpec.Init), biases zero, Zeros and Ones tensors (state
// included) filled. Each parameter has its own
// random stream, so adding a layer does not change the others' values.
func (m *Model) Init(seed uint64) {
	m.seed = seed
	for i, p := range m.params {
		switch p.Spec.Init {
		case Zeros, Ones:
			fill(p.Value, float64(p.Spec.Init-Zeros))
			continue
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		var limit float64
		if !p.Spec.Bias {
			if p.Spec.Init == HeUniform {
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

// fill sets every element of t to v.
func fill(t *tensor.Dense, v float64) {
	switch d := t.Data().(type) {
	case []float32:
		for j := range d {
			d[j] = float32(v)
		}
	case []float64:
		for j := range d {
			d[j] = v
		}
	}
}

// A Value is a symbolic batch of samples in a model being declared: one of
// its inputs, or the output of a layer. Only its per-sample shape is known.
type Value struct {
	id    int
	shape Shape
	d     *declaration
}

// Shape returns the value's per-sample shape.
func (v *Value) Shape() Shape { return v.shape.Clone() }

// A Scope is where a model function applies layers. Layers applied in it
// are named by their Name field or by kind and count ("conv1", "conv2", …),
// prefixed with the scope's path ("block2/conv1"). The first error stops
// the declaration: later calls return a placeholder value, and Func returns
// that error.
type Scope struct {
	d      *declaration
	prefix string
	counts map[string]int
}

type declaration struct {
	m       *Model
	err     error
	names   map[string]bool       // layer and scope paths in use
	byValue map[*tensor.Dense]int // parameter tensors already in m.params
}

// Sub returns a child scope: layers applied in it are named "name/…".
func (s *Scope) Sub(name string) *Scope {
	path := s.prefix + name
	if s.d.err == nil {
		if err := checkName(name); err != nil {
			s.d.fail(errors.Wrapf(err, "graph: scope %q", path))
		} else if s.d.names[path] {
			s.d.fail(errors.Errorf("graph: scope %q used twice (to share weights, call the same Model)", path))
		}
	}
	s.d.names[path] = true
	return &Scope{d: s.d, prefix: path + "/", counts: map[string]int{}}
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return errors.New("a name must be non-empty, without '/' or spaces")
	}
	return nil
}

func (d *declaration) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// placeholder is the value returned once the declaration has failed.
func (d *declaration) placeholder() *Value { return &Value{id: -1, d: d} }

// name resolves a layer's path in s.
func (s *Scope) name(l Layer, kind string) string {
	s.counts[kind]++
	name := fmt.Sprintf("%s%d", kind, s.counts[kind])
	if n, ok := l.(Named); ok && n.LayerName() != "" {
		name = n.LayerName()
	}
	return s.prefix + name
}

// check reports an error unless every input is a live value of this
// declaration.
func (s *Scope) check(path string, xs []*Value) bool {
	if s.d.err != nil {
		return false
	}
	for i, x := range xs {
		if x == nil || x.d != s.d || x.id < 0 {
			s.d.fail(errors.Errorf("graph: layer %s: input %d is not a value of this model", path, i))
			return false
		}
	}
	return true
}

// Apply applies layer l to the inputs xs and returns its output. Each Apply
// creates the layer's own parameters; to apply the same weights twice, call
// a Model (Call).
func (s *Scope) Apply(l Layer, xs ...*Value) *Value {
	if s.d.err != nil {
		return s.d.placeholder()
	}
	if l == nil {
		s.d.fail(errors.New("graph: Apply of a nil layer"))
		return s.d.placeholder()
	}
	path := s.name(l, l.Kind())
	if !s.check(path, xs) {
		return s.d.placeholder()
	}
	m := s.d.m
	index := len(m.layers)
	if err := checkName(path[len(s.prefix):]); err != nil {
		s.d.fail(errors.Wrapf(err, "graph: layer %d (%s)", index, path))
		return s.d.placeholder()
	}
	if s.d.names[path] {
		s.d.fail(errors.Errorf("graph: layer %d (%s): name used twice", index, path))
		return s.d.placeholder()
	}
	s.d.names[path] = true
	in := make([]Shape, len(xs))
	ids := make([]int, len(xs))
	for i, x := range xs {
		in[i], ids[i] = x.shape, x.id
	}
	out, specs, err := l.Declare(cloneShapes(in))
	if err != nil {
		s.d.fail(errors.Wrapf(err, "graph: layer %d (%s): input %s", index, path, shapesString(in)))
		return s.d.placeholder()
	}
	n := layerNode{name: path, layer: l, in: ids}
	for _, sp := range specs {
		if sp.Shape.TotalSize() < 1 {
			s.d.fail(errors.Errorf("graph: layer %d (%s): parameter %s has empty shape %v", index, path, sp.Name, sp.Shape))
			return s.d.placeholder()
		}
		p := &Param{Name: path + "/" + sp.Name, Spec: sp,
			Value: tensor.New(tensor.Of(m.dtype), tensor.WithShape(sp.Shape.Clone()...))}
		n.params = append(n.params, s.d.addParam(p))
	}
	return s.d.addLayer(n, out)
}

func (d *declaration) addParam(p *Param) int {
	if j, ok := d.byValue[p.Value]; ok {
		return j
	}
	d.byValue[p.Value] = len(d.m.params)
	d.m.params = append(d.m.params, p)
	return len(d.m.params) - 1
}

func (d *declaration) addLayer(n layerNode, out Shape) *Value {
	n.out = len(d.m.values)
	d.m.values = append(d.m.values, out.Clone())
	d.m.layers = append(d.m.layers, n)
	return &Value{id: n.out, shape: out.Clone(), d: d}
}

// Call applies the model sub to the inputs xs and returns its outputs: its
// layers join this model under the scope path of sub's name
// ("encoder/dense1"), over sub's own parameter tensors. Calling the same
// model twice applies the same weights twice (a Siamese tower); the model
// also remains usable alone (Submodel returns it), and trains with this one.
func (s *Scope) Call(sub *Model, xs ...*Value) []*Value {
	fail := func() []*Value {
		out := make([]*Value, max(1, len(sub.outputs)))
		for i := range out {
			out[i] = s.d.placeholder()
		}
		return out
	}
	if s.d.err != nil {
		return fail()
	}
	if sub == nil {
		s.d.fail(errors.New("graph: Call of a nil model"))
		return []*Value{s.d.placeholder()}
	}
	path := s.prefix + sub.name
	if !s.check(path, xs) {
		return fail()
	}
	m := s.d.m
	if sub.dtype != m.dtype {
		s.d.fail(errors.Errorf("graph: model %s is %v, this model is %v", path, sub.dtype, m.dtype))
		return fail()
	}
	if len(xs) != len(sub.inputs) {
		s.d.fail(errors.Errorf("graph: model %s takes %d inputs, given %d", path, len(sub.inputs), len(xs)))
		return fail()
	}
	for i, x := range xs {
		if !x.shape.Eq(sub.inputs[i]) {
			s.d.fail(errors.Errorf("graph: model %s: input %d has shape %v, the model takes %v", path, i, x.shape, sub.inputs[i]))
			return fail()
		}
	}
	again := m.subs[path] == sub
	if !again {
		if m.subs[path] != nil || s.d.names[path] {
			s.d.fail(errors.Errorf("graph: model %s: name used twice (give the models different names with WithName)", path))
			return fail()
		}
		if m.subs == nil {
			m.subs = map[string]*Model{}
		}
		m.subs[path] = sub
		for name, inner := range sub.subs {
			m.subs[path+"/"+name] = inner
		}
		s.d.names[path] = true
	}
	// Values of sub, by id, mapped to values of m.
	ids := make([]int, len(sub.values))
	for i, x := range xs {
		ids[i] = x.id
	}
	params := make([]int, len(sub.params))
	for j, p := range sub.params {
		params[j] = s.d.addParam(&Param{Name: path + "/" + p.Name, Spec: p.Spec, Value: p.Value})
	}
	for _, sn := range sub.layers {
		n := layerNode{name: path + "/" + sn.name, layer: sn.layer, shared: again || sn.shared}
		for _, v := range sn.in {
			n.in = append(n.in, ids[v])
		}
		for _, j := range sn.params {
			n.params = append(n.params, params[j])
		}
		ids[sn.out] = s.d.addLayer(n, sub.values[sn.out]).id
	}
	out := make([]*Value, len(sub.outputs))
	for i, v := range sub.outputs {
		out[i] = &Value{id: ids[v], shape: sub.values[v].Clone(), d: s.d}
	}
	return out
}

// Func declares a model from a function: f receives a value for each input
// shape and returns the model's outputs, applying layers (Scope.Apply) and
// other models (Scope.Call) on the way. Shapes are inferred as f runs; the
// first layer that does not fit its inputs stops the declaration with an
// error naming the layer's path and the shapes. The parameters are then
// initialised from the seed (WithSeed, default 1).
//
// A residual block:
//
//	h := s.Apply(graph.Conv2D{Maps: 16, Window: ops.Square(3, 1, 1), Init: graph.HeUniform}, x)
//	h = s.Apply(graph.ReLU{}, h)
//	h = s.Apply(graph.Conv2D{Maps: 16, Window: ops.Square(3, 1, 1), Init: graph.HeUniform}, h)
//	y := s.Apply(graph.ReLU{}, s.Apply(graph.Add{}, x, h))
func Func(inputs []Shape, f func(s *Scope, in []*Value) []*Value, opts ...Option) (*Model, error) {
	o := options{seed: 1, dtype: tensor.Float32, name: "model"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.dtype != tensor.Float32 && o.dtype != tensor.Float64 {
		return nil, errors.Errorf("graph: dtype %v, want float32 or float64", o.dtype)
	}
	if err := checkName(o.name); err != nil {
		return nil, errors.Wrapf(err, "graph: model name %q", o.name)
	}
	if len(inputs) == 0 {
		return nil, errors.New("graph: a model needs at least one input")
	}
	m := &Model{name: o.name, inputs: cloneShapes(inputs), dtype: o.dtype, seed: o.seed}
	d := &declaration{m: m, names: map[string]bool{}, byValue: map[*tensor.Dense]int{}}
	in := make([]*Value, len(inputs))
	for i, shape := range inputs {
		if len(shape) == 0 {
			return nil, errors.Errorf("graph: input %d has no dimensions", i)
		}
		for j, n := range shape {
			if n < 1 {
				return nil, errors.Errorf("graph: input %d has shape %v: dimension %d is %d", i, shape, j, n)
			}
		}
		m.values = append(m.values, shape.Clone())
		in[i] = &Value{id: i, shape: shape.Clone(), d: d}
	}
	s := &Scope{d: d, counts: map[string]int{}}
	outs := f(s, in)
	if d.err != nil {
		return nil, d.err
	}
	if len(outs) == 0 {
		return nil, errors.New("graph: the model function returned no outputs")
	}
	if !s.check("output", outs) {
		return nil, d.err
	}
	if len(m.layers) == 0 {
		return nil, errors.New("graph: a model needs at least one layer")
	}
	for _, v := range outs {
		m.outputs = append(m.outputs, v.id)
	}
	m.Init(o.seed)
	return m, nil
}

// Sequential is a model declared as a chain of layers, each feeding the next.
type Sequential []Layer

// Declare declares the chain for samples of shape input; it is Func with a
// function that applies each layer to the previous one's output.
func (q Sequential) Declare(input Shape, opts ...Option) (*Model, error) {
	if len(q) == 0 {
		return nil, errors.New("graph: a model needs at least one layer")
	}
	return Func([]Shape{input}, func(s *Scope, in []*Value) []*Value {
		h := in[0]
		for _, l := range q {
			h = s.Apply(l, h)
		}
		return []*Value{h}
	}, opts...)
}

// Built is a model added to one graph.
type Built struct {
	Inputs  G.Nodes // (N, input...) for each input
	Outputs G.Nodes // (N, output...) for each output
	// Logits holds, for each output, the input of its final Sigmoid or
	// Softmax layer, or the output itself.
	Logits      G.Nodes
	Params      G.Nodes // parameter nodes, in Model.Params order
	State       G.Nodes // state nodes, in Model.State order, bound to the state tensors
	Layers      G.Nodes // output node of each layer application, in Model.Layers order
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

// NewInputs adds an input node for a batch of n samples to g for each of
// the model's inputs, named "x", "x2", ….
func (m *Model) NewInputs(g *G.ExprGraph, n int) G.Nodes {
	var xs G.Nodes
	for i, in := range m.inputs {
		name := "x"
		if i > 0 {
			name = fmt.Sprintf("x%d", i+1)
		}
		xs = append(xs, G.NewTensor(g, m.dtype, len(in)+1, G.WithShape(append(Shape{n}, in...)...), G.WithName(name)))
	}
	return xs
}

// Build adds the model to g, applied to xs of shapes (N, input...), with
// parameter nodes bound to the model's tensors. A Dense, Conv2D, BatchNorm
// or Add layer whose only reader is an elementwise activation (ReLU,
// Sigmoid, Tanh) becomes one fused op with it, unless the layer's or the
// activation's output is a model output; both layers' entries in
// Built.Layers are then the fused op's output. In Train mode, a Conv2D, ReLU
// and MaxPool2D run (each read only by the next, the first two not model
// outputs) becomes a convolution without activation and
// ops.MaxPool2DReLU, the same values and gradients bit for bit without
// ReLU's passes: the Conv2D's entry in Built.Layers is then the
// convolution's output before ReLU, the ReLU's and the MaxPool2D's the
// pooling's output.
func (m *Model) Build(g *G.ExprGraph, xs G.Nodes, mode Mode) (*Built, error) {
	if len(xs) != len(m.inputs) {
		return nil, errors.Errorf("graph: %d input nodes, the model takes %d", len(xs), len(m.inputs))
	}
	for i, x := range xs {
		if xsh := x.Shape(); len(xsh) != len(m.inputs[i])+1 || !xsh[1:].Eq(m.inputs[i]) {
			return nil, errors.Errorf("graph: input node %d has shape %v, want (N, %v)", i, xsh, m.inputs[i])
		}
		if x.Dtype() != m.dtype {
			return nil, errors.Errorf("graph: input node %d is %v, model is %v", i, x.Dtype(), m.dtype)
		}
	}
	b := &Built{Inputs: append(G.Nodes(nil), xs...)}
	pnodes := make(G.Nodes, len(m.params))
	for j, p := range m.params {
		pnodes[j] = G.NodeFromAny(g, p.Value, G.WithName(p.Name))
		if p.Spec.State {
			b.State = append(b.State, pnodes[j])
		} else {
			b.Params = append(b.Params, pnodes[j])
		}
	}
	readers := make([]int, len(m.values))
	for _, n := range m.layers {
		for _, v := range n.in {
			readers[v]++
		}
	}
	isOutput := make([]bool, len(m.values))
	for _, v := range m.outputs {
		isOutput[v] = true
	}
	nodes := make(G.Nodes, len(m.values))
	copy(nodes, xs)
	for i := 0; i < len(m.layers); i++ {
		n := m.layers[i]
		ps := make(G.Nodes, len(n.params))
		for k, j := range n.params {
			ps[k] = pnodes[j]
		}
		in := make(G.Nodes, len(n.in))
		for k, v := range n.in {
			in[k] = nodes[v]
		}
		if pool, ok := m.convReLUPool(i, readers, isOutput); ok && mode == Train {
			ctx := &Context{Mode: mode, Index: i, Name: n.name, built: b}
			z, err := n.layer.(fuser).buildAct(ctx, in, ps, ops.Linear)
			if err != nil {
				return nil, errors.Wrapf(err, "graph: layer %d (%s)", i, n.name)
			}
			h, err := ops.MaxPool2DReLU(z, pool.Window)
			if err != nil {
				return nil, errors.Wrapf(err, "graph: layer %d (%s)", i+2, m.layers[i+2].name)
			}
			nodes[n.out], nodes[m.layers[i+1].out], nodes[m.layers[i+2].out] = z, h, h
			b.Layers = append(b.Layers, z, h, h)
			i += 2
			continue
		}
		if f, ok := m.fusable(i, readers, isOutput); ok {
			ctx := &Context{Mode: mode, Index: i, Name: n.name, built: b}
			h, err := n.layer.(fuser).buildAct(ctx, in, ps, f)
			if err != nil {
				return nil, errors.Wrapf(err, "graph: layer %d (%s)", i, n.name)
			}
			nodes[n.out], nodes[m.layers[i+1].out] = h, h
			b.Layers = append(b.Layers, h, h)
			i++
			continue
		}
		ctx := &Context{Mode: mode, Index: i, Name: n.name, built: b}
		h, err := n.layer.Build(ctx, in, ps)
		if err != nil {
			return nil, errors.Wrapf(err, "graph: layer %d (%s)", i, n.name)
		}
		nodes[n.out] = h
		b.Layers = append(b.Layers, h)
	}
	for _, v := range m.outputs {
		out := nodes[v]
		logits := out
		if v >= len(m.inputs) {
			switch n := m.layers[v-len(m.inputs)]; n.layer.(type) {
			case Sigmoid, Softmax:
				logits = nodes[n.in[0]]
			}
		}
		b.Outputs = append(b.Outputs, out)
		b.Logits = append(b.Logits, logits)
	}
	return b, nil
}

// convReLUPool reports whether layers i, i+1 and i+2 are a Conv2D, a ReLU
// and a MaxPool2D, each read only by the next, the first two not model
// outputs, and returns the pooling.
func (m *Model) convReLUPool(i int, readers []int, isOutput []bool) (MaxPool2D, bool) {
	if i+2 >= len(m.layers) {
		return MaxPool2D{}, false
	}
	conv, act, next := m.layers[i], m.layers[i+1], m.layers[i+2]
	_, isConv := conv.layer.(Conv2D)
	_, isReLU := act.layer.(ReLU)
	pool, isPool := next.layer.(MaxPool2D)
	if !isConv || !isReLU || !isPool || readers[conv.out] != 1 || readers[act.out] != 1 ||
		isOutput[conv.out] || isOutput[act.out] ||
		len(act.in) != 1 || act.in[0] != conv.out || len(next.in) != 1 || next.in[0] != act.out {
		return MaxPool2D{}, false
	}
	return pool, true
}

// fusable reports whether layer i fuses with the activation layer after it,
// and which activation that is: layer i is a Dense or Conv2D whose output
// only that activation reads, and the activation's output is not a model
// output (a final Sigmoid keeps its logits for the loss).
func (m *Model) fusable(i int, readers []int, isOutput []bool) (ops.Activation, bool) {
	n := m.layers[i]
	if _, ok := n.layer.(fuser); !ok || i+1 >= len(m.layers) || readers[n.out] != 1 || isOutput[n.out] {
		return ops.Linear, false
	}
	next := m.layers[i+1]
	if len(next.in) != 1 || next.in[0] != n.out || isOutput[next.out] {
		return ops.Linear, false
	}
	return elementwise(next.layer)
}

func cloneShapes(s []Shape) []Shape {
	out := make([]Shape, len(s))
	for i, x := range s {
		out[i] = x.Clone()
	}
	return out
}

// shapesString formats input shapes: "(1, 28, 28)" or "(16, 8, 8) and (16, 8, 8)".
func shapesString(s []Shape) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, " and ")
}
