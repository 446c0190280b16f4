package cnn_test

import (
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/ops"
)

// field is the expected receptive field of one layer.
type field struct {
	name               string
	size, jump, start  [2]int
	flat, mixed, whole bool
}

func sq(n int) [2]int { return [2]int{n, n} }

func TestReceptiveFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		model  func(...graph.Option) (*graph.Model, error)
		fields []field
	}{
		{"LeNet", cnn.LeNet.Model, []field{
			{name: "conv1", size: sq(5), jump: sq(1)},
			{name: "relu1", size: sq(5), jump: sq(1)},
			{name: "pool1", size: sq(6), jump: sq(2)},
			{name: "conv2", size: sq(14), jump: sq(2)},
			{name: "relu2", size: sq(14), jump: sq(2)},
			{name: "pool2", size: sq(16), jump: sq(4)},
			{name: "flatten1", size: sq(16), jump: sq(4), flat: true},
			{name: "dense1", size: sq(28), flat: true, mixed: true, whole: true},
			{name: "relu3", size: sq(28), flat: true, mixed: true, whole: true},
			{name: "dense2", size: sq(28), flat: true, mixed: true, whole: true},
		}},
		// Stride 2, padding 2: fields start before the image.
		// conv1: 5, jump 2, start −2; conv2: 5 + 4·2 = 13, jump 4,
		// start −2 − 2·2 = −6; its 7×7 units span −6 … −6 + 6·4 + 12 = 30.
		{"StridedLeNet", cnn.StridedLeNet.Model, []field{
			{name: "conv1", size: sq(5), jump: sq(2), start: sq(-2)},
			{name: "relu1", size: sq(5), jump: sq(2), start: sq(-2)},
			{name: "conv2", size: sq(13), jump: sq(4), start: sq(-6)},
			{name: "relu2", size: sq(13), jump: sq(4), start: sq(-6)},
			{name: "flatten1", size: sq(13), jump: sq(4), start: sq(-6), flat: true},
			{name: "dense1", size: sq(28), flat: true, mixed: true, whole: true},
			{name: "relu3", size: sq(28), flat: true, mixed: true, whole: true},
			{name: "dense2", size: sq(28), flat: true, mixed: true, whole: true},
		}},
		// Rectangular windows, strides, padding and both poolings on a
		// 20×30 image, by hand (rows, columns):
		//   conv 3×1 pad 1×0     → 20×30: size (3, 1), jump 1, start (−1, 0)
		//   max-pool 3×3 /2      →  9×14: size (3+2, 1+2) = (5, 3), jump 2
		//   conv 3×3 /2 pad 1    →  5×7:  size (5+4, 3+4) = (9, 7), jump 4,
		//                                 start (−1−2, 0−2) = (−3, −2)
		//   avg-pool 2×2 /2      →  2×3:  size (9+4, 7+4) = (13, 11), jump 8
		//   dense: rows −3 … −3 + 8 + 12 = 17 → 0…17, columns −2 … −2 + 16
		//   + 10 = 24 → 0…24: the last rows and columns are never seen.
		{"strided and padded by hand", func(...graph.Option) (*graph.Model, error) {
			return graph.Sequential{
				graph.Conv2D{Maps: 2, Window: ops.Window{KH: 3, KW: 1, SH: 1, SW: 1, PH: 1}},
				graph.Tanh{},
				graph.MaxPool2D{Window: ops.Square(3, 2, 0)},
				graph.Conv2D{Maps: 2, Window: ops.Square(3, 2, 1)},
				graph.AvgPool2D{Window: ops.Square(2, 2, 0)},
				graph.Dropout{P: 0.5},
				graph.Flatten{},
				graph.Dense{Units: 3},
			}.Declare(graph.Shape{1, 20, 30})
		}, []field{
			{name: "conv1", size: [2]int{3, 1}, jump: sq(1), start: [2]int{-1, 0}},
			{name: "tanh1", size: [2]int{3, 1}, jump: sq(1), start: [2]int{-1, 0}},
			{name: "pool1", size: [2]int{5, 3}, jump: sq(2), start: [2]int{-1, 0}},
			{name: "conv2", size: [2]int{9, 7}, jump: sq(4), start: [2]int{-3, -2}},
			{name: "pool2", size: [2]int{13, 11}, jump: sq(8), start: [2]int{-3, -2}},
			{name: "dropout1", size: [2]int{13, 11}, jump: sq(8), start: [2]int{-3, -2}},
			{name: "flatten1", size: [2]int{13, 11}, jump: sq(8), start: [2]int{-3, -2}, flat: true},
			{name: "dense1", size: [2]int{18, 25}, flat: true, mixed: true},
		}},
		// A map whose units see everything: 8×8 through 5×5, 3×3, 2×2.
		{"global feature map", func(...graph.Option) (*graph.Model, error) {
			return graph.Sequential{
				graph.Conv2D{Maps: 1, Window: ops.Kernel(5, 5)},
				graph.Conv2D{Maps: 1, Window: ops.Kernel(3, 3)},
				graph.Conv2D{Maps: 1, Window: ops.Kernel(2, 2)},
			}.Declare(graph.Shape{1, 8, 8})
		}, []field{
			{name: "conv1", size: sq(5), jump: sq(1)},
			{name: "conv2", size: sq(7), jump: sq(1)},
			{name: "conv3", size: sq(8), jump: sq(1), whole: true},
		}},
		// Dilation spreads a window's taps: 3×3 dilated 2 spans 5×5, then
		// 3×3 dilated 3 adds 2·3 = 6: 11×11; batch norm keeps the field,
		// and global average pooling mixes the 6×6 grid of conv2 (fields at
		// 0 … 5, size 11: rows and columns 0 … 15, the whole image).
		{"dilated", func(...graph.Option) (*graph.Model, error) {
			return graph.Sequential{
				graph.Conv2D{Maps: 2, Window: ops.Kernel(3, 3), Dilation: 2},
				graph.BatchNorm{},
				graph.Conv2D{Maps: 2, Window: ops.Window{KH: 3, KW: 3, SH: 1, SW: 1, DH: 3, DW: 3}},
				graph.GlobalAvgPool2D{},
			}.Declare(graph.Shape{1, 16, 16})
		}, []field{
			{name: "conv1", size: sq(5), jump: sq(1)},
			{name: "batchnorm1", size: sq(5), jump: sq(1)},
			{name: "conv2", size: sq(11), jump: sq(1)},
			{name: "gap1", size: sq(16), flat: true, mixed: true, whole: true},
		}},
		// The lecture's edge detector: a 1×2 window on a 280×320 image.
		{"edge filter", func(...graph.Option) (*graph.Model, error) {
			return graph.Sequential{graph.Conv2D{Maps: 1, Window: ops.Kernel(1, 2), NoBias: true}}.Declare(graph.Shape{1, 280, 320})
		}, []field{{name: "conv1", size: [2]int{1, 2}, jump: sq(1)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.model()
			if err != nil {
				t.Fatal(err)
			}
			got, err := cnn.ReceptiveFields(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.fields) {
				t.Fatalf("%d fields for %d layers, want %d", len(got), len(m.Layers()), len(tc.fields))
			}
			for i, want := range tc.fields {
				g := got[i]
				if g.Layer != i || g.Name != want.name || g.Size != want.size || g.Jump != want.jump || g.Start != want.start ||
					g.Flat != want.flat || g.Mixed != want.mixed || g.Global != want.whole {
					t.Errorf("layer %d: got %+v\nwant %+v", i, g, want)
				}
				if out := m.Layers()[i].Out; !g.Output.Eq(out) {
					t.Errorf("layer %d: output %v, want %v", i, g.Output, out)
				}
			}
		})
	}
}

