//go:build amd64 && !noasm

package ops

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// lanes models the 32 float64 partial sums of the assembly's reductions
// (norm_amd64.s).
type lanes [normLanes]float64

// sum adds the partial sums as REDUCE does: t[l] = (a[l] + a[8+l]) +
// (a[16+l] + a[24+l]) for l < 8, then u[l] = t[l] + t[l+4], then (u[0] +
// u[2]) + (u[1] + u[3]).
func (a *lanes) sum() float64 {
	var t [8]float64
	for l := range t {
		t[l] = (a[l] + a[8+l]) + (a[16+l] + a[24+l])
	}
	u0, u1, u2, u3 := t[0]+t[4], t[1]+t[5], t[2]+t[6], t[3]+t[7]
	return (u0 + u2) + (u1 + u3)
}

// laneOf returns the partial sum that element i of a row of n ≥ 32
// elements goes to: i mod 32, but the last n mod 32 elements go to the top
// lanes, element i to lane i − n + 32 (the assembly reads them as the
// row's last 32 elements).
func laneOf(i, n int) int {
	if i >= n-n%normLanes {
		return i - n + normLanes
	}
	return i % normLanes
}

// refGradSums models rowsGradSums' assembly: Σdy, Σ(x − m)², Σdy·(x − m)
// (Σx in place of Σdy when dy is nil).
func refGradSums(x, dy []float32, n, rows, stride int, m float64) [3]float64 {
	var s, q, p lanes
	for r := 0; r < rows; r++ {
		for i, v := range x[r*stride : r*stride+n] {
			l := laneOf(i, n)
			e := float64(v) - m
			q[l] += float64(e * e)
			if dy == nil {
				s[l] += float64(v)
				continue
			}
			g := float64(dy[r*stride+i])
			s[l] += g
			p[l] += float64(g * e)
		}
	}
	return [3]float64{s.sum(), q.sum(), p.sum()}
}

// refLNGradSums models lnGradSumsRow's assembly.
func refLNGradSums(x, dy []float32, gamma []float64, m float64) [2]float64 {
	var s, p lanes
	for i, v := range x {
		l := laneOf(i, len(x))
		g := float64(dy[i]) * gamma[i]
		s[l] += g
		p[l] += float64(g * (float64(v) - m))
	}
	return [2]float64{s.sum(), p.sum()}
}

// withGo runs f with the Go kernels of norm_lanes.go instead of the
// assembly ones.
func withGo(f func()) {
	saved := haveNormAsm
	haveNormAsm = false
	defer func() { haveNormAsm = saved }()
	f()
}

func randF32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64()*3 + 1)
	}
	return v
}

