package ops

import (
	"runtime"
	"unsafe"
)

// convArgs are the arguments of the assembly im2col and col2im kernels
// (im2col_amd64.s reads the fields at fixed offsets).
type convArgs struct {
	x, cols, masks uintptr // image (or its gradient), column matrix, lane masks
	ld             int     // row stride of cols, bytes
	c, h, kh, kw   int
	ph, pw, oh, ow int
	wmask          int // lanes of a row: OW for im2col, W for col2im
	kwld, chw, row int // col2im: KW·ld, KH·KW·ld; both: step to the next channel, the next image row (bytes)
}

// asmConv reports whether the assembly kernels handle this geometry:
// stride 1 and rows that fit a 16-float register.
func (g convGeom) asmConv() bool {
	return haveRowsAsm && g.SH == 1 && g.SW == 1 && g.OW <= 16 && g.W <= 16 && g.KW <= 16
}

// laneMask returns the 16-bit mask of the lanes i in [lo, hi) ∩ [0, n).
func laneMask(lo, hi, n int) uint16 {
	var m uint16
	for i := max(lo, 0); i < min(hi, n); i++ {
		m |= 1 << i
	}
	return m
}

// im2colAsm is im2col for g.asmConv() geometries, on float32.
func im2colAsm(g convGeom, x, cols []float32, ld int, masks *[16]uint16) {
	for kw := 0; kw < g.KW; kw++ {
		// output column ow reads input column ow + kw − PW
		masks[kw] = laneMask(g.PW-kw, g.W+g.PW-kw, g.OW)
	}
	_ = x[g.C*g.H*g.W-1]
	_ = cols[(g.ckk()-1)*ld+g.p()-1]
	a := convArgs{
		x: uintptr(unsafe.Pointer(&x[0])), cols: uintptr(unsafe.Pointer(&cols[0])), masks: uintptr(unsafe.Pointer(&masks[0])),
		ld: ld * 4, c: g.C, h: g.H, kh: g.KH, kw: g.KW, ph: g.PH, pw: g.PW, oh: g.OH, ow: g.OW,
		wmask: int(laneMask(0, g.OW, 16)), chw: g.H * g.W * 4, row: g.W * 4,
	}
	im2colS1Asm(&a)
	runtime.KeepAlive(x)
	runtime.KeepAlive(cols)
}

// col2imAsm overwrites dx with the adjoint of im2colAsm's columns.
func col2imAsm(g convGeom, cols []float32, ld int, dx []float32, masks *[16]uint16) {
	for kw := 0; kw < g.KW; kw++ {
		// input column iw reads output column iw + PW − kw
		masks[kw] = laneMask(kw-g.PW, kw-g.PW+g.OW, g.W)
	}
	_ = dx[g.C*g.H*g.W-1]
	_ = cols[(g.ckk()-1)*ld+g.p()-1]
	a := convArgs{
		x: uintptr(unsafe.Pointer(&dx[0])), cols: uintptr(unsafe.Pointer(&cols[0])), masks: uintptr(unsafe.Pointer(&masks[0])),
		ld: ld * 4, c: g.C, h: g.H, kh: g.KH, kw: g.KW, ph: g.PH, pw: g.PW, oh: g.OH, ow: g.OW,
		wmask: int(laneMask(0, g.W, 16)), kwld: g.KW * ld * 4, chw: g.KH * g.KW * ld * 4, row: g.W * 4,
	}
	col2imS1Asm(&a)
	runtime.KeepAlive(dx)
	runtime.KeepAlive(cols)
}
