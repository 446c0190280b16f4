package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestMain fails the tests at once if the backend forced with RETINA_BLAS
// cannot be used (RETINA_BLAS=openblas without OpenBLAS, say).
func TestMain(m *testing.M) {
	if err := Init(); err != nil && os.Getenv("RETINA_BLAS_TEST_CHILD") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: ops/blas:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// impl is one way of computing a GEMM under test.
type impl struct {
	name string
	kern *kernel   // pure-Go kernel, or nil
	lib  *openBLAS // OpenBLAS, or nil
}

func (im impl) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, lda, len(a), ldb, len(b), ldc, len(c))
	if im.kern != nil {
		activeKernel.Store(im.kern)
		defer activeKernel.Store(nil)
	}
	sgemm(im.lib, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (im impl) dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(transA, transB, m, n, k, lda, len(a), ldb, len(b), ldc, len(c))
	dgemm(im.lib, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// testLib returns the OpenBLAS library for tests. It skips the test when
// OpenBLAS is not installed, unless RETINA_BLAS=openblas demands it.
func testLib(t testing.TB) *openBLAS {
	t.Helper()
	if err := Init(); err != nil {
		t.Fatal(err)
	}
	if lib != nil {
		return lib
	}
	l, err := loadOpenBLAS(os.Getenv(envLib))
	if err != nil {
		if os.Getenv(envBackend) == "openblas" {
			t.Fatalf("RETINA_BLAS=openblas but: %v", err)
		}
		t.Skipf("OpenBLAS not available (install libopenblas0-pthread to test it): %v", err)
	}
	l.setThreads(Threads())
	return l
}

// goImpls returns the pure-Go kernels this CPU can run.
func goImpls() []impl {
	var ims []impl
	for _, k := range kernels {
		if k.supported {
			ims = append(ims, impl{name: "go-" + k.name, kern: k})
		}
	}
	return ims
}

// allImpls returns every implementation available here.
func allImpls(t *testing.T) []impl {
	ims := goImpls()
	if l := tryLib(); l != nil {
		ims = append(ims, impl{name: "openblas", lib: l})
		if cl := l.cblasVariant(); cl != nil {
			ims = append(ims, impl{name: "openblas-cblas", lib: cl})
		}
	} else if os.Getenv(envBackend) == "openblas" {
		t.Fatal("RETINA_BLAS=openblas but OpenBLAS cannot be loaded")
	} else {
		t.Log("OpenBLAS not available: testing the pure-Go kernels only")
	}
	return ims
}

var (
	tryLibOnce sync.Once
	tryLibVal  *openBLAS
)

func tryLib() *openBLAS {
	tryLibOnce.Do(func() {
		if Init() != nil {
			return
		}
		tryLibVal = lib
		if tryLibVal == nil {
			tryLibVal, _ = loadOpenBLAS(os.Getenv(envLib))
		}
		if tryLibVal != nil {
			tryLibVal.setThreads(Threads())
		}
	})
	return tryLibVal
}

// refGemm computes the reference C = alpha·op(A)·op(B) + beta·C in float64
// and a bound on the rounding error of each element for precision eps.
func refGemm[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, eps float64) (want, tol []float64) {
	want = make([]float64, m*n)
	tol = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if transB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				s += av * bv
				abs += math.Abs(av * bv)
			}
			v := float64(alpha) * s
			abs = math.Abs(float64(alpha)) * abs
			if beta != 0 {
				cv := float64(c[i*ldc+j])
				v += float64(beta) * cv
				abs += math.Abs(float64(beta) * cv)
			}
			want[i*n+j] = v
			tol[i*n+j] = float64(k+4)*eps*abs + 1e-30
		}
	}
	return want, tol
}

// gemmCase is one test problem.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // extra stride
	padC           int
	alpha, beta    float64
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d/pad=%d,%d,%d/alpha=%v,beta=%v",
		t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.padA, tc.padB, tc.padC, tc.alpha, tc.beta)
}

