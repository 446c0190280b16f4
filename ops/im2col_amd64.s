//go:build amd64 && !noasm

#include "textflag.h"

// Offsets of the fields of convArgs (conv_asm.go).
#define A_X      0
#define A_COLS   8
#define A_MASKS  16
#define A_LD     24
#define A_C      32
#define A_H      40
#define A_KH     48
#define A_KW     56
#define A_PH     64
#define A_PW     72
#define A_OH     80
#define A_OW     88
#define A_WMASK  96
#define A_KWLD   104
#define A_CHW    112
#define A_ROW    120

// func im2colS1Asm(a *convArgs)
// Unrolls one image for a stride-1 convolution with OW ≤ 16: for every
// channel c, kernel row kh and column kw, row r = (c·KH + kh)·KW + kw of
// cols (stride ld bytes) gets, for each output row oh, the OW input cells
// x[c][oh + kh − PH][ow + kw − PW] (zero where that is padding): one masked
// load and one store per output row.
TEXT ·im2colS1Asm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ A_X(AX), BX            // channel base in x
	MOVQ A_COLS(AX), DI         // row r of cols
	MOVQ A_WMASK(AX), DX
	KMOVW DX, K2                // the OW output lanes
	MOVQ A_C(AX), R8
	VXORPS Z1, Z1, Z1

im2colC:
	XORQ R10, R10               // kh
im2colKH:
	XORQ R11, R11               // kw
im2colKW:
	MOVQ A_MASKS(AX), DX
	KMOVW (DX)(R11*2), K1       // lanes whose input column is inside the image
	MOVQ DI, R12                // output row oh of this cols row
	XORQ R9, R9                 // oh
im2colOH:
	MOVQ R9, DX
	ADDQ R10, DX
	SUBQ A_PH(AX), DX           // ih = oh + kh − PH
	CMPQ DX, $0
	JLT im2colZero
	CMPQ DX, A_H(AX)
	JGE im2colZero
	IMULQ A_ROW(AX), DX         // ih·W·4
	LEAQ (BX)(DX*1), SI
	MOVQ R11, DX
	SUBQ A_PW(AX), DX
	LEAQ (SI)(DX*4), SI         // &x[c][ih][kw − PW]
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS Z0, K2, (R12)
	JMP im2colNextOH
im2colZero:
	VMOVUPS Z1, K2, (R12)
im2colNextOH:
	MOVQ A_OW(AX), DX
	LEAQ (R12)(DX*4), R12
	INCQ R9
	CMPQ R9, A_OH(AX)
	JLT im2colOH
	ADDQ A_LD(AX), DI
	INCQ R11
	CMPQ R11, A_KW(AX)
	JLT im2colKW
	INCQ R10
	CMPQ R10, A_KH(AX)
	JLT im2colKH
	ADDQ A_CHW(AX), BX
	DECQ R8
	JNE im2colC
	VZEROUPPER
	RET

// func col2imS1Asm(a *convArgs)
// The adjoint of im2colS1Asm for W ≤ 16, written as a gather so that every
// input gradient cell is computed in a register and stored once: for each
// channel c and input row ih, dx[c][ih][iw] = Σ over kh, kw of
// cols[(c·KH + kh)·KW + kw][(ih + PH − kh)·OW + iw + PW − kw], with masked
// loads dropping the terms outside the output. Here x is dx, masks[kw]
// selects the iw with 0 ≤ iw + PW − kw < OW, WMASK the W lanes of a row,
// KWLD = KW·ld, CHW = KH·KW·ld (a channel's rows of cols) and ROW = W·4.
TEXT ·col2imS1Asm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ A_COLS(AX), BX         // first cols row of the channel
	MOVQ A_X(AX), DI            // dx row
	MOVQ A_WMASK(AX), DX
	KMOVW DX, K2
	MOVQ A_C(AX), R8

col2imC:
	XORQ R9, R9                 // ih
col2imH:
	VXORPS Z0, Z0, Z0
	MOVQ BX, R12                // cols row of (c, kh, 0)
	XORQ R10, R10               // kh
col2imKH:
	MOVQ R9, DX
	ADDQ A_PH(AX), DX
	SUBQ R10, DX                // oh = ih + PH − kh
	CMPQ DX, $0
	JLT col2imNextKH
	CMPQ DX, A_OH(AX)
	JGE col2imNextKH
	IMULQ A_OW(AX), DX
	ADDQ A_PW(AX), DX
	LEAQ (R12)(DX*4), SI        // &row[oh·OW + PW] for kw = 0
	MOVQ A_MASKS(AX), R13
	XORQ R11, R11               // kw
col2imKW:
	KMOVW (R13)(R11*2), K1
	VMOVUPS.Z (SI), K1, Z1
	VADDPS Z1, Z0, Z0
	ADDQ A_LD(AX), SI
	SUBQ $4, SI                 // next kw: next row, one column left
	INCQ R11
	CMPQ R11, A_KW(AX)
	JLT col2imKW
col2imNextKH:
	ADDQ A_KWLD(AX), R12
	INCQ R10
	CMPQ R10, A_KH(AX)
	JLT col2imKH
	VMOVUPS Z0, K2, (DI)
	ADDQ A_ROW(AX), DI
	INCQ R9
	CMPQ R9, A_H(AX)
	JLT col2imH
	ADDQ A_CHW(AX), BX
	DECQ R8
	JNE col2imC
	VZEROUPPER
	RET
