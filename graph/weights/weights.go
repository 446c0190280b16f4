// Package weights saves a model's weights to safetensors files laid out as
// PyTorch lays out its state_dict, and loads them back, from such files or
// from Retina training checkpoints.
//
// # Files
//
// A safetensors file is an 8-byte little-endian header length N, N bytes
// of JSON
//
//	{"__metadata__": {"format": "retina", "model": "model"},
//	 "conv1.weight": {"dtype": "F32", "shape": [20, 1, 5, 5], "data_offsets": [0, 2000]}, …}
//
// and the data buffer: each tensor little-endian and row-major, the tensors
// contiguous, not overlapping, and filling the buffer. Save writes the
// model's parameters and state tensors as F32 or F64, the model's dtype,
// except num_batches_tracked, which is I64 as in PyTorch, with the metadata
// "format": "retina" and "model": the model's name. Load checks the header
// (at most MaxHeaderBytes, MaxDataBytes of data) before allocating
// anything from it.
//
// # Names and layouts
//
// A Retina tensor "path/to/layer/NAME" is stored as
// "path.to.layer.TORCHNAME", the name PyTorch's module of that path gives
// it: W and gamma become weight, b and beta become bias, other names (batch
// normalisation's running_mean, running_var and num_batches_tracked) are
// kept. Dense weights are transposed from Retina's (in, out) to PyTorch
// Linear's (out, in); every other tensor keeps its shape, which is
// PyTorch's: Conv2D's W (out, in/groups, KH, KW) as Conv2d's weight,
// ConvTranspose2D's W (in, out, KH, KW) as ConvTranspose2d's weight,
// BatchNorm's tensors (C) as BatchNorm1d/2d's, with num_batches_tracked (1)
// stored as PyTorch's scalar () and read as () or (1). For example:
//
//	Retina tensor                    shape           safetensors name                  shape         dtype
//	conv1/W                          (20, 1, 5, 5)   conv1.weight                      (20, 1, 5, 5)  F32
//	conv1/b                          (20)            conv1.bias                        (20)           F32
//	block2/bn1/gamma                 (64)            block2.bn1.weight                 (64)           F32
//	block2/bn1/beta                  (64)            block2.bn1.bias                   (64)           F32
//	block2/bn1/running_mean          (64)            block2.bn1.running_mean           (64)           F32
//	block2/bn1/num_batches_tracked   (1)             block2.bn1.num_batches_tracked    ()             I64
//	dense1/W                         (800, 500)      dense1.weight                     (500, 800)     F32
//	dense1/b                         (500)           dense1.bias                       (500)          F32
//	up1/W (ConvTranspose2D)          (64, 32, 4, 4)  up1.weight                        (64, 32, 4, 4) F32
//
// A PyTorch module whose attribute names follow the Retina layer names
// (self.conv1, self.dense1, nn.Sequential blocks named block2, …) thus
// loads the file with load_state_dict, and Retina loads its state_dict.
// Retina's Flatten flattens (C, H, W) in that order, as torch.flatten does.
// The ONNX files graph/onnx writes name and lay out their initializers the
// same way.
//
// # Checkpoints
//
// Load also reads the checkpoints a train.Trainer writes (recognised by
// their first bytes, checkpoint.Magic): the model's tensors are those named
// "param/<Retina name>" and "state/<Retina name>", in Retina's layouts;
// the optimizer's tensors ("opt/…") are ignored.
package weights

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/pkg/errors"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/torchname"
	"github.com/retina-ml/retina/train/checkpoint"
)

// entry is one model tensor under its name in a file: its PyTorch name
// (torchname.Entries) in safetensors files, "param/…" or "state/…" in
// checkpoints.
type entry = torchname.Entry

// torchEntries lists m's parameters and state tensors under their PyTorch
// names, in the model's order.
func torchEntries(m *graph.Model) ([]entry, error) {
	es, err := torchname.Entries(m)
	return es, errors.Wrap(err, "weights")
}

// Save writes m's parameters and state tensors to path as a safetensors
// file, atomically, under PyTorch's names and layouts (see the package
// documentation): F32 or F64 as m's dtype, num_batches_tracked as I64.
func Save(path string, m *graph.Model) error {
	es, err := torchEntries(m)
	if err != nil {
		return err
	}
	ts := make([]stTensor, 0, len(es))
	for _, e := range es {
		t := stTensor{Name: e.Name, Shape: e.Shape}
		switch d := e.Param.Value.Data().(type) {
		case []float32:
			if e.Transpose {
				d = torchname.Transpose(d, e.Shape[1], e.Shape[0])
			}
			t.Dtype, t.Data = "F32", f32Bytes(d)
		case []float64:
			if e.Transpose {
				d = torchname.Transpose(d, e.Shape[1], e.Shape[0])
			}
			t.Dtype, t.Data = "F64", f64Bytes(d)
		default:
			return errors.Errorf("weights: %s: tensor %s holds %T, want float32 or float64", path, e.Param.Name, d)
		}
		if e.Count {
			n := make([]int64, e.Param.Value.Shape().TotalSize())
			for i, v := range floats(e.Param.Value) {
				n[i] = int64(v)
			}
			t.Dtype, t.Data = "I64", i64Bytes(n)
		}
		ts = append(ts, t)
	}
	return writeSafetensors(path, ts, map[string]string{"format": "retina", "model": m.Name()})
}

