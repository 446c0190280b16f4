//go:build amd64 && !noasm

#include "textflag.h"

// func addF32(dst, a, b *float32, n int)
// dst = a + b, 4 vectors (64 elements) a round, then single
// vectors, then the last 15 or fewer under a mask.
TEXT ·addF32(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ CX, DX
	SHRQ $6, CX
	JEQ addF32Singles
addF32Blocks:
	VMOVUPS 0(SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VADDPS 0(BX), Z0, Z0
	VADDPS 64(BX), Z1, Z1
	VADDPS 128(BX), Z2, Z2
	VADDPS 192(BX), Z3, Z3
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, SI
	ADDQ $256, BX
	ADDQ $256, DI
	DECQ CX
	JNE addF32Blocks
addF32Singles:
	ANDQ $63, DX
	JEQ addF32Done
addF32One:
	CMPQ DX, $16
	JLT addF32Tail
	VMOVUPS (SI), Z0
	VADDPS (BX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $64, DI
	SUBQ $16, DX
	JNE addF32One
	JMP addF32Done
addF32Tail:
	MOVL $1, AX
	SHLXL DX, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (BX), K1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)
addF32Done:
	VZEROUPPER
	RET

// func addF64(dst, a, b *float64, n int)
// dst = a + b, 4 vectors (32 elements) a round, then single
// vectors, then the last 7 or fewer under a mask.
TEXT ·addF64(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ CX, DX
	SHRQ $5, CX
	JEQ addF64Singles
addF64Blocks:
	VMOVUPS 0(SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VADDPD 0(BX), Z0, Z0
	VADDPD 64(BX), Z1, Z1
	VADDPD 128(BX), Z2, Z2
	VADDPD 192(BX), Z3, Z3
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, SI
	ADDQ $256, BX
	ADDQ $256, DI
	DECQ CX
	JNE addF64Blocks
addF64Singles:
	ANDQ $31, DX
	JEQ addF64Done
addF64One:
	CMPQ DX, $8
	JLT addF64Tail
	VMOVUPS (SI), Z0
	VADDPD (BX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $64, DI
	SUBQ $8, DX
	JNE addF64One
	JMP addF64Done
addF64Tail:
	MOVL $1, AX
	SHLXL DX, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPD.Z (SI), K1, Z0
	VMOVUPD.Z (BX), K1, Z1
	VADDPD Z1, Z0, Z0
	VMOVUPD Z0, K1, (DI)
addF64Done:
	VZEROUPPER
	RET
// func addConstF32(dst *float32, b float32, n int)
// dst += b, 4 vectors a round, then single vectors, then the last
// 15 or fewer under a mask.
TEXT ·addConstF32(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	VBROADCASTSS b+8(FP), Z4
	MOVQ n+16(FP), CX
	MOVQ CX, DX
	SHRQ $6, CX
	JEQ addConstF32Singles
addConstF32Blocks:
	VADDPS 0(DI), Z4, Z0
	VADDPS 64(DI), Z4, Z1
	VADDPS 128(DI), Z4, Z2
	VADDPS 192(DI), Z4, Z3
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, DI
	DECQ CX
	JNE addConstF32Blocks
addConstF32Singles:
	ANDQ $63, DX
	JEQ addConstF32Done
addConstF32One:
	CMPQ DX, $16
	JLT addConstF32Tail
	VADDPS (DI), Z4, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	SUBQ $16, DX
	JNE addConstF32One
	JMP addConstF32Done
addConstF32Tail:
	MOVL $1, AX
	SHLXL DX, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (DI), K1, Z0
	VADDPS Z4, Z0, Z0
	VMOVUPS Z0, K1, (DI)
addConstF32Done:
	VZEROUPPER
	RET

// func addConstF64(dst *float64, b float64, n int)
// dst += b, 4 vectors a round, then single vectors, then the last
// 7 or fewer under a mask.
TEXT ·addConstF64(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	VBROADCASTSD b+8(FP), Z4
	MOVQ n+16(FP), CX
	MOVQ CX, DX
	SHRQ $5, CX
	JEQ addConstF64Singles
addConstF64Blocks:
	VADDPD 0(DI), Z4, Z0
	VADDPD 64(DI), Z4, Z1
	VADDPD 128(DI), Z4, Z2
	VADDPD 192(DI), Z4, Z3
	VMOVUPD Z0, 0(DI)
	VMOVUPD Z1, 64(DI)
	VMOVUPD Z2, 128(DI)
	VMOVUPD Z3, 192(DI)
	ADDQ $256, DI
	DECQ CX
	JNE addConstF64Blocks
addConstF64Singles:
	ANDQ $31, DX
	JEQ addConstF64Done
addConstF64One:
	CMPQ DX, $8
	JLT addConstF64Tail
	VADDPD (DI), Z4, Z0
	VMOVUPD Z0, (DI)
	ADDQ $64, DI
	SUBQ $8, DX
	JNE addConstF64One
	JMP addConstF64Done
addConstF64Tail:
	MOVL $1, AX
	SHLXL DX, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPD.Z (DI), K1, Z0
	VADDPD Z4, Z0, Z0
	VMOVUPD Z0, K1, (DI)
addConstF64Done:
	VZEROUPPER
	RET