// dims returns the stored shapes and strides of A, B and C.
func (tc gemmCase) dims() (ra, ca, lda, rb, cb, ldb, ldc int) {
	ra, ca = tc.m, tc.k
	if tc.transA {
		ra, ca = tc.k, tc.m
	}
	rb, cb = tc.k, tc.n
	if tc.transB {
		rb, cb = tc.n, tc.k
	}
	return ra, ca, max(1, ca) + tc.padA, rb, cb, max(1, cb) + tc.padB, max(1, tc.n) + tc.padC
}

func randSlice[T float32 | float64](rnd *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(rnd.Float64()*2 - 1)
	}
	return s
}

const sentinel = -12345

// checkSgemm runs tc with im and compares with the reference. Elements of
// C outside the m×n result (stride padding) must be left alone; with
// beta == 0 C starts out as NaN.
func checkSgemm(t *testing.T, im impl, tc gemmCase, rnd *rand.Rand) {
	t.Helper()
	ra, ca, lda, rb, cb, ldb, ldc := tc.dims()
	a := randSlice[float32](rnd, max(0, (ra-1)*lda+ca))
	b := randSlice[float32](rnd, max(0, (rb-1)*ldb+cb))
	c := randSlice[float32](rnd, max(0, (tc.m-1)*ldc+tc.n))
	for i := range c {
		if i%ldc >= tc.n {
			c[i] = sentinel
		} else if tc.beta == 0 {
			c[i] = float32(math.NaN())
		}
	}
	alpha, beta := float32(tc.alpha), float32(tc.beta)
	want, tol := refGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, alpha, a, lda, b, ldb, beta, c, ldc, 0x1p-24)
	im.sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, alpha, a, lda, b, ldb, beta, c, ldc)
	bad := 0
	for i := range c {
		r, j := i/ldc, i%ldc
		if j >= tc.n {
			if c[i] != sentinel {
				t.Fatalf("%s %v: C[%d,%d] (stride padding) overwritten: %v", im.name, tc, r, j, c[i])
			}
			continue
		}
		w := want[r*tc.n+j]
		if got := float64(c[i]); !(math.Abs(got-w) <= tol[r*tc.n+j]) {
			t.Errorf("%s %v: C[%d,%d] = %v, want %v ± %g", im.name, tc, r, j, got, w, tol[r*tc.n+j])
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}
}

var alphaBetas = [][2]float64{{1, 0}, {1, 1}, {-0.5, 2}, {2, -0.5}, {0, 2}, {0, 0}, {2, 0}}

// randCase draws a problem: mostly small and odd sizes around the kernel
// tile sizes, sometimes up to ~300.
func randCase(rnd *rand.Rand) gemmCase {
	size := func() int {
		switch rnd.IntN(4) {
		case 0:
			return 1 + rnd.IntN(4)
		case 1:
			return 1 + rnd.IntN(40)
		case 2:
			return []int{6, 7, 13, 14, 15, 16, 17, 28, 29, 31, 32, 33, 63, 64, 65}[rnd.IntN(15)]
		}
		return 1 + rnd.IntN(300)
	}
	tc := gemmCase{
		transA: rnd.IntN(2) == 1, transB: rnd.IntN(2) == 1,
		m: size(), n: size(), k: size(),
	}
	if rnd.IntN(2) == 0 {
		tc.padA, tc.padB, tc.padC = rnd.IntN(5), rnd.IntN(5), rnd.IntN(5)
	}
	ab := alphaBetas[rnd.IntN(len(alphaBetas))]
	tc.alpha, tc.beta = ab[0], ab[1]
	// Keep the reference (O(mnk) float64) cheap.
	for tc.m*tc.n*tc.k > 1<<21 {
		switch {
		case tc.m >= tc.n && tc.m >= tc.k:
			tc.m = tc.m/2 + 1
		case tc.n >= tc.k:
			tc.n = tc.n/2 + 1
		default:
			tc.k = tc.k/2 + 1
		}
	}
	return tc
}

