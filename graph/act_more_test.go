package graph_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
)

// moreActLayer is a layer of act_more.go with the function and derivative
// it should apply, written out (PyTorch's defaults for zero parameters).
type moreActLayer struct {
	layer graph.Layer
	f, df func(float64) float64
}

func moreSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// morePick returns a if c, else b.
func morePick(c bool, a, b float64) float64 {
	if c {
		return a
	}
	return b
}

func leakyLayer(l graph.LeakyReLU, slope float64) moreActLayer {
	return moreActLayer{l,
		func(x float64) float64 { return morePick(x > 0, x, slope*x) },
		func(x float64) float64 { return morePick(x > 0, 1, slope) }}
}

func eluLayer(l graph.ELU, alpha float64) moreActLayer {
	return moreActLayer{l,
		func(x float64) float64 { return morePick(x > 0, x, alpha*(math.Exp(x)-1)) },
		func(x float64) float64 { return morePick(x > 0, 1, alpha*math.Exp(x)) }}
}

func moreActLayers() []moreActLayer {
	return []moreActLayer{
		leakyLayer(graph.LeakyReLU{Slope: 0.2}, 0.2),
		leakyLayer(graph.LeakyReLU{}, 0.01),
		leakyLayer(graph.LeakyReLU{Slope: -0.5}, -0.5),
		eluLayer(graph.ELU{}, 1),
		eluLayer(graph.ELU{Alpha: 0.5}, 0.5),
		{graph.GELU{},
			func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
			func(x float64) float64 {
				return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
			}},
		{graph.SiLU{},
			func(x float64) float64 { return x * moreSigmoid(x) },
			func(x float64) float64 { return moreSigmoid(x) * (1 + x*(1-moreSigmoid(x))) }},
		{graph.Softplus{},
			func(x float64) float64 { return morePick(x > 20, x, math.Log1p(math.Exp(x))) },
			func(x float64) float64 { return morePick(x > 20, 1, moreSigmoid(x)) }},
	}
}

// TestActivationLayersInSequential declares Dense → activation → Dense
// with each new layer, checks the summary, and runs the model and the
// gradient of Σ output with respect to the input against a direct
// computation.
func TestActivationLayersInSequential(t *testing.T) {
	const n, in, hidden, out = 3, 5, 6, 2
	for _, tc := range moreActLayers() {
		t.Run(fmt.Sprintf("%#v", tc.layer), func(t *testing.T) {
			m, err := graph.Sequential{
				graph.Dense{Units: hidden, Init: graph.InitBefore(tc.layer)},
				tc.layer,
				graph.Dense{Units: out},
			}.Declare(graph.Shape{in}, graph.WithDtype(tensor.Float64), graph.WithSeed(9))
			if err != nil {
				t.Fatal(err)
			}
			s := m.Summary()
			if r := s.Rows[1]; r.Kind != tc.layer.Kind() || r.Name != tc.layer.Kind()+"1" || !r.Output.Eq(graph.Shape{hidden}) || r.Params() != 0 {
				t.Errorf("summary row %+v, want kind %q, name %s1, output (%d), no parameters", r, tc.layer.Kind(), tc.layer.Kind(), hidden)
			}
			if text := s.String(); !strings.Contains(text, tc.layer.Kind()+"1") {
				t.Errorf("summary lacks %s1:\n%s", tc.layer.Kind(), text)
			}

			x := random(n*in, 21)
			for i := range x {
				x[i] *= 2
			}
			g := G.NewGraph()
			xs := m.NewInputs(g, n)
			b, err := m.Build(g, xs, graph.Eval)
			if err != nil {
				t.Fatal(err)
			}
			if err := G.Let(xs[0], tensor.New(tensor.WithBacking(append([]float64(nil), x...)), tensor.WithShape(n, in))); err != nil {
				t.Fatal(err)
			}
			loss, err := G.Sum(b.Outputs[0])
			if err != nil {
				t.Fatal(err)
			}
			grads, err := G.Grad(loss, xs[0])
			if err != nil {
				t.Fatal(err)
			}
			vm := G.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			gotY := b.Outputs[0].Value().Data().([]float64)
			gotDx := grads[0].Value().Data().([]float64)

			w1, b1 := m.Param("dense1/W").Value.Float64s(), m.Param("dense1/b").Value.Float64s()
			w2, b2 := m.Param("dense2/W").Value.Float64s(), m.Param("dense2/b").Value.Float64s()
			wantY := make([]float64, n*out)
			wantDx := make([]float64, n*in)
			for s := 0; s < n; s++ {
				for j := 0; j < hidden; j++ {
					a := b1[j]
					for k := 0; k < in; k++ {
						a += x[s*in+k] * w1[k*hidden+j]
					}
					h, dh := tc.f(a), tc.df(a)
					for o := 0; o < out; o++ {
						wantY[s*out+o] += h * w2[j*out+o]
						for k := 0; k < in; k++ {
							wantDx[s*in+k] += w2[j*out+o] * dh * w1[k*hidden+j]
						}
					}
				}
				for o := 0; o < out; o++ {
					wantY[s*out+o] += b2[o]
				}
			}
			for i := range wantY {
				if math.Abs(gotY[i]-wantY[i]) > 1e-12 {
					t.Fatalf("output %v, want %v", gotY, wantY)
				}
			}
			for i := range wantDx {
				if math.Abs(gotDx[i]-wantDx[i]) > 1e-12 {
					t.Fatalf("∂Σy/∂x %v, want %v", gotDx, wantDx)
				}
			}
		})
	}
}

