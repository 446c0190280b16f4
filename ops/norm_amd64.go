//go:build amd64 && !noasm

package ops

import "golang.org/x/sys/cpu"

// haveNormAsm reports whether the float32 kernels of norm_amd64.s run:
// they use AVX-512 (F and VL, for masked 8-lane stores).
var haveNormAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// The assembly kernels of norm_lanes.go (norm_amd64.s). Pointers are to
// float32 data; n ≥ 32 is the floats of a row, masks normMasks(n), stride
// the distance between rows in floats.

//go:noescape
func normSumAsm(x *float32, n, rows, stride int, masks uint32) float64

//go:noescape
func normSqDevAsm(x *float32, n, rows, stride int, masks uint32, m float64) float64

//go:noescape
func normGradSumsAsm(x, dy *float32, n, rows, stride int, masks uint32, m float64, out *[3]float64)

//go:noescape
func bnNormAsm(y, x *float32, n, rows, stride int, masks uint32, m, sc, b float64, relu bool)

//go:noescape
func bnDxAsm(dx, dy, x *float32, n, rows, stride int, masks uint32, k *[4]float64)

//go:noescape
func lnNormAsm(y, x *float32, gamma, beta *float64, n int, masks uint32, m, inv float64)

//go:noescape
func lnGradSumsAsm(x, dy *float32, gamma *float64, n int, masks uint32, m float64, out *[2]float64)

//go:noescape
func lnDxAsm(dx, dy, x *float32, gamma *float64, n int, masks uint32, k *[4]float64)

//go:noescape
func lnColAccAsm(acc *float64, dy, x *float32, n int, masks uint32, m, inv float64)

//go:noescape
func colAddAsm(acc *float64, dy *float32, n int, masks uint32)

//go:noescape
func planeMeansAsm(y, x *float32, planes, hw int, masks uint32)

//go:noescape
func planeFillAsm(dx, dy *float32, planes, hw int)