// floats returns t's values as float64.
func floats(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float32:
		v := make([]float64, len(d))
		for i, x := range d {
			v[i] = float64(x)
		}
		return v
	case []float64:
		return append([]float64(nil), d...)
	}
	return nil
}

// Load sets m's parameters and state tensors from the file at path: a
// safetensors file under PyTorch's names and layouts (see the package
// documentation), or a Retina training checkpoint, told apart by their
// first bytes. Every tensor of the model must be in the file with its shape
// and with m's dtype (num_batches_tracked may also be I64 in a safetensors
// file), and the file must hold no other tensor (a checkpoint's optimizer
// tensors aside); otherwise the error lists every missing, unexpected and
// mismatched tensor, and m is left unchanged.
func Load(path string, m *graph.Model) error {
	magic := make([]byte, len(checkpoint.Magic))
	fh, err := os.Open(path)
	if err != nil {
		return errors.Wrap(err, "weights")
	}
	_, err = io.ReadFull(fh, magic)
	fh.Close()
	if err == nil && string(magic) == checkpoint.Magic {
		return loadCheckpoint(path, m)
	}
	return loadSafetensors(path, m)
}

// source is a tensor found in a file: its shape, dtype and values.
type source struct {
	shape []int
	dtype string
	vals  func() []float64
}

// modelDtype names m's dtype as safetensors does.
func modelDtype(m *graph.Model) string {
	if m.Dtype() == tensor.Float64 {
		return "F64"
	}
	return "F32"
}

func loadSafetensors(path string, m *graph.Model) error {
	es, err := torchEntries(m)
	if err != nil {
		return err
	}
	f, err := readSafetensors(path)
	if err != nil {
		return err
	}
	found := map[string]source{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		found[t.Name] = source{t.Shape, t.Dtype, t.float64s}
	}
	return apply(path, m, es, found, modelDtype(m))
}

func loadCheckpoint(path string, m *graph.Model) error {
	f, err := checkpoint.Read(path)
	if err != nil {
		return errors.Wrap(err, "weights")
	}
	var es []entry
	for _, p := range m.Params() {
		es = append(es, entry{Name: "param/" + p.Name, Param: p, Shape: p.Value.Shape().Clone()})
	}
	for _, p := range m.State() {
		es = append(es, entry{Name: "state/" + p.Name, Param: p, Shape: p.Value.Shape().Clone()})
	}
	found := map[string]source{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if !strings.HasPrefix(t.Name, "param/") && !strings.HasPrefix(t.Name, "state/") {
			continue // the optimizer's
		}
		s := source{shape: t.Shape}
		switch t.DType() {
		case "float32":
			s.dtype, s.vals = "F32", func() []float64 {
				v := make([]float64, len(t.F32))
				for i, x := range t.F32 {
					v[i] = float64(x)
				}
				return v
			}
		case "float64":
			s.dtype, s.vals = "F64", func() []float64 { return t.F64 }
		}
		found[t.Name] = s
	}
	return apply(path, m, es, found, modelDtype(m))
}

// apply checks that found holds exactly the tensors es expect, with their
// shapes and dtype, and only then copies them into the model.
func apply(path string, m *graph.Model, es []entry, found map[string]source, dtype string) error {
	var problems []string
	expected := map[string]bool{}
	for _, e := range es {
		expected[e.Name] = true
		s, ok := found[e.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing tensor %q (%s, shape %s %s)", e.Name, e.Param.Name, shapeString(e.Shape), dtype))
			continue
		}
		shapeOK := sameShape(s.shape, e.Shape) || (e.Count && sameShape(s.shape, []int{1}))
		dtypeOK := s.dtype == dtype || (e.Count && s.dtype == "I64")
		if !shapeOK || !dtypeOK {
			problems = append(problems, fmt.Sprintf("tensor %q (%s) has shape %s %s, want %s %s", e.Name, e.Param.Name, shapeString(s.shape), s.dtype, shapeString(e.Shape), dtype))
		}
	}
	var extra []string
	for name := range found {
		if !expected[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("unexpected tensor %q (shape %s %s)", name, shapeString(found[name].shape), found[name].dtype))
	}
	if len(problems) > 0 {
		return errors.Errorf("weights: %s does not fit model %s (%d problems):\n\t%s", path, m.Name(), len(problems), strings.Join(problems, "\n\t"))
	}
	vals := make([][]float64, len(es))
	for i, e := range es {
		vals[i] = found[e.Name].vals()
		if e.Transpose {
			vals[i] = torchname.Transpose(vals[i], e.Shape[0], e.Shape[1])
		}
	}
	for i, e := range es {
		switch d := e.Param.Value.Data().(type) {
		case []float32:
			for k, v := range vals[i] {
				d[k] = float32(v)
			}
		case []float64:
			copy(d, vals[i])
		}
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// shapeString formats a shape as Retina's errors do: "(4, 1, 3)", "()".
func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
