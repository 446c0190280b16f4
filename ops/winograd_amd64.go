//go:build amd64 && !noasm

package ops

import "unsafe"

//go:noescape
func wgApplyAsm(dst unsafe.Pointer, ds int, src unsafe.Pointer, ss int, mat unsafe.Pointer, rows, cols int, acc bool)

// wgApply is wgApplyGo, in AVX-512 where the machine has it. The
// assembly does not check that the rows lie within dst and src: the
// kernels' index arithmetic is the same for both, and the tests run
// wgApplyGo, which checks, on the geometries' shapes (a check per call
// here cost 4% of LeNet's training step).
func wgApply(dst []float32, ds int, src []float32, ss int, mat []float32, rows, cols int, acc bool) {
	if wgAsm && haveRowsAsm {
		wgApplyAsm(unsafe.Pointer(&dst[0]), 4*ds, unsafe.Pointer(&src[0]), 4*ss, unsafe.Pointer(&mat[0]), rows, cols, acc)
		return
	}
	wgApplyGo(dst, ds, src, ss, mat, rows, cols, acc)
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
	var idx [wgLanes]int32
	for l := range idx {
		idx[l] = int32(min(l, n-1) * img)
	}
	wgGatherAsm(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), img, &idx, uint16(1)<<n-1, 1)
}

// fromLanes is toLanes' inverse for the n first images.
func fromLanes(dst, src []float32, n, img int) {
	if !wgAsm || !haveRowsAsm || img%wgLanes != 0 {
		fromLanesGo(dst, src, n, img)
		return
	}
	_ = src[img*wgLanes-1]
	_ = dst[n*img-1]
	var idx [wgLanes]int32
	for i := range idx {
		idx[i] = int32(i * wgLanes)
	}
	for l := 0; l < n; l++ {
		wgGatherAsm(unsafe.Pointer(&dst[l*img]), unsafe.Pointer(&src[l]), img/wgLanes, &idx, 0xffff, wgLanes*wgLanes)
	}
}
