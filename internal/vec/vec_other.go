//go:build !amd64 || noasm

package vec

const haveAsm = false

func addF32(dst, a, b *float32, n int) { panic("unreachable") }

func addF64(dst, a, b *float64, n int) { panic("unreachable") }

func addConstF32(dst *float32, b float32, n int) { panic("unreachable") }

func addConstF64(dst *float64, b float64, n int) { panic("unreachable") }
