//go:build amd64 && !noasm

#include "textflag.h"
#include "go_asm.h"

// The im2col and col2im kernels of float32 convolutions with OW ≤ 32,
// W ≤ 32 and KW ≤ 16, any stride (conv_asm.go). The arguments are a
// *convArgs, its field offsets from go_asm.h; the lane tables are a
// *convLanes, whose entries for kernel column kw are addressed from the
// end of the tables (const_convLanesIdx0, …) with R11 = 8·(kw − KW), a
// counter that runs up to zero. Each kernel branches once, on entry, to
// its loops for OW ≤ 16 (an output row is one register) or for OW > 16
// (two registers: lanes 0–15 and 16–31); the two sets of loops are the
// same but for the kw loops' bodies.
//
// Stride-1 convolutions with W ≤ 16 have their own kernels, at the end of
// the file (im2colS1Asm, col2imS1Asm): shifted masked loads instead of
// permutes. They take more instructions (per output row of im2col 20
// against 11; per image row of col2im with a 3×3 kernel 128 against 126)
// but run faster: on the README's machine LeNet's second convolution
// (12×12 images) took 14% longer for its input gradient and 8% for its
// filter gradient through the permutes.
//
// Stride-1 convolutions whose output has the input's size (OH = H, OW =
// W) have the flat kernels, last (im2colFlatAsm, col2imFlatAsm): a row of
// cols is then the channel's plane shifted by a constant, copied (added)
// 16 positions at a time with a precomputed mask per kernel offset and
// chunk, whatever the row boundaries. They take the place of the others
// for those geometries (conv_asm.go, flatAsm).

// func im2colLanesAsm(a *convArgs)
// Unrolls one image: for every channel c, kernel row kh and column kw, row
// r = (c·KH + kh)·KW + kw of cols (stride ld bytes) gets, for each output
// row oh, the OW input cells x[c][ih][ow·SW − PW + kw], ih = oh·SH − PH +
// kh, zero in the padding. The image row is loaded as two registers of 16
// lanes (masked to its W floats: K3, K4; the second load is at offset 0
// with an empty mask when W ≤ 16), VPERMT2PS picks the OW lanes with kw's
// indices, zeroing the ones outside the row (K1), and a masked store
// writes the OW floats (K2). When OW > 16, lanes 16–31 of the output row
// are a second VPERMT2PS of the same two registers with kw's second
// indices and mask (Z6, K5), stored at 64 bytes masked to OW − 16 lanes
// (K6), lanes 0–15 being whole.
TEXT ·im2colLanesAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ convArgs_x(AX), BX       // channel c of x
	MOVQ convArgs_cols(AX), DI    // row r of cols
	MOVQ convArgs_lanes(AX), R14
	MOVQ convArgs_hioff(AX), R12  // offset of the second load: 64, or 0 when W ≤ 16
	MOVQ convArgs_omask(AX), DX
	KMOVW DX, K2
	MOVQ convArgs_lomask(AX), DX
	KMOVW DX, K3
	MOVQ convArgs_himask(AX), DX
	KMOVW DX, K4
	MOVQ convArgs_c(AX), R8
	VPXORD Z7, Z7, Z7
	MOVQ convArgs_omaskhi(AX), DX
	TESTQ DX, DX
	JNE im2colWide                // OW > 16

im2colC:
	MOVQ BX, R13
	SUBQ convArgs_phrow(AX), R13  // &x[c][kh − PH] for kh = 0
	XORQ R10, R10                 // kh
im2colKH:
	MOVQ convArgs_nkw(AX), R11    // 8·(kw − KW)
im2colKW:
	KMOVW const_convLanesMask0(R14)(R11*1), K1
	VMOVDQU32 const_convLanesIdx0(R14)(R11*8), Z5
	MOVQ R10, DX
	SUBQ convArgs_ph(AX), DX      // ih = oh·SH − PH + kh for oh = 0
	MOVQ R13, SI                  // &x[c][ih]
	MOVQ DI, CX                   // &row[oh·OW]
	MOVQ convArgs_oh(AX), R9
