package ops

import (
	"fmt"
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

// TestSigmoidKernelMatchesMathExp checks the float32 sigmoid of
// activateSerial, which runs sigmoidAsm on AVX-512 machines, bit for bit
// against its definition in float64 with math.Exp (1/(1 + e^−x) for
// x ≥ 0, e^x/(1 + e^x) otherwise): on lengths 0–40 (the kernel takes 8 at
// a time, Go the rest) at several offsets, leaving the values around alone;
// on one float32 bit pattern in 997 (NaNs, infinities and subnormals
// included); and densely where e^x is subnormal in float64.
func TestSigmoidKernelMatchesMathExp(t *testing.T) {
	def := func(v float32) float32 {
		x := float64(v)
		if x >= 0 {
			return float32(1 / (1 + math.Exp(-x)))
		}
		e := math.Exp(x)
		return float32(e / (1 + e))
	}
	check := func(what string, x []float32) {
		t.Helper()
		const guard = 9
		y := make([]float32, len(x)+guard)
		for i := range y {
			y[i] = 7
		}
		activateSerial(Sigmoid, x, y[:len(x)])
		for i, v := range x {
			if want := def(v); math.Float32bits(y[i]) != math.Float32bits(want) {
				t.Fatalf("%s: sigmoid(%v (%#x)) = %v (%#x), want %v (%#x)", what, v, math.Float32bits(v), y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
			}
		}
		for i, v := range y[len(x):] {
			if v != 7 {
				t.Fatalf("%s: y[%d] after the last was overwritten", what, len(x)+i)
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 11))
	for n := 0; n <= 40; n++ {
		for _, off := range []int{0, 3} {
			x := make([]float32, off+n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 8)
			}
			check(fmt.Sprintf("n=%d offset %d", n, off), x[off:])
		}
	}
	var sweep []float32
	for b := uint64(0); b < 1<<32; b += 997 {
		sweep = append(sweep, math.Float32frombits(uint32(b)))
	}
	check("bit patterns", sweep)
	var low []float32
	for v, i := float32(-760), 0; v < -700; v, i = math.Nextafter32(v, 0), i+1 {
		if i%31 == 0 || v < -744 && v > -746 { // every value where e^x underflows to 0
			low = append(low, v)
		}
	}
	check("subnormal e^x", low)
}
