package ops

import (
	"fmt"
	"unsafe"

	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/internal/vec"
)

// channelSumDef sums an (N, F, …) tensor over every axis but axis 1,
// giving (F): the gradient of a per-channel (or per-unit) bias.
func channelSumDef(shape tensor.Shape) Def {
	n, f := shape[0], shape[1]
	inner := shape.TotalSize() / (n * f)
	return Def{
		Name: fmt.Sprintf("ChannelSum{%v}", shape),
		In:   []tensor.Shape{shape},
		Out:  tensor.Shape{f},
		F32:  func(out []float32, in [][]float32) { channelSum(in[0], out, n, f, inner) },
		F64:  func(out []float64, in [][]float64) { channelSum(in[0], out, n, f, inner) },
	}
}

// channelSum sets y[f] = Σ_n Σ_i x[n, f, i]. Each spatial row is summed in
// T with four accumulators, rows are added in float64, and channels are
// split across the cores. The (N, F) case, a sum over the batch only,
// accumulates in T.
func channelSum[T Float](x, y []T, n, f, inner int) {
	if inner == 1 {
		// (N, F): accumulate rows, which reads x sequentially.
		clear(y)
		for i := 0; i < n; i++ {
			vec.Add(y, y, x[i*f:(i+1)*f])
		}
		return
	}
	pool := poolFor[channelSumLoop[T]](&channelSumLoops32, &channelSumLoops64)
	l := pool.get(newChannelSumLoop[T])
	l.x, l.y, l.n, l.f, l.inner = x, y, n, f, inner
	parallelFor(f, max(1, (1<<14)/(n*inner)), l.body)
	l.x, l.y = nil, nil
	pool.put(l)
}

// channelSumLoop is the state of channelSum's loop over channels (see
// loopPool).
type channelSumLoop[T Float] struct {
	x, y        []T
	n, f, inner int
	body        func(chunk, lo, hi int) // run
}

var (
	channelSumLoops32 loopPool[channelSumLoop[float32]]
	channelSumLoops64 loopPool[channelSumLoop[float64]]
)

func newChannelSumLoop[T Float]() *channelSumLoop[T] {
	l := &channelSumLoop[T]{}
	l.body = l.run
	return l
}

// run sums channels [lo, hi).
func (l *channelSumLoop[T]) run(_, lo, hi int) {
	n, f, inner := l.n, l.f, l.inner
	x32, asm := any(l.x).([]float32)
	asm = asm && haveRowsAsm && inner >= 4
	for j := lo; j < hi; j++ {
		var s float64
		i := 0
		if asm {
			// Four images' planes at a time, sum4's accumulators in
			// vector lanes: the same bits.
			var chains [16]float32
			for ; i+4 <= n; i += 4 {
				sum4PlanesAsm(&chains, unsafe.Pointer(&x32[(i*f+j)*inner]), 4*f*inner, inner/4)
				for k := 0; k < 4; k++ {
					tail := x32[((i+k)*f+j)*inner+inner&^3 : ((i+k)*f+j+1)*inner]
					s += float64(sum4Finish(chains[4*k], chains[4*k+1], chains[4*k+2], chains[4*k+3], tail))
				}
			}
		}
		for ; i < n; i++ {
			s += float64(sum4(l.x[(i*f+j)*inner : (i*f+j+1)*inner]))
		}
		l.y[j] = T(s)
	}
}

// sum4 adds up xs with four interleaved accumulators.
func sum4[T Float](xs []T) T {
	var a, b, c, d T
	for len(xs) >= 4 {
		a += xs[0]
		b += xs[1]
		c += xs[2]
		d += xs[3]
		xs = xs[4:]
	}
	return sum4Finish(a, b, c, d, xs)
}

// sum4Finish adds the values sum4's loop leaves (fewer than 4) into a and
// returns (a + b) + (c + d).
func sum4Finish[T Float](a, b, c, d T, tail []T) T {
	for _, v := range tail {
		a += v
	}
	return (a + b) + (c + d)
}
