package onnx

import (
	"math/rand/v2"
	"sync"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/ops"
)

// testModel is a model the checker and runtime tests export, with the
// batch they feed it.
type testModel struct {
	name  string
	build func() (*graph.Model, error)
	batch int
	mnist bool // fed the first batch MNIST test images (flattened for vector inputs); otherwise N(0, 1) values
	// noRuntime says why ONNX Runtime cannot run the model (it is only
	// checked by onnx.checker), or is empty.
	noRuntime string
}

const noDouble = "ONNX Runtime's CPU provider has no double Conv"

// testModels are the models exported for onnx.checker and ONNX Runtime:
// together they use every layer the package converts.
var testModels = []testModel{
	{name: "lenet", build: func() (*graph.Model, error) { return cnn.LeNet.Model(graph.WithSeed(3)) }, batch: 1000, mnist: true},
	{name: "mlp", build: func() (*graph.Model, error) { return mlp.Seed(graph.WithSeed(4)) }, batch: 1000, mnist: true},
	{name: "resnet", build: func() (*graph.Model, error) { return resnet(tensor.Float32) }, batch: 32},
	{name: "conv-autoencoder", build: func() (*graph.Model, error) { return autoencoder.Conv(8, 16, graph.WithSeed(5)) }, batch: 100, mnist: true},
	{name: "zoo", build: func() (*graph.Model, error) { return zoo(tensor.Float32) }, batch: 16},
	{name: "zoo-float64", build: func() (*graph.Model, error) { return zoo(tensor.Float64) }, batch: 16, noRuntime: noDouble},
	{name: "resnet-float64", build: func() (*graph.Model, error) { return resnet(tensor.Float64) }, batch: 8, noRuntime: noDouble},
	{name: "io", build: func() (*graph.Model, error) { return ioModel(tensor.Float32) }, batch: 4},
	{name: "vector-float64", build: func() (*graph.Model, error) { return vectors(tensor.Float64) }, batch: 64},
}

// resnet is a small residual network: conv (no bias) – batch norm – ReLU,
// a residual block of two such stages around an Add, global average
// pooling and a dense classifier, on (3, 12, 12) images. Every batch norm
// gets running statistics, scales and shifts far from their initial 0 and
// 1, so that evaluation mode differs from an identity.
func resnet(dt tensor.Dtype) (*graph.Model, error) {
	stage := func(s *graph.Scope, x *graph.Value, maps int, relu bool) *graph.Value {
		h := s.Apply(graph.Conv2D{Maps: maps, Window: ops.Square(3, 1, 1), NoBias: true, Init: graph.HeUniform}, x)
		h = s.Apply(graph.BatchNorm{}, h)
		if relu {
			h = s.Apply(graph.ReLU{}, h)
		}
		return h
	}
	m, err := graph.Func([]graph.Shape{{3, 12, 12}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		x := stage(s, in[0], 8, true)
		b := s.Sub("block1")
		h := stage(b, stage(b, x, 8, true), 8, false)
		x = b.Apply(graph.ReLU{}, b.Apply(graph.Add{}, x, h))
		x = s.Apply(graph.GlobalAvgPool2D{}, x)
		return []*graph.Value{s.Apply(graph.Dense{Units: 5}, x)}
	}, graph.WithSeed(6), graph.WithDtype(dt), graph.WithName("resnet"))
	if err != nil {
		return nil, err
	}
	randomizeNorms(m, 7)
	return m, nil
}