im2colOH:
	CMPQ DX, convArgs_h(AX)
	JAE im2colZero                // ih < 0 or ih ≥ H
	VMOVUPS.Z (SI), K3, Z0
	VMOVUPS.Z (SI)(R12*1), K4, Z1
	VPERMT2PS.Z Z1, Z5, K1, Z0
	VMOVUPS Z0, K2, (CX)
im2colNextOH:
	ADDQ convArgs_ow4(AX), CX
	ADDQ convArgs_sh(AX), DX
	ADDQ convArgs_shrow(AX), SI
	DECQ R9
	JNE im2colOH
	ADDQ convArgs_ld(AX), DI
	ADDQ $8, R11
	JNE im2colKW
	ADDQ convArgs_row(AX), R13
	INCQ R10
	CMPQ R10, convArgs_kh(AX)
	JLT im2colKH
	ADDQ convArgs_chw(AX), BX
	DECQ R8
	JNE im2colC
	VZEROUPPER
	RET
im2colZero:
	VMOVUPS Z7, K2, (CX)
	JMP im2colNextOH

// OW > 16: the same loops, two registers per output row.
im2colWide:
	KMOVW DX, K6                  // lanes 16 to OW − 1 of an output row
im2colWideC:
	MOVQ BX, R13
	SUBQ convArgs_phrow(AX), R13  // &x[c][kh − PH] for kh = 0
	XORQ R10, R10                 // kh
im2colWideKH:
	MOVQ convArgs_nkw(AX), R11    // 8·(kw − KW)
im2colWideKW:
	KMOVW const_convLanesMask0(R14)(R11*1), K1
	VMOVDQU32 const_convLanesIdx0(R14)(R11*8), Z5
	KMOVW const_convLanesMask1(R14)(R11*1), K5
	VMOVDQU32 const_convLanesIdx1(R14)(R11*8), Z6
	MOVQ R10, DX
	SUBQ convArgs_ph(AX), DX      // ih = oh·SH − PH + kh for oh = 0
	MOVQ R13, SI                  // &x[c][ih]
	MOVQ DI, CX                   // &row[oh·OW]
	MOVQ convArgs_oh(AX), R9
im2colWideOH:
	CMPQ DX, convArgs_h(AX)
	JAE im2colWideZero            // ih < 0 or ih ≥ H
	VMOVUPS.Z (SI), K3, Z0
	VMOVUPS.Z (SI)(R12*1), K4, Z1
	VMOVAPS Z0, Z2
	VPERMT2PS.Z Z1, Z5, K1, Z0    // lanes 0–15
	VPERMT2PS.Z Z1, Z6, K5, Z2    // lanes 16–31
	VMOVUPS Z0, (CX)
	VMOVUPS Z2, K6, 64(CX)
im2colWideNextOH:
	ADDQ convArgs_ow4(AX), CX
	ADDQ convArgs_sh(AX), DX
	ADDQ convArgs_shrow(AX), SI
	DECQ R9
	JNE im2colWideOH
	ADDQ convArgs_ld(AX), DI
	ADDQ $8, R11
	JNE im2colWideKW
	ADDQ convArgs_row(AX), R13
	INCQ R10
	CMPQ R10, convArgs_kh(AX)
	JLT im2colWideKH
	ADDQ convArgs_chw(AX), BX
	DECQ R8
	JNE im2colWideC
	VZEROUPPER
	RET
im2colWideZero:
	VMOVUPS Z7, (CX)
	VMOVUPS Z7, K6, 64(CX)
	JMP im2colWideNextOH

