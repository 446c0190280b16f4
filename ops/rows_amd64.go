//go:build amd64 && !noasm

package ops

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

var haveRowsAsm = cpu.X86.HasAVX512F

// copyRowsAsm and addRowsAsm copy (add) rows segments of 16·full floats plus
// a masked tail; the strides are in bytes. (rows_amd64.s, AVX-512)
//
//go:noescape
func copyRowsAsm(dst, src unsafe.Pointer, full int, mask uint16, rows, dstStride, srcStride int)

//go:noescape
func addRowsAsm(dst, src unsafe.Pointer, full int, mask uint16, rows, dstStride, srcStride int)

// reluAsm sets y = relu(x) and reluGradAsm dx = relu′·dy from y = relu(x),
// for n float32s, with relu's and reluGrad's bit operations (rows_amd64.s,
// AVX-512). y may be x, dx may be dy.
//
//go:noescape
func reluAsm(y, x unsafe.Pointer, n int)

//go:noescape
func reluGradAsm(dx, y, dy unsafe.Pointer, n int)

// sigmoidAsm sets y = sigmoid(x) for n float32s, n a multiple of 8, bit
// for bit as sigmoid[float32] does (sigmoid_amd64.s, AVX-512). y may be x.
//
//go:noescape
func sigmoidAsm(y, x unsafe.Pointer, n int)

// sum4PlanesAsm runs sum4's four accumulators over the first 4·groups
// floats of four planes stride bytes apart, into chains[4·plane + chain]
// (channelsum_amd64.s, AVX-512).
//
//go:noescape
func sum4PlanesAsm(chains *[16]float32, x unsafe.Pointer, stride, groups int)

// prefetchAsm asks for the n bytes from p into the L2 cache (rows_amd64.s).
//
//go:noescape
func prefetchAsm(p unsafe.Pointer, n int)

// maxPool2x2Asm and maxPool2x2GradAsm are 2×2, stride-2 max-pooling of one
// plane and its gradient, 16 windows at a time (pool_amd64.s, AVX-512), of
// ReLU(x) when relu is set.
//
//go:noescape
func maxPool2x2Asm(x, y unsafe.Pointer, w, oh, full int, tail uint64, relu bool)

//go:noescape
func maxPool2x2GradAsm(x, dy, dx unsafe.Pointer, w, oh, full int, tail uint64, relu bool)

// im2colLanesAsm and col2imLanesAsm unroll one image and fold it back for
// convolutions with output rows and image rows of at most 32 floats
// (im2col_amd64.s).
//
//go:noescape
func im2colLanesAsm(a *convArgs)

//go:noescape
func col2imLanesAsm(a *convArgs)

// im2colS1Asm and col2imS1Asm are the same for stride 1 and image rows of
// at most 16 floats (im2col_amd64.s).
//
//go:noescape
func im2colS1Asm(a *convS1Args)

//go:noescape
func col2imS1Asm(a *convS1Args)

// im2colFlatAsm and col2imFlatAsm are the same for stride-1 convolutions
// whose output has the input's size, a whole plane at a time
// (im2col_amd64.s).
//
//go:noescape
func im2colFlatAsm(a *convFlatArgs)

//go:noescape
func col2imFlatAsm(a *convFlatArgs)
