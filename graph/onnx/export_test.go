package onnx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/graph/weights"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/ops"
)

// export writes m with Write and decodes what it wrote.
func export(t *testing.T, m *graph.Model) onnxModel {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	return parseModel(t, buf.Bytes())
}

func opTypes(g onnxGraph) []string {
	var out []string
	for _, n := range g.nodes {
		out = append(out, n.op)
	}
	return out
}

// TestLeNet checks the whole file of LeNet: the header, the nodes in
// order with their inputs and outputs, the inputs and outputs with the
// batch dimension N, the shapes of the intermediate values, and the
// initializers' names, shapes, types and values, the Dense weights
// transposed to (out, in).
func TestLeNet(t *testing.T) {
	m, err := cnn.LeNet.Model(graph.WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	f := export(t, m)
	if f.irVersion != 8 || f.producer != "retina" || !reflect.DeepEqual(f.opsets, map[string]int64{"": 17}) {
		t.Errorf("ir_version %d, producer %q, opsets %v; want 8, retina, {\"\": 17}", f.irVersion, f.producer, f.opsets)
	}
	g := f.graph
	if g.name != "model" {
		t.Errorf("graph name %q, want model", g.name)
	}
	wantNodes := []onnxNode{
		{name: "conv1", op: "Conv", in: []string{"input", "conv1.weight", "conv1.bias"}, out: []string{"conv1"}},
		{name: "relu1", op: "Relu", in: []string{"conv1"}, out: []string{"relu1"}},
		{name: "pool1", op: "MaxPool", in: []string{"relu1"}, out: []string{"pool1"}},
		{name: "conv2", op: "Conv", in: []string{"pool1", "conv2.weight", "conv2.bias"}, out: []string{"conv2"}},
		{name: "relu2", op: "Relu", in: []string{"conv2"}, out: []string{"relu2"}},
		{name: "pool2", op: "MaxPool", in: []string{"relu2"}, out: []string{"pool2"}},
		{name: "flatten1", op: "Flatten", in: []string{"pool2"}, out: []string{"flatten1"}},
		{name: "dense1", op: "Gemm", in: []string{"flatten1", "dense1.weight", "dense1.bias"}, out: []string{"dense1"}},
		{name: "relu3", op: "Relu", in: []string{"dense1"}, out: []string{"relu3"}},
		{name: "dense2", op: "Gemm", in: []string{"relu3", "dense2.weight", "dense2.bias"}, out: []string{"output"}},
	}
	if len(g.nodes) != len(wantNodes) {
		t.Fatalf("ops %v, want %d nodes", opTypes(g), len(wantNodes))
	}
	for i, w := range wantNodes {
		n := g.nodes[i]
		if n.name != w.name || n.op != w.op || !slices.Equal(n.in, w.in) || !slices.Equal(n.out, w.out) {
			t.Errorf("node %d: %s %s %v → %v, want %s %s %v → %v", i, n.name, n.op, n.in, n.out, w.name, w.op, w.in, w.out)
		}
	}
	pool := g.nodes[2].attrs
	if !slices.Equal(pool["kernel_shape"].ints, []int64{2, 2}) || !slices.Equal(pool["strides"].ints, []int64{2, 2}) ||
		!slices.Equal(pool["pads"].ints, []int64{0, 0, 0, 0}) {
		t.Errorf("pool1 attributes %+v, want a 2×2 window of stride 2, no padding", pool)
	}
	if a := g.nodes[7].attrs["transB"]; a.typ != attrInt || a.i != 1 {
		t.Errorf("dense1: transB %+v, want INT 1", a)
	}
	checkValues(t, "inputs", g.inputs, []onnxValue{{"input", typeFloat, []string{"N", "1", "28", "28"}}})
	checkValues(t, "outputs", g.outputs, []onnxValue{{"output", typeFloat, []string{"N", "10"}}})
	var wantValues []onnxValue
	for _, li := range m.Layers()[:9] {
		dims := []string{"N"}
		for _, d := range li.Out {
			dims = append(dims, strconv.Itoa(d))
		}
		wantValues = append(wantValues, onnxValue{li.Name, typeFloat, dims})
	}
	checkValues(t, "value_info", g.values, wantValues)

	wantInits := []struct {
		name  string
		dims  []int64
		param string
	}{
		{"conv1.weight", []int64{20, 1, 5, 5}, "conv1/W"}, {"conv1.bias", []int64{20}, "conv1/b"},
		{"conv2.weight", []int64{50, 20, 5, 5}, "conv2/W"}, {"conv2.bias", []int64{50}, "conv2/b"},
		{"dense1.weight", []int64{500, 800}, "dense1/W"}, {"dense1.bias", []int64{500}, "dense1/b"},
		{"dense2.weight", []int64{10, 500}, "dense2/W"}, {"dense2.bias", []int64{10}, "dense2/b"},
	}
	if len(g.inits) != len(wantInits) {
		t.Fatalf("%d initializers, want %d", len(g.inits), len(wantInits))
	}
	for i, w := range wantInits {
		in := g.inits[i]
		if in.name != w.name || !slices.Equal(in.dims, w.dims) || in.dtype != typeFloat {
			t.Errorf("initializer %d: %s %v type %d, want %s %v FLOAT", i, in.name, in.dims, in.dtype, w.name, w.dims)
			continue
		}
		got, want := float32s(in.raw), m.Param(w.param).Value.Data().([]float32)
		if len(w.dims) == 2 { // Dense: (out, in) here, (in, out) in Retina
			want = transposed(want, int(w.dims[1]), int(w.dims[0]))
		}
		if !slices.Equal(got, want) {
			t.Errorf("initializer %s: values differ from %s", w.name, w.param)
		}
	}
	// One element by hand: dense1.weight[o][i] is dense1/W[i][o].
	if got, want := float32s(g.inits[4].raw)[3*800+7], m.Param("dense1/W").Value.Data().([]float32)[7*500+3]; got != want {
		t.Errorf("dense1.weight[3][7] = %v, want dense1/W[7][3] = %v", got, want)
	}
}

func checkValues(t *testing.T, what string, got, want []onnxValue) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

func float32s(raw []byte) []float32 {
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v
}

// transposed returns the (cols, rows) transpose of the (rows, cols) d.
func transposed(d []float32, rows, cols int) []float32 {
	out := make([]float32, len(d))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = d[r*cols+c]
		}
	}
	return out
}

