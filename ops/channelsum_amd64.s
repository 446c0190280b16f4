//go:build amd64 && !noasm

#include "textflag.h"

// func sum4PlanesAsm(chains *[16]float32, x unsafe.Pointer, stride, groups int)
// Runs sum4's four accumulators over the first 4·groups floats of four
// planes, plane i at x + i·stride bytes: chains[4i+c] = the sum, in order
// from +0, of the plane's values at positions c, c+4, c+8, … Lane 4i+c of
// Z0 is that accumulator, the adds of each in sum4's order: the same bits.
TEXT ·sum4PlanesAsm(SB), NOSPLIT, $0-32
	MOVQ chains+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ stride+16(FP), R8
	MOVQ groups+24(FP), CX
	LEAQ (SI)(R8*2), R9
	VXORPS Z0, Z0, Z0
	TESTQ CX, CX
	JEQ sumDone

sumLoop:
	VMOVUPS (SI), X1
	VINSERTF32X4 $1, (SI)(R8*1), Z1, Z1
	VINSERTF32X4 $2, (R9), Z1, Z1
	VINSERTF32X4 $3, (R9)(R8*1), Z1, Z1
	VADDPS Z1, Z0, Z0
	ADDQ $16, SI
	ADDQ $16, R9
	DECQ CX
	JNE sumLoop

sumDone:
	VMOVUPS Z0, (DI)
	VZEROUPPER
	RET
