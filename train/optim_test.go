package train

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
)

func param(name string, v ...float64) *graph.Param {
	return &graph.Param{Name: name, Value: tensor.New(tensor.WithBacking(v), tensor.WithShape(len(v)))}
}

func grad(v ...float64) *tensor.Dense {
	return tensor.New(tensor.WithBacking(v), tensor.WithShape(len(v)))
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// TestAdamHandComputed checks two Adam steps against the formulas worked out
// by hand: with β₁ = 0.9, β₂ = 0.999, ε = 1e-8, lr = 0.1.
func TestAdamHandComputed(t *testing.T) {
	p := param("w", 1, -2)
	o := &Adam{LearningRate: 0.1}
	st := o.NewState([]*graph.Param{p})
	// Step 1, g = (0.5, 0.1): m = 0.1g, v = 0.001g², m̂ = g, v̂ = g²,
	// so p −= 0.1·g/(|g| + 1e-8) ≈ 0.1·sign(g).
	if err := o.Step([]*graph.Param{p}, []*tensor.Dense{grad(0.5, 0.1)}, st, 0.1); err != nil {
		t.Fatal(err)
	}
	want1 := []float64{1 - 0.1*0.5/(0.5+1e-8), -2 - 0.1*0.1/(0.1+1e-8)}
	// Step 2, g = (−0.5, 0.3):
	//   m = 0.9·m₁ + 0.1·g, v = 0.999·v₁ + 0.001·g², m̂ = m/(1−0.81), v̂ = v/(1−0.998001).
	g2 := []float64{-0.5, 0.3}
	g1 := []float64{0.5, 0.1}
	var want2 []float64
	for j := range g2 {
		m := 0.9*(0.1*g1[j]) + 0.1*g2[j]
		v := 0.999*(0.001*g1[j]*g1[j]) + 0.001*g2[j]*g2[j]
		want2 = append(want2, want1[j]-0.1*(m/0.19)/(math.Sqrt(v/(1-0.998001))+1e-8))
	}
	got1 := append([]float64(nil), p.Value.Float64s()...)
	for j := range want1 {
		if !near(got1[j], want1[j]) {
			t.Fatalf("step 1: %v, want %v", got1, want1)
		}
	}
	if err := o.Step([]*graph.Param{p}, []*tensor.Dense{grad(g2...)}, st, 0.1); err != nil {
		t.Fatal(err)
	}
	for j := range want2 {
		if !near(p.Value.Float64s()[j], want2[j]) {
			t.Fatalf("step 2: %v, want %v", p.Value.Float64s(), want2)
		}
	}
	if st.Steps != 2 {
		t.Fatalf("steps %d", st.Steps)
	}
}

func TestAdamWeightDecay(t *testing.T) {
	// L2 (coupled): g' = g + wd·p. Decoupled (AdamW): p ← (1 − lr·wd)p first.
	p1, p2 := param("a", 2), param("b", 2)
	l2 := &Adam{LearningRate: 0.01, WeightDecay: 0.5}
	w := &Adam{LearningRate: 0.01, WeightDecay: 0.5, Decoupled: true}
	if err := l2.Step([]*graph.Param{p1}, []*tensor.Dense{grad(0.3)}, l2.NewState([]*graph.Param{p1}), 0.01); err != nil {
		t.Fatal(err)
	}
	if err := w.Step([]*graph.Param{p2}, []*tensor.Dense{grad(0.3)}, w.NewState([]*graph.Param{p2}), 0.01); err != nil {
		t.Fatal(err)
	}
	// First step: m̂/√v̂ = sign(g'), so L2 moves by lr·sign(0.3 + 1) = 0.01.
	if want := 2 - 0.01*1.3/(1.3+1e-8); !near(p1.Value.Float64s()[0], want) {
		t.Fatalf("adam+L2: %v, want %v", p1.Value.Float64s()[0], want)
	}
	if want := 2*(1-0.01*0.5) - 0.01*0.3/(0.3+1e-8); !near(p2.Value.Float64s()[0], want) {
		t.Fatalf("adamw: %v, want %v", p2.Value.Float64s()[0], want)
	}
}

func TestSGDHandComputed(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    *SGD
		want []float64 // after steps with g = 1 then g = 2, p₀ = 1, lr = 0.1
	}{
		// plain: 1 − 0.1 − 0.2
		{"plain", &SGD{LearningRate: 0.1}, []float64{0.9, 0.7}},
		// momentum 0.9: v₁ = 1, p = 0.9; v₂ = 0.9 + 2 = 2.9, p = 0.9 − 0.29
		{"momentum", &SGD{LearningRate: 0.1, Momentum: 0.9}, []float64{0.9, 0.61}},
		// nesterov: v₁ = 1, p = 1 − 0.1(1 + 0.9) = 0.81; v₂ = 2.9, p = 0.81 − 0.1(2 + 2.61) = 0.349
		{"nesterov", &SGD{LearningRate: 0.1, Momentum: 0.9, Nesterov: true}, []float64{0.81, 0.349}},
		// weight decay 0.5: g₁' = 1 + 0.5, p = 0.85; g₂' = 2 + 0.425, v = 0.9·1.5 + 2.425 = 3.775, p = 0.85 − 0.3775
		{"decay", &SGD{LearningRate: 0.1, Momentum: 0.9, WeightDecay: 0.5}, []float64{0.85, 0.4725}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := param("w", 1)
			st := tc.o.NewState([]*graph.Param{p})
			for i, g := range []float64{1, 2} {
				if err := tc.o.Step([]*graph.Param{p}, []*tensor.Dense{grad(g)}, st, 0.1); err != nil {
					t.Fatal(err)
				}
				if got := p.Value.Float64s()[0]; !near(got, tc.want[i]) {
					t.Fatalf("step %d: %v, want %v", i+1, got, tc.want[i])
				}
			}
		})
	}
}