// attrCase is a small model and what one of its nodes must look like.
type attrCase struct {
	name   string
	input  graph.Shape
	layers graph.Sequential
	ops    []string       // every node's op type, in order
	node   string         // the node checked, by name
	in     []string       // its inputs, unless nil
	attrs  map[string]any // all its attributes: int, []int64, float64 (as float32) or string
	init   *wantInit      // an initializer to check, or nil
}

type wantInit struct {
	name   string
	dtype  int64
	dims   []int64
	values []float64
}

// TestAttributes checks, layer by layer, the operators, inputs and every
// attribute of the node each layer becomes, with the values the layers
// resolve from their fields and defaults.
func TestAttributes(t *testing.T) {
	cases := []attrCase{
		{name: "conv strided padded dilated grouped", input: graph.Shape{6, 12, 12},
			layers: graph.Sequential{graph.Conv2D{Maps: 4, Window: ops.Window{KH: 3, KW: 2, SH: 2, SW: 3, PH: 1, PW: 2}, Dilation: 2, Groups: 2}},
			ops:    []string{"Conv"}, node: "conv1", in: []string{"input", "conv1.weight", "conv1.bias"},
			attrs: map[string]any{"kernel_shape": []int64{3, 2}, "strides": []int64{2, 3}, "pads": []int64{1, 2, 1, 2},
				"dilations": []int64{2, 2}, "group": 2}},
		{name: "conv dilated by its window, no bias", input: graph.Shape{1, 9, 9},
			layers: graph.Sequential{graph.Conv2D{Maps: 2, Window: ops.Window{KH: 2, KW: 2, SH: 1, SW: 1, DH: 3, DW: 2}, NoBias: true}},
			ops:    []string{"Conv"}, node: "conv1", in: []string{"input", "conv1.weight"},
			attrs: map[string]any{"kernel_shape": []int64{2, 2}, "strides": []int64{1, 1}, "pads": []int64{0, 0, 0, 0},
				"dilations": []int64{3, 2}, "group": 1}},
		{name: "transposed conv", input: graph.Shape{2, 5, 5},
			layers: graph.Sequential{graph.ConvTranspose2D{Maps: 3, Window: ops.Window{KH: 4, KW: 3, SH: 2, SW: 3, PH: 1, DW: 2}, OutputPadding: [2]int{1, 2}}},
			ops:    []string{"ConvTranspose"}, node: "convtranspose1", in: []string{"input", "convtranspose1.weight", "convtranspose1.bias"},
			attrs: map[string]any{"kernel_shape": []int64{4, 3}, "strides": []int64{2, 3}, "pads": []int64{1, 0, 1, 0},
				"dilations": []int64{1, 2}, "output_padding": []int64{1, 2}, "group": 1}},
		{name: "max pool", input: graph.Shape{2, 6, 6},
			layers: graph.Sequential{graph.MaxPool2D{Window: ops.Window{KH: 3, KW: 2, SH: 2, SW: 1, PH: 1}}},
			ops:    []string{"MaxPool"}, node: "pool1", in: []string{"input"},
			attrs: map[string]any{"kernel_shape": []int64{3, 2}, "strides": []int64{2, 1}, "pads": []int64{1, 0, 1, 0}, "ceil_mode": 0}},
		{name: "average pool counts the padding", input: graph.Shape{2, 6, 6},
			layers: graph.Sequential{graph.AvgPool2D{Window: ops.Square(3, 2, 1)}},
			ops:    []string{"AveragePool"}, node: "pool1",
			attrs: map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1},
				"ceil_mode": 0, "count_include_pad": 1}},
		{name: "global average pool", input: graph.Shape{3, 4, 5}, layers: graph.Sequential{graph.GlobalAvgPool2D{}},
			ops: []string{"GlobalAveragePool", "Flatten"}, node: "gap1", in: []string{"gap1/pool"}, attrs: map[string]any{"axis": 1}},
		{name: "upsample", input: graph.Shape{2, 3, 3}, layers: graph.Sequential{graph.Upsample2D{Scale: 2, ScaleH: 3}},
			ops: []string{"Resize"}, node: "upsample1", in: []string{"input", "", "upsample1/scales"},
			attrs: map[string]any{"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
			init:  &wantInit{"upsample1/scales", typeFloat, []int64{4}, []float64{1, 1, 3, 2}}},
		{name: "flatten", input: graph.Shape{2, 3, 4}, layers: graph.Sequential{graph.Flatten{}},
			ops: []string{"Flatten"}, node: "flatten1", attrs: map[string]any{"axis": 1}},
		{name: "reshape", input: graph.Shape{24}, layers: graph.Sequential{graph.Reshape{To: graph.Shape{2, 3, 4}}},
			ops: []string{"Reshape"}, node: "reshape1", in: []string{"input", "reshape1/shape"}, attrs: map[string]any{},
			init: &wantInit{"reshape1/shape", typeInt64, []int64{4}, []float64{0, 2, 3, 4}}},
		{name: "dense without bias", input: graph.Shape{5}, layers: graph.Sequential{graph.Dense{Units: 3, NoBias: true}},
			ops: []string{"Gemm"}, node: "dense1", in: []string{"input", "dense1.weight"}, attrs: map[string]any{"transB": 1}},
		{name: "leaky relu, default slope", input: graph.Shape{5}, layers: graph.Sequential{graph.LeakyReLU{}},
			ops: []string{"LeakyRelu"}, node: "leakyrelu1", attrs: map[string]any{"alpha": 0.01}},
		{name: "leaky relu", input: graph.Shape{5}, layers: graph.Sequential{graph.LeakyReLU{Slope: 0.3}},
			ops: []string{"LeakyRelu"}, node: "leakyrelu1", attrs: map[string]any{"alpha": 0.3}},
		{name: "elu, default alpha", input: graph.Shape{5}, layers: graph.Sequential{graph.ELU{}},
			ops: []string{"Elu"}, node: "elu1", attrs: map[string]any{"alpha": 1.0}},
		{name: "elu", input: graph.Shape{5}, layers: graph.Sequential{graph.ELU{Alpha: 0.5}},
			ops: []string{"Elu"}, node: "elu1", attrs: map[string]any{"alpha": 0.5}},
		{name: "softmax", input: graph.Shape{5}, layers: graph.Sequential{graph.Softmax{}},
			ops: []string{"Softmax"}, node: "softmax1", attrs: map[string]any{"axis": 1}},
		{name: "batch norm of images, default epsilon", input: graph.Shape{3, 4, 4}, layers: graph.Sequential{graph.BatchNorm{}},
			ops: []string{"BatchNormalization"}, node: "batchnorm1",
			in:    []string{"input", "batchnorm1.weight", "batchnorm1.bias", "batchnorm1.running_mean", "batchnorm1.running_var"},
			attrs: map[string]any{"epsilon": 1e-5}},
		{name: "batch norm of vectors", input: graph.Shape{5}, layers: graph.Sequential{graph.BatchNorm{Eps: 1e-3, Momentum: 0.5}},
			ops: []string{"BatchNormalization"}, node: "batchnorm1", attrs: map[string]any{"epsilon": 1e-3}},
		{name: "layer norm", input: graph.Shape{2, 3, 3}, layers: graph.Sequential{graph.LayerNorm{Eps: 1e-4}},
			ops: []string{"LayerNormalization"}, node: "layernorm1", in: []string{"input", "layernorm1.weight", "layernorm1.bias"},
			attrs: map[string]any{"axis": 1, "epsilon": 1e-4}},
		{name: "gelu", input: graph.Shape{5}, layers: graph.Sequential{graph.GELU{}},
			ops: []string{"Div", "Erf", "Add", "Mul", "Mul"}, node: "gelu1", in: []string{"gelu1/mul", "gelu1/half"}, attrs: map[string]any{},
			init: &wantInit{"gelu1/sqrt2", typeFloat, nil, []float64{float64(float32(math.Sqrt2))}}},
		{name: "silu", input: graph.Shape{5}, layers: graph.Sequential{graph.SiLU{}},
			ops: []string{"Sigmoid", "Mul"}, node: "silu1", in: []string{"input", "silu1/sigmoid"}, attrs: map[string]any{}},
		{name: "elementwise", input: graph.Shape{5},
			layers: graph.Sequential{graph.ReLU{}, graph.Sigmoid{}, graph.Tanh{}, graph.Softplus{}, graph.Linear{}, graph.Dropout{P: 0.5}},
			ops:    []string{"Relu", "Sigmoid", "Tanh", "Softplus", "Identity", "Identity"}, node: "dropout1", in: []string{"linear1"}, attrs: map[string]any{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.layers.Declare(c.input)
			if err != nil {
				t.Fatal(err)
			}
			checkCase(t, export(t, m).graph, c)
		})
	}
}

