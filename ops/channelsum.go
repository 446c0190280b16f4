package ops

import (
	"fmt"

	"gorgonia.org/tensor"
)

// newChannelSumOp sums an (N, F, …) tensor over every axis but axis 1,
// giving (F): the gradient of a per-channel (or per-unit) bias.
func newChannelSumOp(shape tensor.Shape) *kernelOp {
	n, f := shape[0], shape[1]
	inner := shape.TotalSize() / (n * f)
	return &kernelOp{
		name: fmt.Sprintf("ChannelSum{%v}", shape),
		in:   []tensor.Shape{shape.Clone()},
		out:  tensor.Shape{f},
		f32:  func(out []float32, in [][]float32, _ *float64) { channelSum(in[0], out, n, f, inner) },
		f64:  func(out []float64, in [][]float64, _ *float64) { channelSum(in[0], out, n, f, inner) },
	}
}

// channelSum sets y[f] = Σ_n Σ_i x[n, f, i]. Spatial sums accumulate in
// float64; the (N, F) case, a sum over the batch only, in T.
func channelSum[T Float](x, y []T, n, f, inner int) {
	if inner == 1 {
		// (N, F): accumulate rows, which reads x sequentially.
		clear(y)
		for i := 0; i < n; i++ {
			for j, v := range x[i*f : (i+1)*f] {
				y[j] += v
			}
		}
		return
	}
	for j := 0; j < f; j++ {
		var s float64
		for i := 0; i < n; i++ {
			for _, v := range x[(i*f+j)*inner : (i*f+j+1)*inner] {
				s += float64(v)
			}
		}
		y[j] = T(s)
	}
}
