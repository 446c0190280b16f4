// Package torchname names a Retina model's tensors as PyTorch's state_dict
// names them, with PyTorch's layouts. It is the one mapping the formats
// Retina writes share: the safetensors files of graph/weights and the
// initializers of graph/onnx.
//
// A Retina tensor "path/to/layer/NAME" is named "path.to.layer.TORCHNAME":
// W and gamma become weight, b and beta become bias, other names (batch
// normalisation's running_mean, running_var and num_batches_tracked) are
// kept. Dense weights are transposed from Retina's (in, out) to PyTorch
// Linear's (out, in); every other tensor keeps its shape, which is
// PyTorch's, except num_batches_tracked (1), PyTorch's int64 scalar ().
package torchname

import (
	"strings"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
)

// Entry is one tensor of a model under its PyTorch name.
type Entry struct {
	Name  string       // PyTorch's name, e.g. "conv1.weight" or "block2.bn1.running_mean"
	Param *graph.Param // the model's tensor
	// Shape is the tensor's shape under Name: a Dense weight's (out, in),
	// num_batches_tracked's () and otherwise the model's shape.
	Shape     []int
	Transpose bool // a Dense weight: (in, out) in the model, (out, in) under Name
	Count     bool // num_batches_tracked: an int64 scalar in PyTorch
}

// suffixes maps Retina parameter names to PyTorch's.
var suffixes = map[string]string{"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}

// Entries lists m's parameters and then its state tensors (Model.Params,
// Model.State: a tensor of a model called twice appears once) under their
// PyTorch names. It fails if two tensors map to one name (layers named
// "a.b" and "a/b", say); the error names both.
func Entries(m *graph.Model) ([]Entry, error) {
	dense := denseWeights(m)
	var es []Entry
	owner := map[string]string{}
	for _, p := range append(m.Params(), m.State()...) {
		e := Entry{Name: Name(p), Param: p, Shape: p.Value.Shape().Clone()}
		if other, ok := owner[e.Name]; ok {
			return nil, errors.Errorf("model %s: tensors %s and %s both map to %q", m.Name(), other, p.Name, e.Name)
		}
		owner[e.Name] = p.Name
		if dense[p] && len(e.Shape) == 2 {
			e.Transpose = true
			e.Shape[0], e.Shape[1] = e.Shape[1], e.Shape[0]
		}
		if p.Spec.State && p.Spec.Name == "num_batches_tracked" && len(e.Shape) == 1 && e.Shape[0] == 1 {
			e.Count = true
			e.Shape = []int{}
		}
		es = append(es, e)
	}
	return es, nil
}

// Name returns p's PyTorch name: "dense1/W" → "dense1.weight".
func Name(p *graph.Param) string {
	layer := strings.TrimSuffix(p.Name, p.Spec.Name)
	suffix := p.Spec.Name
	if t, ok := suffixes[suffix]; ok {
		suffix = t
	}
	return strings.ReplaceAll(layer, "/", ".") + suffix
}

// denseWeights returns the weights W of m's Dense layers.
func denseWeights(m *graph.Model) map[*graph.Param]bool {
	dense := map[*graph.Param]bool{}
	for _, li := range m.Layers() {
		if _, ok := li.Layer.(graph.Dense); !ok || li.Shared {
			continue
		}
		for _, p := range li.Params {
			if p.Spec.Name == "W" {
				dense[p] = true
			}
		}
	}
	return dense
}

// Transpose returns the (cols, rows) transpose of the row-major (rows,
// cols) matrix d.
func Transpose[T float32 | float64](d []T, rows, cols int) []T {
	out := make([]T, len(d))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = d[r*cols+c]
		}
	}
	return out
}