func checkCase(t *testing.T, g onnxGraph, c attrCase) {
	t.Helper()
	if !slices.Equal(opTypes(g), c.ops) {
		t.Errorf("ops %v, want %v", opTypes(g), c.ops)
	}
	i := slices.IndexFunc(g.nodes, func(n onnxNode) bool { return n.name == c.node })
	if i < 0 {
		t.Fatalf("no node %s", c.node)
	}
	n := g.nodes[i]
	if c.in != nil && !slices.Equal(n.in, c.in) {
		t.Errorf("%s reads %q, want %q", c.node, n.in, c.in)
	}
	if len(n.attrs) != len(c.attrs) {
		t.Errorf("%s has attributes %+v, want %v", c.node, n.attrs, c.attrs)
	}
	for name, want := range c.attrs {
		if got := n.attrs[name]; !sameAttr(got, want) {
			t.Errorf("%s: attribute %s = %+v, want %v", c.node, name, got, want)
		}
	}
	if c.init != nil {
		checkInit(t, g, *c.init)
	}
}

func sameAttr(a onnxAttr, want any) bool {
	switch w := want.(type) {
	case int:
		return a.typ == attrInt && a.i == int64(w)
	case []int64:
		return a.typ == attrInts && slices.Equal(a.ints, w)
	case float64:
		return a.typ == attrFloat && a.f == float32(w)
	case string:
		return a.typ == attrString && a.s == w
	}
	return false
}

