package blas

import (
	"sync/atomic"
	"unsafe"
)

// A kernel is a register-blocked SGEMM micro-kernel together with the cache
// blocking that suits it.
//
// The driver packs op(A) into row panels of at most mr rows: for each k step
// p the panel holds the panel's rows contiguously (stride mr, or the
// panel's own row count when tightA is set). op(B) is packed into column
// panels of nr columns (zero padded), nr floats per k step.
type kernel struct {
	name      string
	mr, nr    int  // register tile
	kc, nc    int  // cache blocking: depth of a packed panel, width of the packed B block
	tightA    bool // partial A panels are packed with their own row count as stride
	supported bool // the CPU can run it

	// tile computes the mr×nr (mr ≤ kernel.mr, nr ≤ kernel.nr) block
	//	C = alpha·Ap·Bp + beta·C
	// where C has row stride ldc, Ap is a packed A panel and Bp a packed B
	// panel, both kc deep. beta == 0 means C is not read.
	tile func(kc int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int)

	// tileStrided, if not nil, is tile reading B unpacked: k step p reads
	// the nr ≤ kernel.nr columns at b[p·ldb:], and nothing past them. It
	// rounds every element as tile does.
	tileStrided func(kc int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr, ldb int)

	// transpose sets dst[p·stride+r] = src[r·lds+p] for r < rows, p < kc.
	transpose func(dst []float32, stride int, src []float32, lds, rows, kc int)

	// transposePanel, if not nil, packs the rows < rows ≤ nr of src (row
	// stride lds) as a zero-padded B panel: dst[p·nr+r] = src[r·lds+p] for
	// p < kc, zero for r ≥ rows.
	transposePanel func(dst []float32, src []float32, lds, rows, kc int)

	// copyRows, if not nil, packs a tight A panel from a transposed A:
	// dst[p·rows+i] = src[p·lds+i] for p < kc, i < rows ≤ mr.
	copyRows func(dst []float32, src []float32, lds, kc, rows int)

	// copyPanels packs the kc×nc row-major block src (row stride lds) into
	// column panels of nr: dst[q·nr·kc + p·nr + j] = src[p·lds + q·nr + j],
	// zero padding the last panel.
	copyPanels func(dst []float32, src []float32, lds, kc, nc int)
}

// kernelGeneric is the portable pure-Go 4×4 kernel.
var kernelGeneric = &kernel{
	name:       "generic",
	mr:         4,
	nr:         4,
	kc:         256,
	nc:         1024,
	supported:  true,
	tile:       tileGeneric,
	transpose:  transposeGeneric,
	copyPanels: func(dst []float32, src []float32, lds, kc, nc int) { copyPanelsGeneric(dst, 4, src, lds, kc, nc) },
}

var (
	// kernels lists the kernels compiled into the package, best last.
	kernels = []*kernel{kernelGeneric}
	// defaultKernel is the best kernel the CPU supports.
	defaultKernel = kernelGeneric
	// activeKernel, when set, overrides defaultKernel (tests, benchmarks).
	activeKernel atomic.Pointer[kernel]
)

// currentKernel returns the kernel used by the pure-Go backend.
func currentKernel() *kernel {
	if k := activeKernel.Load(); k != nil {
		return k
	}
	return defaultKernel
}

// tileGeneric is the pure-Go micro-kernel: a 4×4 register block.
func tileGeneric(kc int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int) {
	ap := unsafe.Slice(a, 4*kc)
	bp := unsafe.Slice(b, 4*kc)
	var (
		c00, c01, c02, c03 float32
		c10, c11, c12, c13 float32
		c20, c21, c22, c23 float32
		c30, c31, c32, c33 float32
	)
	for p := 0; p < kc; p++ {
		av := ap[4*p : 4*p+4 : 4*p+4]
		bv := bp[4*p : 4*p+4 : 4*p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	t := [16]float32{
		c00, c01, c02, c03,
		c10, c11, c12, c13,
		c20, c21, c22, c23,
		c30, c31, c32, c33,
	}
	mergeTile(t[:], 4, unsafe.Slice(c, (mr-1)*ldc+nr), ldc, alpha, beta, mr, nr)
}

// mergeTile sets c[i·ldc+j] = alpha·t[i·ldt+j] + beta·c[i·ldc+j] for i < mr,
// j < nr; beta == 0 means c is not read.
func mergeTile(t []float32, ldt int, c []float32, ldc int, alpha, beta float32, mr, nr int) {
	for i := 0; i < mr; i++ {
		ti := t[i*ldt : i*ldt+nr]
		ci := c[i*ldc : i*ldc+nr]
		if beta == 0 {
			for j, v := range ti {
				ci[j] = alpha * v
			}
		} else {
			for j, v := range ti {
				ci[j] = alpha*v + beta*ci[j]
			}
		}
	}
}

// copyPanelsGeneric packs the kc×nc block src (row stride lds) into column
// panels of nr: dst[q·nr·kc + p·nr + j] = src[p·lds + q·nr + j], zero
// padding the last panel.
func copyPanelsGeneric(dst []float32, nr int, src []float32, lds, kc, nc int) {
	full := nc / nr
	rem := nc - full*nr
	for p := 0; p < kc; p++ {
		s := src[p*lds : p*lds+nc]
		d := p * nr
		for q := 0; q < full; q++ {
			copy(dst[d:d+nr], s[q*nr:])
			d += nr * kc
		}
		if rem > 0 {
			copy(dst[d:d+rem], s[full*nr:])
			clear(dst[d+rem : d+nr])
		}
	}
}

// transposeGeneric sets dst[p·stride+r] = src[r·lds+p] for r < rows, p < kc.
func transposeGeneric(dst []float32, stride int, src []float32, lds, rows, kc int) {
	transposeTail(dst, stride, src, lds, rows, 0, kc)
}

// transposeTail sets dst[p·stride+r] = src[r·lds+p] for r < rows,
// p0 ≤ p < kc.
func transposeTail(dst []float32, stride int, src []float32, lds, rows, p0, kc int) {
	if p0 >= kc {
		return
	}
	for r := 0; r < rows; r++ {
		s := src[r*lds+p0 : r*lds+kc]
		d := dst[p0*stride+r:]
		for i, v := range s {
			d[i*stride] = v
		}
	}
}
