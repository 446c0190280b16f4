//go:build !noasm

package blas

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate go run gen_kernels.go

// Generated AVX-512 kernels: sgemmKernelAVX512xR computes the R×32 tile
//
//	C[i, j] = alpha·Σ_p a[p·R+i]·b[p·32+j] + beta·C[i, j]   (beta == 0: C ignored)
//
// for the columns j selected by the masks m0 (j < 16) and m1 (j ≥ 16), with
// C row-major with row stride ldc elements.

//go:noescape
func sgemmKernelAVX512x1(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x2(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x3(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x4(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x5(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x6(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x7(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x8(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x9(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x10(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x11(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x12(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x13(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

//go:noescape
func sgemmKernelAVX512x14(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16)

// sgemmKernelAVX512SxR is sgemmKernelAVX512xR reading B in place: k step p
// reads the 32 columns at b[p·ldb:], those past the masks m0, m1 as zeros,
// instead of a packed panel. The result is the same, bit for bit.

//go:noescape
func sgemmKernelAVX512Sx1(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx2(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx3(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx4(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx5(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx6(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx7(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx8(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx9(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx10(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx11(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx12(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx13(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

//go:noescape
func sgemmKernelAVX512Sx14(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int)

// sgemmKernelAVX2x6x16 computes the full 6×16 tile
// C = alpha·A·B + beta·C (beta == 0: C ignored) from a 6-row packed A panel
// and a 16-column packed B panel.
//
//go:noescape
func sgemmKernelAVX2x6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// transpose8AVX2 packs 8 rows of src (row stride srcStride elements) times
// 8·n8 columns into dst: dst[p·dstStride+r] = src[r·srcStride+p].
//
//go:noescape
func transpose8AVX2(dst *float32, dstStride int, src *float32, srcStride int, n8 int)

// transpose8AVX512 is transpose8AVX2 for rows ≤ 8 source rows: only
// dst[p·dstStride+r] for r < rows is written and only rows r < rows of src
// are read.
//
//go:noescape
func transpose8AVX512(dst *float32, dstStride int, src *float32, srcStride int, n8, rows int)

// packPanelsAVX512 sets dst[q·panelStride+p·32+j] = src[p·srcStride+32q+j]
// for p < kc and the 32·panels+last columns j+32q, zero padding a partial
// last panel (0 ≤ last < 32).
//
//go:noescape
func packPanelsAVX512(dst *float32, panelStride int, src *float32, srcStride int, kc, panels, last int)

// packPanelsAVX2 sets dst[q·panelStride+p·16+j] = src[p·srcStride+16q+j]
// for p < kc, q < panels, j < 16.
//
//go:noescape
func packPanelsAVX2(dst *float32, panelStride int, src *float32, srcStride int, kc, panels int)

// transposePanelAVX512 sets dst[p·32+r] = src[r·lds+p] for p < 8·n8 and
// r < rows ≤ 32, and dst[p·32+r] = 0 for rows ≤ r < 32.
//
//go:noescape
func transposePanelAVX512(dst *float32, src *float32, lds int, n8, rows int)

// copyRowsAVX512 sets dst[p·rows+i] = src[p·lds+i] for p < kc, i < rows ≤ 16.
//
//go:noescape
func copyRowsAVX512(dst *float32, src *float32, lds, kc, rows int)

var avx512Kernels = [...]func(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16){
	sgemmKernelAVX512x1, sgemmKernelAVX512x2, sgemmKernelAVX512x3, sgemmKernelAVX512x4,
	sgemmKernelAVX512x5, sgemmKernelAVX512x6, sgemmKernelAVX512x7, sgemmKernelAVX512x8,
	sgemmKernelAVX512x9, sgemmKernelAVX512x10, sgemmKernelAVX512x11, sgemmKernelAVX512x12,
	sgemmKernelAVX512x13, sgemmKernelAVX512x14,
}

var avx512StridedKernels = [...]func(kc int, a, b, c *float32, ldc int, alpha, beta float32, m0, m1 uint16, ldb int){
	sgemmKernelAVX512Sx1, sgemmKernelAVX512Sx2, sgemmKernelAVX512Sx3, sgemmKernelAVX512Sx4,
	sgemmKernelAVX512Sx5, sgemmKernelAVX512Sx6, sgemmKernelAVX512Sx7, sgemmKernelAVX512Sx8,
	sgemmKernelAVX512Sx9, sgemmKernelAVX512Sx10, sgemmKernelAVX512Sx11, sgemmKernelAVX512Sx12,
	sgemmKernelAVX512Sx13, sgemmKernelAVX512Sx14,
}

// kernelAVX512 is a 14×32 AVX-512F kernel family: one generated kernel per
// row count so that partial row panels waste no work, column masks for
// partial column panels.
var kernelAVX512 = &kernel{
	name:           "avx512",
	mr:             14,
	nr:             32,
	kc:             384,
	nc:             320,
	tightA:         true,
	tile:           tileAVX512,
	tileStrided:    tileStridedAVX512,
	transpose:      transposeAVX512,
	transposePanel: transposePanelAVX512Go,
	copyRows:       copyRowsAVX512Go,
	copyPanels:     copyPanelsAVX512,
}

// kernelAVX2 is the 6×16 AVX2+FMA kernel; partial tiles go through a
// scratch tile, with the same arithmetic as full ones.
var kernelAVX2 = &kernel{
	name:       "avx2",
	mr:         6,
	nr:         16,
	kc:         256,
	nc:         512,
	tile:       tileAVX2,
	transpose:  transposeAVX2,
	copyPanels: copyPanelsAVX2,
}

func tileAVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int) {
	m0, m1 := columnMasks(nr)
	avx512Kernels[mr-1](kc, a, b, c, ldc, alpha, beta, m0, m1)
}

func tileStridedAVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr, ldb int) {
	m0, m1 := columnMasks(nr)
	avx512StridedKernels[mr-1](kc, a, b, c, ldc, alpha, beta, m0, m1, ldb)
}

// columnMasks returns the lane masks of the first nr ≤ 32 columns of a
// tile, in its two halves.
func columnMasks(nr int) (m0, m1 uint16) {
	m0, m1 = 0xffff, 0xffff
	if nr < 32 {
		if nr <= 16 {
			m0, m1 = uint16(1)<<nr-1, 0
		} else {
			m1 = uint16(1)<<(nr-16) - 1
		}
	}
	return m0, m1
}

func tileAVX2(kc int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int) {
	if mr == 6 && nr == 16 {
		sgemmKernelAVX2x6x16(kc, a, b, c, ldc, alpha, beta)
		return
	}
	// The kernel updates a copy of the tile, so that an element is rounded
	// the same way in a partial tile as in a full one: the result does not
	// depend on where the tiles of a parallel call start.
	var t [6 * 16]float32
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	if beta != 0 {
		for i := 0; i < mr; i++ {
			copy(t[i*16:i*16+nr], cs[i*ldc:])
		}
	}
	sgemmKernelAVX2x6x16(kc, a, b, &t[0], 16, alpha, beta)
	for i := 0; i < mr; i++ {
		copy(cs[i*ldc:i*ldc+nr], t[i*16:])
	}
}

// transposeAVX512 sets dst[p·stride+r] = src[r·lds+p] for r < rows, p < kc.
func transposeAVX512(dst []float32, stride int, src []float32, lds, rows, kc int) {
	n8 := kc / 8
	for r := 0; r < rows; r += 8 {
		g := min(8, rows-r)
		if n8 > 0 {
			// Bounds: the assembly reads src[(r+i)·lds+p] for i < g,
			// p < 8·n8 and writes dst[p·stride+r+i]; both are within the
			// slices checked below.
			_ = src[(r+g-1)*lds+8*n8-1]
			_ = dst[(8*n8-1)*stride+r+g-1]
			transpose8AVX512(&dst[r], stride, &src[r*lds], lds, n8, g)
		}
		transposeTail(dst[r:], stride, src[r*lds:], lds, g, 8*n8, kc)
	}
}

// transposeAVX2 is transposeAVX512 using full 8-row AVX2 blocks and scalar
// code for the remaining rows.
func transposeAVX2(dst []float32, stride int, src []float32, lds, rows, kc int) {
	n8 := kc / 8
	r := 0
	if n8 > 0 {
		for ; r+8 <= rows; r += 8 {
			_ = src[(r+7)*lds+8*n8-1]
			_ = dst[(8*n8-1)*stride+r+7]
			transpose8AVX2(&dst[r], stride, &src[r*lds], lds, n8)
			transposeTail(dst[r:], stride, src[r*lds:], lds, 8, 8*n8, kc)
		}
	}
	if r < rows {
		transposeTail(dst[r:], stride, src[r*lds:], lds, rows-r, 0, kc)
	}
}

// transposePanelAVX512Go packs rows < rows ≤ 32 of src (row stride lds)
// as a zero-padded 32-column B panel kc deep: dst[p·32+r] = src[r·lds+p].
func transposePanelAVX512Go(dst []float32, src []float32, lds, rows, kc int) {
	n8 := kc / 8
	if n8 > 0 {
		_ = src[(rows-1)*lds+8*n8-1]
		_ = dst[32*8*n8-1]
		transposePanelAVX512(&dst[0], &src[0], lds, n8, rows)
	}
	if kc > 8*n8 {
		transposeTail(dst, 32, src, lds, rows, 8*n8, kc)
		for p := 8 * n8; p < kc; p++ {
			clear(dst[p*32+rows : p*32+32])
		}
	}
}

// copyRowsAVX512Go packs a tight A panel from a transposed A:
// dst[p·rows+i] = src[p·lds+i] for p < kc, i < rows ≤ 16.
func copyRowsAVX512Go(dst []float32, src []float32, lds, kc, rows int) {
	_ = src[(kc-1)*lds+rows-1]
	_ = dst[kc*rows-1]
	copyRowsAVX512(&dst[0], &src[0], lds, kc, rows)
}

// copyPanelsAVX512 packs the kc×nc block src (row stride lds) into
// zero-padded 32-column panels: dst[q·32·kc + p·32 + j] = src[p·lds+32q+j].
func copyPanelsAVX512(dst []float32, src []float32, lds, kc, nc int) {
	_ = src[(kc-1)*lds+nc-1]
	_ = dst[ceilDiv(nc, 32)*32*kc-1]
	packPanelsAVX512(&dst[0], 32*kc, &src[0], lds, kc, nc/32, nc%32)
}

// copyPanelsAVX2 is copyPanelsAVX512 for 16-column panels.
func copyPanelsAVX2(dst []float32, src []float32, lds, kc, nc int) {
	panels := nc / 16
	if panels > 0 {
		_ = src[(kc-1)*lds+16*panels-1]
		_ = dst[panels*16*kc-1]
		packPanelsAVX2(&dst[0], 16*kc, &src[0], lds, kc, panels)
	}
	if nc%16 != 0 {
		copyPanelsGeneric(dst[panels*16*kc:], 16, src[16*panels:], lds, kc, nc%16)
	}
}

func init() {
	kernels = append(kernels, kernelAVX2, kernelAVX512)
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL:
		defaultKernel = kernelAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		defaultKernel = kernelAVX2
	}
	kernelAVX512.supported = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
	kernelAVX2.supported = cpu.X86.HasAVX2 && cpu.X86.HasFMA
}
