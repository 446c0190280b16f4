//go:build !noasm

#include "textflag.h"

// TRANSPOSE8 transposes the 8×8 block held in Y0..Y7 (rows) into Y0..Y7
// (columns) using Y8..Y15 as scratch.
#define TRANSPOSE8 \
	VUNPCKLPS Y1, Y0, Y8   \
	VUNPCKHPS Y1, Y0, Y9   \
	VUNPCKLPS Y3, Y2, Y10  \
	VUNPCKHPS Y3, Y2, Y11  \
	VUNPCKLPS Y5, Y4, Y12  \
	VUNPCKHPS Y5, Y4, Y13  \
	VUNPCKLPS Y7, Y6, Y14  \
	VUNPCKHPS Y7, Y6, Y15  \
	VSHUFPS $0x44, Y10, Y8, Y0  \
	VSHUFPS $0xEE, Y10, Y8, Y1  \
	VSHUFPS $0x44, Y11, Y9, Y2  \
	VSHUFPS $0xEE, Y11, Y9, Y3  \
	VSHUFPS $0x44, Y14, Y12, Y4 \
	VSHUFPS $0xEE, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xEE, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8  \
	VPERM2F128 $0x20, Y5, Y1, Y9  \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15

// LOAD8 loads the next 8 columns of the 8 rows at SI+{0,R9..R13,AX,BX}.
#define LOAD8 \
	VMOVUPS (SI), Y0        \
	VMOVUPS (SI)(R9*1), Y1  \
	VMOVUPS (SI)(R10*1), Y2 \
	VMOVUPS (SI)(R11*1), Y3 \
	VMOVUPS (SI)(R12*1), Y4 \
	VMOVUPS (SI)(R13*1), Y5 \
	VMOVUPS (SI)(AX*1), Y6  \
	VMOVUPS (SI)(BX*1), Y7

// STORE8 stores the 8 transposed columns Y8..Y15 at DI + i·DX (R8 = 3·DX)
// and advances DI by 8·DX. STORE8MASK stores only the lanes selected by K1.
#define STORE8 \
	VMOVUPS Y8, (DI)         \
	VMOVUPS Y9, (DI)(DX*1)   \
	VMOVUPS Y10, (DI)(DX*2)  \
	VMOVUPS Y11, (DI)(R8*1)  \
	LEAQ (DI)(DX*4), DI      \
	VMOVUPS Y12, (DI)        \
	VMOVUPS Y13, (DI)(DX*1)  \
	VMOVUPS Y14, (DI)(DX*2)  \
	VMOVUPS Y15, (DI)(R8*1)  \
	LEAQ (DI)(DX*4), DI

#define STORE8MASK \
	VMOVUPS Y8, K1, (DI)         \
	VMOVUPS Y9, K1, (DI)(DX*1)   \
	VMOVUPS Y10, K1, (DI)(DX*2)  \
	VMOVUPS Y11, K1, (DI)(R8*1)  \
	LEAQ (DI)(DX*4), DI          \
	VMOVUPS Y12, K1, (DI)        \
	VMOVUPS Y13, K1, (DI)(DX*1)  \
	VMOVUPS Y14, K1, (DI)(DX*2)  \
	VMOVUPS Y15, K1, (DI)(R8*1)  \
	LEAQ (DI)(DX*4), DI

// func transpose8AVX2(dst *float32, dstStride int, src *float32, srcStride int, n8 int)
TEXT ·transpose8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), DX
	SHLQ $2, DX
	LEAQ (DX)(DX*2), R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	SHLQ $2, R9
	MOVQ n8+32(FP), CX
	LEAQ (R9)(R9*1), R10
	LEAQ (R10)(R9*1), R11
	LEAQ (R11)(R9*1), R12
	LEAQ (R12)(R9*1), R13
	LEAQ (R13)(R9*1), AX
	LEAQ (AX)(R9*1), BX
	TESTQ CX, CX
	JZ done2

loop2:
	LOAD8
	TRANSPOSE8
	STORE8
	ADDQ $32, SI
	DECQ CX
	JNZ loop2

done2:
	VZEROUPPER
	RET