func TestSgemmSmall(t *testing.T) {
	sizes := []int{1, 2, 3, 5, 8, 13, 14, 15, 16, 17, 31, 32, 33}
	if testing.Short() {
		sizes = []int{1, 3, 14, 17, 33}
	}
	for _, im := range allImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, 2))
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, m := range sizes {
						for _, n := range sizes {
							k := sizes[rnd.IntN(len(sizes))]
							ab := alphaBetas[rnd.IntN(len(alphaBetas))]
							tc := gemmCase{transA: tA, transB: tB, m: m, n: n, k: k, alpha: ab[0], beta: ab[1]}
							if rnd.IntN(2) == 0 {
								tc.padA, tc.padB, tc.padC = 1+rnd.IntN(3), 1+rnd.IntN(3), 1+rnd.IntN(3)
							}
							checkSgemm(t, im, tc, rnd)
						}
					}
				}
			}
		})
	}
}

func TestSgemmRandom(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	for _, im := range allImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(3, 4))
			for range n {
				checkSgemm(t, im, randCase(rnd), rnd)
			}
		})
	}
}

// TestSgemmParallel exercises the partitioning with more threads than
// cores and shapes that split on rows, columns or both.
func TestSgemmParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cases := []gemmCase{
		{m: 20, n: 25, k: 2000, transB: true, alpha: 1},
		{m: 200, n: 30, k: 300, alpha: 1, beta: 1},
		{m: 70, n: 300, k: 100, transA: true, alpha: 2, beta: -0.5, padC: 3},
		{m: 3, n: 1000, k: 200, alpha: -0.5},
		{m: 129, n: 257, k: 65, transA: true, transB: true, alpha: 1, beta: 2},
		{m: 5, n: 7, k: 30000, transA: true, alpha: -0.5, beta: 0, padC: 2}, // k split
		{m: 17, n: 33, k: 5003, transB: true, alpha: 2, beta: 1},            // k split
	}
	for _, procs := range []int{2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, im := range goImpls() {
			rnd := rand.New(rand.NewPCG(5, 6))
			for _, tc := range cases {
				checkSgemm(t, im, tc, rnd)
			}
		}
	}
}

// TestSgemmConcurrent runs calls from several goroutines at once.
func TestSgemmConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(7, uint64(g)))
			for range 10 {
				tc := gemmCase{m: 50 + rnd.IntN(100), n: 50 + rnd.IntN(200), k: 50 + rnd.IntN(100), alpha: 1, beta: 0.5}
				checkSgemm(t, impl{name: "default"}, tc, rnd)
			}
		}()
	}
	wg.Wait()
}

// TestSgemmZeroQuick covers the quick returns: empty C, k = 0, alpha = 0
// (A and B are not read, so they may hold NaNs).
func TestSgemmZeroQuick(t *testing.T) {
	nan := float32(math.NaN())
	for _, im := range allImpls(t) {
		c := []float32{1, 2, 3, 4}
		im.sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
		if fmt.Sprint(c) != "[0.5 1 1.5 2]" {
			t.Errorf("%s: k=0: C = %v", im.name, c)
		}
		a := []float32{nan, nan, nan, nan}
		im.sgemm(true, true, 2, 2, 2, 0, a, 2, a, 2, 0, c, 2)
		if fmt.Sprint(c) != "[0 0 0 0]" {
			t.Errorf("%s: alpha=0, beta=0: C = %v", im.name, c)
		}
		im.sgemm(false, false, 0, 2, 2, 1, nil, 2, a, 2, 0, nil, 2)
		im.sgemm(false, false, 2, 0, 2, 1, a, 2, nil, 1, 0, nil, 1)
	}
}

