package ops

import (
	"unsafe"

	"github.com/retina-ml/retina/ops/blas"
)

// gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices with
// the backend of package ops/blas. It is called outside parallelFor
// regions: the multiply uses every core itself.
func gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemmWith(blas.Sgemm, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmCachedB is gemm for a B the caller has just written, in its core's
// cache (blas.SgemmCachedB for float32); the same bits.
func gemmCachedB[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemmWith(blas.SgemmCachedB, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmWith is gemm with sgemm for float32 (blas.Dgemm for float64).
func gemmWith[T Float](sgemm func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int),
	tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	switch any(alpha).(type) {
	case float32:
		sgemm(tA, tB, m, n, k, float32(alpha), f32(a), lda, f32(b), ldb, float32(beta), f32(c), ldc)
	case float64:
		blas.Dgemm(tA, tB, m, n, k, float64(alpha), f64(a), lda, f64(b), ldb, float64(beta), f64(c), ldc)
	}
}

func f32[T Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
func f64[T Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// Backend names the matrix-multiply implementation the ops use (see
// package ops/blas).
func Backend() string { return blas.Backend() }