// zoo uses every remaining layer on two inputs, an image (4, 10, 10) and a
// vector (6), and returns two outputs:
//
//	image: conv 3×3 stride 2×1 pad 2×1 dilation 2 groups 2 (8, 5, 8)
//	       → batch norm (ε 1e-3) → layer norm → LeakyReLU (default slope)
//	       → average pool 3×2 stride 2 pad 1 (8, 3, 5) → max pool 2×3 stride 1×2
//	       pad 1×0 (8, 4, 2) → concat with itself along rows (8, 8, 2)
//	       → upsample 2×3 (8, 16, 6) → transposed conv 3×2 stride 2×1 pad 1×0
//	       dilation 2×1 output padding 1×0 (3, 34, 7) → ELU (α 0.5)
//	       → global average pool (3)
//	vector: dense (no bias) → GELU → dropout → batch norm → SiLU → Softplus
//	       → Tanh → LeakyReLU (slope 0.2) → (8)
//	joined: concat (11) → reshape (1, 11) → layer norm (ε 1e-3) → flatten
//	       → sigmoid = j
//	outputs: softmax(head(j) + h + h) (a Sum of three) and h = head(ReLU(j))
//
// where head is a model (dense 5 – ELU default α – linear) called twice,
// sharing its weights.
func zoo(dt tensor.Dtype) (*graph.Model, error) {
	head, err := graph.Sequential{graph.Dense{Units: 5}, graph.ELU{}, graph.Linear{}}.Declare(
		graph.Shape{11}, graph.WithName("head"), graph.WithDtype(dt))
	if err != nil {
		return nil, err
	}
	image := graph.Sequential{
		graph.Conv2D{Maps: 8, Window: ops.Window{KH: 3, KW: 3, SH: 2, SW: 1, PH: 2, PW: 1}, Dilation: 2, Groups: 2},
		graph.BatchNorm{Eps: 1e-3},
		graph.LayerNorm{},
		graph.LeakyReLU{},
		graph.AvgPool2D{Window: ops.Window{KH: 3, KW: 2, SH: 2, SW: 2, PH: 1, PW: 1}},
		graph.MaxPool2D{Window: ops.Window{KH: 2, KW: 3, SH: 1, SW: 2, PH: 1}},
	}
	vector := graph.Sequential{
		graph.Dense{Units: 8, NoBias: true}, graph.GELU{}, graph.Dropout{P: 0.5}, graph.BatchNorm{},
		graph.SiLU{}, graph.Softplus{}, graph.Tanh{}, graph.LeakyReLU{Slope: 0.2},
	}
	up := graph.Sequential{
		graph.Upsample2D{Scale: 2, ScaleW: 3},
		graph.ConvTranspose2D{Maps: 3, Window: ops.Window{KH: 3, KW: 2, SH: 2, SW: 1, PH: 1, DH: 2}, OutputPadding: [2]int{1, 0}},
		graph.ELU{Alpha: 0.5},
		graph.GlobalAvgPool2D{},
	}
	m, err := graph.Func([]graph.Shape{{4, 10, 10}, {6}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		a := in[0]
		for _, l := range image {
			a = s.Apply(l, a)
		}
		a = s.Apply(graph.Concat{Axis: 1}, a, a)
		for _, l := range up {
			a = s.Apply(l, a)
		}
		b := in[1]
		for _, l := range vector {
			b = s.Apply(l, b)
		}
		j := s.Apply(graph.Concat{}, a, b)
		j = s.Apply(graph.Reshape{To: graph.Shape{1, 11}}, j)
		j = s.Apply(graph.LayerNorm{Eps: 1e-3}, j)
		j = s.Apply(graph.Sigmoid{}, s.Apply(graph.Flatten{}, j))
		h1 := s.Call(head, j)[0]
		h2 := s.Call(head, s.Apply(graph.ReLU{}, j))[0]
		return []*graph.Value{s.Apply(graph.Softmax{}, s.Apply(graph.Add{}, h1, h2, h2)), h2}
	}, graph.WithSeed(8), graph.WithDtype(dt), graph.WithName("zoo"))
	if err != nil {
		return nil, err
	}
	randomizeNorms(m, 9)
	return m, nil
}

// vectors is a model of vectors (20) for ONNX Runtime in float64, whose
// CPU provider has double kernels for fewer operators than float ones (no
// Conv, Erf for GELU, Softplus or Elu, and it fuses SiLU's Sigmoid and Mul
// into a float-only QuickGelu):
//
//	dense 16 → batch norm → layer norm → dropout → LeakyReLU → Tanh
//	→ concat with sigmoid(dense 4 of the input) → reshape (4, 5) → layer norm
//	→ flatten → dense 10 → ReLU → add the input's dense 10 → softmax
func vectors(dt tensor.Dtype) (*graph.Model, error) {
	chain := graph.Sequential{
		graph.Dense{Units: 16}, graph.BatchNorm{}, graph.LayerNorm{},
		graph.Dropout{P: 0.2}, graph.LeakyReLU{}, graph.Tanh{},
	}
	m, err := graph.Func([]graph.Shape{{20}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		h := in[0]
		for _, l := range chain {
			h = s.Apply(l, h)
		}
		side := s.Apply(graph.Sigmoid{}, s.Apply(graph.Dense{Units: 4}, in[0]))
		h = s.Apply(graph.Reshape{To: graph.Shape{4, 5}}, s.Apply(graph.Concat{}, h, side))
		h = s.Apply(graph.Flatten{}, s.Apply(graph.LayerNorm{}, h))
		h = s.Apply(graph.ReLU{}, s.Apply(graph.Dense{Units: 10}, h))
		h = s.Apply(graph.Add{}, h, s.Apply(graph.Dense{Units: 10}, in[0]))
		return []*graph.Value{s.Apply(graph.Softmax{}, h)}
	}, graph.WithSeed(10), graph.WithDtype(dt), graph.WithName("vectors"))
	if err != nil {
		return nil, err
	}
	randomizeNorms(m, 11)
	return m, nil
}