// func col2imLanesAsm(a *convArgs)
// The adjoint of im2colLanesAsm, written as a gather so that every input
// gradient cell is summed in a register and stored once (x is dx here):
// for each channel c and image row ih, the row's W ≤ 32 lanes (Z0, Z1)
// start from +0 and, for kh = (ih + PH) mod SH, then + SH, … < KH, with oh
// = (ih + PH − kh)/SH in [0, OH), and for kw = 0, …, KW−1, in that order,
// add lane iw of cols[(c·KH + kh)·KW + kw][oh·OW + (iw + PW − kw)/SW] where
// the division is exact and the column in [0, OW), +0 elsewhere: the
// output row (OW lanes, K2) permuted with VPERMPS by kw's indices and
// masks (zeroing) for lanes 0–15 and, when W > 16, 16–31. When OW > 16 the
// output row is two registers (Z2, all 16 lanes, and Z5, OW − 16 lanes:
// K6) and the permutes are VPERMI2PS of the two, the same indices and
// masks (ow ≥ 16 in the second register). Every cell gets the terms of
// col2im in col2im's order (col2im adds the (kh, kw) terms in that order
// to a cleared dx, each cell getting at most one per (kh, kw)), and the
// extra +0 terms change nothing: a sum that starts from +0 is never −0,
// and x + (+0) = x for every other x.
//
// CX and DX track (ih + PH) = DX·SH + CX, R10 the cols address of (kh, oh)
// = (CX, DX); KHSTEP = SH·KW·ld − OW·4 steps from (kh, oh) to (kh + SH,
// oh − 1). The kh loop runs to KH and skips the kh whose oh is outside
// [0, OH) with one unsigned comparison.
TEXT ·col2imLanesAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ convArgs_cols(AX), BX    // channel c's first row of cols
	MOVQ convArgs_x(AX), DI       // dx row
	MOVQ convArgs_lanes(AX), R14
	MOVQ convArgs_omask(AX), DX
	KMOVW DX, K2
	MOVQ convArgs_lomask(AX), DX
	KMOVW DX, K3
	MOVQ convArgs_himask(AX), DX
	KMOVW DX, K4
	MOVQ convArgs_c(AX), R8
	MOVQ convArgs_omaskhi(AX), DX
	TESTQ DX, DX
	JNE col2imOW32                // OW > 16

col2imC:
	MOVQ convArgs_r0(AX), CX      // (ih + PH) mod SH for ih = 0
	MOVQ convArgs_q0(AX), DX      // (ih + PH) / SH
	MOVQ convArgs_p0(AX), R10
	ADDQ BX, R10                  // &cols[(c·KH + CX)·KW][DX·OW]
	MOVQ convArgs_h(AX), R9
col2imH:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ CX, R12                  // kh
	MOVQ DX, R13                  // oh
	MOVQ R10, SI                  // &cols[(c·KH + kh)·KW][oh·OW]
	JMP col2imKHTest
col2imKH:
	CMPQ R13, convArgs_oh(AX)
	JAE col2imNextKH              // oh < 0 or oh ≥ OH
	MOVQ convArgs_nkw(AX), R11    // 8·(kw − KW)
	CMPQ convArgs_himask(AX), $0
	JNE col2imWide
col2imKW:
	VMOVUPS.Z (SI), K2, Z2
	VMOVDQU32 const_convLanesIdx0(R14)(R11*8), Z3
	KMOVW const_convLanesMask0(R14)(R11*1), K1
	VPERMPS.Z Z2, Z3, K1, Z3
	VADDPS Z3, Z0, Z0
	ADDQ convArgs_ld(AX), SI
	ADDQ $8, R11
	JNE col2imKW
col2imKWDone:
	SUBQ convArgs_kwld(AX), SI    // back to kw = 0
col2imNextKH:
	ADDQ convArgs_sh(AX), R12
	DECQ R13
	ADDQ convArgs_khstep(AX), SI
col2imKHTest:
	CMPQ R12, convArgs_kh(AX)
	JLT col2imKH
col2imStore:
	VMOVUPS Z0, K3, (DI)
	MOVQ convArgs_hioff(AX), R11
	VMOVUPS Z1, K4, (DI)(R11*1)   // lanes 16–31, none when W ≤ 16
	ADDQ convArgs_row(AX), DI
	ADDQ convArgs_kwld(AX), R10   // ih + 1: kh + 1, same oh
	INCQ CX
	CMPQ CX, convArgs_sh(AX)
	JLT col2imSameQ
	XORQ CX, CX                   // kh = 0, oh + 1
	INCQ DX
	SUBQ convArgs_khstep(AX), R10