func checkInit(t *testing.T, g onnxGraph, w wantInit) {
	t.Helper()
	i := slices.IndexFunc(g.inits, func(in onnxTensor) bool { return in.name == w.name })
	if i < 0 {
		t.Fatalf("no initializer %s", w.name)
	}
	in := g.inits[i]
	var got []float64
	switch in.dtype {
	case typeFloat:
		for _, v := range float32s(in.raw) {
			got = append(got, float64(v))
		}
	case typeDouble:
		for k := 0; k+8 <= len(in.raw); k += 8 {
			got = append(got, math.Float64frombits(binary.LittleEndian.Uint64(in.raw[k:])))
		}
	case typeInt64:
		for k := 0; k+8 <= len(in.raw); k += 8 {
			got = append(got, float64(int64(binary.LittleEndian.Uint64(in.raw[k:]))))
		}
	}
	if in.dtype != w.dtype || !slices.Equal(in.dims, w.dims) || !slices.Equal(got, w.values) {
		t.Errorf("initializer %s: type %d dims %v values %v, want %d %v %v", w.name, in.dtype, in.dims, got, w.dtype, w.dims, w.values)
	}
}

// TestMerge checks Add (Sum for three inputs) and Concat, whose axis is
// the per-sample axis + 1.
func TestMerge(t *testing.T) {
	m, err := graph.Func([]graph.Shape{{3, 4, 4}, {3, 4, 4}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		a := s.Apply(graph.Add{}, in[0], in[1])
		b := s.Apply(graph.Add{}, in[0], in[1], a)
		return []*graph.Value{s.Apply(graph.Concat{Axis: 2}, s.Apply(graph.Concat{}, a, b), s.Apply(graph.Concat{}, b, a))}
	})
	if err != nil {
		t.Fatal(err)
	}
	g := export(t, m).graph
	want := []struct {
		op   string
		in   []string
		axis int64
	}{
		{"Add", []string{"input", "input2"}, -1}, {"Sum", []string{"input", "input2", "add1"}, -1},
		{"Concat", []string{"add1", "add2"}, 1}, {"Concat", []string{"add2", "add1"}, 1},
		{"Concat", []string{"concat1", "concat2"}, 3},
	}
	if len(g.nodes) != len(want) {
		t.Fatalf("ops %v", opTypes(g))
	}
	for i, w := range want {
		n := g.nodes[i]
		axis, ok := n.attrs["axis"]
		if n.op != w.op || !slices.Equal(n.in, w.in) || (w.axis >= 0) != ok || (ok && axis.i != w.axis) {
			t.Errorf("node %d: %s %v %+v, want %s %v axis %d", i, n.op, n.in, n.attrs, w.op, w.in, w.axis)
		}
	}
	checkValues(t, "outputs", g.outputs, []onnxValue{{"output", typeFloat, []string{"N", "6", "4", "8"}}})
}

