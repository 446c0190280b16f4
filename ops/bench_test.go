package ops_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// benchOp times the op that build applies to nodes holding vals (Do only).
func benchOp(b *testing.B, build func(in ...*G.Node) (*G.Node, error), vals ...*tensor.Dense) {
	g := G.NewGraph()
	var nodes G.Nodes
	var values []G.Value
	for i, v := range vals {
		nodes = append(nodes, G.NodeFromAny(g, v, G.WithName(fmt.Sprint("in", i))))
		values = append(values, v)
	}
	y, err := build(nodes...)
	if err != nil {
		b.Fatal(err)
	}
	op := y.Op()
	if _, err := op.Do(values...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := op.Do(values...); err != nil {
			b.Fatal(err)
		}
	}
}

// gradOp returns the op computing the gradient of input i of the op built
// by build, found through SymDiff.
func benchGrad(b *testing.B, build func(in ...*G.Node) (*G.Node, error), input int, vals ...*tensor.Dense) {
	g := G.NewGraph()
	nodes := bind(g, vals)
	y, err := build(nodes...)
	if err != nil {
		b.Fatal(err)
	}
	dy := G.NodeFromAny(g, randDense[float32](rand.New(rand.NewPCG(1, 1)), y.Shape()...), G.WithName("dy"))
	grads, err := y.Op().(G.SDOp).SymDiff(nodes, y, dy)
	if err != nil {
		b.Fatal(err)
	}
	gn := grads[input]
	out, err := y.Op().Do(valuesOf(nodes)...)
	if err != nil {
		b.Fatal(err)
	}
	// value computes a node's value: the forward output, a bound value, or
	// an intermediate gradient step (such as an activation's gradient).
	var value func(n *G.Node) G.Value
	value = func(n *G.Node) G.Value {
		if n == y {
			return out
		}
		if v := n.Value(); v != nil {
			return v
		}
		var args []G.Value
		for it := g.From(n.ID()); it.Next(); {
			args = append(args, value(it.Node().(*G.Node)))
		}
		v, err := n.Op().Do(args...)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	var args []G.Value
	for it := g.From(gn.ID()); it.Next(); {
		args = append(args, value(it.Node().(*G.Node)))
	}
	op := gn.Op()
	if _, err := op.Do(args...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := op.Do(args...); err != nil {
			b.Fatal(err)
		}
	}
}

func valuesOf(ns G.Nodes) []G.Value {
	var vs []G.Value
	for _, n := range ns {
		vs = append(vs, n.Value())
	}
	return vs
}

// The convolutions of LeNet at batch 64: conv1 1→20 maps on 28×28, conv2
// 20→50 maps on 12×12, both 5×5.
var lenetConvs = []struct {
	name     string
	c, hw, f int
}{{"conv1", 1, 28, 20}, {"conv2", 20, 12, 50}}

func conv(in ...*G.Node) (*G.Node, error) {
	return ops.Conv2D(in[0], in[1], in[2], [2]int{1, 1}, [2]int{0, 0})
}

func BenchmarkConv2D(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range lenetConvs {
		x := randDense[float32](rng, 64, c.c, c.hw, c.hw)
		w := randDense[float32](rng, c.f, c.c, 5, 5)
		bias := randDense[float32](rng, c.f)
		b.Run(c.name+"/forward", func(b *testing.B) { benchOp(b, conv, x, w, bias) })
		b.Run(c.name+"/input-grad", func(b *testing.B) { benchGrad(b, conv, 0, x, w, bias) })
		b.Run(c.name+"/filter-grad", func(b *testing.B) { benchGrad(b, conv, 1, x, w, bias) })
		b.Run(c.name+"/bias-grad", func(b *testing.B) { benchGrad(b, conv, 2, x, w, bias) })
	}
}

// BenchmarkConv2DResNet times convolutions of cnn.ResNet(16, 2) at batch
// 64: the stem (1 → 16 maps, 3×3 pad 1 on 28×28), the 28×28 stage of 16
// maps (3×3 pad 1), the strided first convolution of the second stage
// (16 → 32 maps, 28×28 → 14×14, 3×3 pad 1) and its shortcut (1×1 stride
// 2), the rest of that 14×14 stage (32 maps) and the 7×7 stage of 64 maps.
func BenchmarkConv2DResNet(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 4))
	for _, c := range []struct {
		name                     string
		c, hw, f, k, stride, pad int
	}{
		{"stem", 1, 28, 16, 3, 1, 1}, {"stage1", 16, 28, 16, 3, 1, 1}, {"stage2-down", 16, 28, 32, 3, 2, 1},
		{"stage2-shortcut", 16, 28, 32, 1, 2, 0}, {"stage2", 32, 14, 32, 3, 1, 1}, {"stage3", 64, 7, 64, 3, 1, 1},
	} {
		x := randDense[float32](rng, 64, c.c, c.hw, c.hw)
		w := randDense[float32](rng, c.f, c.c, c.k, c.k)
		bias := randDense[float32](rng, c.f)
		conv := func(in ...*G.Node) (*G.Node, error) {
			return ops.Conv2D(in[0], in[1], in[2], [2]int{c.stride, c.stride}, [2]int{c.pad, c.pad})
		}
		b.Run(c.name+"/forward", func(b *testing.B) { benchOp(b, conv, x, w, bias) })
		b.Run(c.name+"/input-grad", func(b *testing.B) { benchGrad(b, conv, 0, x, w, bias) })
		b.Run(c.name+"/filter-grad", func(b *testing.B) { benchGrad(b, conv, 1, x, w, bias) })
	}
}

