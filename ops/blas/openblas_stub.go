//go:build !(linux && (amd64 || arm64)) || noopenblas

package blas

import "errors"

// openBLAS is not available in this build: the platform is not supported
// or the noopenblas build tag is set. The package then never loads a
// shared library, and does not import purego.
type openBLAS struct{}

func loadOpenBLAS(string) (*openBLAS, error) { return loadOpenBLASFrom(nil) }

func loadOpenBLASFrom([]string) (*openBLAS, error) {
	return nil, errors.New("OpenBLAS support is not compiled in (unsupported platform or noopenblas build tag)")
}

func (*openBLAS) cblasVariant() *openBLAS              { return nil }
func (*openBLAS) describe(int) string                  { return "" }
func (*openBLAS) setThreads(int)                       {}
func (*openBLAS) numThreads() int                      { return 0 }
func (*openBLAS) fits(m, n, k, lda, ldb, ldc int) bool { return false }

func (*openBLAS) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("unreachable")
}

func (*openBLAS) dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	panic("unreachable")
}