// func transpose8AVX512(dst *float32, dstStride int, src *float32, srcStride int, n8, rows int)
TEXT ·transpose8AVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), DX
	SHLQ $2, DX
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), BX
	SHLQ $2, BX

	// K1 selects the destination lanes r < rows.
	MOVQ rows+40(FP), CX
	MOVL $1, R8
	SHLL CX, R8
	DECL R8
	KMOVW R8, K1

	// Row offsets clamped to the last valid row: R9..R13, AX, BX hold
	// min(r, rows-1)·srcStride bytes for r = 1..7 (row 0 is at offset 0).
	DECQ CX
	IMULQ BX, CX // CX = offset of the last valid row
	MOVQ BX, R8  // R8 = stride in bytes
	MOVQ R8, R9
	CMPQ R9, CX
	CMOVQGT CX, R9
	LEAQ (R9)(R8*1), R10
	CMPQ R10, CX
	CMOVQGT CX, R10
	LEAQ (R10)(R8*1), R11
	CMPQ R11, CX
	CMOVQGT CX, R11
	LEAQ (R11)(R8*1), R12
	CMPQ R12, CX
	CMOVQGT CX, R12
	LEAQ (R12)(R8*1), R13
	CMPQ R13, CX
	CMOVQGT CX, R13
	LEAQ (R13)(R8*1), AX
	CMPQ AX, CX
	CMOVQGT CX, AX
	LEAQ (AX)(R8*1), BX
	CMPQ BX, CX
	CMOVQGT CX, BX

	LEAQ (DX)(DX*2), R8
	MOVQ n8+32(FP), CX
	TESTQ CX, CX
	JZ done512

loop512:
	LOAD8
	TRANSPOSE8
	STORE8MASK
	ADDQ $32, SI
	DECQ CX
	JNZ loop512

done512:
	VZEROUPPER
	RET

// func packPanelsAVX512(dst *float32, panelStride int, src *float32, srcStride int, kc, panels, last int)
//
// For p < kc, copies row p of src (32·panels+last floats) into panels of
// 32 columns: dst[q·panelStride + p·32 + j] = src[p·srcStride + 32q + j].
// A partial last panel (0 < last < 32) is zero padded.
TEXT ·packPanelsAVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ panelStride+8(FP), DX
	SHLQ $2, DX
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), BX
	SHLQ $2, BX
	MOVQ kc+32(FP), R8
	MOVQ panels+40(FP), R9

	// K1, K2: valid columns of the last panel.
	MOVQ last+48(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	TESTQ R8, R8
	JZ pdone

prow:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ R9, R12
	TESTQ R12, R12
	JZ plast

ppanel:
	// The same columns 4 rows down: each row is a short stream (kc rows
	// of nc columns), too short for the hardware prefetchers, and a
	// layer's weights come from memory after the optimizer's update
	// (deep autoencoder: 5–6% less time in its ops, 7 rounds alternated;
	// ResNet the same).
	PREFETCHT0 (R10)(BX*4)
	PREFETCHT0 64(R10)(BX*4)
	VMOVUPS (R10), Z0
	VMOVUPS 64(R10), Z1
	VMOVUPS Z0, (R11)
	VMOVUPS Z1, 64(R11)
	ADDQ $128, R10
	ADDQ DX, R11
	DECQ R12
	JNZ ppanel

plast:
	TESTQ CX, CX
	JZ pnext
	VMOVUPS.Z (R10), K1, Z0
	VMOVUPS.Z 64(R10), K2, Z1
	VMOVUPS Z0, (R11)
	VMOVUPS Z1, 64(R11)

pnext:
	ADDQ BX, SI
	ADDQ $128, DI
	DECQ R8
	JNZ prow

pdone:
	VZEROUPPER
	RET

// func packPanelsAVX2(dst *float32, panelStride int, src *float32, srcStride int, kc, panels int)
//
// packPanelsAVX512 for panels of 16 columns, full panels only.
TEXT ·packPanelsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ panelStride+8(FP), DX
	SHLQ $2, DX
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), BX
	SHLQ $2, BX
	MOVQ kc+32(FP), R8
	MOVQ panels+40(FP), R9
	TESTQ R8, R8
	JZ qdone
	TESTQ R9, R9
	JZ qdone

qrow:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ R9, R12

qpanel:
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VMOVUPS Y0, (R11)
	VMOVUPS Y1, 32(R11)
	ADDQ $64, R10
	ADDQ DX, R11
	DECQ R12
	JNZ qpanel

	ADDQ BX, SI
	ADDQ $64, DI
	DECQ R8
	JNZ qrow

qdone:
	VZEROUPPER
	RET

// func transposePanelAVX512(dst *float32, src *float32, lds int, n8, rows int)
//
// Packs the first 8·n8 columns of the rows < rows ≤ 32 of src (row stride
// lds) into a 32-column panel: dst[p·32+r] = src[r·lds+p], zero for
// rows ≤ r < 32. Whole 128-byte panel rows are written.
TEXT ·transposePanelAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*1), R10
	LEAQ (R10)(R9*1), R11
	LEAQ (R11)(R9*1), R12
	LEAQ (R12)(R9*1), R13
	LEAQ (R13)(R9*1), AX
	LEAQ (AX)(R9*1), BX
	LEAQ (BX)(R9*1), DX // 8 rows
	MOVQ n8+24(FP), CX
	TESTQ CX, CX
	JZ tpdone

tp8loop:
	XORQ R14, R14        // column offset in the panel, bytes
	MOVQ SI, R15         // first row of the group
	MOVQ rows+32(FP), R8
	SHRQ $3, R8          // full groups of 8 rows
	JZ tp8partial

