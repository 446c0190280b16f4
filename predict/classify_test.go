package predict_test

import (
	"math"
	"testing"

	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/predict"
)

// scoreModel returns a model whose k logits are its input: a dense layer
// of identity weights and zero biases, followed by final unless nil.
func scoreModel(t *testing.T, k int, final graph.Layer, opts ...graph.Option) *graph.Model {
	t.Helper()
	layers := graph.Sequential{graph.Dense{Units: k}}
	if final != nil {
		layers = append(layers, final)
	}
	m, err := layers.Declare(graph.Shape{k}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Param("dense1/W").Value
	for i := range k {
		for j := range k {
			v := 0.0
			if i == j {
				v = 1
			}
			if err := w.SetAt(convert(w.Dtype(), v), i, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

func convert(dt tensor.Dtype, v float64) any {
	if dt == tensor.Float64 {
		return v
	}
	return float32(v)
}

func softmax64(z []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(v - m)
	}
	p := make([]float64, len(z))
	for i, v := range z {
		p[i] = math.Exp(v-m) / s
	}
	return p
}

func sigmoid64(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func TestClassify(t *testing.T) {
	type sample struct {
		logits []float64
		class  int
		probs  []float64
	}
	soft := func(z ...float64) []float64 { return softmax64(z) }
	sig := func(z ...float64) []float64 {
		p := make([]float64, len(z))
		for i, v := range z {
			p[i] = sigmoid64(v)
		}
		return p
	}
	bin := func(z float64) []float64 { return []float64{1 - sigmoid64(z), sigmoid64(z)} }
	for _, tc := range []struct {
		name    string
		k       int
		final   graph.Layer
		dtype   tensor.Dtype
		classes int
		samples []sample
	}{
		{"logits", 3, nil, tensor.Float32, 3, []sample{
			{[]float64{2, 1, 0}, 0, soft(2, 1, 0)},
			{[]float64{-1, 5, 5}, 1, soft(-1, 5, 5)}, // a tie: the first
			{[]float64{1000, 0, -1000}, 0, []float64{1, 0, 0}},
			{[]float64{-1000, -999, -1000}, 1, soft(-1, 0, -1)},
			{[]float64{0.25, 0.5, 3}, 2, soft(0.25, 0.5, 3)},
		}},
		{"logits float64", 3, nil, tensor.Float64, 3, []sample{
			{[]float64{2, 1, 0}, 0, soft(2, 1, 0)},
			{[]float64{700, 0, 710}, 2, soft(700, 0, 710)},
		}},
		{"softmax", 4, graph.Softmax{}, tensor.Float32, 4, []sample{
			{[]float64{0, 1, 2, 3}, 3, soft(0, 1, 2, 3)},
			{[]float64{1, 1, 1, 1}, 0, soft(0, 0, 0, 0)},
		}},
		{"sigmoid (multi-label)", 3, graph.Sigmoid{}, tensor.Float32, 3, []sample{
			{[]float64{-2, 0, 2}, 2, sig(-2, 0, 2)},
			{[]float64{3, 2, 1}, 0, sig(3, 2, 1)},
		}},
		{"binary logit", 1, nil, tensor.Float32, 2, []sample{
			{[]float64{0.3}, 1, bin(0.3)},
			{[]float64{-2}, 0, bin(-2)},
			{[]float64{0}, 0, []float64{0.5, 0.5}},
			{[]float64{-800}, 0, []float64{1, 0}},
			{[]float64{800}, 1, []float64{0, 1}},
		}},
		{"binary sigmoid", 1, graph.Sigmoid{}, tensor.Float32, 2, []sample{
			{[]float64{1.5}, 1, bin(1.5)},
			{[]float64{-0.5}, 0, bin(-0.5)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := scoreModel(t, tc.k, tc.final, graph.WithDtype(tc.dtype))
			p, err := predict.New(m, 2) // split and padded
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Classes() != tc.classes {
				t.Fatalf("Classes() = %d, want %d", p.Classes(), tc.classes)
			}
			var x []float32
			for _, s := range tc.samples {
				for _, v := range s.logits {
					x = append(x, float32(v))
				}
			}
			preds, err := p.Classify(x)
			if err != nil {
				t.Fatal(err)
			}
			outs, err := p.Predict(x)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.samples {
				pr := preds[i]
				if pr.Class != s.class || len(pr.Probs) != tc.classes || len(pr.Logits) != tc.k {
					t.Fatalf("sample %d: class %d, %d probabilities, %d logits; want %d, %d, %d", i, pr.Class, len(pr.Probs), len(pr.Logits), s.class, tc.classes, tc.k)
				}
				if pr.Prob != pr.Probs[pr.Class] {
					t.Errorf("sample %d: Prob %v, Probs[Class] %v", i, pr.Prob, pr.Probs[pr.Class])
				}
				for j, v := range s.logits {
					if pr.Logits[j] != float32(v) {
						t.Errorf("sample %d: logit %d = %v, want %v", i, j, pr.Logits[j], v)
					}
				}
				for j, want := range s.probs {
					got := float64(pr.Probs[j])
					if math.IsNaN(got) || math.Abs(got-want) > 1e-7*(1+want) {
						t.Errorf("sample %d: probability %d = %v, want %v", i, j, got, want)
					}
				}
				if tc.final != nil && tc.k > 1 { // the model's own probabilities
					for j := range tc.k {
						if pr.Probs[j] != outs[0][i*tc.k+j] {
							t.Errorf("sample %d: probability %d = %v, the model's output %v", i, j, pr.Probs[j], outs[0][i*tc.k+j])
						}
					}
				}
			}
			// ClassifyInto reuses the slices it is given.
			again := make([]predict.Prediction, len(preds))
			for i := range again {
				again[i].Probs = make([]float32, 1, 8)
			}
			first := &again[0].Probs[:1][0]
			if err := p.ClassifyInto(again, x); err != nil {
				t.Fatal(err)
			}
			if &again[0].Probs[0] != first {
				t.Error("ClassifyInto did not reuse a Probs slice with the capacity")
			}
			for i := range preds {
				if again[i].Class != preds[i].Class || again[i].Prob != preds[i].Prob {
					t.Errorf("sample %d: ClassifyInto %+v, Classify %+v", i, again[i], preds[i])
				}
			}
		})
	}
}