// swish is a layer of a user's own, which has no ONNX form.
type swish struct{}

func (swish) Kind() string { return "swish" }
func (swish) Declare(in []graph.Shape) (graph.Shape, []graph.ParamSpec, error) {
	return in[0], nil, nil
}
func (swish) Build(_ *graph.Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.SiLU(in[0])
}

// TestUnsupported checks the errors of models that cannot be exported,
// and that a failed export creates no file, leaves an existing one as it
// was and writes nothing to a writer.
func TestUnsupported(t *testing.T) {
	custom, err := graph.Func([]graph.Shape{{4}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		b := s.Sub("block1")
		return []*graph.Value{b.Apply(swish{}, b.Apply(graph.Dense{Units: 3}, in[0]))}
	})
	if err != nil {
		t.Fatal(err)
	}
	misnamed, err := graph.Sequential{graph.Dense{Units: 2}, graph.ReLU{Name: "input"}}.Declare(graph.Shape{3})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		m    *graph.Model
		err  string
	}{
		{"a layer of the user's own", custom, `onnx: layer "block1/swish1" (swish) has no ONNX form`},
		{"a layer named like an input", misnamed, `onnx: layer "input" (relu) is named like a model input: rename it`},
		{"no model", nil, "onnx: nil model"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			fresh, old := filepath.Join(dir, "fresh.onnx"), filepath.Join(dir, "old.onnx")
			if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{fresh, old} {
				if err := Export(path, c.m); err == nil || err.Error() != c.err {
					t.Errorf("Export: %v, want %s", err, c.err)
				}
			}
			if b, err := os.ReadFile(old); err != nil || string(b) != "old" {
				t.Errorf("the existing file now holds %q (%v)", b, err)
			}
			if es, err := os.ReadDir(dir); err != nil || len(es) != 1 {
				t.Errorf("the folder holds %v (%v), want only old.onnx", es, err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, c.m); err == nil || err.Error() != c.err || buf.Len() != 0 {
				t.Errorf("Write: %v after %d bytes, want %s before any", err, buf.Len(), c.err)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestWriteError checks that a writer's error is returned, prefixed.
func TestWriteError(t *testing.T) {
	m, err := graph.Sequential{graph.ReLU{}}.Declare(graph.Shape{2})
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(failingWriter{}, m); err == nil || err.Error() != "onnx: writing the model: disk full" {
		t.Errorf("Write: %v", err)
	}
}

// safetensors reads the tensors of a safetensors file: name → dtype,
// shape and bytes, and the names in file order.
func safetensors(t *testing.T, path string) (map[string]onnxTensor, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	data := b[8+n:]
	out := map[string]onnxTensor{}
	var order []struct {
		name  string
		start int
	}
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype   string `json:"dtype"`
			Shape   []int64
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		dtype := map[string]int64{"F32": typeFloat, "F64": typeDouble, "I64": typeInt64}[e.Dtype]
		out[name] = onnxTensor{name: name, dims: e.Shape, dtype: dtype, raw: data[e.Offsets[0]:e.Offsets[1]]}
		order = append(order, struct {
			name  string
			start int
		}{name, e.Offsets[0]})
	}
	slices.SortFunc(order, func(a, b struct {
		name  string
		start int
	}) int {
		return a.start - b.start
	})
	var names []string
	for _, o := range order {
		names = append(names, o.name)
	}
	return out, names
}

// TestSafetensorsAgree checks that the initializers are the tensors
// graph/weights saves, under the same names, in the same order, with the
// same shapes, types and bytes, num_batches_tracked aside; the only other
// initializers are constants named under a layer path.
func TestSafetensorsAgree(t *testing.T) {
	for _, tm := range testModels {
		t.Run(tm.name, func(t *testing.T) {
			m, err := tm.build()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "w.safetensors")
			if err := weights.Save(path, m); err != nil {
				t.Fatal(err)
			}
			st, order := safetensors(t, path)
			var want []string
			for _, name := range order {
				if !strings.HasSuffix(name, ".num_batches_tracked") {
					want = append(want, name)
				}
			}
			var got []string
			for _, in := range export(t, m).graph.inits {
				s, ok := st[in.name]
				if !ok {
					if !strings.Contains(in.name, "/") {
						t.Errorf("initializer %s is neither in the safetensors file nor a layer's constant", in.name)
					}
					continue
				}
				got = append(got, in.name)
				if in.dtype != s.dtype || !slices.Equal(in.dims, s.dims) || !bytes.Equal(in.raw, s.raw) {
					t.Errorf("initializer %s: type %d dims %v, safetensors %d %v (or the bytes differ)", in.name, in.dtype, in.dims, s.dtype, s.dims)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("initializers %v, want the safetensors tensors %v", got, want)
			}
		})
	}
}

// TestShared checks the model called twice in zoo: both applications
// read the one initializer of each tensor.
func TestShared(t *testing.T) {
	m, err := zoo(tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	g := export(t, m).graph
	for _, name := range []string{"head/dense1", "head/dense1#2"} {
		i := slices.IndexFunc(g.nodes, func(n onnxNode) bool { return n.name == name })
		if i < 0 {
			t.Fatalf("no node %s in %v", name, opTypes(g))
		}
		if in := g.nodes[i].in; len(in) != 3 || in[1] != "head.dense1.weight" || in[2] != "head.dense1.bias" {
			t.Errorf("%s reads %v, want the shared head.dense1.weight and head.dense1.bias", name, in)
		}
	}
	count := 0
	for _, in := range g.inits {
		if strings.HasPrefix(in.name, "head.") {
			count++
		}
	}
	if count != 2 {
		t.Errorf("%d initializers of head, want 2", count)
	}
	checkValues(t, "outputs", g.outputs, []onnxValue{
		{"output", typeFloat, []string{"N", "5"}}, {"output2", typeFloat, []string{"N", "5"}}})
}

// TestInputsOutputs checks the names of values: a model output that is a
// model input or returned twice goes through Identity, a layer named
// "output" gets a value name of its own, and only intermediate values have
// value_info.
func TestInputsOutputs(t *testing.T) {
	m, err := ioModel(tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	g := export(t, m).graph
	want := []onnxNode{
		{name: "output", op: "Add", in: []string{"input", "input2"}, out: []string{"output_1"}},
		{name: "relu1", op: "Relu", in: []string{"output_1"}, out: []string{"output2"}},
		{name: "output_1", op: "Identity", in: []string{"input2"}, out: []string{"output"}},
		{name: "output3", op: "Identity", in: []string{"output2"}, out: []string{"output3"}},
	}
	if len(g.nodes) != len(want) {
		t.Fatalf("ops %v", opTypes(g))
	}
	for i, w := range want {
		if n := g.nodes[i]; n.name != w.name || n.op != w.op || !slices.Equal(n.in, w.in) || !slices.Equal(n.out, w.out) {
			t.Errorf("node %d: %s %s %v → %v, want %s %s %v → %v", i, n.name, n.op, n.in, n.out, w.name, w.op, w.in, w.out)
		}
	}
	v := []string{"N", "3"}
	checkValues(t, "inputs", g.inputs, []onnxValue{{"input", typeFloat, v}, {"input2", typeFloat, v}})
	checkValues(t, "outputs", g.outputs, []onnxValue{{"output", typeFloat, v}, {"output2", typeFloat, v}, {"output3", typeFloat, v}})
	checkValues(t, "value_info", g.values, []onnxValue{{"output_1", typeFloat, v}})
}

// TestFloat64 checks that a float64 model is DOUBLE throughout: inputs,
// outputs, values, parameters and constants.
func TestFloat64(t *testing.T) {
	m, err := graph.Sequential{graph.Dense{Units: 3}, graph.GELU{}}.Declare(graph.Shape{4}, graph.WithDtype(tensor.Float64))
	if err != nil {
		t.Fatal(err)
	}
	g := export(t, m).graph
	for _, vs := range [][]onnxValue{g.inputs, g.outputs, g.values} {
		for _, v := range vs {
			if v.elem != typeDouble {
				t.Errorf("value %s: type %d, want DOUBLE", v.name, v.elem)
			}
		}
	}
	w := m.Param("dense1/W").Value.Data().([]float64)
	var wt []float64
	for o := range 3 {
		for i := range 4 {
			wt = append(wt, w[i*3+o])
		}
	}
	checkInit(t, g, wantInit{"dense1.weight", typeDouble, []int64{3, 4}, wt})
	checkInit(t, g, wantInit{"gelu1/sqrt2", typeDouble, nil, []float64{math.Sqrt2}})
	checkInit(t, g, wantInit{"gelu1/half", typeDouble, nil, []float64{0.5}})
}