col2imSameQ:
	DECQ R9
	JNE col2imH
	ADDQ convArgs_chw(AX), BX
	DECQ R8
	JNE col2imC
	VZEROUPPER
	RET

// W > 16: lanes 16–31 too.
col2imWide:
	VMOVUPS.Z (SI), K2, Z2
	VMOVDQU32 const_convLanesIdx0(R14)(R11*8), Z3
	KMOVW const_convLanesMask0(R14)(R11*1), K1
	VPERMPS.Z Z2, Z3, K1, Z3
	VADDPS Z3, Z0, Z0
	VMOVDQU32 const_convLanesIdx1(R14)(R11*8), Z4
	KMOVW const_convLanesMask1(R14)(R11*1), K5
	VPERMPS.Z Z2, Z4, K5, Z4
	VADDPS Z4, Z1, Z1
	ADDQ convArgs_ld(AX), SI
	ADDQ $8, R11
	JNE col2imWide
	JMP col2imKWDone

// OW > 16: the same loops, the output rows in two registers.
col2imOW32:
	KMOVW DX, K6                  // lanes 16 to OW − 1 of an output row
col2im2C:
	MOVQ convArgs_r0(AX), CX      // (ih + PH) mod SH for ih = 0
	MOVQ convArgs_q0(AX), DX      // (ih + PH) / SH
	MOVQ convArgs_p0(AX), R10
	ADDQ BX, R10                  // &cols[(c·KH + CX)·KW][DX·OW]
	MOVQ convArgs_h(AX), R9
col2im2H:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ CX, R12                  // kh
	MOVQ DX, R13                  // oh
	MOVQ R10, SI                  // &cols[(c·KH + kh)·KW][oh·OW]
	JMP col2im2KHTest
col2im2KH:
	CMPQ R13, convArgs_oh(AX)
	JAE col2im2NextKH             // oh < 0 or oh ≥ OH
	MOVQ convArgs_nkw(AX), R11    // 8·(kw − KW)
	CMPQ convArgs_himask(AX), $0
	JNE col2im2Wide
col2im2KW:
	VMOVUPS (SI), Z2              // output columns 0–15
	VMOVUPS.Z 64(SI), K6, Z5      // 16 to OW − 1
	VMOVDQU32 const_convLanesIdx0(R14)(R11*8), Z3
	KMOVW const_convLanesMask0(R14)(R11*1), K1
	VPERMI2PS.Z Z5, Z2, K1, Z3
	VADDPS Z3, Z0, Z0
	ADDQ convArgs_ld(AX), SI
	ADDQ $8, R11
	JNE col2im2KW
col2im2KWDone:
	SUBQ convArgs_kwld(AX), SI    // back to kw = 0
col2im2NextKH:
	ADDQ convArgs_sh(AX), R12
	DECQ R13
	ADDQ convArgs_khstep(AX), SI
col2im2KHTest:
	CMPQ R12, convArgs_kh(AX)
	JLT col2im2KH
col2im2Store:
	VMOVUPS Z0, K3, (DI)
	MOVQ convArgs_hioff(AX), R11
	VMOVUPS Z1, K4, (DI)(R11*1)   // lanes 16–31, none when W ≤ 16
	ADDQ convArgs_row(AX), DI
	ADDQ convArgs_kwld(AX), R10   // ih + 1: kh + 1, same oh
	INCQ CX
	CMPQ CX, convArgs_sh(AX)
	JLT col2im2SameQ
	XORQ CX, CX                   // kh = 0, oh + 1
	INCQ DX
	SUBQ convArgs_khstep(AX), R10
col2im2SameQ:
	DECQ R9
	JNE col2im2H
	ADDQ convArgs_chw(AX), BX
	DECQ R8
	JNE col2im2C
	VZEROUPPER
	RET

