package onnx_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/retina-ml/retina/graph/onnx"
	"github.com/retina-ml/retina/models/cnn"
)

// Export LeNet and list the operators and initializers of the file.
func Example() {
	m, err := cnn.LeNet.Model()
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "onnx")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lenet.onnx")
	if err := onnx.Export(path, m); err != nil {
		log.Fatal(err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	graph := field(data, 7) // ModelProto.graph
	var ops, inits []string
	for _, node := range fields(graph, 1) { // GraphProto.node
		ops = append(ops, string(field(node, 4))) // NodeProto.op_type
	}
	for _, t := range fields(graph, 5) { // GraphProto.initializer
		inits = append(inits, string(field(t, 8))) // TensorProto.name
	}
	fmt.Println(strings.Join(ops, " "))
	fmt.Println(strings.Join(inits, " "))
	// Output:
	// Conv Relu MaxPool Conv Relu MaxPool Flatten Gemm Relu Gemm
	// conv1.weight conv1.bias conv2.weight conv2.bias dense1.weight dense1.bias dense2.weight dense2.bias
}

// fields returns the values of the length-delimited fields num of the
// protobuf message b.
func fields(b []byte, num protowire.Number) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return out
		}
		b = b[k:]
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			out = append(out, v)
		}
		if k = protowire.ConsumeFieldValue(n, typ, b); k < 0 {
			return out
		}
		b = b[k:]
	}
	return out
}

// field returns the first length-delimited field num of b.
func field(b []byte, num protowire.Number) []byte {
	if fs := fields(b, num); len(fs) > 0 {
		return fs[0]
	}
	return nil
}
