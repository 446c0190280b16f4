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