// OW > 16 and W > 16.
col2im2Wide:
	VMOVUPS (SI), Z2              // output columns 0–15
	VMOVUPS.Z 64(SI), K6, Z5      // 16 to OW − 1
	VMOVDQU32 const_convLanesIdx0(R14)(R11*8), Z3
	KMOVW const_convLanesMask0(R14)(R11*1), K1
	VPERMI2PS.Z Z5, Z2, K1, Z3
	VADDPS Z3, Z0, Z0
	VMOVDQU32 const_convLanesIdx1(R14)(R11*8), Z4
	KMOVW const_convLanesMask1(R14)(R11*1), K5
	VPERMI2PS.Z Z5, Z2, K5, Z4
	VADDPS Z4, Z1, Z1
	ADDQ convArgs_ld(AX), SI
	ADDQ $8, R11
	JNE col2im2Wide
	JMP col2im2KWDone

// func im2colS1Asm(a *convS1Args)
// Unrolls one image for a stride-1 convolution with OW ≤ 16: for every
// channel c, kernel row kh and column kw, row r = (c·KH + kh)·KW + kw of
// cols (stride ld bytes) gets, for each output row oh, the OW input cells
// x[c][oh + kh − PH][ow + kw − PW] (zero where that is padding): one masked
// load and one store per output row.
TEXT ·im2colS1Asm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ convS1Args_x(AX), BX            // channel base in x
	MOVQ convS1Args_cols(AX), DI         // row r of cols
	MOVQ convS1Args_wmask(AX), DX
	KMOVW DX, K2                // the OW output lanes
	MOVQ convS1Args_c(AX), R8
	VPXORD Z1, Z1, Z1

im2colC:
	XORQ R10, R10               // kh
im2colKH:
	XORQ R11, R11               // kw
im2colKW:
	MOVQ convS1Args_masks(AX), DX
	KMOVW (DX)(R11*2), K1       // lanes whose input column is inside the image
	MOVQ DI, R12                // output row oh of this cols row
	XORQ R9, R9                 // oh
im2colOH:
	MOVQ R9, DX
	ADDQ R10, DX
	SUBQ convS1Args_ph(AX), DX           // ih = oh + kh − PH
	CMPQ DX, $0
	JLT im2colZero
	CMPQ DX, convS1Args_h(AX)
	JGE im2colZero
	IMULQ convS1Args_row(AX), DX         // ih·W·4
	LEAQ (BX)(DX*1), SI
	MOVQ R11, DX
	SUBQ convS1Args_pw(AX), DX
	LEAQ (SI)(DX*4), SI         // &x[c][ih][kw − PW]
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS Z0, K2, (R12)
	JMP im2colNextOH
im2colZero:
	VMOVUPS Z1, K2, (R12)
im2colNextOH:
	MOVQ convS1Args_ow(AX), DX
	LEAQ (R12)(DX*4), R12
	INCQ R9
	CMPQ R9, convS1Args_oh(AX)
	JLT im2colOH
	ADDQ convS1Args_ld(AX), DI
	INCQ R11
	CMPQ R11, convS1Args_kw(AX)
	JLT im2colKW
	INCQ R10
	CMPQ R10, convS1Args_kh(AX)
	JLT im2colKH
	ADDQ convS1Args_chw(AX), BX
	DECQ R8
	JNE im2colC
	VZEROUPPER
	RET

// func col2imS1Asm(a *convS1Args)
// The adjoint of im2colS1Asm for W ≤ 16, written as a gather so that every
// input gradient cell is computed in a register and stored once: for each
// channel c and input row ih, dx[c][ih][iw] = Σ over kh, kw of
// cols[(c·KH + kh)·KW + kw][(ih + PH − kh)·OW + iw + PW − kw], with masked
// loads dropping the terms outside the output. Here x is dx, masks[kw]
// selects the iw with 0 ≤ iw + PW − kw < OW, WMASK the W lanes of a row,
// KWLD = KW·ld, CHW = KH·KW·ld (a channel's rows of cols) and ROW = W·4.
TEXT ·col2imS1Asm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ convS1Args_cols(AX), BX         // first cols row of the channel
	MOVQ convS1Args_x(AX), DI            // dx row
	MOVQ convS1Args_wmask(AX), DX
	KMOVW DX, K2
	MOVQ convS1Args_c(AX), R8

col2imC:
	XORQ R9, R9                 // ih
col2imH:
	VPXORD Z0, Z0, Z0
	MOVQ BX, R12                // cols row of (c, kh, 0)
	XORQ R10, R10               // kh
