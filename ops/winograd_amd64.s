//go:build amd64 && !noasm

#include "textflag.h"

// TERM adds the product of the matrix entry at addr with the vector Z8 to
// the accumulator acc, rounded once (fused multiply-add), as wgApplyGo's
// fma32 does.
#define TERM(addr, tmp, acc) \
	VFMADD231PS.BCST addr, Z8, acc

// TSTORE writes accumulator acc to the row at R14 (added to it when R10
// is set) and goes on to the next job once R9 rows are written; it moves
// R14 to the next row.
#define TSTORE(acc, label) \
	TESTB R10, R10; \
	JEQ label; \
	VADDPS (R14), acc, acc; \
label: \
	VMOVUPS acc, (R14); \
	DECQ R9; \
	JZ tnext; \
	ADDQ DX, R14

// func wgGatherAsm(dst, src unsafe.Pointer, n int, idx *[16]int32, mask uint16, step int)
//
// For i < n: dst[16i + l] = src[idx[l] + i·step] for the lanes l in mask,
// 0 for the others (dst and src float32s, idx and step in elements): one
// gather per 16 floats.
TEXT ·wgGatherAsm(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ idx+24(FP), AX
	MOVWQZX mask+32(FP), DX
	MOVQ step+40(FP), BX
	SHLQ $2, BX
	VMOVDQU32 (AX), Z1
	XORQ R8, R8
	TESTQ CX, CX
	JEQ gdone
gloop:
	// Prefetch lane R8 mod 16's source 8 steps ahead: with step 1 (images
	// into lanes) each lane needs a new line every 16 steps, from a
	// different image.
	MOVQ R8, R9
	ANDQ $15, R9
	MOVLQSX (AX)(R9*4), R9
	LEAQ (SI)(BX*8), R10
	PREFETCHT0 (R10)(R9*4)
	INCQ R8
	KMOVW DX, K1
	VPXORD Z0, Z0, Z0
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VMOVUPS Z0, (DI)
	ADDQ BX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ gloop
gdone:
	VZEROUPPER
	RET

// func wgTileAsm(dst unsafe.Pointer, dRow, dCol int, src unsafe.Pointer, sRow, sCol int, l, r, tmp unsafe.Pointer, r1, c1, r2, c2 int, acc bool)
//
// wgTileGo in AVX-512, strides in bytes: tmp = L·X (c2 applications of the
// r1×c1 matrix L, one per column of X), then out = tmp·Rᵀ (r1 applications
// of the r2×c2 matrix R, one per row of tmp), added to dst with acc. The
// c2 + r1 applications are the jobs of one loop. An application of a
// matrix of up to 4 rows keeps 4 accumulators, of more 8 (the matrices
// have 8 rows, zero past their own).
TEXT ·wgTileAsm(SB), NOSPLIT, $0-105
	XORQ R15, R15 // job
job:
	MOVQ c2+96(FP), BX
	CMPQ R15, BX
	JGE stage2
	// Stage 1, column j = R15 of X into column j of tmp.
	MOVQ src+24(FP), SI
	MOVQ sCol+40(FP), AX
	IMULQ R15, AX
	ADDQ AX, SI
	MOVQ sRow+32(FP), R8
	MOVQ tmp+64(FP), DI
	MOVQ R15, AX
	SHLQ $6, AX
	ADDQ AX, DI
	MOVQ BX, DX
	SHLQ $6, DX
	MOVQ l+48(FP), AX
	MOVQ r1+72(FP), R9
	MOVQ c1+80(FP), CX
	XORQ R10, R10
	JMP apply
stage2:
	// Stage 2, row i = R15 − c2 of tmp into row i of dst.
	MOVQ R15, AX
	SUBQ BX, AX
	CMPQ AX, r1+72(FP)
	JGE tdone
	MOVQ BX, SI
	SHLQ $6, SI
	IMULQ AX, SI
	ADDQ tmp+64(FP), SI
	MOVQ $64, R8
	MOVQ dRow+8(FP), DI
	IMULQ AX, DI
	ADDQ dst+0(FP), DI
	MOVQ dCol+16(FP), DX
	MOVQ r+56(FP), AX
	MOVQ r2+88(FP), R9
	MOVQ BX, CX
	MOVBQZX acc+104(FP), R10

apply:
	LEAQ (CX*4), BX
	LEAQ (BX)(BX*2), R11
	LEAQ (BX)(BX*4), R12
	LEAQ (R11)(BX*4), R13
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ R9, $4
	JGT twide
tnarrow:
	PREFETCHT0 64(SI)
	VMOVUPS (SI), Z8
	TERM((AX), Z9, Z0)
	TERM((AX)(BX*1), Z10, Z1)
	TERM((AX)(BX*2), Z11, Z2)
	TERM((AX)(R11*1), Z12, Z3)
	ADDQ $4, AX
	ADDQ R8, SI
	DECQ CX
	JNZ tnarrow
	JMP tstore
twide:
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
twloop:
	PREFETCHT0 64(SI)
	VMOVUPS (SI), Z8
	TERM((AX), Z9, Z0)
	TERM((AX)(BX*1), Z10, Z1)
	TERM((AX)(BX*2), Z11, Z2)
	TERM((AX)(R11*1), Z12, Z3)
	TERM((AX)(BX*4), Z13, Z4)
	TERM((AX)(R12*1), Z14, Z5)
	TERM((AX)(R11*2), Z15, Z6)
	TERM((AX)(R13*1), Z16, Z7)
	ADDQ $4, AX
	ADDQ R8, SI
	DECQ CX
	JNZ twloop
tstore:
	MOVQ DI, R14
	TSTORE(Z0, t0)
	TSTORE(Z1, t1)
	TSTORE(Z2, t2)
	TSTORE(Z3, t3)
	TSTORE(Z4, t4)
	TSTORE(Z5, t5)
	TSTORE(Z6, t6)
	TSTORE(Z7, t7)
tnext:
	INCQ R15
	JMP job
tdone:
	VZEROUPPER
	RET
