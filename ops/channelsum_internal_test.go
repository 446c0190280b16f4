package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestChannelSumKernelMatchesDefinition checks channelSum on float32 (the
// vector kernel, four images' planes at a time, on AVX-512 machines) bit for
// bit against its Go loop (sum4), and against its definition: y[j] = Σ_n float64(s(plane n, j)) in order,
// s adding positions 0, 4, 8, … into a, 1, 5, … into b, and so on, the
// positions past the last multiple of 4 into a, and returning (a+b)+(c+d),
// all in float32. Batches that are not a multiple of 4, planes shorter
// than 4 or not a multiple of it, and NaNs, infinities, signed zeros and
// subnormals are among the cases.
func TestChannelSumKernelMatchesDefinition(t *testing.T) {
	def := func(x []float32, n, f, inner int) []float32 {
		y := make([]float32, f)
		for j := range y {
			var s float64
			for i := 0; i < n; i++ {
				p := x[(i*f+j)*inner : (i*f+j+1)*inner]
				var acc [4]float32
				q := 0
				for ; q+4 <= len(p); q += 4 {
					for c := range acc {
						acc[c] += p[q+c]
					}
				}
				for ; q < len(p); q++ {
					acc[0] += p[q]
				}
				s += float64((acc[0] + acc[1]) + (acc[2] + acc[3]))
			}
			y[j] = float32(s)
		}
		return y
	}
	rng := rand.New(rand.NewPCG(7, 13))
	special := []float32{float32(math.NaN()), -float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.Copysign(0, -1)), 0, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1e38, -1e38}
	for _, s := range [][3]int{{64, 20, 576}, {64, 50, 64}, {7, 3, 13}, {5, 2, 4}, {9, 1, 5}, {4, 2, 3}, {8, 3, 2}, {13, 4, 31}} {
		n, f, inner := s[0], s[1], s[2]
		for rep := 0; rep < 3; rep++ {
			x := make([]float32, n*f*inner)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
				if rep > 0 && rng.IntN(50) == 0 {
					x[i] = special[rng.IntN(len(special))]
				}
			}
			want := def(x, n, f, inner)
			got, goPath := make([]float32, f), make([]float32, f)
			channelSum(x, got, n, f, inner)
			for j := range goPath { // the Go loop
				var s float64
				for i := 0; i < n; i++ {
					s += float64(sum4(x[(i*f+j)*inner : (i*f+j+1)*inner]))
				}
				goPath[j] = float32(s)
			}
			for j := range want {
				// NaN against NaN: which of two NaNs a sum keeps depends on
				// the operand order the compiler picks for a commutative
				// addition, so code compiled apart may differ in the NaN
				// (its sign); a NaN gradient stops training anyway.
				for _, w := range []float32{want[j], goPath[j]} {
					if g := got[j]; math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
						t.Fatalf("%s rep %d: y[%d] = %v (%#x), want %v (%#x)", fmt.Sprint(s), rep, j, g, math.Float32bits(g), w, math.Float32bits(w))
					}
				}
			}
		}
	}
}