col2imKH:
	MOVQ R9, DX
	ADDQ convS1Args_ph(AX), DX
	SUBQ R10, DX                // oh = ih + PH − kh
	CMPQ DX, $0
	JLT col2imNextKH
	CMPQ DX, convS1Args_oh(AX)
	JGE col2imNextKH
	IMULQ convS1Args_ow(AX), DX
	ADDQ convS1Args_pw(AX), DX
	LEAQ (R12)(DX*4), SI        // &row[oh·OW + PW] for kw = 0
	MOVQ convS1Args_masks(AX), R13
	XORQ R11, R11               // kw
col2imKW:
	KMOVW (R13)(R11*2), K1
	VMOVUPS.Z (SI), K1, Z1
	VADDPS Z1, Z0, Z0
	ADDQ convS1Args_ld(AX), SI
	SUBQ $4, SI                 // next kw: next row, one column left
	INCQ R11
	CMPQ R11, convS1Args_kw(AX)
	JLT col2imKW
col2imNextKH:
	ADDQ convS1Args_kwld(AX), R12
	INCQ R10
	CMPQ R10, convS1Args_kh(AX)
	JLT col2imKH
	VMOVUPS Z0, K2, (DI)
	ADDQ convS1Args_row(AX), DI
	INCQ R9
	CMPQ R9, convS1Args_h(AX)
	JLT col2imH
	ADDQ convS1Args_chw(AX), BX
	DECQ R8
	JNE col2imC
	VZEROUPPER
	RET

// func im2colFlatAsm(a *convFlatArgs)
// Unrolls one image for a stride-1 convolution whose output has the
// input's size (conv_asm.go, convFlatArgs): row r = (c·KH + kh)·KW + kw of
// cols (stride ld bytes) is plane c of x shifted by s = (kh − PH)·W +
// (kw − PW) positions, position p taking x[c][p + s] in the lanes of its
// mask and zero in the others. Per 16-lane chunk j: one masked load
// (zeroing) at &x[c][16j + s], masked-out lanes never fault, the loaded
// ones inside the plane, and one store to &row[16j], masked to the P
// lanes in the last chunk (K2). The masks come in the order the loops
// read them, kernel offset major, R13 stepping through them; SI is the
// load of chunk 0 for (kh, kw), &x[c][s].
TEXT ·im2colFlatAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ convFlatArgs_x(AX), BX
	ADDQ convFlatArgs_s0(AX), BX         // &x[c][s] for (kh, kw) = (0, 0)
	MOVQ convFlatArgs_cols(AX), DI       // row r of cols
	MOVQ convFlatArgs_tail(AX), DX
	KMOVW DX, K2
	MOVQ convFlatArgs_c(AX), R8

flatC:
	MOVQ convFlatArgs_masks(AX), R13
	MOVQ BX, SI
	MOVQ convFlatArgs_kh(AX), R10
flatKH:
	MOVQ convFlatArgs_kw(AX), R11
flatKW:
	MOVQ SI, CX                          // &x[c][16j + s]
	MOVQ DI, DX                          // &row[16j]
	MOVQ convFlatArgs_nch(AX), R9
	DECQ R9                              // the whole chunks
	JEQ flatLast
flatChunk:
	KMOVW (R13), K1
	VMOVUPS.Z (CX), K1, Z0
	VMOVUPS Z0, (DX)
	ADDQ $64, CX
	ADDQ $64, DX
	ADDQ $2, R13
	DECQ R9
	JNE flatChunk
flatLast:
	KMOVW (R13), K1
	VMOVUPS.Z (CX), K1, Z0
	VMOVUPS Z0, K2, (DX)
	ADDQ $2, R13
	ADDQ convFlatArgs_ld(AX), DI
	ADDQ $4, SI                          // kw + 1
	DECQ R11
	JNE flatKW
	ADDQ convFlatArgs_skip(AX), SI       // (kh + 1, 0)
	DECQ R10
	JNE flatKH
	ADDQ convFlatArgs_plane(AX), BX
	DECQ R8
	JNE flatC
	VZEROUPPER
	RET

