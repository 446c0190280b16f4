//go:build amd64 && !noasm

package ops

import "unsafe"

//go:noescape
func wgTileAsm(dst unsafe.Pointer, dRow, dCol int, src unsafe.Pointer, sRow, sCol int, l, r, tmp unsafe.Pointer, r1, c1, r2, c2 int, acc bool)

// wgTile is wgTileGo, in AVX-512 where the machine has it. The assembly
// does not check that the tiles lie within dst, src and the matrices: the
// kernels' index arithmetic is the same for both, and the tests run
// wgTileGo, which checks, on the geometries' shapes.
func wgTile(dst []float32, dRow, dCol int, src []float32, sRow, sCol int, l []float32, r1, c1 int, r []float32, r2, c2 int, acc bool, tmp *wgTmp) {
	if wgAsm && haveRowsAsm {
		wgTileAsm(unsafe.Pointer(&dst[0]), 4*dRow, 4*dCol, unsafe.Pointer(&src[0]), 4*sRow, 4*sCol,
			unsafe.Pointer(&l[0]), unsafe.Pointer(&r[0]), unsafe.Pointer(&tmp[0]), r1, c1, r2, c2, acc)
		return
	}
	wgTileGo(dst, dRow, dCol, src, sRow, sCol, l, r1, c1, r, r2, c2, acc, tmp)
}

//go:noescape
func wgGatherAsm(dst, src unsafe.Pointer, n int, idx *[16]int32, mask uint16, step int)

// toLanes copies n ≤ 16 images of img floats each from src into dst with
// the image innermost: dst[16i + l] = src[l·img + i], zero for l ≥ n.
func toLanes(dst, src []float32, n, img int) {
	if !wgAsm || !haveRowsAsm {
		toLanesGo(dst, src, n, img)
		return
	}
	_ = dst[img*wgLanes-1]
	_ = src[n*img-1]
	if n == wgLanes && img%wgLanes == 0 { // whole 16×16 blocks: ConvGrouped's plane transpose
		gconvTransposeAsm(&gconvTransposeArgs{src: uintptr(unsafe.Pointer(&src[0])), dst: uintptr(unsafe.Pointer(&dst[0])), ps: 4 * img, full: img / wgLanes})
		return
	}
	var idx [wgLanes]int32
	for l := range idx {
		idx[l] = int32(min(l, n-1) * img)
	}
	wgGatherAsm(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), img, &idx, uint16(1)<<n-1, 1)
}

// fromLanes is toLanes' inverse for the n first images (wgTransposeAsm,
// the other way round from gconvTransposeAsm).
func fromLanes(dst, src []float32, n, img int) {
	if !wgAsm || !haveRowsAsm || img%wgLanes != 0 {
		fromLanesGo(dst, src, n, img)
		return
	}
	_ = src[img*wgLanes-1]
	_ = dst[n*img-1]
	if n == wgLanes {
		wgTransposeAsm(unsafe.Pointer(&dst[0]), 4*img, unsafe.Pointer(&src[0]), 4*wgLanes, img/wgLanes, 4*wgLanes, 4*wgLanes*wgLanes)
		return
	}
	var idx [wgLanes]int32
	for i := range idx {
		idx[i] = int32(i * wgLanes)
	}
	for l := 0; l < n; l++ {
		wgGatherAsm(unsafe.Pointer(&dst[l*img]), unsafe.Pointer(&src[l]), img/wgLanes, &idx, 0xffff, wgLanes*wgLanes)
	}
}
