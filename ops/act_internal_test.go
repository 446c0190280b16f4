package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestReLUKernelsMatchDefinition checks relu and reluGrad on float32 (the
// AVX-512 kernels where the CPU has them) bit for bit against their
// definitions, x with its sign bit clear and +0 otherwise (−0 and negative
// NaNs too), and dy where y > 0 or is a NaN: every length up to 150 (whole blocks of 64, single vectors of 16
// and masked tails), unaligned starts, in place and not, with zeros of
// both signs, NaNs, infinities and subnormals among the values. It also
// checks that nothing past the end is written.
func TestReLUKernelsMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), -float32(math.NaN()),
		float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}
	value := func() float32 {
		if rng.IntN(8) == 0 {
			return special[rng.IntN(len(special))]
		}
		return float32(rng.NormFloat64())
	}
	const guard = 16
	for n := 0; n <= 150; n++ {
		for _, off := range []int{0, 1, 5} {
			x, dy := make([]float32, off+n+guard), make([]float32, off+n+guard)
			for i := range x {
				x[i], dy[i] = value(), value()
			}
			want, wantDx := make([]float32, n), make([]float32, n)
			for i, v := range x[off : off+n] {
				if !math.Signbit(float64(v)) {
					want[i] = v
				} // −0, negatives and negative NaNs: +0
				if want[i] > 0 || (want[i] != want[i]) {
					wantDx[i] = dy[off+i] // y > 0 or a (positive) NaN
				}
			}
			same := func(what string, got, want []float32) {
				t.Helper()
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d offset %d: %s[%d] = %v (%#x), want %v (%#x)", n, off, what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
			y := make([]float32, off+n+guard)
			for i := range y {
				y[i] = 7
			}
			relu(x[off:off+n], y[off:off+n])
			same("relu", y[off:off+n], want)
			for i, v := range y[off+n:] {
				if v != 7 {
					t.Fatalf("n=%d offset %d: relu wrote y[%d] past the end", n, off, off+n+i)
				}
			}
			dx := make([]float32, off+n+guard)
			reluGrad(y[off:off+n], dy[off:off+n], dx[off:off+n])
			same("reluGrad", dx[off:off+n], wantDx)
			for i, v := range dx[off+n:] {
				if v != 0 {
					t.Fatalf("n=%d offset %d: reluGrad wrote dx[%d] past the end", n, off, off+n+i)
				}
			}
			in := append([]float32(nil), x...)
			relu(in[off:off+n], in[off:off+n])
			same("relu in place", in[off:off+n], want)
			reluGrad(y[off:off+n], dy[off:off+n], dy[off:off+n])
			same("reluGrad in place", dy[off:off+n], wantDx)
		}
	}
}
