package blas

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Panic messages for invalid arguments, as in gonum's BLAS.
const (
	mLT0   = "blas: m < 0"
	nLT0   = "blas: n < 0"
	kLT0   = "blas: k < 0"
	badLdA = "blas: bad lda"
	badLdB = "blas: bad ldb"
	badLdC = "blas: bad ldc"
	shortA = "blas: insufficient length of a"
	shortB = "blas: insufficient length of b"
	shortC = "blas: insufficient length of c"
)

// Sgemm computes
//
//	C = alpha·op(A)·op(B) + beta·C
//
// for row-major float32 matrices, where op(X) is X, or Xᵀ when the
// corresponding trans flag is set; op(A) is m×k, op(B) is k×n and C is m×n.
//
// The matrices are stored row-major with row strides lda, ldb and ldc
// (in elements): element (i, j) of a matrix X with stride ldx is x[i·ldx+j].
// A is stored m×k (lda ≥ max(1, k)), or k×m when transA is set
// (lda ≥ max(1, m)); likewise B is k×n (ldb ≥ max(1, n)) or n×k when transB
// is set (ldb ≥ max(1, k)); ldc ≥ max(1, n). The slices must be long enough
// for these dimensions and strides.
//
// When beta is zero C need not be initialised: its elements, NaNs included,
// are overwritten. When alpha is zero or k is zero A and B are not read.
// C must not overlap A or B.
//
// Sgemm panics if an argument is invalid (negative dimension, bad stride,
// short slice), or if the backend forced with RETINA_BLAS cannot be used
// (see Init). It does not allocate once the sizes it is called with have
// been seen. It may be called concurrently; calls must not write to a C
// that another call reads or writes.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, lda, len(a), ldb, len(b), ldc, len(c))
	sgemm(backend(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmCachedB is Sgemm for a B that is in the calling core's cache, just
// written by the caller and at most about a megabyte (its L2 cache): the
// columns of an unrolled image that a convolution multiplies. Where Sgemm
// packs B for more than two row panels of A (28 rows with the AVX-512
// kernel), SgemmCachedB reads it in place for up to five (70 rows), which
// is faster for such a B and slower for one that comes from memory. The
// result is the same, bit for bit.
func SgemmCachedB(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, lda, len(a), ldb, len(b), ldc, len(c))
	if lib := backend(); lib != nil || m == 0 || n == 0 || alpha == 0 || k == 0 {
		sgemm(lib, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmGoRows(cachedBRows, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemm is Sgemm on checked arguments with the given backend (nil: pure Go).
func sgemm(lib *openBLAS, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	if lib != nil && lib.fits(m, n, k, lda, ldb, ldc) {
		lib.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64 matrices:
//
//	C = alpha·op(A)·op(B) + beta·C
//
// with the same shapes, row-major layout, strides and panics.
//
// The pure-Go backend delegates to gonum's native BLAS
// (gonum.org/v1/gonum/blas/gonum); the OpenBLAS backend calls dgemm.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(transA, transB, m, n, k, lda, len(a), ldb, len(b), ldc, len(c))
	dgemm(backend(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// dgemm is Dgemm on checked arguments with the given backend (nil: pure Go).
func dgemm(lib *openBLAS, transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	if lib != nil && lib.fits(m, n, k, lda, ldb, ldc) {
		lib.dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gonum.Implementation{}.Dgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// checkGemm panics if the arguments of a GEMM call are invalid.
func checkGemm(transA, transB bool, m, n, k, lda, lenA, ldb, lenB, ldc, lenC int) {
	switch {
	case m < 0:
		panic(mLT0)
	case n < 0:
		panic(nLT0)
	case k < 0:
		panic(kLT0)
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	switch {
	case lda < max(1, colsA):
		panic(badLdA)
	case ldb < max(1, colsB):
		panic(badLdB)
	case ldc < max(1, n):
		panic(badLdC)
	}
	if m == 0 || n == 0 {
		return
	}
	if k > 0 {
		if lenA < lda*(rowsA-1)+colsA {
			panic(shortA)
		}
		if lenB < ldb*(rowsB-1)+colsB {
			panic(shortB)
		}
	}
	if lenC < ldc*(m-1)+n {
		panic(shortC)
	}
}

// scale sets C = beta·C; beta == 0 overwrites C with zeros.
func scale[T float32 | float64](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Environment variables read once, at first use.
const (
	envBackend = "RETINA_BLAS"         // auto (default), go or openblas
	envThreads = "RETINA_BLAS_THREADS" // thread limit, a positive integer
	envLib     = "RETINA_BLAS_LIB"     // OpenBLAS library to try first
)

var (
	backendOnce sync.Once
	lib         *openBLAS // loaded OpenBLAS, nil for the pure-Go backend
	libErr      error     // why the configured backend cannot be used
	envLimit    int       // RETINA_BLAS_THREADS, 0 if unset or invalid
	userLimit   atomic.Int64
)

func initBackend() {
	mode := os.Getenv(envBackend)
	if preferGo(mode, defaultKernel.name) {
		mode = "go"
	}
	lib, envLimit, libErr = selectBackend(mode, os.Getenv(envThreads), os.Getenv(envLib))
	if lib != nil {
		lib.setThreads(threads())
	}
}

// preferGo reports whether RETINA_BLAS mode should use the pure-Go backend
// without trying OpenBLAS: in auto mode with the AVX-512 kernel, which
// measured about twice as fast as Debian's OpenBLAS in SGEMM (see the
// package documentation). Not loading OpenBLAS at all also spares its idle
// thread pool, which otherwise takes a few percent of the CPU.
func preferGo(mode, kernel string) bool {
	m := strings.ToLower(strings.TrimSpace(mode))
	return (m == "" || m == "auto") && kernel == "avx512"
}

// selectBackend interprets the values of RETINA_BLAS, RETINA_BLAS_THREADS
// and RETINA_BLAS_LIB. An invalid thread count is ignored.
func selectBackend(mode, threads, path string) (*openBLAS, int, error) {
	limit := 0
	if v, err := strconv.Atoi(strings.TrimSpace(threads)); err == nil && v > 0 {
		limit = v
	}
	switch mode = strings.ToLower(strings.TrimSpace(mode)); mode {
	case "", "auto":
		lib, _ := loadOpenBLAS(path)
		return lib, limit, nil
	case "go":
		return nil, limit, nil
	case "openblas":
		lib, err := loadOpenBLAS(path)
		if err != nil {
			return nil, limit, fmt.Errorf("%s=openblas: %w", envBackend, err)
		}
		return lib, limit, nil
	}
	return nil, limit, fmt.Errorf("%s=%q: want auto, go or openblas", envBackend, mode)
}

// backend returns the loaded OpenBLAS library, or nil for the pure-Go
// backend. It panics if the configured backend is unusable.
func backend() *openBLAS {
	backendOnce.Do(initBackend)
	if libErr != nil {
		panic("blas: " + libErr.Error())
	}
	if lib != nil {
		lib.setThreads(threads())
	}
	return lib
}

// Init selects the backend, if that has not happened yet, and reports
// whether it is usable. It returns a non-nil error only when RETINA_BLAS
// forces a backend that cannot be loaded (or has an unknown value); in that
// case every Sgemm and Dgemm call panics with the same message. Calling Init
// is optional: the backend is otherwise selected at the first call of any
// function of the package.
func Init() error {
	backendOnce.Do(initBackend)
	return libErr
}

// SgemmConcurrent reports whether Sgemm calls made concurrently from
// several goroutines each run well on the core they are on: true for the
// pure-Go backend, whose calls use only the workers that are free; false
// for OpenBLAS, whose calls share one thread pool, so that callers should
// rather make one call at a time and let it use every core.
func SgemmConcurrent() bool { return backend() == nil }

// DgemmConcurrent is SgemmConcurrent for Dgemm: true for the pure-Go
// backend only.
func DgemmConcurrent() bool { return backend() == nil }

// Backend describes the implementation in use, for example
//
//	openblas 0.3.21 Haswell (/usr/lib/x86_64-linux-gnu/libopenblas.so.0, 2 threads)
//	go-avx512 (2 threads)
func Backend() string {
	backendOnce.Do(initBackend)
	switch {
	case libErr != nil:
		return "unavailable: " + libErr.Error()
	case lib != nil:
		return lib.describe(Threads())
	}
	return fmt.Sprintf("go-%s (%s)", currentKernel().name, plural(Threads(), "thread"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Threads returns the number of threads a call may use:
// runtime.GOMAXPROCS(0), capped by SetThreads or else by the
// RETINA_BLAS_THREADS environment variable.
func Threads() int {
	backendOnce.Do(initBackend)
	return threads()
}

// threads is Threads once the environment has been read.
func threads() int {
	n := runtime.GOMAXPROCS(0)
	limit := int(userLimit.Load())
	if limit == 0 {
		limit = envLimit
	}
	if limit > 0 && limit < n {
		n = limit
	}
	return n
}

// SetThreads caps the number of threads of later calls at n (which then
// overrides RETINA_BLAS_THREADS); n ≤ 0 removes the cap set by SetThreads.
// It returns the previous cap set by SetThreads (0 if none). With the
// OpenBLAS backend the cap is applied with openblas_set_num_threads.
func SetThreads(n int) (prev int) {
	return int(userLimit.Swap(int64(max(n, 0))))
}