func TestSgemmPanics(t *testing.T) {
	s := make([]float32, 100)
	for _, tc := range []struct {
		want string
		f    func()
	}{
		{mLT0, func() { Sgemm(false, false, -1, 2, 2, 1, s, 2, s, 2, 0, s, 2) }},
		{nLT0, func() { Sgemm(false, false, 2, -1, 2, 1, s, 2, s, 2, 0, s, 2) }},
		{kLT0, func() { Sgemm(false, false, 2, 2, -1, 1, s, 2, s, 2, 0, s, 2) }},
		{badLdA, func() { Sgemm(false, false, 2, 3, 4, 1, s, 3, s, 3, 0, s, 3) }},
		{badLdA, func() { Sgemm(true, false, 5, 3, 4, 1, s, 4, s, 3, 0, s, 3) }},
		{badLdB, func() { Sgemm(false, false, 2, 3, 4, 1, s, 4, s, 2, 0, s, 3) }},
		{badLdB, func() { Sgemm(false, true, 2, 3, 4, 1, s, 4, s, 3, 0, s, 3) }},
		{badLdC, func() { Sgemm(false, false, 2, 3, 4, 1, s, 4, s, 3, 0, s, 2) }},
		{shortA, func() { Sgemm(false, false, 11, 3, 10, 1, s, 10, s, 3, 0, s, 3) }},
		{shortB, func() { Sgemm(false, true, 2, 11, 10, 1, s, 10, s, 10, 0, s, 11) }},
		{shortC, func() { Sgemm(false, false, 10, 11, 1, 1, s, 1, s, 11, 0, s, 11) }},
		{shortC, func() {
			Dgemm(false, false, 10, 11, 1, 1, make([]float64, 10), 1, make([]float64, 11), 11, 0, make([]float64, 109), 11)
		}},
	} {
		func() {
			defer func() {
				if r := recover(); r != tc.want {
					t.Errorf("panic %v, want %q", r, tc.want)
				}
			}()
			tc.f()
		}()
	}
}

func TestDgemm(t *testing.T) {
	ims := []impl{{name: "go"}}
	if l := tryLib(); l != nil {
		ims = append(ims, impl{name: "openblas", lib: l})
		if cl := l.cblasVariant(); cl != nil {
			ims = append(ims, impl{name: "openblas-cblas", lib: cl})
		}
	}
	for _, im := range ims {
		rnd := rand.New(rand.NewPCG(8, 9))
		for range 60 {
			tc := randCase(rnd)
			ra, ca, lda, rb, cb, ldb, ldc := tc.dims()
			a := randSlice[float64](rnd, max(0, (ra-1)*lda+ca))
			b := randSlice[float64](rnd, max(0, (rb-1)*ldb+cb))
			c := randSlice[float64](rnd, max(0, (tc.m-1)*ldc+tc.n))
			if tc.beta == 0 {
				for i := range c {
					c[i] = math.NaN()
				}
			}
			want, tol := refGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc, 0x1p-53)
			im.dgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
			for i := 0; i < tc.m; i++ {
				for j := 0; j < tc.n; j++ {
					if got, w := c[i*ldc+j], want[i*tc.n+j]; !(math.Abs(got-w) <= 4*tol[i*tc.n+j]) {
						t.Fatalf("%s %v: C[%d,%d] = %v, want %v", im.name, tc, i, j, got, w)
					}
				}
			}
		}
	}
}

// projectShapes are the GEMMs of the models Retina trains (see the
// benchmarks).
var projectShapes = []gemmCase{
	{m: 64, n: 1000, k: 784}, {m: 64, n: 784, k: 1000, transB: true}, {m: 784, n: 1000, k: 64, transA: true},
	{m: 64, n: 500, k: 800}, {m: 64, n: 800, k: 500, transB: true}, {m: 800, n: 500, k: 64, transA: true},
	{m: 50, n: 4096, k: 500}, {m: 500, n: 4096, k: 50, transA: true}, {m: 50, n: 500, k: 4096, transB: true},
	{m: 20, n: 36864, k: 25}, {m: 20, n: 25, k: 36864, transB: true},
	{m: 64, n: 100, k: 784},
}

