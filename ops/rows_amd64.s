//go:build amd64 && !noasm

#include "textflag.h"

// func copyRowsAsm(dst, src unsafe.Pointer, full int, mask uint16, rows, dstStride, srcStride int)
TEXT ·copyRowsAsm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ full+16(FP), CX
	MOVWLZX mask+24(FP), AX
	KMOVW AX, K1
	MOVQ rows+32(FP), DX
	MOVQ dstStride+40(FP), R8
	MOVQ srcStride+48(FP), R9

copyRow:
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ CX, R12
	TESTQ R12, R12
	JEQ copyTail

copyFull:
	VMOVUPS (R11), Z0
	VMOVUPS Z0, (R10)
	ADDQ $64, R10
	ADDQ $64, R11
	DECQ R12
	JNE copyFull

copyTail:
	VMOVUPS.Z (R11), K1, Z0
	VMOVUPS Z0, K1, (R10)
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ DX
	JNE copyRow
	VZEROUPPER
	RET

// func addRowsAsm(dst, src unsafe.Pointer, full int, mask uint16, rows, dstStride, srcStride int)
TEXT ·addRowsAsm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ full+16(FP), CX
	MOVWLZX mask+24(FP), AX
	KMOVW AX, K1
	MOVQ rows+32(FP), DX
	MOVQ dstStride+40(FP), R8
	MOVQ srcStride+48(FP), R9

addRow:
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ CX, R12
	TESTQ R12, R12
	JEQ addTail

addFull:
	VMOVUPS (R11), Z0
	VADDPS (R10), Z0, Z0
	VMOVUPS Z0, (R10)
	ADDQ $64, R10
	ADDQ $64, R11
	DECQ R12
	JNE addFull

addTail:
	VMOVUPS.Z (R11), K1, Z0
	VMOVUPS.Z (R10), K1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (R10)
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ DX
	JNE addRow
	VZEROUPPER
	RET

// RELU16(off) sets the 16 floats at off(DI) to those at off(SI) with the
// bits of negative ones cleared: x &^ (x >> 31), as relu.
#define RELU16(off) \
	VMOVUPS off(SI), Z0; \
	VPSRAD $31, Z0, Z1; \
	VPANDND Z0, Z1, Z0; \
	VMOVUPS Z0, off(DI)

// func reluAsm(y, x unsafe.Pointer, n int)
TEXT ·reluAsm(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ CX, DX
	SHRQ $6, CX
	JEQ reluSingles

reluBlocks:
	RELU16(0)
	RELU16(64)
	RELU16(128)
	RELU16(192)
	ADDQ $256, SI
	ADDQ $256, DI
	DECQ CX
	JNE reluBlocks

reluSingles:
	ANDQ $63, DX
	JEQ reluDone

reluOne:
	CMPQ DX, $16
	JLT reluTail
	RELU16(0)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, DX
	JNE reluOne
	JMP reluDone

reluTail:
	MOVL $1, AX
	SHLXL DX, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VPSRAD $31, Z0, Z1
	VPANDND Z0, Z1, Z0
	VMOVUPS Z0, K1, (DI)

reluDone:
	VZEROUPPER
	RET

// RELUGRAD16(off) sets the 16 floats at off(DI) to the dy at off(SI) where
// the y at off(BX) is positive and to +0 elsewhere: dy & −y >> 31, as
// reluGrad.
#define RELUGRAD16(off) \
	VPXORD Z2, Z2, Z2; \
	VPSUBD off(BX), Z2, Z1; \
	VPSRAD $31, Z1, Z1; \
	VPANDD off(SI), Z1, Z0; \
	VMOVUPS Z0, off(DI)

// func reluGradAsm(dx, y, dy unsafe.Pointer, n int)
TEXT ·reluGradAsm(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ y+8(FP), BX
	MOVQ dy+16(FP), SI
	MOVQ n+24(FP), CX
	MOVQ CX, DX
	SHRQ $6, CX
	JEQ gradSingles

gradBlocks:
	RELUGRAD16(0)
	RELUGRAD16(64)
	RELUGRAD16(128)
	RELUGRAD16(192)
	ADDQ $256, SI
	ADDQ $256, DI
	ADDQ $256, BX
	DECQ CX
	JNE gradBlocks

gradSingles:
	ANDQ $63, DX
	JEQ gradDone

gradOne:
	CMPQ DX, $16
	JLT gradTail
	RELUGRAD16(0)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, BX
	SUBQ $16, DX
	JNE gradOne
	JMP gradDone

gradTail:
	MOVL $1, AX
	SHLXL DX, AX, AX
	DECL AX
	KMOVW AX, K1
	VPXORD Z2, Z2, Z2
	VMOVUPS.Z (BX), K1, Z1
	VPSUBD Z1, Z2, Z1
	VPSRAD $31, Z1, Z1
	VMOVUPS.Z (SI), K1, Z0
	VPANDD Z0, Z1, Z0
	VMOVUPS Z0, K1, (DI)

gradDone:
	VZEROUPPER
	RET

// func prefetchAsm(p unsafe.Pointer, n int)
// Asks for the n bytes from p into the L2 cache, a line (64 bytes) at a
// time.
TEXT ·prefetchAsm(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	ADDQ $63, CX
	SHRQ $6, CX
	JEQ prefetchDone
prefetchLine:
	PREFETCHT1 (SI)
	ADDQ $64, SI
	DECQ CX
	JNE prefetchLine
prefetchDone:
	RET