tp8full:
	// 256 bytes (8 column groups) ahead in each of the 8 rows: up to 32
	// rows are read side by side, more streams than the hardware
	// prefetchers follow (see packPanelsAVX512).
	PREFETCHT0 256(R15)
	PREFETCHT0 256(R15)(R9*1)
	PREFETCHT0 256(R15)(R10*1)
	PREFETCHT0 256(R15)(R11*1)
	PREFETCHT0 256(R15)(R12*1)
	PREFETCHT0 256(R15)(R13*1)
	PREFETCHT0 256(R15)(AX*1)
	PREFETCHT0 256(R15)(BX*1)
	VMOVUPS 0(R15), Y0
	VMOVUPS 0(R15)(R9*1), Y1
	VMOVUPS 0(R15)(R10*1), Y2
	VMOVUPS 0(R15)(R11*1), Y3
	VMOVUPS 0(R15)(R12*1), Y4
	VMOVUPS 0(R15)(R13*1), Y5
	VMOVUPS 0(R15)(AX*1), Y6
	VMOVUPS 0(R15)(BX*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, 0(DI)(R14*1)
	VMOVUPS Y9, 128(DI)(R14*1)
	VMOVUPS Y10, 256(DI)(R14*1)
	VMOVUPS Y11, 384(DI)(R14*1)
	VMOVUPS Y12, 512(DI)(R14*1)
	VMOVUPS Y13, 640(DI)(R14*1)
	VMOVUPS Y14, 768(DI)(R14*1)
	VMOVUPS Y15, 896(DI)(R14*1)
	ADDQ $32, R14
	ADDQ DX, R15
	DECQ R8
	JNZ tp8full

tp8partial:
	// Partial group: load its R8 = rows%8 rows, zero the others. (Masked
	// loads would do, but rows past the end of the matrix may be unmapped,
	// and fault suppression is slow.)
	MOVQ rows+32(FP), R8
	ANDQ $7, R8
	JZ tp8zero
	VMOVUPS 0(R15), Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	CMPQ R8, $1
	JLE tp8a
	VMOVUPS 0(R15)(R9*1), Y1
	CMPQ R8, $2
	JLE tp8a
	VMOVUPS 0(R15)(R10*1), Y2
	CMPQ R8, $3
	JLE tp8a
	VMOVUPS 0(R15)(R11*1), Y3
	CMPQ R8, $4
	JLE tp8a
	VMOVUPS 0(R15)(R12*1), Y4
	CMPQ R8, $5
	JLE tp8a
	VMOVUPS 0(R15)(R13*1), Y5
	CMPQ R8, $6
	JLE tp8a
	VMOVUPS 0(R15)(AX*1), Y6
tp8a:
	TRANSPOSE8
	VMOVUPS Y8, 0(DI)(R14*1)
	VMOVUPS Y9, 128(DI)(R14*1)
	VMOVUPS Y10, 256(DI)(R14*1)
	VMOVUPS Y11, 384(DI)(R14*1)
	VMOVUPS Y12, 512(DI)(R14*1)
	VMOVUPS Y13, 640(DI)(R14*1)
	VMOVUPS Y14, 768(DI)(R14*1)
	VMOVUPS Y15, 896(DI)(R14*1)
	ADDQ $32, R14

tp8zero:
	// Zero the column groups past the last row.
	CMPQ R14, $128
	JGE tp8next
	VPXOR Y8, Y8, Y8
	VMOVUPS Y8, 0(DI)(R14*1)
	VMOVUPS Y8, 128(DI)(R14*1)
	VMOVUPS Y8, 256(DI)(R14*1)
	VMOVUPS Y8, 384(DI)(R14*1)
	VMOVUPS Y8, 512(DI)(R14*1)
	VMOVUPS Y8, 640(DI)(R14*1)
	VMOVUPS Y8, 768(DI)(R14*1)
	VMOVUPS Y8, 896(DI)(R14*1)
	ADDQ $32, R14
	JMP tp8zero

tp8next:
	ADDQ $1024, DI
	ADDQ $32, SI
	DECQ CX
	JNZ tp8loop

tpdone:
	VZEROUPPER
	RET

// func copyRowsAVX512(dst *float32, src *float32, lds, kc, rows int)
//
// dst[p·rows+i] = src[p·lds+i] for p < kc, i < rows ≤ 16.
TEXT ·copyRowsAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), BX
	SHLQ $2, BX
	MOVQ rows+32(FP), CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	LEAQ (CX*4), DX // dst step in bytes
	MOVQ kc+24(FP), CX
	TESTQ CX, CX
	JZ crdone

crloop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ BX, SI
	ADDQ DX, DI
	DECQ CX
	JNZ crloop

crdone:
	VZEROUPPER
	RET
