//go:build !amd64 || noasm

package ops

// haveNormAsm is false: the kernels of norm_lanes.go run in Go.
const haveNormAsm = false

func normSumAsm(x *float32, n, rows, stride int, masks uint32) float64 { panic("unreachable") }

func normSqDevAsm(x *float32, n, rows, stride int, masks uint32, m float64) float64 {
	panic("unreachable")
}

func normGradSumsAsm(x, dy *float32, n, rows, stride int, masks uint32, m float64, out *[3]float64) {
	panic("unreachable")
}

func bnNormAsm(y, x *float32, n, rows, stride int, masks uint32, m, sc, b float64, relu bool) {
	panic("unreachable")
}

func bnDxAsm(dx, dy, x *float32, n, rows, stride int, masks uint32, k *[4]float64) {
	panic("unreachable")
}

func lnNormAsm(y, x *float32, gamma, beta *float64, n int, masks uint32, m, inv float64) {
	panic("unreachable")
}

func lnGradSumsAsm(x, dy *float32, gamma *float64, n int, masks uint32, m float64, out *[2]float64) {
	panic("unreachable")
}

func lnDxAsm(dx, dy, x *float32, gamma *float64, n int, masks uint32, k *[4]float64) {
	panic("unreachable")
}

func lnColAccAsm(acc *float64, dy, x *float32, n int, masks uint32, m, inv float64) {
	panic("unreachable")
}

func colAddAsm(acc *float64, dy *float32, n int, masks uint32) { panic("unreachable") }

func planeMeansAsm(y, x *float32, planes, hw int, masks uint32) { panic("unreachable") }

func planeFillAsm(dx, dy *float32, planes, hw int) { panic("unreachable") }
