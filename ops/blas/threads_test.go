package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestSgemmSameBitsAnyThreads checks that the pure-Go backend gives the same
// bits whatever the number of threads (GOMAXPROCS, or the cap of
// SetThreads): on the project's shapes, on products split along k, and on
// partial tiles with general alpha and beta, every kernel must agree with
// its own single-threaded result.
func TestSgemmSameBitsAnyThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cases := append([]gemmCase{
		{m: 5, n: 7, k: 30000, transA: true, alpha: -0.5, beta: 0, padC: 2}, // k split
		{m: 17, n: 33, k: 5003, transB: true, alpha: 2, beta: 1},            // k split
		{m: 16, n: 150, k: 1300, transB: true, alpha: 1},                    // conv filter gradient
		{m: 200, n: 30, k: 300, alpha: 1, beta: 1},
		{m: 70, n: 300, k: 100, transA: true, alpha: 2, beta: -0.5, padC: 3},
		{m: 129, n: 257, k: 65, transA: true, transB: true, alpha: 1.5, beta: 2},
		{m: 257, n: 95, k: 700, alpha: 1.7, beta: 0.3},  // partial tiles everywhere
		{m: 701, n: 45, k: 300, alpha: -1.3, beta: 0.7}, // split along m
	}, projectShapes...)
	for _, im := range goImpls() {
		for _, tc := range cases {
			if im.kern == kernelGeneric && tc.m*tc.n*tc.k > 1<<24 {
				continue // slow
			}
			t.Run(fmt.Sprintf("%s/%v", im.name, tc), func(t *testing.T) {
				rnd := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.k)))
				ra, ca, lda, rb, cb, ldb, ldc := tc.dims()
				a := randSlice[float32](rnd, (ra-1)*lda+ca)
				b := randSlice[float32](rnd, (rb-1)*ldb+cb)
				c0 := randSlice[float32](rnd, (tc.m-1)*ldc+tc.n)
				run := func(procs, cap int) []float32 {
					runtime.GOMAXPROCS(procs)
					defer SetThreads(SetThreads(cap))
					c := append([]float32(nil), c0...)
					im.sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, lda, b, ldb, float32(tc.beta), c, ldc)
					return c
				}
				want := run(1, 0)
				for _, s := range [][2]int{{2, 0}, {3, 0}, {5, 0}, {8, 0}, {8, 3}, {16, 0}} {
					got := run(s[0], s[1])
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("GOMAXPROCS=%d, SetThreads(%d): C[%d] = %v, with 1 thread %v", s[0], s[1], i, got[i], want[i])
						}
					}
				}
			})
		}
	}
}

// TestGridKSplit pins the k split of grid, which must not depend on the
// number of threads, and checks that the other splits stay within it.
func TestGridKSplit(t *testing.T) {
	for _, tc := range []struct {
		m, n, k int
		ck      int
	}{
		{20, 25, 36864, 32}, // 8 parts, 4 chunks each (1152 deep)
		{50, 500, 4096, 4},  // chunks at least 1024 deep
		{20, 25, 7488, 4},   // LeNet's conv1 filter gradient, 13 images
		{16, 32, 16384, 16},
		{64, 784, 1000, 1}, // too shallow to split
		{64, 1000, 784, 1},
		{1024, 1024, 1024, 1}, // C is large enough to split
		{8, 8, 8, 1},          // too small to split at all
	} {
		for _, threads := range []int{1, 2, 3, 4, 8, 64} {
			cm, cn, ck, parts := grid(kernelAVX512Like, tc.m, tc.n, tc.k, threads)
			if ck != tc.ck || parts < 1 || parts > threads || parts > cm*cn*ck {
				t.Errorf("grid(%d, %d, %d, %d threads) = %d×%d×%d chunks for %d parts, want ck = %d", tc.m, tc.n, tc.k, threads, cm, cn, ck, parts, tc.ck)
			}
		}
	}
}
