package train

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// twoHeads is a classifier and an autoencoder on one trunk: input (8) →
// dense(16) → relu, then output 0: 4 class scores, output 1: the 8 inputs
// reconstructed.
func twoHeads(t *testing.T) *graph.Model {
	t.Helper()
	m, err := graph.Func([]graph.Shape{{8}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		h := s.Apply(graph.ReLU{}, s.Apply(graph.Dense{Units: 16, Init: graph.HeUniform, Name: "trunk"}, in[0]))
		return []*graph.Value{
			s.Apply(graph.Dense{Units: 4, Name: "classes"}, h),
			s.Apply(graph.Dense{Units: 8, Name: "reconstruction"}, h),
		}
	}, graph.WithSeed(5))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// headsData is blobs as a Table: the labelled set is target 0, and the same
// values without labels, target 1, ask for the input back.
func headsData(n int, seed uint64) *datasets.Table {
	set := blobs(n, 4, 8, seed)
	return &datasets.Table{Inputs: []*datasets.Set{set}, Targets: []*datasets.Set{set, {X: set.X, Shape: set.Shape}}}
}

// TestWeightedOutputs trains two outputs on a weighted sum of losses. The
// loss Evaluate reports equals 1·CE + 0.5·MSE computed here from Predict's
// two outputs, both terms fall, and a head whose loss has weight 0 gets no
// gradient: plain SGD leaves its parameters as they were.
func TestWeightedOutputs(t *testing.T) {
	train, test := headsData(600, 1), headsData(250, 2)
	m := twoHeads(t)
	loss := PerOutput{Losses: []Loss{CrossEntropy, MSE}, Weights: []float64{1, 0.5}}
	tr, err := New(m, quiet(Config{Loss: loss, Epochs: 4, Batch: 30, EvalBatch: 100, Optimizer: &Adam{LearningRate: 0.01}}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ce, mse := func() (float64, float64) {
		outs, err := Predict(m, test, 64)
		if err != nil {
			t.Fatal(err)
		}
		return crossEntropyOf(outs[0], test.Targets[0].Labels, 4), meanSquared(outs[1], test.Inputs[0].X)
	}()
	res, err := tr.Fit(context.Background(), Data{Train: train, Test: test})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := Predict(m, test, 64)
	if err != nil {
		t.Fatal(err)
	}
	ce2, mse2 := crossEntropyOf(outs[0], test.Targets[0].Labels, 4), meanSquared(outs[1], test.Inputs[0].X)
	if got, want := res.Last().Test.Loss, ce2+0.5*mse2; math.Abs(got-want) > 1e-5*want {
		t.Fatalf("evaluation loss %v, want CE %v + 0.5 × MSE %v = %v", got, ce2, mse2, want)
	}
	if ce2 > ce/2 || mse2 > mse/2 {
		t.Fatalf("cross-entropy %v → %v, MSE %v → %v: both should fall", ce, ce2, mse, mse2)
	}
	if s := loss.String(); s != "per-output(cross-entropy×1, mse×0.5)" {
		t.Fatalf("String() = %q", s)
	}

	m = twoHeads(t)
	before := map[string][]float32{}
	for _, p := range m.Params() {
		before[p.Name] = append([]float32(nil), p.Value.Float32s()...)
	}
	tr, err = New(m, quiet(Config{Loss: PerOutput{Losses: []Loss{CrossEntropy, MSE}, Weights: []float64{1, 0}}, Batch: 30, Optimizer: &SGD{LearningRate: 0.1}}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Fit(context.Background(), Data{Train: train}); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		changed := !equal32(before[p.Name], p.Value.Float32s())
		if want := !strings.HasPrefix(p.Name, "reconstruction/"); changed != want {
			t.Errorf("%s changed = %v with the reconstruction weighted 0, want %v", p.Name, changed, want)
		}
	}
}

func crossEntropyOf(scores []float32, labels []int, k int) float64 {
	var sum float64
	for i, l := range labels {
		row := scores[i*k : (i+1)*k]
		mx := float64(row[argmax(row)])
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		sum += mx + math.Log(z) - float64(row[l])
	}
	return sum / float64(len(labels))
}

func meanSquared(out, target []float32) float64 { return squaredError(out, target) / float64(len(out)) }

func equal32(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestTwoInputColumns fits y = A·a + B·b from a Table of two input columns
// through a model that concatenates them. The shuffled batches of the
// columns must stay in step, row i of each being sample i, for the exact
// linear fit to be found; the second column is a shuffled copy of the
// first, so a misaligned row is a wrong sample.
func TestTwoInputColumns(t *testing.T) {
	const n = 512
	rng := rand.New(rand.NewPCG(4, 4))
	a := &datasets.Set{Shape: []int{3}}
	for range n * 3 {
		a.X = append(a.X, float32(rng.NormFloat64()))
	}
	b := a.Gather(rng.Perm(n))
	y := &datasets.Set{Shape: []int{1}}
	for i := range n {
		ra, rb := a.X[i*3:i*3+3], b.X[i*3:i*3+3]
		y.X = append(y.X, ra[0]-2*ra[1]+0.5*ra[2]+rb[0]+rb[1]-3*rb[2])
	}
	m, err := graph.Func([]graph.Shape{{3}, {3}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		return []*graph.Value{s.Apply(graph.Dense{Units: 1}, s.Apply(graph.Concat{}, in[0], in[1]))}
	})
	if err != nil {
		t.Fatal(err)
	}
	data := &datasets.Table{Inputs: []*datasets.Set{a, b}, Targets: []*datasets.Set{y}}
	tr, err := New(m, quiet(Config{Loss: MSE, Epochs: 40, Batch: 32, EvalBatch: 100, Optimizer: &Adam{LearningRate: 0.05}}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	res, err := tr.Fit(context.Background(), Data{Train: data, Test: data})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Last().Test.Loss; l > 1e-4 {
		t.Fatalf("test MSE %v after fitting a linear map exactly representable", l)
	}
	outs, err := Predict(m, data, 100)
	if err != nil {
		t.Fatal(err)
	}
	if e := meanSquared(outs[0], y.X); math.Abs(e-res.Last().Test.Loss) > 1e-6 {
		t.Fatalf("Predict's MSE %v, Evaluate's %v", e, res.Last().Test.Loss)
	}
	if _, err := tr.Step(&datasets.Batch{}, 0); err == nil || !strings.Contains(err.Error(), "Table") {
		t.Fatalf("Step on a two-input model: %v", err)
	}
}

// TestColumnErrors feeds tables that do not fit the model: each error names
// what is wrong, and nothing panics.
func TestColumnErrors(t *testing.T) {
	m := twoHeads(t)
	good := headsData(100, 1)
	set := good.Inputs[0]
	short := set.Subset(0, 50)
	for _, tc := range []struct {
		name string
		data datasets.Source
		want string
	}{
		{"nil table", (*datasets.Table)(nil), "no training data"},
		{"nil set", (*datasets.Set)(nil), "no training data"},
		{"no inputs", &datasets.Table{}, "no input column"},
		{"two inputs", &datasets.Table{Inputs: []*datasets.Set{set, set}, Targets: good.Targets}, "2 input columns"},
		{"one target", &datasets.Table{Inputs: good.Inputs, Targets: good.Targets[:1]}, "1 target columns"},
		{"set for two outputs", set, "1 target columns"},
		{"swapped targets", &datasets.Table{Inputs: good.Inputs, Targets: []*datasets.Set{good.Targets[1], good.Targets[0]}}, "target column 0 has 8 values"},
		{"short column", &datasets.Table{Inputs: good.Inputs, Targets: []*datasets.Set{set, short}}, "Targets[1] has 50 samples"},
		{"nil column", &datasets.Table{Inputs: good.Inputs, Targets: []*datasets.Set{set, nil}}, "Targets[1] is nil"},
		{"wide input", &datasets.Table{Inputs: []*datasets.Set{{X: make([]float32, 900), Shape: []int{9}}}, Targets: good.Targets}, "input column 0 has samples of shape [9]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(m, quiet(Config{Loss: PerOutput{Losses: []Loss{CrossEntropy, MSE}}, Batch: 10}))
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			_, err = tr.Fit(context.Background(), Data{Train: tc.data})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fit: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// A nil validation set in an interface is no validation set.
	tr, err := New(m, quiet(Config{Loss: PerOutput{Losses: []Loss{CrossEntropy, MSE}}, Batch: 10}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var none *datasets.Table
	if _, err := tr.Fit(context.Background(), Data{Train: good, Val: none}); err != nil {
		t.Fatal(err)
	}
	for _, loss := range []Loss{CrossEntropy, PerOutput{Losses: []Loss{MSE}}, PerOutput{Losses: []Loss{MSE, MSE}, Weights: []float64{1}}, PerOutput{Losses: []Loss{MSE, MSE}, Weights: []float64{1, math.NaN()}}} {
		if _, err := New(m, quiet(Config{Loss: loss})); err == nil {
			t.Errorf("%v accepted for a model with two outputs", loss)
		}
	}
}
