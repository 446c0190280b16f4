package graph_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

func TestConvMoreDeclareShapesParamsMACs(t *testing.T) {
	type param struct {
		name          string
		shape         graph.Shape
		fanIn, fanOut int
	}
	for _, tc := range []struct {
		name   string
		layer  graph.Layer
		input  graph.Shape
		out    graph.Shape
		params []param
		macs   int64
	}{
		{"conv1", graph.Conv2D{Maps: 8, Window: ops.Square(3, 1, 1), Groups: 2}, graph.Shape{4, 10, 10}, graph.Shape{8, 10, 10},
			[]param{{"conv1/W", graph.Shape{8, 2, 3, 3}, 18, 72}, {"conv1/b", graph.Shape{8}, 0, 0}}, 8 * 100 * 2 * 9},
		{"conv1", graph.Conv2D{Maps: 6, Window: ops.Square(3, 1, 2), Dilation: 2, NoBias: true}, graph.Shape{3, 9, 9}, graph.Shape{6, 9, 9},
			[]param{{"conv1/W", graph.Shape{6, 3, 3, 3}, 27, 54}}, 6 * 81 * 27},
		{"conv1", graph.Conv2D{Maps: 4, Window: ops.Window{KH: 3, KW: 3, SH: 1, SW: 1, DH: 2, DW: 1}}, graph.Shape{2, 7, 7}, graph.Shape{4, 3, 5},
			[]param{{"conv1/W", graph.Shape{4, 2, 3, 3}, 18, 36}, {"conv1/b", graph.Shape{4}, 0, 0}}, 4 * 15 * 18},
		{"conv1", graph.Conv2D{Maps: 8, Window: ops.Square(3, 2, 1), Groups: 4}, graph.Shape{4, 8, 8}, graph.Shape{8, 4, 4},
			[]param{{"conv1/W", graph.Shape{8, 1, 3, 3}, 9, 72}, {"conv1/b", graph.Shape{8}, 0, 0}}, 8 * 16 * 9},
		{"convtranspose1", graph.ConvTranspose2D{Maps: 3, Window: ops.Square(4, 2, 1)}, graph.Shape{5, 7, 7}, graph.Shape{3, 14, 14},
			[]param{{"convtranspose1/W", graph.Shape{5, 3, 4, 4}, 48, 80}, {"convtranspose1/b", graph.Shape{3}, 0, 0}}, 5 * 49 * 3 * 16},
		{"up", graph.ConvTranspose2D{Name: "up", Maps: 2, Window: ops.Square(3, 2, 1), OutputPadding: [2]int{1, 0}, NoBias: true},
			graph.Shape{4, 5, 6}, graph.Shape{2, 10, 11}, []param{{"up/W", graph.Shape{4, 2, 3, 3}, 18, 36}}, 4 * 30 * 2 * 9},
		{"convtranspose1", graph.ConvTranspose2D{Maps: 2, Window: ops.Window{KH: 2, KW: 2, SH: 1, SW: 1, DH: 3, DW: 3}}, graph.Shape{1, 3, 3},
			graph.Shape{2, 6, 6}, []param{{"convtranspose1/W", graph.Shape{1, 2, 2, 2}, 8, 4}, {"convtranspose1/b", graph.Shape{2}, 0, 0}}, 9 * 2 * 4},
		{"upsample1", graph.Upsample2D{Scale: 2}, graph.Shape{3, 4, 5}, graph.Shape{3, 8, 10}, nil, 0},
		{"upsample1", graph.Upsample2D{Scale: 2, ScaleW: 3}, graph.Shape{3, 4, 5}, graph.Shape{3, 8, 15}, nil, 0},
		{"upsample1", graph.Upsample2D{ScaleH: 3, ScaleW: 1}, graph.Shape{3, 4, 5}, graph.Shape{3, 12, 5}, nil, 0},
		{"gap1", graph.GlobalAvgPool2D{}, graph.Shape{7, 3, 5}, graph.Shape{7}, nil, 0},
	} {
		t.Run(tc.name+"/"+tc.layer.Kind(), func(t *testing.T) {
			m, err := graph.Sequential{tc.layer}.Declare(tc.input)
			if err != nil {
				t.Fatal(err)
			}
			li := m.Layers()[0]
			if li.Name != tc.name || !li.Out.Eq(tc.out) {
				t.Fatalf("layer %s, output %v; want %s, %v", li.Name, li.Out, tc.name, tc.out)
			}
			if len(m.Params()) != len(tc.params) {
				t.Fatalf("%d parameters, want %d", len(m.Params()), len(tc.params))
			}
			for i, p := range m.Params() {
				w := tc.params[i]
				if p.Name != w.name || !p.Value.Shape().Eq(w.shape) || p.Spec.FanIn != w.fanIn || p.Spec.FanOut != w.fanOut {
					t.Errorf("parameter %s %v fans %d/%d, want %s %v fans %d/%d",
						p.Name, p.Value.Shape(), p.Spec.FanIn, p.Spec.FanOut, w.name, w.shape, w.fanIn, w.fanOut)
				}
			}
			if got := m.Summary().Rows[0].MACs; got != tc.macs {
				t.Errorf("%d MACs, want %d", got, tc.macs)
			}
		})
	}
}

func TestConvMoreDeclareErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model graph.Sequential
		input graph.Shape
		words []string
	}{
		{"groups channels", graph.Sequential{graph.Conv2D{Maps: 6, Window: ops.Square(3, 1, 1), Groups: 3}}, graph.Shape{4, 8, 8},
			[]string{"layer 0 (conv1)", "(4, 8, 8)", "Groups = 3", "4 input channels"}},
		{"groups maps", graph.Sequential{graph.Conv2D{Name: "dw", Maps: 3, Window: ops.Square(3, 1, 1), Groups: 2}}, graph.Shape{4, 8, 8},
			[]string{"layer 0 (dw)", "Groups = 2 does not divide Maps = 3"}},
		{"negative groups", graph.Sequential{graph.Conv2D{Maps: 3, Window: ops.Square(3, 1, 1), Groups: -2}}, graph.Shape{4, 8, 8},
			[]string{"conv1", "Groups = -2"}},
		{"dilated kernel", graph.Sequential{graph.Conv2D{Maps: 2, Window: ops.Kernel(3, 3), Dilation: 3}}, graph.Shape{1, 6, 6},
			[]string{"layer 0 (conv1)", "kernel 3×3 dilated 3×3", "padded input 6×6"}},
		{"dilation disagrees", graph.Sequential{graph.Conv2D{Maps: 2, Window: ops.Window{KH: 3, KW: 3, SH: 1, SW: 1, DH: 3}, Dilation: 2}},
			graph.Shape{1, 9, 9}, []string{"conv1", "Dilation = 2", "dilation 3×0"}},
		{"negative dilation", graph.Sequential{graph.Conv2D{Maps: 2, Window: ops.Kernel(3, 3), Dilation: -1}}, graph.Shape{1, 9, 9},
			[]string{"conv1", "Dilation = -1"}},
		{"output padding", graph.Sequential{graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3)},
			graph.ConvTranspose2D{Name: "up", Maps: 2, Window: ops.Square(3, 2, 1), OutputPadding: [2]int{2, 0}}}, graph.Shape{1, 8, 8},
			[]string{"layer 1 (up)", "(4, 6, 6)", "output padding 2×0", "stride 2×2"}},
		{"transpose maps", graph.Sequential{graph.ConvTranspose2D{Window: ops.Square(3, 2, 1)}}, graph.Shape{1, 8, 8},
			[]string{"convtranspose1", "Maps = 0"}},
		{"transpose on vector", graph.Sequential{graph.ConvTranspose2D{Maps: 2, Window: ops.Square(3, 2, 1)}}, graph.Shape{8},
			[]string{"convtranspose1", "(8)", "(C, H, W)"}},
		{"transpose empty output", graph.Sequential{graph.ConvTranspose2D{Maps: 2, Window: ops.Square(1, 1, 1)}}, graph.Shape{3, 1, 1},
			[]string{"convtranspose1", "output would be -1×-1"}},
		{"upsample scale", graph.Sequential{graph.Upsample2D{}}, graph.Shape{1, 4, 4}, []string{"layer 0 (upsample1)", "scale 0×0"}},
		{"upsample on vector", graph.Sequential{graph.Upsample2D{Scale: 2}}, graph.Shape{4}, []string{"upsample1", "(C, H, W)"}},
		{"gap on vector", graph.Sequential{graph.Flatten{}, graph.GlobalAvgPool2D{}}, graph.Shape{1, 4, 4},
			[]string{"layer 1 (gap1)", "(16)", "(C, H, W)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.model.Declare(tc.input)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestConvMoreTinyModel builds a model using every new layer and field,
// runs it forward and backward, and checks that it computes what the ops
// applied by hand to its parameters compute, bit for bit.
func TestConvMoreTinyModel(t *testing.T) {
	dil2 := ops.Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}
	m, err := graph.Sequential{
		graph.Conv2D{Maps: 4, Window: ops.Square(3, 1, 1), Groups: 2, Init: graph.HeUniform},
		graph.ReLU{},
		graph.Conv2D{Maps: 4, Window: ops.Square(3, 1, 2), Dilation: 2, Groups: 4},
		graph.ConvTranspose2D{Maps: 3, Window: ops.Square(4, 2, 1)},
		graph.Tanh{},
		graph.Upsample2D{Scale: 2, ScaleW: 3},
		graph.Conv2D{Maps: 2, Window: dil2},
		graph.GlobalAvgPool2D{},
		graph.Dense{Units: 2},
	}.Declare(graph.Shape{2, 6, 5}, graph.WithDtype(tensor.Float64), graph.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	var shapes []string
	for _, li := range m.Layers() {
		shapes = append(shapes, fmt.Sprint(li.Name, li.Out))
	}
	if got, want := strings.Join(shapes, " "),
		"conv1(4, 6, 5) relu1(4, 6, 5) conv2(4, 6, 5) convtranspose1(3, 12, 10) tanh1(3, 12, 10) upsample1(3, 24, 30) conv3(2, 24, 30) gap1(2) dense1(2)"; got != want {
		t.Fatalf("layers %s\nwant %s", got, want)
	}
	const n = 3
	x := make([]float64, n*2*6*5)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	xv := func() *tensor.Dense {
		return tensor.New(tensor.WithBacking(append([]float64(nil), x...)), tensor.WithShape(n, 2, 6, 5))
	}

	g := G.NewGraph()
	in := m.NewInputs(g, n)
	b, err := m.Build(g, in, graph.Train)
	if err != nil {
		t.Fatal(err)
	}
	if b.Layers[0] != b.Layers[1] || !strings.HasPrefix(b.Layers[0].Op().String(), "ConvGrouped{") || !strings.Contains(b.Layers[0].Op().String(), "ReLU") {
		t.Errorf("conv1 and relu1 not fused into one grouped convolution: %v", b.Layers[0].Op())
	}
	if err := G.Let(in[0], xv()); err != nil {
		t.Fatal(err)
	}
	loss, err := G.Sum(b.Outputs[0])
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(loss, b.Params...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := b.Outputs[0].Value().Data().([]float64)
	for i, gr := range grads {
		v := gr.Value().Data().([]float64)
		var nz bool
		for _, e := range v {
			nz = nz || e != 0
			if math.IsNaN(e) {
				t.Fatalf("gradient of %s has NaN", m.Params()[i].Name)
			}
		}
		if !nz {
			t.Errorf("gradient of %s is zero", m.Params()[i].Name)
		}
	}

	// The same ops, applied by hand.
	h := G.NewGraph()
	p := func(name string) *G.Node { return G.NodeFromAny(h, m.Param(name).Value, G.WithName(name)) }
	steps := []func(*G.Node) (*G.Node, error){
		func(v *G.Node) (*G.Node, error) {
			return ops.ConvGrouped(v, p("conv1/W"), p("conv1/b"), ops.Square(3, 1, 1), 2, ops.ReLU)
		},
		func(v *G.Node) (*G.Node, error) {
			return ops.ConvGrouped(v, p("conv2/W"), p("conv2/b"), ops.Window{SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}, 4, ops.Linear)
		},
		func(v *G.Node) (*G.Node, error) {
			return ops.ConvTranspose2D(v, p("convtranspose1/W"), p("convtranspose1/b"), ops.Square(4, 2, 1), [2]int{}, 1)
		},
		func(v *G.Node) (*G.Node, error) { return ops.Activate(v, ops.Tanh) },
		func(v *G.Node) (*G.Node, error) { return ops.Upsample2D(v, 2, 3) },
		func(v *G.Node) (*G.Node, error) {
			return ops.ConvGrouped(v, p("conv3/W"), p("conv3/b"), dil2, 1, ops.Linear)
		},
		func(v *G.Node) (*G.Node, error) { return ops.GlobalAvgPool2D(v) },
		func(v *G.Node) (*G.Node, error) { return ops.Dense(v, p("dense1/W"), p("dense1/b"), ops.Linear) },
	}
	v := G.NodeFromAny(h, xv(), G.WithName("x"))
	for i, step := range steps {
		if v, err = step(v); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	hm := G.NewTapeMachine(h)
	defer hm.Close()
	if err := hm.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := v.Value().Data().([]float64)
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("model output %v, the ops by hand %v", got, want)
		}
	}
}
