//go:build !amd64 || noasm

package ops

import "unsafe"

const haveRowsAsm = false

func copyRowsAsm(dst, src unsafe.Pointer, full int, mask uint16, rows, dstStride, srcStride int) {
	panic("unreachable")
}

func addRowsAsm(dst, src unsafe.Pointer, full int, mask uint16, rows, dstStride, srcStride int) {
	panic("unreachable")
}

func reluAsm(y, x unsafe.Pointer, n int) { panic("unreachable") }

func reluGradAsm(dx, y, dy unsafe.Pointer, n int) { panic("unreachable") }

func sigmoidAsm(y, x unsafe.Pointer, n int) { panic("unreachable") }

func sum4PlanesAsm(chains *[16]float32, x unsafe.Pointer, stride, groups int) {
	panic("unreachable")
}

func maxPool2x2Asm(x, y unsafe.Pointer, w, oh, full int, tail uint64, relu bool) {
	panic("unreachable")
}

func maxPool2x2GradAsm(x, dy, dx unsafe.Pointer, w, oh, full int, tail uint64, relu bool) {
	panic("unreachable")
}

func im2colLanesAsm(a *convArgs) { panic("unreachable") }

func col2imLanesAsm(a *convArgs) { panic("unreachable") }

func im2colS1Asm(a *convS1Args) { panic("unreachable") }

func col2imS1Asm(a *convS1Args) { panic("unreachable") }

func im2colFlatAsm(a *convFlatArgs) { panic("unreachable") }

func col2imFlatAsm(a *convFlatArgs) { panic("unreachable") }

func prefetchAsm(p unsafe.Pointer, n int) {}