func TestReceptiveFieldString(t *testing.T) {
	m, err := cnn.LeNet.Model()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := cnn.ReceptiveFields(m)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{
		0: "conv1: 5×5, jump 1×1, start (0, 0)",
		5: "pool2: 16×16, jump 4×4, start (0, 0)",
		7: "dense1: whole 28×28 input",
	} {
		if s := fs[i].String(); s != want {
			t.Errorf("layer %d: %q, want %q", i, s, want)
		}
	}
	if c := fs[5].Center(); c != [2]float64{7.5, 7.5} {
		t.Errorf("pool2 centre %v, want (7.5, 7.5)", c)
	}
}

// opaque is a layer ReceptiveFields knows nothing about.
type opaque struct{}

func (opaque) Kind() string { return "opaque" }
func (opaque) Declare(in []graph.Shape) (graph.Shape, []graph.ParamSpec, error) {
	return in[0], nil, nil
}
func (opaque) Build(_ *graph.Context, in []*G.Node, _ []*G.Node) (*G.Node, error) { return in[0], nil }

func TestReceptiveFieldsErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model func() (*graph.Model, error)
		words []string
	}{
		{"vector input", func() (*graph.Model, error) { return mlp.Seed() }, []string{"image input", "(784)"}},
		{"unknown layer on a map", func() (*graph.Model, error) {
			return graph.Sequential{graph.Conv2D{Maps: 1, Window: ops.Kernel(3, 3)}, opaque{}}.Declare(graph.Shape{1, 8, 8})
		}, []string{"layer 1 (opaque1)", "cnn_test.opaque"}},
		{"reshape to an image", func() (*graph.Model, error) {
			return graph.Sequential{graph.Reshape{To: graph.Shape{1, 4, 16}}, graph.Conv2D{Maps: 1, Window: ops.Kernel(3, 3)}}.Declare(graph.Shape{1, 8, 8})
		}, []string{"layer 0 (reshape1)", "(1, 4, 16)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.model()
			if err != nil {
				t.Fatal(err)
			}
			_, err = cnn.ReceptiveFields(m)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	// After a dense layer any layer keeps the (already whole) field.
	m, err := graph.Sequential{graph.Flatten{}, graph.Dense{Units: 4}, opaque{}}.Declare(graph.Shape{1, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := cnn.ReceptiveFields(m)
	if err != nil {
		t.Fatal(err)
	}
	if !fs[2].Global || fs[2].Size != sq(3) {
		t.Errorf("opaque after dense: %+v, want the whole 3×3 input", fs[2])
	}
}
