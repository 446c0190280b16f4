// Package blas provides the dense matrix multiplications, GEMM, that
// Retina's layers reduce to: convolutions (im2col followed by a GEMM),
// dense layers and their gradients.
//
//	Sgemm: C = alpha·op(A)·op(B) + beta·C   (float32)
//	Dgemm: C = alpha·op(A)·op(B) + beta·C   (float64)
//
// Matrices are row-major: element (i, j) of a matrix X with row stride ldx
// is x[i·ldx+j]. op(X) is X or, when the corresponding trans flag is set,
// Xᵀ; op(A) is m×k, op(B) is k×n and C is m×n. The argument conventions,
// and the panics for invalid arguments, follow gonum's blas.Float32 and
// blas.Float64 with row-major storage.
//
// # Backends
//
// Two implementations are available; Backend reports the one in use.
//
// The pure-Go backend needs no system library and builds with
// CGO_ENABLED=0. Its SGEMM is a GotoBLAS/BLIS-style blocked algorithm:
// op(B) is packed into column panels and op(A) into row panels (both
// transposes are handled while packing), blocks are sized for the caches,
// and register-blocked micro-kernels written in Go assembly do the
// arithmetic:
//
//   - go-avx512 (amd64 with AVX-512F and AVX-512VL): a 14×32 kernel family,
//     one kernel per row count 1..14 and column masks, so that edges waste
//     no work; products of at most 28 rows with B not transposed (the
//     forward pass of a convolution with few filters, a dense layer at a
//     small batch) read B where it lies instead of packing it, with a
//     second family of the same kernels, bit for bit the same results
//     (SgemmCachedB does so up to 70 rows, for a B in the caller's cache);
//   - go-avx2 (amd64 with AVX2 and FMA): a 6×16 kernel;
//   - go-generic (other architectures, or the noasm build tag): a
//     portable 4×4 kernel in plain Go.
//
// Its DGEMM delegates to gonum's native implementation
// (gonum.org/v1/gonum/blas/gonum), which is accurate but slower.
//
// The OpenBLAS backend loads OpenBLAS at run time, without cgo, through
// github.com/ebitengine/purego (Linux on amd64 and arm64). It tries
// RETINA_BLAS_LIB if set, then libopenblas.so.0, libopenblas.so and
// Debian's /usr/lib/<multiarch>/openblas-pthread/libopenblas.so.0. On
// Debian and Ubuntu, install it with
//
//	apt-get install libopenblas0-pthread
//
// The noopenblas build tag leaves the OpenBLAS backend, and purego, out.
//
// # Selection
//
// The backend is chosen once, at the first call of any function of the
// package, from the environment variable RETINA_BLAS:
//
//	auto      OpenBLAS if it can be loaded, else pure Go (the default);
//	          but pure Go, without loading OpenBLAS, where the CPU runs the
//	          go-avx512 kernel, which measured about twice as fast there
//	go        pure Go
//	openblas  OpenBLAS; if it cannot be loaded, Init returns the error
//	          and every Sgemm and Dgemm call panics with it: there is no
//	          silent fallback
//
// Programs that force OpenBLAS can call Init at start-up to report a
// missing library cleanly.
//
// OpenBLAS is not always the faster: builds that lack a kernel for the CPU
// fall back to an older one. Debian 12's OpenBLAS 0.3.21, for one, runs
// its AVX2 (Haswell) SGEMM on AMD Zen 5, where go-avx512 is about twice as
// fast; RETINA_BLAS=go selects it.
//
// # Threads
//
// A call uses up to Threads() threads: runtime.GOMAXPROCS(0), capped by
// SetThreads or else by the environment variable RETINA_BLAS_THREADS.
// OpenBLAS is given the same number (openblas_set_num_threads), so the two
// never oversubscribe the machine. Callers are assumed not to run other
// parallel work during a call.
//
// The pure-Go backend runs small problems on the calling goroutine. Larger
// ones are split, by a cost model, along the columns, the rows or the depth
// k of the product, into a few chunks per thread that the calling goroutine
// and the long-lived workers of package internal/par claim in turn; a split
// along k is planned from the problem size alone, for 8 threads and
// chunks at least 1024 deep, whatever the number of threads (see
// Determinism). After a job a worker
// polls for the next one for about 200µs, yielding between polls, before
// it parks: this hides the wake-up latency of parked threads (tens of
// microseconds on virtual machines) from the closely spaced calls of a
// training step. Packing buffers are kept for reuse, so calls of a
// steady size do not allocate.
//
// # Determinism
//
// The pure-Go backend gives the same bits for the same arguments whatever
// the number of threads (GOMAXPROCS, SetThreads, RETINA_BLAS_THREADS) and
// whichever thread computes which chunk. Sgemm cuts C into blocks according
// to the number of threads, but every kernel rounds an element of C the
// same way wherever it lies in a block; a split along k, which changes the
// rounding, depends only on m, n and k, and its partial products are added
// to C in a fixed order. Dgemm (gonum) computes every block of C serially
// over k, whatever GOMAXPROCS. Results do depend on the kernel: go-avx512,
// go-avx2 and go-generic round differently, so they differ between CPUs
// and with the noasm build tag.
//
// The OpenBLAS backend makes no such promise: OpenBLAS's sgemm and dgemm
// split their work according to the number of threads they are given
// (openblas_set_num_threads(Threads())), and the bits of C change with it:
// Debian 12's OpenBLAS 0.3.21 gives different results with 1, 2, 3 and 8
// threads on every one of Retina's GEMM shapes. That backend is in use with
// RETINA_BLAS=openblas, and with RETINA_BLAS=auto (the default) on a CPU
// without the go-avx512 kernel when OpenBLAS can be loaded; RETINA_BLAS=go
// makes training reproducible across thread counts.
//
// All functions may be called concurrently.
package blas
