package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/pkg/errors"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/atomicfile"
	"github.com/retina-ml/retina/internal/torchname"
)

const (
	irVersion = 8        // ONNX 1.10 and later
	opset     = 17       // of the default domain ""
	producer  = "retina" // ModelProto.producer_name
	batchDim  = "N"      // the symbolic batch dimension of inputs and outputs
	maxBytes  = 1<<31 - 1
)

// Export writes m as an ONNX model file at path, atomically (a reader sees
// the old file or the new one, never a mix). The whole model is converted
// before anything is written: on error (a layer without an ONNX form, say)
// no file is created and an existing one is left as it was.
func Export(path string, m *graph.Model) error {
	data, err := marshal(m)
	if err != nil {
		return err
	}
	return errors.Wrap(atomicfile.Write(path, data), "onnx")
}

// Write writes m as an ONNX model to w. It writes nothing if m cannot be
// converted.
func Write(w io.Writer, m *graph.Model) error {
	data, err := marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return errors.Wrap(err, "onnx: writing the model")
}

// exporter converts one model.
type exporter struct {
	m       *graph.Model
	dtype   int32                            // typeFloat or typeDouble
	entries map[*graph.Param]torchname.Entry // the model's tensors under PyTorch's names
	order   []torchname.Entry                // the same, in the model's order
	used    map[*graph.Param]bool            // tensors some node reads
	names   map[string]bool                  // value and initializer names in use
	nodes   map[string]bool                  // node names in use
	values  map[string]string                // Retina value name → ONNX value name
	outputs map[string]int                   // layer path → index of the first model output it is
	consts  []tensorProto                    // initializers other than the model's tensors
	g       graphProto                       // what is written
}

// marshal converts m and returns the bytes of its ModelProto.
func marshal(m *graph.Model) ([]byte, error) {
	if m == nil {
		return nil, errors.New("onnx: nil model")
	}
	e, err := newExporter(m)
	if err != nil {
		return nil, err
	}
	if err := e.convert(); err != nil {
		return nil, err
	}
	data := marshalModel(e.g)
	if len(data) > maxBytes {
		return nil, errors.Errorf("onnx: model %s takes %d bytes, more than the 2 GiB a protobuf message may hold", m.Name(), len(data))
	}
	return data, nil
}

func newExporter(m *graph.Model) (*exporter, error) {
	e := &exporter{m: m, entries: map[*graph.Param]torchname.Entry{}, used: map[*graph.Param]bool{},
		names: map[string]bool{}, nodes: map[string]bool{}, values: map[string]string{}, outputs: map[string]int{}}
	switch m.Dtype() {
	case tensor.Float32:
		e.dtype = typeFloat
	case tensor.Float64:
		e.dtype = typeDouble
	default:
		return nil, errors.Errorf("onnx: model %s is %v, want float32 or float64", m.Name(), m.Dtype())
	}
	es, err := torchname.Entries(m)
	if err != nil {
		return nil, errors.Wrap(err, "onnx")
	}
	e.order = es
	for _, en := range es {
		e.entries[en.Param] = en
		e.names[en.Name] = true
	}
	return e, nil
}

// convert fills e.g: inputs, a node or a few for each layer application,
// outputs, and the initializers the nodes read.
func (e *exporter) convert() error {
	e.g.name = e.m.Name()
	outs := e.m.Summary().Outputs // value names: "input…" or layer paths
	layers := e.m.Layers()
	if err := e.inputs(layers, len(outs)); err != nil {
		return err
	}
	for k := len(outs) - 1; k >= 0; k-- {
		e.outputs[outs[k]] = k
	}
	for _, li := range layers {
		if err := e.apply(li); err != nil {
			return err
		}
	}
	shapes := e.m.Outputs()
	for k, v := range outs {
		name := ioName("output", k)
		if e.values[v] != name { // an input, or a value returned twice
			e.node("Identity", name, []string{e.values[v]}, name)
		}
		e.g.outputs = append(e.g.outputs, valueInfo{name: name, dtype: e.dtype, sample: shapes[k]})
	}
	return e.initializers()
}

// inputs declares the graph's inputs and reserves the names of its
// outputs, of which there are outputs. A layer named like an input ("input",
// "input2", …) would make the model's value names ambiguous: an error.
func (e *exporter) inputs(layers []graph.LayerInfo, outputs int) error {
	for i, shape := range e.m.Inputs() {
		name := ioName("input", i)
		e.names[name] = true
		e.values[name] = name
		e.g.inputs = append(e.g.inputs, valueInfo{name: name, dtype: e.dtype, sample: shape})
	}
	for k := range outputs {
		e.names[ioName("output", k)] = true
	}
	for _, li := range layers {
		if _, ok := e.values[li.Name]; ok {
			return errors.Errorf("onnx: layer %q (%s) is named like a model input: rename it", li.Name, li.Layer.Kind())
		}
	}
	return nil
}