// TestGoOpenBLASAgree checks that the pure-Go kernels and OpenBLAS agree to
// float32 rounding on the project's shapes.
func TestGoOpenBLASAgree(t *testing.T) {
	l := testLib(t)
	rnd := rand.New(rand.NewPCG(10, 11))
	for _, tc := range projectShapes {
		ra, ca, lda, rb, cb, ldb, ldc := tc.dims()
		a := randSlice[float32](rnd, ra*ca)
		b := randSlice[float32](rnd, rb*cb)
		want := make([]float32, tc.m*tc.n)
		impl{name: "openblas", lib: l}.sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, want, ldc)
		for _, im := range goImpls() {
			if im.kern == kernelGeneric && tc.m*tc.n*tc.k > 1<<24 {
				continue // slow
			}
			got := make([]float32, len(want))
			im.sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, got, ldc)
			// Inputs in [-1, 1]: |C| ≲ √k, rounding errors ≲ k·eps·(k/3).
			tol := float64(tc.k) * 0x1p-24 * math.Max(1, float64(tc.k)/3)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > tol {
					t.Fatalf("%s vs openblas %v: C[%d] = %v vs %v (|d| = %g > %g)", im.name, tc, i, got[i], want[i], d, tol)
				}
			}
		}
	}
}

func TestTranspose(t *testing.T) {
	for _, k := range kernels {
		if !k.supported {
			continue
		}
		for rows := 1; rows <= 33; rows++ {
			for _, kc := range []int{1, 7, 8, 9, 16, 61} {
				lds := kc + rows%3
				src := randSlice[float32](rand.New(rand.NewPCG(1, 1)), (rows-1)*lds+kc)
				stride := rows + rows%2
				dst := make([]float32, kc*stride)
				for i := range dst {
					dst[i] = sentinel
				}
				k.transpose(dst, stride, src, lds, rows, kc)
				for p := 0; p < kc; p++ {
					for r := 0; r < stride; r++ {
						want := float32(sentinel)
						if r < rows {
							want = src[r*lds+p]
						}
						if got := dst[p*stride+r]; got != want {
							t.Fatalf("%s: rows=%d kc=%d: dst[%d,%d] = %v, want %v", k.name, rows, kc, p, r, got, want)
						}
					}
				}
			}
		}
	}
}

func TestPartition(t *testing.T) {
	for _, tc := range []struct {
		m, n, k, threads int
		pm, pn, pk       int
	}{
		{64, 1000, 784, 2, 1, 2, 1},
		{20, 25, 36864, 2, 1, 1, 2},
		{20, 36864, 25, 2, 1, 2, 1},
		{8, 8, 8, 2, 1, 1, 1},        // too small to split
		{1, 20, 1 << 20, 2, 1, 1, 2}, // one row, one panel: split k
		{1024, 1024, 1024, 4, 1, 4, 1},
		{4096, 64, 1024, 4, 4, 1, 1},
		{1 << 20, 1, 1, 2, 2, 1, 1}, // one column, k = 1: split m
	} {
		pm, pn, pk := partition(kernelAVX512Like, tc.m, tc.n, tc.k, tc.threads, true)
		if pm != tc.pm || pn != tc.pn || pk != tc.pk {
			t.Errorf("partition(%d, %d, %d, %d threads) = %d×%d×%d, want %d×%d×%d", tc.m, tc.n, tc.k, tc.threads, pm, pn, pk, tc.pm, tc.pn, tc.pk)
		}
	}
}

// kernelAVX512Like has the AVX-512 kernel's shape on every platform.
var kernelAVX512Like = &kernel{name: "shape", mr: 14, nr: 32, kc: 384, nc: 320, tightA: true}

