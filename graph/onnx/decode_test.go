package onnx

import (
	"math"
	"strconv"
	"testing"

	"github.com/pkg/errors"
	"google.golang.org/protobuf/encoding/protowire"
)

// A small protobuf decoder for the tests: it reads the bytes an export
// wrote back into the ONNX messages, field numbers as in onnx.proto,
// independently of the encoder in proto.go.

// field is one field of a protobuf message as read.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64 // varint, fixed32 and fixed64 values
	bytes []byte // length-delimited values
}

// message is a protobuf message: its fields in the order read.
type message []field

// decode splits b into fields.
func decode(b []byte) (message, error) {
	var m message
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			return nil, errors.Errorf("field %d: wire type %d", num, typ)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		m = append(m, f)
	}
	return m, nil
}

// ints returns the values of a repeated (or single) integer field, packed
// or not.
func (m message) ints(num protowire.Number) []int64 {
	var out []int64
	for _, f := range m {
		switch {
		case f.num != num:
		case f.typ == protowire.VarintType:
			out = append(out, int64(f.v))
		case f.typ == protowire.BytesType: // packed
			for b := f.bytes; len(b) > 0; {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					break
				}
				out = append(out, int64(v))
				b = b[n:]
			}
		}
	}
	return out
}

// int returns the last value of an integer field, or -1.
func (m message) int(num protowire.Number) int64 {
	v := m.ints(num)
	if len(v) == 0 {
		return -1
	}
	return v[len(v)-1]
}

// strs returns the values of a repeated string field.
func (m message) strs(num protowire.Number) []string {
	var out []string
	for _, f := range m {
		if f.num == num && f.typ == protowire.BytesType {
			out = append(out, string(f.bytes))
		}
	}
	return out
}

// str returns the last value of a string field, or "".
func (m message) str(num protowire.Number) string {
	v := m.strs(num)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// msgs decodes the values of a repeated message field.
func (m message) msgs(t *testing.T, num protowire.Number) []message {
	t.Helper()
	var out []message
	for _, f := range m {
		if f.num == num && f.typ == protowire.BytesType {
			sub, err := decode(f.bytes)
			if err != nil {
				t.Fatalf("field %d: %v", num, err)
			}
			out = append(out, sub)
		}
	}
	return out
}

// msg decodes a single message field (empty if absent).
func (m message) msg(t *testing.T, num protowire.Number) message {
	t.Helper()
	v := m.msgs(t, num)
	if len(v) == 0 {
		return nil
	}
	return v[len(v)-1]
}

// The ONNX messages the tests look at.

type onnxModel struct {
	irVersion int64
	producer  string
	opsets    map[string]int64 // domain → version
	graph     onnxGraph
}

type onnxGraph struct {
	name                    string
	nodes                   []onnxNode
	inits                   []onnxTensor
	inputs, outputs, values []onnxValue
}

type onnxNode struct {
	name, op string
	in, out  []string
	attrs    map[string]onnxAttr
}

type onnxAttr struct {
	typ  int64
	i    int64
	f    float32
	s    string
	ints []int64
}

type onnxTensor struct {
	name  string
	dims  []int64
	dtype int64
	raw   []byte
}

type onnxValue struct {
	name string
	elem int64
	dims []string // dim_value as a number, or dim_param
}

// parseModel decodes a ModelProto.
func parseModel(t *testing.T, data []byte) onnxModel {
	t.Helper()
	m, err := decode(data)
	if err != nil {
		t.Fatalf("decoding the model: %v", err)
	}
	out := onnxModel{irVersion: m.int(1), producer: m.str(2), opsets: map[string]int64{}}
	for _, o := range m.msgs(t, 8) {
		out.opsets[o.str(1)] = o.int(2)
	}
	g := m.msg(t, 7)
	out.graph.name = g.str(2)
	for _, n := range g.msgs(t, 1) {
		out.graph.nodes = append(out.graph.nodes, parseNode(t, n))
	}
	for _, ts := range g.msgs(t, 5) {
		out.graph.inits = append(out.graph.inits, onnxTensor{name: ts.str(8), dims: ts.ints(1), dtype: ts.int(2), raw: rawField(ts)})
	}
	for i, vs := range []*[]onnxValue{&out.graph.inputs, &out.graph.outputs, &out.graph.values} {
		for _, v := range g.msgs(t, protowire.Number(11+i)) {
			*vs = append(*vs, parseValue(t, v))
		}
	}
	return out
}

// rawField returns a TensorProto's raw_data (field 9).
func rawField(ts message) []byte {
	for _, f := range ts {
		if f.num == 9 {
			return f.bytes
		}
	}
	return nil
}

func parseNode(t *testing.T, n message) onnxNode {
	t.Helper()
	out := onnxNode{name: n.str(3), op: n.str(4), in: n.strs(1), out: n.strs(2), attrs: map[string]onnxAttr{}}
	for _, a := range n.msgs(t, 5) {
		at := onnxAttr{typ: a.int(20), i: a.int(3), s: a.str(4), ints: a.ints(8)}
		for _, f := range a {
			if f.num == 2 && f.typ == protowire.Fixed32Type {
				at.f = math.Float32frombits(uint32(f.v))
			}
		}
		out.attrs[a.str(1)] = at
	}
	return out
}

// parseValue decodes a ValueInfoProto of a tensor type.
func parseValue(t *testing.T, v message) onnxValue {
	t.Helper()
	tensor := v.msg(t, 2).msg(t, 1)
	out := onnxValue{name: v.str(1), elem: tensor.int(1)}
	for _, d := range tensor.msg(t, 2).msgs(t, 1) {
		if p := d.str(2); p != "" {
			out.dims = append(out.dims, p)
		} else {
			out.dims = append(out.dims, strconv.FormatInt(d.int(1), 10))
		}
	}
	return out
}