func TestActivationLayersNamed(t *testing.T) {
	m, err := graph.Sequential{
		graph.Dense{Units: 4}, graph.LeakyReLU{Name: "leaky", Slope: 0.1},
		graph.Dense{Units: 4}, graph.ELU{Name: "elu"},
		graph.Dense{Units: 4}, graph.GELU{Name: "gelu"},
		graph.Dense{Units: 4}, graph.SiLU{Name: "swish"},
		graph.Dense{Units: 4}, graph.Softplus{Name: "sp"},
	}.Declare(graph.Shape{3})
	if err != nil {
		t.Fatal(err)
	}
	var names, kinds []string
	for _, r := range m.Summary().Rows[1:] {
		if r.Kind != "dense" {
			names, kinds = append(names, r.Name), append(kinds, r.Kind)
		}
	}
	if got := strings.Join(names, " "); got != "leaky elu gelu swish sp" {
		t.Errorf("names %q", got)
	}
	if got := strings.Join(kinds, " "); got != "leakyrelu elu gelu silu softplus" {
		t.Errorf("kinds %q", got)
	}
	if got := strings.Join(names, " "); got != "leaky elu gelu swish sp" {
		t.Errorf("names %q", got)
	}
}

func TestActivationLayersRejectBadParameters(t *testing.T) {
	for _, tc := range []struct {
		layer graph.Layer
		words []string
	}{
		{graph.LeakyReLU{Slope: math.NaN()}, []string{"layer 1 (leakyrelu1)", "Slope = NaN"}},
		{graph.LeakyReLU{Slope: math.Inf(-1)}, []string{"leakyrelu1", "Slope = -Inf"}},
		{graph.ELU{Alpha: math.Inf(1)}, []string{"layer 1 (elu1)", "Alpha = +Inf"}},
	} {
		_, err := graph.Sequential{graph.Dense{Units: 2}, tc.layer}.Declare(graph.Shape{3})
		if err == nil {
			t.Errorf("%#v: no error", tc.layer)
			continue
		}
		for _, w := range tc.words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
}

func TestInitBeforeActivations(t *testing.T) {
	for _, tc := range []struct {
		layer graph.Layer
		want  graph.Init
	}{
		{graph.ReLU{}, graph.HeUniform},
		{graph.LeakyReLU{}, graph.HeUniform},
		{graph.LeakyReLU{Slope: 0.2}, graph.HeUniform},
		{graph.ELU{}, graph.HeUniform},
		{graph.ELU{Alpha: 0.5}, graph.HeUniform},
		{graph.GELU{}, graph.HeUniform},
		{graph.SiLU{}, graph.HeUniform},
		{graph.Sigmoid{}, graph.GlorotUniform},
		{graph.Tanh{}, graph.GlorotUniform},
		{graph.Softplus{}, graph.GlorotUniform},
		{graph.Linear{}, graph.GlorotUniform},
		{graph.Softmax{}, graph.GlorotUniform},
	} {
		if got := graph.InitBefore(tc.layer); got != tc.want {
			t.Errorf("InitBefore(%#v) = %v, want %v", tc.layer, got, tc.want)
		}
	}
}
