//go:build !amd64 || noasm

package train

import "unsafe"

const haveAdamAsm = false

type adamConsts struct {
	b1, c1, b2, c2, step, inv, eps, decay, shrink float32
}

func adamAVX512(p, grad, m, v unsafe.Pointer, n int, c *adamConsts) bool { panic("unreachable") }