func BenchmarkMaxPool2D(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 3))
	pool := func(in ...*G.Node) (*G.Node, error) { return ops.MaxPool2D(in[0], ops.Square(2, 2, 0)) }
	x := randDense[float32](rng, 64, 20, 24, 24)
	b.Run("forward", func(b *testing.B) { benchOp(b, pool, x) })
	b.Run("backward", func(b *testing.B) { benchGrad(b, pool, 0, x) })
}

func BenchmarkDense(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 4))
	dense := func(in ...*G.Node) (*G.Node, error) { return ops.Dense(in[0], in[1], in[2], ops.ReLU) }
	for _, s := range []struct{ in, out int }{{784, 1000}, {800, 500}, {784, 100}} {
		x, w, bias := randDense[float32](rng, 64, s.in), randDense[float32](rng, s.in, s.out), randDense[float32](rng, s.out)
		name := fmt.Sprintf("%dx%d", s.in, s.out)
		b.Run(name+"/forward", func(b *testing.B) { benchOp(b, dense, x, w, bias) })
		b.Run(name+"/input-grad", func(b *testing.B) { benchGrad(b, dense, 0, x, w, bias) })
		b.Run(name+"/weight-grad", func(b *testing.B) { benchGrad(b, dense, 1, x, w, bias) })
	}
}

func BenchmarkActivate(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 5))
	x := randDense[float32](rng, 64, 20, 24, 24)
	for _, a := range []ops.Activation{ops.ReLU, ops.Sigmoid, ops.Tanh} {
		act := func(in ...*G.Node) (*G.Node, error) { return ops.Activate(in[0], a) }
		b.Run(a.String()+"/forward", func(b *testing.B) { benchOp(b, act, x) })
		b.Run(a.String()+"/backward", func(b *testing.B) { benchGrad(b, act, 0, x) })
	}
}

// BenchmarkAdd times a residual connection's sum of two of LeNet's conv1
// outputs (64, 20, 24, 24). Its gradient is ∂L/∂y itself: nothing to time.
func BenchmarkAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 6))
	x, y := randDense[float32](rng, 64, 20, 24, 24), randDense[float32](rng, 64, 20, 24, 24)
	b.Run("forward", func(b *testing.B) { benchOp(b, func(in ...*G.Node) (*G.Node, error) { return ops.Add(in...) }, x, y) })
}

// BenchmarkConcat times joining 20 and 12 channel maps of 24×24 at batch
// 64, and the slice of the gradient for each input.
func BenchmarkConcat(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 7))
	x, y := randDense[float32](rng, 64, 20, 24, 24), randDense[float32](rng, 64, 12, 24, 24)
	cat := func(in ...*G.Node) (*G.Node, error) { return ops.Concat(1, in...) }
	b.Run("forward", func(b *testing.B) { benchOp(b, cat, x, y) })
	b.Run("grad-0", func(b *testing.B) { benchGrad(b, cat, 0, x, y) })
	b.Run("grad-1", func(b *testing.B) { benchGrad(b, cat, 1, x, y) })
}
