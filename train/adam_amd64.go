//go:build amd64 && !noasm

package train

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

var haveAdamAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// adamConsts are one Adam step's constants in float32, for adamAVX512.
type adamConsts struct {
	b1, c1, b2, c2, step, inv, eps, decay, shrink float32
}

//go:noescape
func adamAVX512(p, grad, m, v unsafe.Pointer, n int, c *adamConsts) bool