func TestSelectBackend(t *testing.T) {
	if _, _, err := selectBackend("bogus", "", ""); err == nil {
		t.Error("RETINA_BLAS=bogus: no error")
	}
	if l, limit, err := selectBackend("go", "3", ""); l != nil || limit != 3 || err != nil {
		t.Errorf("RETINA_BLAS=go: %v %d %v", l, limit, err)
	}
	if _, limit, _ := selectBackend("go", "x", ""); limit != 0 {
		t.Errorf("invalid thread count accepted: %d", limit)
	}
	l, _, err := selectBackend("openblas", "", "/nonexistent/libopenblas.so")
	if tryLib() != nil {
		if l == nil || err != nil {
			t.Errorf("RETINA_BLAS=openblas with OpenBLAS installed: %v %v", l, err)
		}
	} else if l != nil || err == nil {
		t.Errorf("RETINA_BLAS=openblas without OpenBLAS: %v %v", l, err)
	}
	if _, err := loadOpenBLASFrom([]string{"/nonexistent/libopenblas.so"}); err == nil {
		t.Error("loaded a nonexistent library")
	} else {
		t.Logf("expected error: %v", err)
	}
	if _, err := loadOpenBLASFrom([]string{"libc.so.6"}); err == nil {
		t.Error("accepted libc as OpenBLAS")
	}
}

// TestEnv checks the environment variables in child processes, since the
// backend is chosen once per process.
func TestEnv(t *testing.T) {
	if os.Getenv("RETINA_BLAS_TEST_CHILD") != "" {
		t.Skip("child")
	}
	haveLib := tryLib() != nil
	for _, tc := range []struct {
		env  []string
		want []string // substrings of the child's report
	}{
		{[]string{"RETINA_BLAS=go", "RETINA_BLAS_THREADS=1"}, []string{"backend=go-" + defaultKernel.name + " (1 thread)", "threads=1", "init=<nil>", "c=6", "panic=<nil>"}},
		{[]string{"RETINA_BLAS=Bogus"}, []string{"backend=unavailable: RETINA_BLAS=\"bogus\"", "init=RETINA_BLAS", "panic=blas: RETINA_BLAS"}},
		{[]string{"RETINA_BLAS=openblas", "RETINA_BLAS_LIB=/nonexistent/libopenblas.so"}, map[bool][]string{
			true:  {"backend=openblas ", "init=<nil>", "c=6", "panic=<nil>"},
			false: {"backend=unavailable: RETINA_BLAS=openblas", "panic=blas: RETINA_BLAS=openblas: "},
		}[haveLib]},
		{[]string{"RETINA_BLAS=auto", "RETINA_BLAS_THREADS=x"}, map[bool][]string{
			true:  {autoWithLib(), "init=<nil>", "c=6"},
			false: {"backend=go-", "init=<nil>", "c=6"},
		}[haveLib]},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvChild$", "-test.v")
		cmd.Env = append(os.Environ(), "RETINA_BLAS_TEST_CHILD=1", "RETINA_BLAS=", "RETINA_BLAS_THREADS=", "RETINA_BLAS_LIB=")
		cmd.Env = append(cmd.Env, tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%v: %v\n%s", tc.env, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.env, w, out)
			}
		}
	}
}

// autoWithLib is the start of Backend() in auto mode with OpenBLAS
// installed: pure Go on AVX-512 machines.
func autoWithLib() string {
	if preferGo("auto", defaultKernel.name) {
		return "backend=go-avx512 ("
	}
	return "backend=openblas "
}

func TestPreferGo(t *testing.T) {
	for _, tc := range []struct {
		mode, kernel string
		want         bool
	}{
		{"", "avx512", true}, {"auto", "avx512", true}, {" Auto ", "avx512", true},
		{"auto", "avx2", false}, {"auto", "generic", false}, {"openblas", "avx512", false},
	} {
		if got := preferGo(tc.mode, tc.kernel); got != tc.want {
			t.Errorf("preferGo(%q, %q) = %t", tc.mode, tc.kernel, got)
		}
	}
}