func TestOptimizersFloat32MatchFloat64(t *testing.T) {
	for _, newOpt := range []func() Optimizer{
		func() Optimizer { return &Adam{LearningRate: 0.01} },
		func() Optimizer { return &SGD{LearningRate: 0.01, Momentum: 0.9} },
	} {
		o32, o64 := newOpt(), newOpt()
		n := 100003 // large enough to split across cores; not a multiple of 16
		p32 := &graph.Param{Name: "w", Value: tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(n))}
		p64 := &graph.Param{Name: "w", Value: tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(n))}
		g32 := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(n))
		g64 := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(n))
		st32, st64 := o32.NewState([]*graph.Param{p32}), o64.NewState([]*graph.Param{p64})
		for step := 0; step < 3; step++ {
			for i := 0; i < n; i++ {
				g := math.Sin(float64(i*(step+1))) / 3
				g32.Float32s()[i], g64.Float64s()[i] = float32(g), g
			}
			if err := o32.Step([]*graph.Param{p32}, []*tensor.Dense{g32}, st32, 0.01); err != nil {
				t.Fatal(err)
			}
			if err := o64.Step([]*graph.Param{p64}, []*tensor.Dense{g64}, st64, 0.01); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			if d := math.Abs(float64(p32.Value.Float32s()[i]) - p64.Value.Float64s()[i]); d > 1e-6 {
				t.Fatalf("%v: element %d differs by %g", o32, i, d)
			}
		}
	}
}

func TestOptimizerRejectsNonFiniteGradient(t *testing.T) {
	for _, o := range []Optimizer{&Adam{LearningRate: 0.1}, &SGD{LearningRate: 0.1}} {
		ps := []*graph.Param{param("ok", 1, 2), param("conv9/W", 1, 2)}
		err := o.Step(ps, []*tensor.Dense{grad(1, 1), grad(0, math.Inf(1))}, o.NewState(ps), 0.1)
		var d *DivergenceError
		if !errors.As(err, &d) || !strings.Contains(err.Error(), "conv9/W") || !math.IsInf(d.Value, 1) {
			t.Fatalf("%v: error %v", o, err)
		}
	}
	// float32, where Adam is vectorised: a NaN in the tail and one in a
	// full block of 16 are both caught.
	for _, at := range []int{37, 5} {
		o := &Adam{LearningRate: 0.1}
		p := &graph.Param{Name: "dense2/W", Value: tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(40))}
		g := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(40))
		g.Float32s()[at] = float32(math.NaN())
		err := o.Step([]*graph.Param{p}, []*tensor.Dense{g}, o.NewState([]*graph.Param{p}), 0.1)
		var d *DivergenceError
		if !errors.As(err, &d) || !strings.Contains(err.Error(), "dense2/W") || !math.IsNaN(d.Value) {
			t.Fatalf("NaN at %d: error %v", at, err)
		}
	}
}

func TestSchedules(t *testing.T) {
	c := Cosine{}
	if c.Factor(0, 100) != 1 || !near(c.Factor(50, 100), 0.5) || c.Factor(100, 100) != 0 {
		t.Fatalf("cosine: %v %v %v", c.Factor(0, 100), c.Factor(50, 100), c.Factor(100, 100))
	}
	if got := (Cosine{Min: 0.1}).Factor(100, 100); !near(got, 0.1) {
		t.Fatalf("cosine min: %v", got)
	}
	s := StepDecay{Every: 10, Gamma: 0.5}
	if s.Factor(9, 0) != 1 || s.Factor(10, 0) != 0.5 || s.Factor(25, 0) != 0.25 {
		t.Fatal("step decay")
	}
	if (Constant{}).Factor(7, 9) != 1 {
		t.Fatal("constant")
	}
}

