package blas

import (
	"fmt"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are the project's GEMMs: deep-autoencoder dense layers
// (forward, input gradient, weight gradient), LeNet's dense layer, LeNet's
// conv2 and conv1 as im2col GEMMs over a batch of 64, an MLP layer, and a
// square reference.
var benchShapes = append(append([]gemmCase(nil), projectShapes...), gemmCase{m: 1024, n: 1024, k: 1024})

func (tc gemmCase) name() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%dx%dx%d_%s%s", tc.m, tc.n, tc.k, t(tc.transA), t(tc.transB))
}

// BenchmarkSgemm measures C = op(A)·op(B) on the project's shapes, in
// GFLOP/s (2mnk per call), for the default backend (Sgemm as called by
// Retina) and for each implementation at 1 and 2 threads:
//
//	go test -bench 'Sgemm/64x1000x784_NN' -benchmem -count 5
//
// Sub-benchmarks: default, go-<kernel>/t<threads>, openblas/t<threads>,
// gonum/t<threads> (gonum's Sgemm with GOMAXPROCS = threads).
func BenchmarkSgemm(b *testing.B) {
	for _, tc := range benchShapes {
		b.Run(tc.name(), func(b *testing.B) {
			ra, ca, lda, rb, cb, ldb, ldc := tc.dims()
			x := make([]float32, ra*ca)
			y := make([]float32, rb*cb)
			z := make([]float32, tc.m*tc.n)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			for i := range y {
				y[i] = float32(i%5) - 2
			}
			run := func(b *testing.B, threads int, f func()) {
				if threads > 0 {
					defer SetThreads(SetThreads(threads))
				}
				f()
				b.ResetTimer()
				for range b.N {
					f()
				}
				b.ReportMetric(2*float64(tc.m)*float64(tc.n)*float64(tc.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
			b.Run("default", func(b *testing.B) {
				run(b, 0, func() { Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, x, lda, y, ldb, 0, z, ldc) })
			})
			for _, threads := range []int{1, 2} {
				for _, im := range goImpls() {
					if im.kern == kernelGeneric && defaultKernel != kernelGeneric {
						continue // only interesting where it is the default
					}
					b.Run(fmt.Sprintf("%s/t%d", im.name, threads), func(b *testing.B) {
						activeKernel.Store(im.kern)
						defer activeKernel.Store(nil)
						run(b, threads, func() { sgemm(nil, tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, x, lda, y, ldb, 0, z, ldc) })
					})
				}
				if l := tryLib(); l != nil {
					b.Run(fmt.Sprintf("openblas/t%d", threads), func(b *testing.B) {
						run(b, threads, func() {
							l.setThreads(Threads())
							sgemm(l, tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, x, lda, y, ldb, 0, z, ldc)
						})
					})
				}
				b.Run(fmt.Sprintf("gonum/t%d", threads), func(b *testing.B) {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
					run(b, 0, func() {
						gonum.Implementation{}.Sgemm(trans(tc.transA), trans(tc.transB), tc.m, tc.n, tc.k, 1, x, lda, y, ldb, 0, z, ldc)
					})
				})
			}
		})
	}
}

// BenchmarkSgemmUnpacked compares, on one thread, reading B in place
// (blockUnpacked, the default for products of at most unpackedRows row
// panels) with packing it, on such products: LeNet's first convolution
// (20 filters of 25 weights, a chunk of 13 images of 576 pixels), ResNet's
// 28×28 stage (16 filters of 144 weights, one image), and a dense layer at
// batch 1 (1×784 by 784×1000).
//
//	go test -run '^$' -bench SgemmUnpacked -count 5 ./ops/blas/
func BenchmarkSgemmUnpacked(b *testing.B) {
	for _, tc := range []gemmCase{{m: 20, n: 7488, k: 25}, {m: 16, n: 784, k: 144}, {m: 1, n: 1000, k: 784}} {
		ra, ca, lda, rb, cb, ldb, ldc := tc.dims()
		x, y, z := make([]float32, ra*ca), make([]float32, rb*cb), make([]float32, tc.m*tc.n)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		for i := range y {
			y[i] = float32(i%5) - 2
		}
		for _, packed := range []bool{false, true} {
			name := tc.name() + "/in-place"
			if packed {
				name = tc.name() + "/packed"
			}
			b.Run(name, func(b *testing.B) {
				defer SetThreads(SetThreads(1))
				packAlways = packed
				defer func() { packAlways = false }()
				for range b.N {
					Sgemm(false, false, tc.m, tc.n, tc.k, 1, x, lda, y, ldb, 0, z, ldc)
				}
				b.ReportMetric(2*float64(tc.m)*float64(tc.n)*float64(tc.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