func TestEnvChild(t *testing.T) {
	if os.Getenv("RETINA_BLAS_TEST_CHILD") == "" {
		t.Skip("run by TestEnv")
	}
	fmt.Printf("backend=%s\nthreads=%d\ninit=%v\n", Backend(), Threads(), Init())
	defer func() { fmt.Printf("panic=%v\n", recover()) }()
	c := []float32{0}
	Sgemm(false, false, 1, 1, 1, 1, []float32{2}, 1, []float32{3}, 1, 0, c, 1)
	fmt.Printf("c=%v\n", c[0])
}

func TestBackend(t *testing.T) {
	t.Logf("Backend() = %s", Backend())
	if l := tryLib(); l != nil {
		if got := l.numThreads(); got != Threads() {
			t.Errorf("openblas_get_num_threads() = %d, want %d", got, Threads())
		}
		t.Logf("OpenBLAS: %s", l.describe(Threads()))
	}
}

// TestAllocs checks that repeated calls of the same size do not allocate.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not measurable under the race detector")
	}
	ims := goImpls()
	if l := tryLib(); l != nil {
		ims = append(ims, impl{name: "openblas", lib: l})
	}
	for _, im := range ims {
		for _, tc := range []gemmCase{
			{m: 64, n: 1000, k: 784},               // split along n
			{m: 20, n: 25, k: 36864, transB: true}, // split along k
			{m: 1000, n: 20, k: 64, transA: true},  // split along m
			{m: 10, n: 10, k: 10, transA: true},    // serial
		} {
			ra, ca, lda, rb, cb, ldb, ldc := tc.dims()
			a := make([]float32, ra*ca)
			b := make([]float32, rb*cb)
			c := make([]float32, tc.m*tc.n)
			activeKernel.Store(im.kern)
			f := func() { sgemm(im.lib, tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, c, ldc) }
			f()
			if n := testing.AllocsPerRun(20, f); n != 0 {
				t.Errorf("%s %v: %v allocations per call", im.name, tc, n)
			}
			activeKernel.Store(nil)
		}
	}
}

// TestPackers checks the kernels' packing routines against their
// definitions, including zero padding and untouched memory.
func TestPackers(t *testing.T) {
	rnd := rand.New(rand.NewPCG(12, 13))
	for _, k := range kernels {
		if !k.supported {
			continue
		}
		for _, kc := range []int{1, 5, 8, 16, 23} {
			for cols := 1; cols <= 3*k.nr+1; cols++ {
				lds := cols + rnd.IntN(3)
				src := randSlice[float32](rnd, (kc-1)*lds+cols)
				panels := ceilDiv(cols, k.nr)
				dst := make([]float32, panels*k.nr*kc+7)
				for i := range dst {
					dst[i] = sentinel
				}
				k.copyPanels(dst, src, lds, kc, cols)
				for i, got := range dst {
					want := float32(sentinel)
					if q, r := i/(k.nr*kc), i%(k.nr*kc); q < panels {
						p, j := r/k.nr, q*k.nr+r%k.nr
						want = 0
						if j < cols {
							want = src[p*lds+j]
						}
					}
					if got != want {
						t.Fatalf("%s copyPanels kc=%d cols=%d: dst[%d] = %v, want %v", k.name, kc, cols, i, got, want)
					}
				}
			}
			if k.transposePanel != nil {
				for rows := 1; rows <= k.nr; rows++ {
					lds := kc + rnd.IntN(3)
					src := randSlice[float32](rnd, (rows-1)*lds+kc)
					dst := make([]float32, k.nr*kc+5)
					for i := range dst {
						dst[i] = sentinel
					}
					k.transposePanel(dst, src, lds, rows, kc)
					for i, got := range dst {
						want := float32(sentinel)
						if p, r := i/k.nr, i%k.nr; p < kc {
							want = 0
							if r < rows {
								want = src[r*lds+p]
							}
						}
						if got != want {
							t.Fatalf("%s transposePanel kc=%d rows=%d: dst[%d] = %v, want %v", k.name, kc, rows, i, got, want)
						}
					}
				}
			}
			if k.copyRows != nil {
				for rows := 1; rows <= k.mr; rows++ {
					lds := rows + rnd.IntN(3)
					src := randSlice[float32](rnd, (kc-1)*lds+rows)
					dst := make([]float32, kc*rows+5)
					for i := range dst {
						dst[i] = sentinel
					}
					k.copyRows(dst, src, lds, kc, rows)
					for i, got := range dst {
						want := float32(sentinel)
						if i < kc*rows {
							want = src[i/rows*lds+i%rows]
						}
						if got != want {
							t.Fatalf("%s copyRows kc=%d rows=%d: dst[%d] = %v, want %v", k.name, kc, rows, i, got, want)
						}
					}
				}
			}
		}
	}
}

