//go:build amd64 && !noasm

package vec

import "golang.org/x/sys/cpu"

var haveAsm = cpu.X86.HasAVX512F

// addF32 and addF64 are Add on n > 0 elements (vec_amd64.s).
//
//go:noescape
func addF32(dst, a, b *float32, n int)

//go:noescape
func addF64(dst, a, b *float64, n int)