// apply converts one layer application. Its value is named after the
// model output it is, or else after its path.
func (e *exporter) apply(li graph.LayerInfo) error {
	in := make([]string, len(li.Inputs))
	for j, v := range li.Inputs {
		name, ok := e.values[v]
		if !ok {
			return errors.Errorf("onnx: layer %q (%s) reads %q, which no earlier layer writes", li.Name, li.Layer.Kind(), v)
		}
		in[j] = name
	}
	k, isOutput := e.outputs[li.Name]
	out := ioName("output", k)
	if !isOutput {
		out = e.unique(li.Name)
	}
	if err := e.layer(li, in, out); err != nil {
		return err
	}
	e.values[li.Name] = out
	if !isOutput {
		e.g.values = append(e.g.values, valueInfo{name: out, dtype: e.dtype, sample: li.Out})
	}
	return nil
}

// ioName names input or output i: "input", "input2", ….
func ioName(prefix string, i int) string {
	if i == 0 {
		return prefix
	}
	return fmt.Sprintf("%s%d", prefix, i+1)
}

// unique returns the value name name, or name_1, name_2, … if name is
// taken, and marks it taken.
func (e *exporter) unique(name string) string { return uniqueIn(e.names, name) }

// uniqueIn returns name, or name_1, name_2, … if name is in used, and adds
// it to used.
func uniqueIn(used map[string]bool, name string) string {
	n := name
	for k := 1; used[n]; k++ {
		n = fmt.Sprintf("%s_%d", name, k)
	}
	used[n] = true
	return n
}

// node appends a node applying op to in, writing out, named name (or
// name_1, … if a node has that name).
func (e *exporter) node(op, name string, in []string, out string, attrs ...attribute) {
	e.g.nodes = append(e.g.nodes, nodeProto{name: uniqueIn(e.nodes, name), op: op, in: in, out: []string{out}, attrs: attrs})
}

// param returns the initializer name of li's tensor called suffix ("W",
// "b", "gamma", …), and false if li has none.
func (e *exporter) param(li graph.LayerInfo, suffix string) (string, bool) {
	for _, p := range li.Params {
		if p.Spec.Name == suffix {
			en, ok := e.entries[p]
			if ok {
				e.used[p] = true
			}
			return en.Name, ok
		}
	}
	return "", false
}

// params returns the initializer names of li's tensors called suffixes,
// or an error naming the first one missing.
func (e *exporter) params(li graph.LayerInfo, suffixes ...string) ([]string, error) {
	names := make([]string, len(suffixes))
	for i, s := range suffixes {
		name, ok := e.param(li, s)
		if !ok {
			return nil, errors.Errorf("onnx: layer %q (%s) has no tensor %s", li.Name, li.Layer.Kind(), s)
		}
		names[i] = name
	}
	return names, nil
}

// scalar adds a scalar initializer of the model's dtype named name
// holding v, and returns its name.
func (e *exporter) scalar(name string, v float64) string {
	name = e.unique(name)
	t := tensorProto{name: name, dtype: e.dtype}
	if e.dtype == typeDouble {
		t.raw = f64Bytes([]float64{v})
	} else {
		t.raw = f32Bytes([]float32{float32(v)})
	}
	e.consts = append(e.consts, t)
	return name
}

// floatConstant adds a FLOAT initializer whatever the model's dtype (the
// scales of Resize are float).
func (e *exporter) floatConstant(name string, vals ...float32) string {
	name = e.unique(name)
	e.consts = append(e.consts, tensorProto{name: name, dims: []int{len(vals)}, dtype: typeFloat, raw: f32Bytes(vals)})
	return name
}

// intConstant adds an INT64 initializer of shape (len(vals)).
func (e *exporter) intConstant(name string, vals ...int) string {
	name = e.unique(name)
	raw := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(int64(v)))
	}
	e.consts = append(e.consts, tensorProto{name: name, dims: []int{len(vals)}, dtype: typeInt64, raw: raw})
	return name
}

// initializers adds the model's tensors that nodes read, in the model's
// order under their PyTorch names and layouts, then the constants.
func (e *exporter) initializers() error {
	for _, en := range e.order {
		if !e.used[en.Param] {
			continue
		}
		raw, ok := rawData(en, e.dtype)
		if !ok {
			return errors.Errorf("onnx: tensor %s holds %T, the model is %v", en.Param.Name, en.Param.Value.Data(), e.m.Dtype())
		}
		t := tensorProto{name: en.Name, dims: en.Shape, dtype: e.dtype, raw: raw}
		e.g.initializer = append(e.g.initializer, t)
	}
	e.g.initializer = append(e.g.initializer, e.consts...)
	return nil
}

// rawData returns the values of en's tensor in en's layout as
// little-endian bytes, and whether they are of type dtype.
func rawData(en torchname.Entry, dtype int32) ([]byte, bool) {
	switch d := en.Param.Value.Data().(type) {
	case []float32:
		if en.Transpose {
			d = torchname.Transpose(d, en.Shape[1], en.Shape[0])
		}
		return f32Bytes(d), dtype == typeFloat
	case []float64:
		if en.Transpose {
			d = torchname.Transpose(d, en.Shape[1], en.Shape[0])
		}
		return f64Bytes(d), dtype == typeDouble
	}
	return nil, false
}

func f32Bytes(d []float32) []byte {
	b := make([]byte, 0, 4*len(d))
	for _, v := range d {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func f64Bytes(d []float64) []byte {
	b := make([]byte, 0, 8*len(d))
	for _, v := range d {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}