func sameF32(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func sameF64(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestNormKernelsAsmMatchGo checks the assembly kernels, on rows of every
// length up to 70 and a few longer ones, strided, at unaligned offsets:
// the sums have the bits of their model (lanes) and are close to the Go
// ones; the elementwise kernels compute the same bits as the Go ones and
// write nothing outside their rows.
func TestNormKernelsAsmMatchGo(t *testing.T) {
	if !haveNormAsm {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(71, 72))
	lengths := []int{196, 255, 256, 257, 512, 1000}
	for n := 1; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for _, rows := range []int{1, 2, 5} {
			off := rng.IntN(16)
			stride := n + rng.IntN(20)
			size := off + span(n, rows, stride) + 40
			x, dy, g, b := randF32(rng, size), randF32(rng, size), randF32(rng, size), randF32(rng, size)
			m := rng.NormFloat64()
			g64, b64 := make([]float64, size), make([]float64, size)
			for i := range g64 {
				g64[i], b64[i] = float64(g[i]), float64(dy[i])
			}
			if n >= normLanes {
				// The sums: the assembly against its model.
				want := refGradSums(x[off:], nil, n, rows, stride, m)
				if got := [2]float64{rowsSum(x[off:], n, rows, stride), rowsSqDev(x[off:], n, rows, stride, m)}; !sameF64(got[:], want[:2]) {
					t.Errorf("n=%d rows=%d: sum, sqdev %v, model %v", n, rows, got, want[:2])
				}
				want = refGradSums(x[off:], dy[off:], n, rows, stride, m)
				if got := rowsGradSums(x[off:], dy[off:], n, rows, stride, m); !sameF64(got[:], want[:]) {
					t.Errorf("n=%d rows=%d: rowsGradSums %v, model %v", n, rows, got, want)
				}
				if rows == 1 {
					want := refLNGradSums(x[off:off+n], dy[off:], g64[off:], m)
					if got := lnGradSumsRow(x[off:off+n], dy[off:], g64[off:], m); !sameF64(got[:], want[:]) {
						t.Errorf("n=%d: lnGradSumsRow %v, model %v", n, got, want)
					}
				}
			}
			// In Go and in assembly, Σ(x − m)² is the same in rowsSqDev
			// and rowsGradSums, and the sums agree closely.
			sums := func() [4]float64 {
				g := rowsGradSums(x[off:], dy[off:], n, rows, stride, m)
				if q := rowsSqDev(x[off:], n, rows, stride, m); q != g[1] {
					t.Errorf("n=%d rows=%d: Σ(x − m)² %v in rowsGradSums, %v in rowsSqDev", n, rows, g[1], q)
				}
				return [4]float64{rowsSum(x[off:], n, rows, stride), g[0], g[1], g[2]}
			}
			sa := sums()
			var sg [4]float64
			withGo(func() { sg = sums() })
			for i := range sa {
				if math.Abs(sa[i]-sg[i]) > 1e-12*(1+math.Abs(sg[i])) {
					t.Errorf("n=%d rows=%d: sum %d is %v, Go %v", n, rows, i, sa[i], sg[i])
				}
			}

			// Elementwise kernels: outputs start as a copy of b (a sentinel).
			check := func(name string, run func(y []float32)) {
				t.Helper()
				ya, yg := slices.Clone(b), slices.Clone(b)
				run(ya)
				withGo(func() { run(yg) })
				if !sameF32(ya, yg) {
					t.Errorf("n=%d rows=%d: %s differs from Go", n, rows, name)
				}
			}
			check("bnNormRows", func(y []float32) { bnNormRows(y[off:], x[off:], n, rows, stride, m, 1.7, -0.3, Linear) })
			co := [4]float64{m, 0.9, 0.2, -0.4}
			check("bnDxRows", func(y []float32) { bnDxRows(y[off:], dy[off:], x[off:], n, rows, stride, &co) })
			if rows > 1 {
				continue
			}
			row := func(v []float32) []float32 { return v[off : off+n] }
			check("lnNormRow", func(y []float32) { lnNormRow(y[off:], row(x), g64[off:], b64[off:], m, 0.8) })
			check("lnDxRow", func(y []float32) { lnDxRow(y[off:], dy[off:], row(x), g64[off:], &co) })
			acc := make([]float64, size)
			for i := range acc {
				acc[i] = float64(b[i])
			}
			accA, accG := slices.Clone(acc), slices.Clone(acc)
			lnColAccRow(accA[off:], row(dy), x[off:], m, 0.8)
			colAddRow(accA[off:], row(g))
			withGo(func() {
				lnColAccRow(accG[off:], row(dy), x[off:], m, 0.8)
				colAddRow(accG[off:], row(g))
			})
			if !sameF64(accA, accG) {
				t.Errorf("n=%d: lnColAccRow, colAddRow differ from Go", n)
			}
			// Planes: up to 5 of n elements.
			planes := min(5, (size-off)/n)
			if n >= normLanes {
				pm := slices.Clone(b)
				planeMeans(pm[off:off+planes], x[off:], n)
				for p := 0; p < planes; p++ {
					want := float32(refGradSums(x[off+p*n:], nil, n, 1, n, 0)[0] / float64(n))
					if math.Float32bits(pm[off+p]) != math.Float32bits(want) {
						t.Errorf("n=%d: planeMeans plane %d %v, model %v", n, p, pm[off+p], want)
					}
				}
			}
			check("planeFill", func(y []float32) { planeFill(y[off:], x[off:off+planes], n) })
		}
	}
}

// TestNormKernelsNonFinite checks that infinities and NaNs reach the sums
// of the assembly kernels as they reach the Go ones.
func TestNormKernelsNonFinite(t *testing.T) {
	if !haveNormAsm {
		t.Skip("no AVX-512")
	}
	for _, v := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		for _, n := range []int{5, 40, 196} {
			x := make([]float32, n)
			x[n-1] = v
			a := rowsSum(x, n, 1, n)
			var g float64
			withGo(func() { g = rowsSum(x, n, 1, n) })
			if !(a == g || math.IsNaN(a) && math.IsNaN(g)) {
				t.Errorf("n=%d, last %v: sum %v, Go %v", n, v, a, g)
			}
		}
	}
}
