//go:build amd64 && !noasm

package vec

import "golang.org/x/sys/cpu"

var haveAsm = cpu.X86.HasAVX512F

// addF32 and addF64 are Add, addConstF32 and addConstF64 AddConst, on
// n > 0 elements (vec_amd64.s).
//
//go:noescape
func addF32(dst, a, b *float32, n int)

//go:noescape
func addF64(dst, a, b *float64, n int)

//go:noescape
func addConstF32(dst *float32, b float32, n int)

//go:noescape
func addConstF64(dst *float64, b float64, n int)
