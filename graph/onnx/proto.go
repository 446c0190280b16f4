package onnx

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The protobuf messages of onnx.proto that an export writes, with the field
// numbers and enum values onnx.proto gives them. Repeated scalars are
// written unpacked, as proto2 (onnx.proto's syntax) does by default.

// TensorProto.DataType values.
const (
	typeFloat  = 1
	typeInt64  = 7
	typeDouble = 11
)

// AttributeProto.AttributeType values.
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrInts   = 7
)

// tensorProto is an initializer: a named tensor held as raw little-endian
// bytes.
type tensorProto struct {
	name  string
	dims  []int
	dtype int32 // typeFloat, typeDouble or typeInt64
	raw   []byte
}

// TensorProto: dims 1, data_type 2, name 8, raw_data 9.
func (t tensorProto) marshal() []byte {
	var b []byte
	for _, d := range t.dims {
		b = appendInt(b, 1, int64(d))
	}
	b = appendInt(b, 2, int64(t.dtype))
	b = appendString(b, 8, t.name)
	return appendBytes(b, 9, t.raw)
}

// attribute is a node attribute of type INT, FLOAT, STRING or INTS.
type attribute struct {
	name string
	typ  int32
	i    int64
	f    float32
	s    string
	ints []int64
}

func intAttr(name string, v int) attribute { return attribute{name: name, typ: attrInt, i: int64(v)} }
func floatAttr(name string, v float64) attribute {
	return attribute{name: name, typ: attrFloat, f: float32(v)}
}
func stringAttr(name, v string) attribute { return attribute{name: name, typ: attrString, s: v} }
func intsAttr(name string, vs ...int) attribute {
	a := attribute{name: name, typ: attrInts}
	for _, v := range vs {
		a.ints = append(a.ints, int64(v))
	}
	return a
}

// AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20.
func (a attribute) marshal() []byte {
	b := appendString(nil, 1, a.name)
	switch a.typ {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = appendInt(b, 3, a.i)
	case attrString:
		b = appendString(b, 4, a.s)
	case attrInts:
		for _, v := range a.ints {
			b = appendInt(b, 8, v)
		}
	}
	return appendInt(b, 20, int64(a.typ))
}

// nodeProto is one operator application.
type nodeProto struct {
	name  string
	op    string
	in    []string
	out   []string
	attrs []attribute
}

// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
func (n nodeProto) marshal() []byte {
	var b []byte
	for _, s := range n.in {
		b = appendString(b, 1, s)
	}
	for _, s := range n.out {
		b = appendString(b, 2, s)
	}
	b = appendString(b, 3, n.name)
	b = appendString(b, 4, n.op)
	for _, a := range n.attrs {
		b = appendBytes(b, 5, a.marshal())
	}
	return b
}

// valueInfo declares a tensor value: its element type and shape, the
// batch dimension first as the symbolic "N".
type valueInfo struct {
	name   string
	dtype  int32
	sample []int // per-sample shape, after N
}

// ValueInfoProto: name 1, type 2. TypeProto: tensor_type 1.
// TypeProto.Tensor: elem_type 1, shape 2. TensorShapeProto: dim 1.
// Dimension: dim_value 1, dim_param 2.
func (v valueInfo) marshal() []byte {
	shape := appendBytes(nil, 1, appendString(nil, 2, batchDim))
	for _, d := range v.sample {
		shape = appendBytes(shape, 1, appendInt(nil, 1, int64(d)))
	}
	tensor := appendInt(nil, 1, int64(v.dtype))
	tensor = appendBytes(tensor, 2, shape)
	b := appendString(nil, 1, v.name)
	return appendBytes(b, 2, appendBytes(nil, 1, tensor))
}

// graphProto is the model's computation.
type graphProto struct {
	name        string
	nodes       []nodeProto
	initializer []tensorProto
	inputs      []valueInfo
	outputs     []valueInfo
	values      []valueInfo // value_info: the shapes of intermediate values
}

// GraphProto: node 1, name 2, initializer 5, input 11, output 12,
// value_info 13.
func (g graphProto) marshal() []byte {
	var b []byte
	for _, n := range g.nodes {
		b = appendBytes(b, 1, n.marshal())
	}
	b = appendString(b, 2, g.name)
	for _, t := range g.initializer {
		b = appendBytes(b, 5, t.marshal())
	}
	for _, v := range g.inputs {
		b = appendBytes(b, 11, v.marshal())
	}
	for _, v := range g.outputs {
		b = appendBytes(b, 12, v.marshal())
	}
	for _, v := range g.values {
		b = appendBytes(b, 13, v.marshal())
	}
	return b
}

// ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8.
// OperatorSetIdProto: domain 1, version 2 (the default domain "" is left
// out, as protobuf leaves out empty strings).
func marshalModel(g graphProto) []byte {
	b := appendInt(nil, 1, irVersion)
	b = appendString(b, 2, producer)
	b = appendBytes(b, 7, g.marshal())
	return appendBytes(b, 8, appendInt(nil, 2, opset))
}

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}
