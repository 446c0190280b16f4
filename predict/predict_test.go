package predict_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/predict"
	"github.com/retina-ml/retina/train"
)

// randomValues returns n values uniform in [-1, 1) drawn from seed.
func randomValues(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}

// perturbState sets every state tensor (batch normalisation's running
// statistics) to values other than its initial ones, so that a forward
// pass that ignored them, or used the batch's, would differ.
func perturbState(m *graph.Model) {
	for i, p := range m.State() {
		switch d := p.Value.Data().(type) {
		case []float32:
			for j := range d {
				d[j] = 0.5 + float32((i+3*j)%7)/10
			}
		case []float64:
			for j := range d {
				d[j] = 0.5 + float64((i+3*j)%7)/10
			}
		}
	}
}

type testModel struct {
	name string
	m    *graph.Model
}

// testModels are models of every kind the Predictor runs: convolutions,
// batch normalisation (with running statistics that matter), dropout, a
// final softmax, float64, and several inputs and outputs.
func testModels(t *testing.T) []testModel {
	t.Helper()
	lenet, err := cnn.LeNet.Model(graph.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := cnn.ResNet(2, 1, graph.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	perturbState(resnet)
	mlp64, err := graph.Sequential{
		graph.Dense{Units: 16}, graph.ReLU{}, graph.Dropout{P: 0.5}, graph.Dense{Units: 5}, graph.Softmax{},
	}.Declare(graph.Shape{12}, graph.WithDtype(tensor.Float64), graph.WithSeed(4))
	if err != nil {
		t.Fatal(err)
	}
	two, err := graph.Func([]graph.Shape{{6}, {2, 3}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		a := s.Apply(graph.Dense{Units: 4}, in[0])
		b := s.Apply(graph.Dense{Units: 4}, s.Apply(graph.Flatten{}, in[1]))
		h := s.Apply(graph.ReLU{}, s.Apply(graph.Add{}, a, b))
		return []*graph.Value{s.Apply(graph.Dense{Units: 3}, h), s.Apply(graph.Sigmoid{}, s.Apply(graph.Dense{Units: 1}, h))}
	}, graph.WithSeed(5))
	if err != nil {
		t.Fatal(err)
	}
	return []testModel{{"lenet", lenet}, {"resnet", resnet}, {"mlp-float64", mlp64}, {"two-inputs-two-outputs", two}}
}

// inputsFor draws n random samples for each input of m.
func inputsFor(m *graph.Model, n int, seed uint64) [][]float32 {
	var xs [][]float32
	for k, s := range m.Inputs() {
		xs = append(xs, randomValues(seed+uint64(k), n*s.TotalSize()))
	}
	return xs
}

// tapeOutputs runs m with Gorgonia's TapeMachine, built by hand for
// batches of batch samples, on the n samples of inputs (the last batch
// padded with zeros), and returns each output's n rows.
func tapeOutputs(t *testing.T, m *graph.Model, batch, n int, inputs [][]float32) [][]float32 {
	t.Helper()
	g := G.NewGraph()
	nodes := m.NewInputs(g, batch)
	var xs []*tensor.Dense
	for _, in := range nodes {
		x := tensor.New(tensor.Of(m.Dtype()), tensor.WithShape(in.Shape().Clone()...))
		if err := G.Let(in, x); err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	b, err := m.Build(g, nodes, graph.Eval)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	outs := make([][]float32, len(b.Outputs))
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		for k, x := range xs {
			w := m.Inputs()[k].TotalSize()
			src := inputs[k][lo*w : hi*w]
			switch d := x.Data().(type) {
			case []float32:
				clear(d)
				copy(d, src)
			case []float64:
				clear(d)
				for i, v := range src {
					d[i] = float64(v)
				}
			}
		}
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		for k, o := range b.Outputs {
			w := m.Outputs()[k].TotalSize()
			switch d := o.Value().Data().(type) {
			case []float32:
				outs[k] = append(outs[k], d[:(hi-lo)*w]...)
			case []float64:
				for _, v := range d[:(hi-lo)*w] {
					outs[k] = append(outs[k], float32(v))
				}
			}
		}
	}
	return outs
}

// sameBits reports the first index where a and b differ in their bits, or
// -1.
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// farFrom returns the first index where a and b differ by more than
// rounding (10⁻⁵, relative), or -1.
func farFrom(a, b []float32) int {
	for i := range a {
		if d := math.Abs(float64(a[i] - b[i])); d > 1e-5*(1+math.Abs(float64(b[i]))) || math.IsNaN(d) {
			return i
		}
	}
	return -1
}

// TestPredictMatchesTapeMachine checks the Predictor's outputs against a
// TapeMachine built by hand at the same batch size, and against
// train.Predict, bit for bit: 7 samples in batches of 3 (split, and the
// last padded).
func TestPredictMatchesTapeMachine(t *testing.T) {
	for _, tm := range testModels(t) {
		t.Run(tm.name, func(t *testing.T) {
			const n, batch = 7, 3
			inputs := inputsFor(tm.m, n, 10)
			p, err := predict.New(tm.m, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			got, err := p.Predict(inputs...)
			if err != nil {
				t.Fatal(err)
			}
			want := tapeOutputs(t, tm.m, batch, n, inputs)
			for k := range want {
				if len(got[k]) != n*tm.m.Outputs()[k].TotalSize() {
					t.Fatalf("output %d: %d values, want %d", k, len(got[k]), n*tm.m.Outputs()[k].TotalSize())
				}
				if i := sameBits(got[k], want[k]); i >= 0 {
					t.Fatalf("output %d, value %d: Predictor %v, TapeMachine %v", k, i, got[k][i], want[k][i])
				}
			}
			// train.Predict, through a Set or a Table.
			var src datasets.Source
			var cols []*datasets.Set
			for k, s := range tm.m.Inputs() {
				cols = append(cols, &datasets.Set{X: inputs[k], Shape: s.Clone()})
			}
			if len(cols) == 1 {
				src = cols[0]
			} else {
				src = &datasets.Table{Inputs: cols}
			}
			tp, err := train.Predict(tm.m, src, batch)
			if err != nil {
				t.Fatal(err)
			}
			for k := range want {
				if i := sameBits(tp[k], want[k]); i >= 0 {
					t.Fatalf("output %d, value %d: train.Predict %v, TapeMachine %v", k, i, tp[k][i], want[k][i])
				}
			}
		})
	}
}

// TestPaddingAndSplitting checks that how samples are grouped into calls
// does not change their outputs at one batch size (bit for bit with the
// pure-Go backend, whose results do not depend on a sample's row; up to
// rounding with OpenBLAS), and changes them at most by rounding at another.
func TestPaddingAndSplitting(t *testing.T) {
	exact := strings.HasPrefix(ops.Backend(), "go-")
	for _, tm := range testModels(t) {
		t.Run(tm.name, func(t *testing.T) {
			const n, batch = 11, 4
			inputs := inputsFor(tm.m, n, 20)
			p, err := predict.New(tm.m, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			all, err := p.Predict(inputs...)
			if err != nil {
				t.Fatal(err)
			}
			for _, group := range []int{1, 2, 3, 4, 5, 9} { // padded, exact and split calls
				for lo := 0; lo < n; lo += group {
					hi := min(lo+group, n)
					part := make([][]float32, len(inputs))
					for k, x := range inputs {
						w := tm.m.Inputs()[k].TotalSize()
						part[k] = x[lo*w : hi*w]
					}
					got, err := p.Predict(part...)
					if err != nil {
						t.Fatal(err)
					}
					for k := range got {
						w := tm.m.Outputs()[k].TotalSize()
						if exact {
							if i := sameBits(got[k], all[k][lo*w:hi*w]); i >= 0 {
								t.Fatalf("calls of %d samples: samples %d..%d, output %d value %d differs: %v vs %v", group, lo, hi-1, k, i, got[k][i], all[k][lo*w+i])
							}
						} else if i := farFrom(got[k], all[k][lo*w:hi*w]); i >= 0 {
							t.Fatalf("calls of %d samples: samples %d..%d, output %d value %d: %v vs %v", group, lo, hi-1, k, i, got[k][i], all[k][lo*w+i])
						}
					}
				}
			}
			// Another batch size: the same up to rounding.
			q, err := predict.New(tm.m, n)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			other, err := q.Predict(inputs...)
			if err != nil {
				t.Fatal(err)
			}
			bitwise := true
			for k := range other {
				if i := farFrom(other[k], all[k]); i >= 0 {
					t.Fatalf("batch %d vs %d: output %d value %d: %v vs %v", n, batch, k, i, other[k][i], all[k][i])
				}
				bitwise = bitwise && sameBits(other[k], all[k]) < 0
			}
			t.Logf("batch %d and %d give the same bits: %v", n, batch, bitwise)
		})
	}
}

// TestSharesWeights checks that the Predictor reads the model's tensors at
// every call: values written into them after New are used.
func TestSharesWeights(t *testing.T) {
	m, err := graph.Sequential{graph.Dense{Units: 3}}.Declare(graph.Shape{2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := predict.New(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	x := []float32{1, 2}
	before, err := p.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Param("dense1/W").Value.Data().([]float32), []float32{1, 0, 0, 0, 1, 0}) // W (2, 3)
	copy(m.Param("dense1/b").Value.Data().([]float32), []float32{0.5, 0, -1})
	after, err := p.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1.5, 2, -1}; sameBits(after[0], want) >= 0 {
		t.Fatalf("after new weights: %v (before %v), want %v", after[0], before[0], want)
	}
}

// TestEvalMode checks that dropout is off and batch normalisation uses its
// running statistics.
func TestEvalMode(t *testing.T) {
	with, err := graph.Sequential{graph.Dense{Units: 8}, graph.Dropout{P: 0.9}, graph.Dense{Units: 3}}.Declare(graph.Shape{5}, graph.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	without, err := graph.Sequential{graph.Dense{Units: 8}, graph.Dense{Units: 3}}.Declare(graph.Shape{5}, graph.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	x := randomValues(1, 4*5)
	var outs [][]float32
	for _, m := range []*graph.Model{with, without} {
		p, err := predict.New(m, 4)
		if err != nil {
			t.Fatal(err)
		}
		y, err := p.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
		outs = append(outs, y[0])
	}
	if i := sameBits(outs[0], outs[1]); i >= 0 {
		t.Errorf("dropout changed value %d: %v vs %v", i, outs[0][i], outs[1][i])
	}

	bn, err := graph.Sequential{graph.BatchNorm{}}.Declare(graph.Shape{2})
	if err != nil {
		t.Fatal(err)
	}
	copy(bn.Param("batchnorm1/gamma").Value.Data().([]float32), []float32{2, 3})
	copy(bn.Param("batchnorm1/beta").Value.Data().([]float32), []float32{1, -1})
	copy(bn.Param("batchnorm1/running_mean").Value.Data().([]float32), []float32{0.5, -2})
	copy(bn.Param("batchnorm1/running_var").Value.Data().([]float32), []float32{4, 0.25})
	p, err := predict.New(bn, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	x = []float32{1, 0, 3, -2, -1, 5}
	y, err := p.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	gamma, beta, mean, variance := []float64{2, 3}, []float64{1, -1}, []float64{0.5, -2}, []float64{4, 0.25}
	for i, v := range y[0] {
		c := i % 2
		want := gamma[c]*(float64(x[i])-mean[c])/math.Sqrt(variance[c]+1e-5) + beta[c]
		if math.Abs(float64(v)-want) > 1e-5 {
			t.Errorf("batch norm value %d: %v, want %v (running statistics)", i, v, want)
		}
	}
	if st := bn.Param("batchnorm1/running_mean").Value.Data().([]float32); st[0] != 0.5 || st[1] != -2 {
		t.Errorf("running mean changed to %v", st)
	}
}

// TestNoAllocations checks that a warm Predictor allocates nothing per
// call: outputs, classification, padded and split calls, float32 and
// float64.
func TestNoAllocations(t *testing.T) {
	lenet, err := cnn.LeNet.Model()
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := cnn.ResNet(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	f64, err := graph.Sequential{graph.Dense{Units: 16}, graph.ReLU{}, graph.Dense{Units: 4}, graph.Softmax{}}.Declare(graph.Shape{9}, graph.WithDtype(tensor.Float64))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		m        *graph.Model
		batch, n int
	}{
		{"lenet/full", lenet, 8, 8},
		{"lenet/padded", lenet, 8, 3},
		{"lenet/split", lenet, 8, 19},
		{"lenet/batch1", lenet, 1, 1},
		{"resnet/padded", resnet, 4, 3},
		{"float64/split", f64, 4, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := predict.New(tc.m, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			x := randomValues(3, tc.n*tc.m.Inputs()[0].TotalSize())
			outs := [][]float32{make([]float32, tc.n*tc.m.Outputs()[0].TotalSize())}
			preds := make([]predict.Prediction, tc.n)
			if err := p.PredictInto(outs, x); err != nil { // warm-up
				t.Fatal(err)
			}
			if err := p.ClassifyInto(preds, x); err != nil {
				t.Fatal(err)
			}
			var err1, err2 error
			if a := testing.AllocsPerRun(5, func() { err1 = p.PredictInto(outs, x) }); a != 0 || err1 != nil {
				t.Errorf("PredictInto: %v allocations per call (%v)", a, err1)
			}
			if a := testing.AllocsPerRun(5, func() { err2 = p.ClassifyInto(preds, x) }); a != 0 || err2 != nil {
				t.Errorf("ClassifyInto: %v allocations per call (%v)", a, err2)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	m, err := graph.Sequential{graph.Flatten{}, graph.Dense{Units: 3}}.Declare(graph.Shape{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	ae, err := graph.Sequential{graph.Conv2D{Maps: 1, Window: ops.Kernel(3, 3)}}.Declare(graph.Shape{1, 4, 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := predict.New(nil, 1); err == nil || err.Error() != "predict: nil model" {
		t.Errorf("nil model: %v", err)
	}
	if _, err := predict.New(m, -1); err == nil || !strings.Contains(err.Error(), "predict: batch -1, want ≥ 1") {
		t.Errorf("batch -1: %v", err)
	}
	if _, err := predict.New(m, 1<<31); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("huge batch: %v", err)
	}
	p, err := predict.New(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Batch() != 2 || p.Model() != m || p.Classes() != 3 {
		t.Errorf("Batch %d, Model %p (want %p), Classes %d", p.Batch(), p.Model(), m, p.Classes())
	}
	pa, err := predict.New(ae, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pa.Batch() != predict.DefaultBatch || pa.Classes() != 0 {
		t.Errorf("default batch %d, classes %d", pa.Batch(), pa.Classes())
	}
	x := make([]float32, 12) // 3 samples
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"no input", func() error { _, err := p.Predict(); return err }, "predict: 0 inputs, model model takes 1"},
		{"two inputs", func() error { _, err := p.Predict(x, x); return err }, "predict: 2 inputs, model model takes 1"},
		{"ragged input", func() error { _, err := p.Predict(x[:5]); return err },
			"predict: input 0 has 5 values, not a multiple of the sample size 4 (model model's input (2, 2))"},
		{"output slices", func() error { return p.PredictInto(nil, x) }, "predict: 0 output slices, model model has 1 outputs"},
		{"output length", func() error { return p.PredictInto([][]float32{make([]float32, 8)}, x) },
			"predict: output slice 0 has 8 values, want 9 (3 samples of (3))"},
		{"predictions", func() error { return p.ClassifyInto(make([]predict.Prediction, 2), x) }, "predict: 2 predictions for 3 samples"},
		{"classify image", func() error { _, err := pa.Classify(make([]float32, 16)); return err },
			"predict: model model's output 0 has shape (1, 2, 2); classifying needs a vector of class scores (K)"},
		{"closed", func() error { p.Close(); _, err := p.Predict(x); return err }, "predict: the Predictor is closed"},
		{"closed classify", func() error { _, err := p.Classify(x); return err }, "predict: the Predictor is closed"},
	} {
		if err := tc.call(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// Two inputs of different sample counts.
	two := testModels(t)[3].m
	q, err := predict.New(two, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Predict(make([]float32, 12), make([]float32, 18)); err == nil || err.Error() != "predict: input 1 holds 3 samples, input 0 holds 2" {
		t.Errorf("mismatched inputs: %v", err)
	}
	// No samples: no outputs, no error.
	if out, err := q.Predict(nil, nil); err != nil || len(out) != 2 || len(out[0]) != 0 || len(out[1]) != 0 {
		t.Errorf("no samples: %v, %v", out, err)
	}
}
