package train_test

import (
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/internal/blastest"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/train"
)

// TestSameParamsAnyGOMAXPROCS trains a small LeNet-like model for five steps
// with each optimizer under GOMAXPROCS 1, 2 and 3: with the pure-Go matrix
// multiplies every trained parameter must come out with the same bits. The
// OpenBLAS backend makes no such promise (see package ops/blas), so under
// it the test re-runs itself with RETINA_BLAS=go.
func TestSameParamsAnyGOMAXPROCS(t *testing.T) {
	if blastest.RerunOnPureGo(t, ops.Backend()) {
		return
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name string
		opt  func() train.Optimizer
	}{
		{"sgd", func() train.Optimizer { return &train.SGD{LearningRate: 0.05, Momentum: 0.9, WeightDecay: 5e-4} }},
		{"adam", func() train.Optimizer { return &train.Adam{LearningRate: 1e-3} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(1)
			want := trainLeNetLike(t, tc.opt())
			for _, procs := range []int{2, 3} {
				runtime.GOMAXPROCS(procs)
				got := trainLeNetLike(t, tc.opt())
				for name, w := range want {
					for i, v := range got[name] {
						if math.Float32bits(v) != math.Float32bits(w[i]) {
							t.Fatalf("GOMAXPROCS=%d: %s[%d] = %v, with GOMAXPROCS=1 %v", procs, name, i, v, w[i])
						}
					}
				}
			}
		})
	}
}

// trainLeNetLike runs five steps of batch 32 on random 28×28 images and
// returns the parameters by name.
func trainLeNetLike(t *testing.T, opt train.Optimizer) map[string][]float32 {
	t.Helper()
	model, err := graph.Sequential{
		graph.Conv2D{Maps: 8, Window: ops.Kernel(5, 5)}, // 1×28×28 → 8×24×24
		graph.ReLU{},
		graph.MaxPool2D{Window: ops.Square(2, 2, 0)},     // → 8×12×12
		graph.Conv2D{Maps: 16, Window: ops.Kernel(5, 5)}, // → 16×8×8, Winograd's kernels (8 channels, batch 32)
		graph.ReLU{},
		graph.MaxPool2D{Window: ops.Square(2, 2, 0)}, // → 16×4×4
		graph.Flatten{},
		graph.Dense{Units: 64},
		graph.ReLU{},
		graph.Dense{Units: 10},
	}.Declare(graph.Shape{1, 28, 28}, graph.WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	const batch, steps = 32, 5
	trainer, err := train.New(model, train.Config{Batch: batch, Seed: 1, Optimizer: opt, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer trainer.Close()
	rng := rand.New(rand.NewPCG(41, 42))
	for step := 0; step < steps; step++ {
		b := &datasets.Batch{X: make([]float32, batch*28*28), Labels: make([]int, batch), OneHot: make([]float32, batch*10), Size: batch}
		for i := range b.X {
			b.X[i] = rng.Float32()
		}
		for i := range b.Labels {
			b.Labels[i] = rng.IntN(10)
			b.OneHot[i*10+b.Labels[i]] = 1
		}
		if _, err := trainer.Step(b, steps); err != nil {
			t.Fatal(err)
		}
	}
	params := map[string][]float32{}
	for _, p := range model.Params() {
		params[p.Name] = append([]float32(nil), p.Value.Float32s()...)
	}
	return params
}
