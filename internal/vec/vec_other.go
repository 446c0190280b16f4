//go:build !amd64 || noasm

package vec

const haveAsm = false

func addF32(dst, a, b *float32, n int) { panic("unreachable") }

func addF64(dst, a, b *float64, n int) { panic("unreachable") }
