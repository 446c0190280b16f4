//go:build amd64 && !noasm

#include "textflag.h"

// TERM adds row r's product with the vector Z8 to accumulator Zacc: the
// product rounded (VMULPS), then the sum (VADDPS), as wgApplyGo does.
#define TERM(addr, tmp, acc) \
	VMULPS.BCST addr, Z8, tmp; \
	VADDPS tmp, acc, acc

// STORE writes accumulator acc to the row at R14 (added to it when R10 is
// set) and returns once R9 rows are written; it moves R14 to the next row.
#define STORE(acc, label) \
	TESTB R10, R10; \
	JEQ label; \
	VADDPS (R14), acc, acc; \
label: \
	VMOVUPS acc, (R14); \
	DECQ R9; \
	JZ done; \
	ADDQ DX, R14

// func wgApplyAsm(dst unsafe.Pointer, ds int, src unsafe.Pointer, ss int, mat unsafe.Pointer, rows, cols int, acc bool)
//
// wgApplyGo in AVX-512 (ds and ss in bytes, 1 ≤ rows ≤ 8, cols ≥ 1): row i
// of dst = Σ_j mat[i·cols+j]·(row j of src), 16 floats a row, each product
// rounded and added in order of j; mat has 8 rows (the rows past rows may
// hold anything when rows > 4, and are then computed and dropped).
TEXT ·wgApplyAsm(SB), NOSPLIT, $0-57
	MOVQ dst+0(FP), DI
	MOVQ ds+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ ss+24(FP), R8
	MOVQ mat+32(FP), AX
	MOVQ rows+40(FP), R9
	MOVQ cols+48(FP), CX
	MOVB acc+56(FP), R10
	LEAQ (CX*4), BX       // a row of mat, bytes
	LEAQ (BX)(BX*2), R11  // 3 rows
	LEAQ (BX)(BX*4), R12  // 5 rows
	LEAQ (R11)(BX*4), R13 // 7 rows
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ R9, $4
	JGT wide
	// Up to 4 rows.
narrow:
	PREFETCHT0 64(SI)
	VMOVUPS (SI), Z8
	TERM((AX), Z9, Z0)
	TERM((AX)(BX*1), Z10, Z1)
	TERM((AX)(BX*2), Z11, Z2)
	TERM((AX)(R11*1), Z12, Z3)
	ADDQ $4, AX
	ADDQ R8, SI
	DECQ CX
	JNZ narrow
	JMP store

wide:
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
wloop:
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
	JNZ wloop

store:
	MOVQ DI, R14
	STORE(Z0, s0)
	STORE(Z1, s1)
	STORE(Z2, s2)
	STORE(Z3, s3)
	STORE(Z4, s4)
	STORE(Z5, s5)
	STORE(Z6, s6)
	STORE(Z7, s7)
done:
	VZEROUPPER
	RET

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