// TestSgemmDeterministic repeats products that are split along k (small C,
// long k) and along rows and columns: every repetition must give the same
// bits, whichever participant computes which chunk.
func TestSgemmDeterministic(t *testing.T) {
	if Threads() < 2 {
		t.Skip("needs 2 threads to split")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{20, 25, 36864}, {16, 16, 100000}, {64, 1000, 784}, {500, 384, 50}} {
		m, n, k := s[0], s[1], s[2]
		a, b := randSlice[float32](rng, m*k), randSlice[float32](rng, k*n)
		first := make([]float32, m*n)
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, first, n)
		for rep := 0; rep < 20; rep++ {
			c := make([]float32, m*n)
			Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
					t.Fatalf("%d×%d×%d, repetition %d: element %d is %v, first run %v", m, n, k, rep, i, c[i], first[i])
				}
			}
		}
	}
}

// TestUnpackedMatchesPacked checks that reading B in place
// (blockUnpacked, for products of few rows; SgemmCachedB's, for more)
// gives the packed path's bits: rows from 1 to 5 register panels and past
// them, partial column panels, depths over one k block, beta 0, 1 and
// other, padded strides, and a product split among threads.
func TestUnpackedMatchesPacked(t *testing.T) {
	kern := currentKernel()
	if kern.tileStrided == nil {
		t.Skipf("kernel %s reads B packed only", kern.name)
	}
	defer func() { packAlways = false }()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][3]int{
		{1, 1, 1}, {2, 33, 7}, {14, 32, 384}, {15, 100, 385}, {16, 784, 144}, {20, 6912, 25},
		{28, 47, 1000}, {29, 64, 3}, {5, 17, 2049}, {16, 3136, 144}, {64, 294, 576},
		{32, 588, 288}, {50, 512, 500}, {70, 40, 90}, {71, 33, 20},
	} {
		for _, beta := range []float32{0, 1, 0.5} {
			m, n, k := s[0], s[1], s[2]
			lda, ldb, ldc := k+3, n+5, n+2
			a, b := randSlice[float32](rng, m*lda), randSlice[float32](rng, k*ldb)
			c0 := randSlice[float32](rng, m*ldc)
			run := func(packed bool, sgemm func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) []float32 {
				packAlways = packed
				c := append([]float32(nil), c0...)
				sgemm(false, false, m, n, k, 1.5, a, lda, b, ldb, beta, c, ldc)
				return c
			}
			want := run(true, Sgemm)
			for _, way := range []struct {
				name string
				got  []float32
			}{{"unpacked", run(false, Sgemm)}, {"SgemmCachedB", run(false, SgemmCachedB)}} {
				for i, v := range way.got {
					if math.Float32bits(v) != math.Float32bits(want[i]) {
						t.Fatalf("%d×%d×%d beta %v: element %d (row %d, column %d) is %v %s, %v packed", m, n, k, beta, i, i/ldc, i%ldc, v, way.name, want[i])
					}
				}
			}
		}
	}
}