// func col2imFlatAsm(a *convFlatArgs)
// The adjoint of im2colFlatAsm, a gather (x is dx here): per channel c
// and 16-lane chunk j of dx's plane, the lanes start from +0 and add, for
// kh = 0, …, KH−1 and kw = 0, …, KW−1 in that order, the lanes of
// cols[(c·KH + kh)·KW + kw][16j − s], s = (kh − PH)·W + (kw − PW), in
// the lanes of (kh, kw, j)'s mask: the input positions whose output
// position is inside the plane, its row and its column. The others are
// left as they are (merge masking), as col2im leaves them, so the sums
// are col2im's bit for bit. One store per chunk, masked to the P lanes in
// the last one (K2). The chunks go two at a time (Z0, Z1), two chains of
// additions in flight, and the last one alone when their count is odd.
// DI is 64j, R13 the mask of (0, 0, j), DX that of (kh, kw, j), CX =
// 2·⌈P/16⌉ from (kh, kw, j) to the next kernel offset; SI is the load of
// (kh, kw), from which kw + 1 is ld − 4 bytes on (R12) and (kh + 1, 0) is
// −(W − KW)·4 on from (kh, KW).
TEXT ·col2imFlatAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ convFlatArgs_cols(AX), BX
	SUBQ convFlatArgs_s0(AX), BX         // &row(c, 0, 0)[−s] for (kh, kw) = (0, 0)
	MOVQ convFlatArgs_x(AX), R14         // plane c of dx
	MOVQ convFlatArgs_tail(AX), DX
	KMOVW DX, K2
	MOVQ convFlatArgs_ld(AX), R12
	SUBQ $4, R12
	MOVQ convFlatArgs_nch(AX), CX
	SHLQ $1, CX
	MOVQ convFlatArgs_c(AX), R8

flatC:
	MOVQ convFlatArgs_masks(AX), R13
	XORQ DI, DI
	MOVQ convFlatArgs_nch(AX), R9        // chunks left
	CMPQ R9, $2
	JLT flatOne
flatPair:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	LEAQ (BX)(DI*1), SI
	MOVQ R13, DX
	MOVQ convFlatArgs_kh(AX), R10
flatPairKH:
	MOVQ convFlatArgs_kw(AX), R11
flatPairKW:
	KMOVW (DX), K1
	KMOVW 2(DX), K3
	VADDPS (SI), Z0, K1, Z0
	VADDPS 64(SI), Z1, K3, Z1
	ADDQ CX, DX
	ADDQ R12, SI
	DECQ R11
	JNE flatPairKW
	SUBQ convFlatArgs_skip(AX), SI
	DECQ R10
	JNE flatPairKH
	ADDQ $4, R13
	SUBQ $2, R9
	JEQ flatPairLast
	VMOVUPS Z0, (R14)(DI*1)
	VMOVUPS Z1, 64(R14)(DI*1)
	ADDQ $128, DI
	CMPQ R9, $2
	JGE flatPair
	JMP flatOne
flatPairLast:
	VMOVUPS Z0, (R14)(DI*1)
	VMOVUPS Z1, K2, 64(R14)(DI*1)
	JMP flatNextC

flatOne:                                 // the last chunk, alone
	VPXORD Z0, Z0, Z0
	LEAQ (BX)(DI*1), SI
	MOVQ R13, DX
	MOVQ convFlatArgs_kh(AX), R10
flatOneKH:
	MOVQ convFlatArgs_kw(AX), R11
flatOneKW:
	KMOVW (DX), K1
	VADDPS (SI), Z0, K1, Z0
	ADDQ CX, DX
	ADDQ R12, SI
	DECQ R11
	JNE flatOneKW
	SUBQ convFlatArgs_skip(AX), SI
	DECQ R10
	JNE flatOneKH
	VMOVUPS Z0, K2, (R14)(DI*1)
flatNextC:
	ADDQ convFlatArgs_plane(AX), R14
	ADDQ convFlatArgs_kkld(AX), BX
	DECQ R8
	JNE flatC
	VZEROUPPER
	RET

