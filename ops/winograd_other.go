//go:build !amd64 || noasm

package ops

// wgApply is wgApplyGo (wgApplyAsm is amd64 assembly).
func wgApply(dst []float32, ds int, src []float32, ss int, mat []float32, rows, cols int, acc bool) {
	wgApplyGo(dst, ds, src, ss, mat, rows, cols, acc)
}

func toLanes(dst, src []float32, n, img int)   { toLanesGo(dst, src, n, img) }
func fromLanes(dst, src []float32, n, img int) { fromLanesGo(dst, src, n, img) }