// ioModel has two inputs (3) and three outputs: the second input, and
// relu(input + input2) twice; its Add is named "output".
func ioModel(dt tensor.Dtype) (*graph.Model, error) {
	return graph.Func([]graph.Shape{{3}, {3}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		r := s.Apply(graph.ReLU{}, s.Apply(graph.Add{Name: "output"}, in[0], in[1]))
		return []*graph.Value{in[1], r, r}
	}, graph.WithDtype(dt), graph.WithName("io"))
}

// randomizeNorms gives every batch and layer norm of m random scales,
// shifts and running statistics: means in ±0.5, variances in [0.5, 2.5],
// scales in [0.5, 1.5] and shifts in ±0.5.
func randomizeNorms(m *graph.Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	ranges := map[string][2]float64{"running_mean": {-0.5, 0.5}, "running_var": {0.5, 2.5}, "gamma": {0.5, 1.5}, "beta": {-0.5, 0.5}}
	for _, p := range append(m.Params(), m.State()...) {
		r, ok := ranges[p.Spec.Name]
		if !ok {
			continue
		}
		switch d := p.Value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32(r[0] + (r[1]-r[0])*rng.Float64())
			}
		case []float64:
			for i := range d {
				d[i] = r[0] + (r[1]-r[0])*rng.Float64()
			}
		}
	}
}

var (
	mnistOnce sync.Once
	mnistTest *datasets.Set
	mnistErr  error
)

// inputs returns n samples for each input of m: MNIST test images if tm
// asks for them (nil if MNIST cannot be loaded), else N(0, 1) values.
func (tm testModel) inputs(m *graph.Model, n int) ([][]float64, error) {
	var xs [][]float64
	for i, shape := range m.Inputs() {
		size := n * shape.TotalSize()
		if !tm.mnist {
			rng := rand.New(rand.NewPCG(uint64(i)+11, 2))
			x := make([]float64, size)
			for k := range x {
				x[k] = rng.NormFloat64()
			}
			xs = append(xs, x)
			continue
		}
		mnistOnce.Do(func() { _, mnistTest, mnistErr = datasets.MNIST("") })
		if mnistErr != nil {
			return nil, mnistErr
		}
		x := make([]float64, size)
		for k, v := range mnistTest.X[:size] { // 784 values a sample, whatever the input's shape
			x[k] = float64(v)
		}
		xs = append(xs, x)
	}
	return xs, nil
}

// retina runs m in evaluation mode on a batch of n samples (inputs as
// from testModel.inputs) and returns its outputs as float64.
func retina(t *testing.T, m *graph.Model, n int, inputs [][]float64) [][]float64 {
	t.Helper()
	g := G.NewGraph()
	xs := m.NewInputs(g, n)
	b, err := m.Build(g, xs, graph.Eval)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		var backing any = append([]float64(nil), inputs[i]...)
		if m.Dtype() == tensor.Float32 {
			f := make([]float32, len(inputs[i]))
			for k, v := range inputs[i] {
				f[k] = float32(v)
			}
			backing = f
		}
		if err := G.Let(x, tensor.New(tensor.WithBacking(backing), tensor.WithShape(x.Shape()...))); err != nil {
			t.Fatal(err)
		}
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var outs [][]float64
	for _, o := range b.Outputs {
		switch d := o.Value().Data().(type) {
		case []float32:
			v := make([]float64, len(d))
			for k, x := range d {
				v[k] = float64(x)
			}
			outs = append(outs, v)
		case []float64:
			outs = append(outs, append([]float64(nil), d...))
		}
	}
	return outs
}