func TestParseLoss(t *testing.T) {
	for _, l := range []Loss{CrossEntropy, MSE, BCE} {
		if got, err := ParseLoss(l.String()); err != nil || got != l {
			t.Errorf("ParseLoss(%q) = %v, %v", l.String(), got, err)
		}
	}
	if _, err := ParseLoss("hinge"); err == nil {
		t.Error("unknown loss accepted")
	}
}

// TestOneOptimizerManyModels trains two models of different sizes with one
// shared Adam value, interleaved: each must end exactly as when trained
// with an Adam of its own, and a state made for one model must be refused
// for the other.
func TestOneOptimizerManyModels(t *testing.T) {
	data := Data{Train: blobs(120, 4, 8, 1)}
	small := func() *graph.Model { return classifier(t, 1) }
	big := func() *graph.Model {
		m, err := graph.Sequential{graph.Dense{Units: 32}, graph.ReLU{}, graph.Dense{Units: 4}}.Declare(graph.Shape{8}, graph.WithSeed(2))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	fit := func(m *graph.Model, o Optimizer) {
		tr, err := New(m, quiet(Config{Epochs: 2, Batch: 20, Optimizer: o}))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if _, err := tr.Fit(context.Background(), data); err != nil {
			t.Fatal(err)
		}
	}
	shared := &Adam{LearningRate: 0.01}
	a, b := small(), big()
	fit(a, shared)
	fit(b, shared)
	fit(a, shared) // a third run continues on a with fresh state
	wantA, wantB := small(), big()
	fit(wantA, &Adam{LearningRate: 0.01})
	fit(wantB, &Adam{LearningRate: 0.01})
	fit(wantA, &Adam{LearningRate: 0.01})
	sameParams(t, a, wantA)
	sameParams(t, b, wantB)

	st := shared.NewState(a.Params())
	grads := make([]*tensor.Dense, len(b.Params()))
	for i, p := range b.Params() {
		grads[i] = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(p.Value.Shape()...))
	}
	if err := shared.Step(b.Params(), grads, st, 0.1); err == nil || !strings.Contains(err.Error(), "optimizer state") {
		t.Fatalf("a state for another model: error %v", err)
	}
}

// BenchmarkAdamDeepAE times one Adam step over the deep autoencoder's
// parameters (784-1000-500-250-30 and back: 2.8 million float32 values in
// 16 tensors), on its own, repeated: the parameters, gradients and
// moments (45 MB) stay partly in cache from one call to the next, as they
// do not in a training step. It reports the memory traffic as GB/s: 28
// bytes per parameter (parameter, gradient and two moments read, three
// written).
func BenchmarkAdamDeepAE(b *testing.B) {
	var params []*graph.Param
	var grads []*tensor.Dense
	total := 0
	for _, n := range []int{784 * 1000, 1000, 1000 * 500, 500, 500 * 250, 250, 250 * 30, 30} {
		for range 2 { // encoder and decoder
			params = append(params, &graph.Param{Name: "p", Value: tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(n))})
			g := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(n))
			gs := g.Float32s()
			for i := range gs {
				gs[i] = float32(i%13) * 1e-3
			}
			grads = append(grads, g)
			total += n
		}
	}
	o := &Adam{LearningRate: 1e-3}
	st := o.NewState(params)
	if err := o.Step(params, grads, st, 1e-3); err != nil { // touch every page first
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := o.Step(params, grads, st, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(28*float64(total)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// TestOptimizerStepsAllocateNothing checks that, once warm, an update of
// float32 and float64 parameters large enough to run on several cores
// allocates nothing, with each optimizer.
func TestOptimizerStepsAllocateNothing(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		var params []*graph.Param
		var grads []*tensor.Dense
		for _, n := range []int{100_000, 10} {
			params = append(params, &graph.Param{Name: "p", Value: tensor.New(tensor.Of(dt), tensor.WithShape(n))})
			grads = append(grads, tensor.New(tensor.Of(dt), tensor.WithShape(n)))
		}
		for _, o := range []Optimizer{&SGD{LearningRate: 0.1, Momentum: 0.9, WeightDecay: 1e-4}, &SGD{LearningRate: 0.1}, &Adam{LearningRate: 1e-3}} {
			st := o.NewState(params)
			if err := o.Step(params, grads, st, 0.1); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(20, func() {
				if err := o.Step(params, grads, st, 0.1); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%v %v: %v allocations per step", dt, o, n)
			}
		}
	}
}
