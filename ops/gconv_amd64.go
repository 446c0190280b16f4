//go:build amd64 && !noasm

package ops

import "golang.org/x/sys/cpu"

//go:generate go run gconv_gen.go

// haveGconvAsm reports whether the tile kernels of gconv_amd64.s can run:
// they need AVX-512F and AVX-512VL.
var haveGconvAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
