package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestBatchNormByChannelSameBits checks that batch norm's passes a channel
// at a time (byChannel, for channels of several a-blocks) give the output,
// the running statistics and the gradient statistics of the passes over
// units, bit for bit, in float32 and float64, with and without a fused
// ReLU.
func TestBatchNormByChannelSameBits(t *testing.T) {
	defer func() { bnChannels = true }()
	rng := rand.New(rand.NewPCG(71, 72))
	for _, act := range []Activation{Linear, ReLU} {
		// 2 to 4 a-blocks a channel: the float64 channels of more than
		// 2 are past bnChannelBytes.
		for _, shape := range []tensor.Shape{{64, 3, 28, 28}, {60, 2, 1000}, {40, 3, 28, 28}} {
			testBNByChannel[float32](t, rng, shape, act)
		}
		for _, shape := range []tensor.Shape{{40, 3, 28, 28}, {50, 4, 20, 20}, {9, 2, 3000}} {
			testBNByChannel[float64](t, rng, shape, act)
		}
	}
}

func testBNByChannel[T Float](t *testing.T, rng *rand.Rand, shape tensor.Shape, act Activation) {
	t.Helper()
	var zero T
	dt := tensor.Float32
	if _, ok := any(zero).(float64); ok {
		dt = tensor.Float64
	}
	c, n := shape[1], shape.TotalSize()
	x, dy, gamma, beta := make([]T, n), make([]T, n), make([]T, c), make([]T, c)
	for _, v := range [][]T{x, dy, gamma, beta} {
		for i := range v {
			v[i] = T(rng.NormFloat64()*2 + 0.5)
		}
	}
	run := func(channels bool) (y, stats, running []T) {
		bnChannels = channels
		st := NewBatchNormState(c, dt)
		p := newBNParams(shape, dt, st, true, 0.1, 1e-5, act)
		k := newBNKernel[T](p, bnForward)
		if got := (&bnKernel[T]{p: p}).byChannel(); got != channels {
			t.Fatalf("%v: byChannel() = %t, want %t", shape, got, channels)
		}
		y, stats = make([]T, n), make([]T, 4*c)
		k(y, [][]T{x, gamma, beta})
		newBNKernel[T](p, bnGradStats)(stats, [][]T{x, dy})
		return y, stats, append(append(normData[T](st.Mean), normData[T](st.Var)...), normData[T](st.Batches)...)
	}
	y0, s0, r0 := run(false)
	y1, s1, r1 := run(true)
	for _, v := range []struct {
		what      string
		got, want []T
	}{{"output", y1, y0}, {"gradient statistics", s1, s0}, {"running statistics", r1, r0}} {
		for i := range v.want {
			if math.Float64bits(float64(v.got[i])) != math.Float64bits(float64(v.want[i])) {
				t.Fatalf("%v %T %v: %s[%d] by channel %v, by unit %v", shape, zero, act, v.what, i, v.got[i], v.want[i])
			}
		}
	}
}
