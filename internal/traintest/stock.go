package traintest

// Helpers for the stock-Gorgonia baselines (BenchmarkStockGorgonia* beside
// the models' BenchmarkTrainStep*): the same models built only from
// Gorgonia's built-in ops and trained with its own Adam, to measure what
// Retina's ops and optimizers gain.

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
)

// StockDense returns x·w + b, the bias b (a vector) broadcast over the rows.
func StockDense(x, w, bias *gorgonia.Node) (*gorgonia.Node, error) {
	xw, err := gorgonia.Mul(x, w)
	if err != nil {
		return nil, err
	}
	return gorgonia.BroadcastAdd(xw, bias, nil, []byte{0})
}

// StockCrossEntropy returns softmax cross-entropy between logits (N, K) and
// one-hot targets y (N, K), averaged over the N samples:
// −mean_n Σ_k y[n,k]·logsoftmax(logits)[n,k].
func StockCrossEntropy(logits, y *gorgonia.Node) (*gorgonia.Node, error) {
	logp, err := gorgonia.LogSoftMax(logits)
	if err != nil {
		return nil, err
	}
	prod, err := gorgonia.HadamardProd(logp, y)
	if err != nil {
		return nil, err
	}
	perSample, err := gorgonia.Sum(prod, 1)
	if err != nil {
		return nil, err
	}
	mean, err := gorgonia.Mean(perSample)
	if err != nil {
		return nil, err
	}
	return gorgonia.Neg(mean)
}

// StockSteps differentiates cost with gorgonia.Grad, binds x (and the
// one-hot target y, if not nil) once to tensors whose backing it refills
// with each batch of set, and times b.N steps of RunAll, Adam Step and
// Reset after 20 warm-up steps, over which it checks that the loss falls.
// It reports samples/s.
func StockSteps(b *testing.B, g *gorgonia.ExprGraph, cost *gorgonia.Node, learnables gorgonia.Nodes, x, y *gorgonia.Node, set *datasets.Set, batch int) {
	b.Helper()
	if _, err := gorgonia.Grad(cost, learnables...); err != nil {
		b.Fatal(err)
	}
	var loss gorgonia.Value
	gorgonia.Read(cost, &loss)

	xBuf := make([]float32, x.Shape().TotalSize())
	if err := gorgonia.Let(x, tensor.New(tensor.WithShape(x.Shape().Clone()...), tensor.WithBacking(xBuf))); err != nil {
		b.Fatal(err)
	}
	var yBuf []float32
	if y != nil {
		yBuf = make([]float32, y.Shape().TotalSize())
		if err := gorgonia.Let(y, tensor.New(tensor.WithShape(y.Shape().Clone()...), tensor.WithBacking(yBuf))); err != nil {
			b.Fatal(err)
		}
	}

	vm := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(learnables...))
	defer vm.Close()
	solver := gorgonia.NewAdamSolver(gorgonia.WithLearnRate(1e-3))
	grads := gorgonia.NodesToValueGrads(learnables)

	loader := &datasets.Loader{Set: set, BatchSize: batch, Shuffle: true, Seed: 1}
	it := loader.Epoch(0)
	var bt datasets.Batch
	epoch := 0
	step := func() {
		if !it.Next(&bt) {
			epoch++
			it = loader.Epoch(epoch)
			if !it.Next(&bt) {
				b.Fatalf("no batch in epoch %d: %v", epoch, it.Err())
			}
		}
		copy(xBuf, bt.X)
		if y != nil {
			copy(yBuf, bt.OneHot)
		}
		if err := vm.RunAll(); err != nil {
			b.Fatal(err)
		}
		if err := solver.Step(grads); err != nil {
			b.Fatal(err)
		}
		vm.Reset()
	}

	const warmup = 20
	var losses [warmup]float64
	for i := range losses {
		step()
		l, ok := loss.Data().(float32)
		if !ok {
			b.Fatalf("loss is %T, want float32", loss.Data())
		}
		losses[i] = float64(l)
	}
	first := (losses[0] + losses[1] + losses[2] + losses[3] + losses[4]) / 5
	last := (losses[15] + losses[16] + losses[17] + losses[18] + losses[19]) / 5
	if math.IsNaN(last) || math.IsInf(last, 0) || last >= first {
		b.Fatalf("not training: mean loss of warm-up steps 1–5 = %g, of steps 16–20 = %g", first, last)
	}
	if testing.Verbose() {
		b.Logf("warm-up loss: steps 1–5 %.4f, steps 16–20 %.4f", first, last)
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
}
