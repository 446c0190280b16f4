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

// LOAD16 loads the 16 rows of a block, row r at (SI) + r·R8 (rows 8–15
// from DX = SI + 8·R8), into Z0–Z15.
#define LOAD16 \
	VMOVUPS (SI), Z0; \
	VMOVUPS (SI)(R8*1), Z1; \
	VMOVUPS (SI)(R8*2), Z2; \
	VMOVUPS (SI)(R9*1), Z3; \
	VMOVUPS (SI)(R8*4), Z4; \
	VMOVUPS (SI)(R10*1), Z5; \
	VMOVUPS (SI)(R9*2), Z6; \
	VMOVUPS (SI)(R11*1), Z7; \
	VMOVUPS (DX), Z8; \
	VMOVUPS (DX)(R8*1), Z9; \
	VMOVUPS (DX)(R8*2), Z10; \
	VMOVUPS (DX)(R9*1), Z11; \
	VMOVUPS (DX)(R8*4), Z12; \
	VMOVUPS (DX)(R10*1), Z13; \
	VMOVUPS (DX)(R9*2), Z14; \
	VMOVUPS (DX)(R11*1), Z15

// func wgTransposeAsm(dst unsafe.Pointer, dstStride int, src unsafe.Pointer, srcStride int, blocks, dstStep, srcStep int)
//
// Transposes blocks 16×16 blocks of floats: row r of a block (16 floats at
// src + r·srcStride) becomes its column r (the floats at dst + c·dstStride
// + 4r); each block starts srcStep bytes after the previous one in src and
// dstStep bytes after it in dst. Strides and steps are in bytes.
TEXT ·wgTransposeAsm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), BX
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R8
	MOVQ blocks+32(FP), CX
	LEAQ (R8)(R8*2), R9   // 3 rows
	LEAQ (R8)(R8*4), R10  // 5 rows
	LEAQ (R9)(R8*4), R11  // 7 rows
	LEAQ (BX)(BX*2), R12  // 3 rows of dst
	LEAQ (BX)(BX*4), R13  // 5
	LEAQ (R12)(BX*4), R14 // 7
	TESTQ CX, CX
	JEQ trDone
trBlock:
	LEAQ (SI)(R8*8), DX
	LOAD16
	// 32-bit interleaves within 128-bit lanes.
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	// 64-bit interleaves: Z0–Z3 hold columns 4k..4k+3 of rows 0–3 in
	// lane k, Z4–Z7 those of rows 4–7, and so on.
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15
	// 128-bit lanes: rows 0–7 (Z16–Z23), then 8–15 (Z24–Z31).
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xDD, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xDD, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xDD, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xDD, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xDD, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xDD, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xDD, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xDD, Z15, Z11, Z31
	// Columns: c and c+8 from Z16+c' and Z24+c'.
	VSHUFF32X4 $0x88, Z24, Z16, Z0  // column 0
	VSHUFF32X4 $0xDD, Z24, Z16, Z8  // 8
	VSHUFF32X4 $0x88, Z25, Z17, Z1  // 1
	VSHUFF32X4 $0xDD, Z25, Z17, Z9  // 9
	VSHUFF32X4 $0x88, Z26, Z18, Z2  // 2
	VSHUFF32X4 $0xDD, Z26, Z18, Z10 // 10
	VSHUFF32X4 $0x88, Z27, Z19, Z3  // 3
	VSHUFF32X4 $0xDD, Z27, Z19, Z11 // 11
	VSHUFF32X4 $0x88, Z28, Z20, Z4  // 4
	VSHUFF32X4 $0xDD, Z28, Z20, Z12 // 12
	VSHUFF32X4 $0x88, Z29, Z21, Z5  // 5
	VSHUFF32X4 $0xDD, Z29, Z21, Z13 // 13
	VSHUFF32X4 $0x88, Z30, Z22, Z6  // 6
	VSHUFF32X4 $0xDD, Z30, Z22, Z14 // 14
	VSHUFF32X4 $0x88, Z31, Z23, Z7  // 7
	VSHUFF32X4 $0xDD, Z31, Z23, Z15 // 15
	LEAQ (DI)(BX*8), DX
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, (DI)(BX*1)
	VMOVUPS Z2, (DI)(BX*2)
	VMOVUPS Z3, (DI)(R12*1)
	VMOVUPS Z4, (DI)(BX*4)
	VMOVUPS Z5, (DI)(R13*1)
	VMOVUPS Z6, (DI)(R12*2)
	VMOVUPS Z7, (DI)(R14*1)
	VMOVUPS Z8, (DX)
	VMOVUPS Z9, (DX)(BX*1)
	VMOVUPS Z10, (DX)(BX*2)
	VMOVUPS Z11, (DX)(R12*1)
	VMOVUPS Z12, (DX)(BX*4)
	VMOVUPS Z13, (DX)(R13*1)
	VMOVUPS Z14, (DX)(R12*2)
	VMOVUPS Z15, (DX)(R14*1)
	ADDQ srcStep+48(FP), SI
	ADDQ dstStep+40(FP), DI
	DECQ CX
	JNE trBlock
trDone:
	VZEROUPPER
	RET
