//go:build amd64 && !noasm

#include "textflag.h"

// Lane indexes for VPERMI2PS over a pair of registers (32 floats): the even
// and the odd elements, and the interleaving of two registers' first and
// second halves.
DATA evens<>+0(SB)/4, $0
DATA evens<>+4(SB)/4, $2
DATA evens<>+8(SB)/4, $4
DATA evens<>+12(SB)/4, $6
DATA evens<>+16(SB)/4, $8
DATA evens<>+20(SB)/4, $10
DATA evens<>+24(SB)/4, $12
DATA evens<>+28(SB)/4, $14
DATA evens<>+32(SB)/4, $16
DATA evens<>+36(SB)/4, $18
DATA evens<>+40(SB)/4, $20
DATA evens<>+44(SB)/4, $22
DATA evens<>+48(SB)/4, $24
DATA evens<>+52(SB)/4, $26
DATA evens<>+56(SB)/4, $28
DATA evens<>+60(SB)/4, $30
GLOBL evens<>(SB), RODATA, $64

DATA odds<>+0(SB)/4, $1
DATA odds<>+4(SB)/4, $3
DATA odds<>+8(SB)/4, $5
DATA odds<>+12(SB)/4, $7
DATA odds<>+16(SB)/4, $9
DATA odds<>+20(SB)/4, $11
DATA odds<>+24(SB)/4, $13
DATA odds<>+28(SB)/4, $15
DATA odds<>+32(SB)/4, $17
DATA odds<>+36(SB)/4, $19
DATA odds<>+40(SB)/4, $21
DATA odds<>+44(SB)/4, $23
DATA odds<>+48(SB)/4, $25
DATA odds<>+52(SB)/4, $27
DATA odds<>+56(SB)/4, $29
DATA odds<>+60(SB)/4, $31
GLOBL odds<>(SB), RODATA, $64

DATA zipLo<>+0(SB)/4, $0
DATA zipLo<>+4(SB)/4, $16
DATA zipLo<>+8(SB)/4, $1
DATA zipLo<>+12(SB)/4, $17
DATA zipLo<>+16(SB)/4, $2
DATA zipLo<>+20(SB)/4, $18
DATA zipLo<>+24(SB)/4, $3
DATA zipLo<>+28(SB)/4, $19
DATA zipLo<>+32(SB)/4, $4
DATA zipLo<>+36(SB)/4, $20
DATA zipLo<>+40(SB)/4, $5
DATA zipLo<>+44(SB)/4, $21
DATA zipLo<>+48(SB)/4, $6
DATA zipLo<>+52(SB)/4, $22
DATA zipLo<>+56(SB)/4, $7
DATA zipLo<>+60(SB)/4, $23
GLOBL zipLo<>(SB), RODATA, $64

DATA zipHi<>+0(SB)/4, $8
DATA zipHi<>+4(SB)/4, $24
DATA zipHi<>+8(SB)/4, $9
DATA zipHi<>+12(SB)/4, $25
DATA zipHi<>+16(SB)/4, $10
DATA zipHi<>+20(SB)/4, $26
DATA zipHi<>+24(SB)/4, $11
DATA zipHi<>+28(SB)/4, $27
DATA zipHi<>+32(SB)/4, $12
DATA zipHi<>+36(SB)/4, $28
DATA zipHi<>+40(SB)/4, $13
DATA zipHi<>+44(SB)/4, $29
DATA zipHi<>+48(SB)/4, $14
DATA zipHi<>+52(SB)/4, $30
DATA zipHi<>+56(SB)/4, $15
DATA zipHi<>+60(SB)/4, $31
GLOBL zipHi<>(SB), RODATA, $64

// Registers shared by the two kernels:
//   Z20 evens, Z21 odds (indexes)
//   K5, K6 lane masks of the block's inputs (floats 0-15, 16-31 of a row)
//   K7 lane mask of the block's outputs
//   SI top row of the block, R9 row stride in bytes
//   Z24 the floor of every cell as an int32: 0 applies ReLU to the cells as
//   they are loaded (VPMAXSD with 0 turns every float with its sign bit
//   set, −0 and negative NaNs included, into +0, as ReLU does), INT32_MIN
//   leaves them as they are
// WINDOWS loads 16 windows and leaves in Z0 a (top even), Z1 b (top odd),
// Z2 c (bottom even), Z3 d (bottom odd); K2 = a beats b, K3 = c beats d,
// K4 = the top pair beats the bottom pair; Z6 the value at the arg-max of
// each window. The earlier of two cells wins unless the later one is
// larger or NaN: "earlier wins" is NGT_UQ(later, earlier) (0x1a: not
// greater, or unordered), masked by ORD_Q (0x07) of the later cell with
// itself, so that the first largest cell wins, or the last NaN as in
// PyTorch. The NaN tests do not depend on the comparisons, which keeps
// them off the critical path. K1 is clobbered.
#define WINDOWS \
	VMOVUPS.Z (SI), K5, Z8; \
	VMOVUPS.Z 64(SI), K6, Z9; \
	VMOVUPS.Z (SI)(R9*1), K5, Z10; \
	VMOVUPS.Z 64(SI)(R9*1), K6, Z11; \
	VPMAXSD Z24, Z8, Z8; \
	VPMAXSD Z24, Z9, Z9; \
	VPMAXSD Z24, Z10, Z10; \
	VPMAXSD Z24, Z11, Z11; \
	VMOVAPS Z20, Z0; \
	VPERMI2PS Z9, Z8, Z0; \
	VMOVAPS Z21, Z1; \
	VPERMI2PS Z9, Z8, Z1; \
	VMOVAPS Z20, Z2; \
	VPERMI2PS Z11, Z10, Z2; \
	VMOVAPS Z21, Z3; \
	VPERMI2PS Z11, Z10, Z3; \
	VCMPPS $0x07, Z1, Z1, K1; \
	VCMPPS $0x1a, Z0, Z1, K1, K2; \
	VCMPPS $0x07, Z3, Z3, K1; \
	VCMPPS $0x1a, Z2, Z3, K1, K3; \
	VBLENDMPS Z0, Z1, K2, Z4; \
	VBLENDMPS Z2, Z3, K3, Z5; \
	VCMPPS $0x07, Z3, Z2, K1; \
	VCMPPS $0x1a, Z4, Z5, K1, K4; \
	VBLENDMPS Z4, Z5, K4, Z6

// func maxPool2x2Asm(x, y unsafe.Pointer, w, oh, full int, tail uint64, relu bool)
// For output row r and column c: y[r·ow + c] is the value at the arg-max
// of the 2×2 window of x at (2r, 2c) (rows of w floats; see WINDOWS),
// of ReLU(x) when relu is set. full is ow/16; tail packs the masks of the
// last, partial block: inputs 0-15 in bits 0-15, inputs 16-31 in bits
// 16-31, outputs in bits 32-47 (0: none).
TEXT ·maxPool2x2Asm(SB), NOSPLIT, $0-49
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ w+16(FP), R9
	SHLQ $2, R9
	MOVQ oh+24(FP), DX
	MOVQ full+32(FP), R8
	MOVQ tail+40(FP), R11
	VMOVUPS evens<>(SB), Z20
	VMOVUPS odds<>(SB), Z21
	MOVL $0x80000000, BX
	MOVBLZX relu+48(FP), CX
	TESTQ CX, CX
	JEQ fwdFloor
	XORL BX, BX

fwdFloor:
	VPBROADCASTD BX, Z24
	MOVL $0xffff, AX
	TESTQ DX, DX
	JEQ fwdDone

fwdRow:
	MOVQ SI, R10
	KMOVW AX, K5
	KMOVW AX, K6
	KMOVW AX, K7
	MOVQ R8, CX
	TESTQ CX, CX
	JEQ fwdTail

fwdFull:
	PREFETCHT0 1024(SI) // see bwdBlock
	PREFETCHT0 1024(SI)(R9*1)
	WINDOWS
	VMOVUPS Z6, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNE fwdFull

fwdTail:
	MOVQ R11, BX
	SHRQ $32, BX
	TESTQ BX, BX
	JEQ fwdNext
	KMOVW BX, K7
	KMOVW R11, K5
	MOVQ R11, BX
	SHRQ $16, BX
	KMOVW BX, K6
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(SI)(R9*1)
	WINDOWS
	VMOVUPS Z6, K7, (DI)
	KMOVW K7, BX
	POPCNTL BX, BX
	LEAQ (DI)(BX*4), DI

fwdNext:
	LEAQ (R10)(R9*2), SI
	DECQ DX
	JNE fwdRow

fwdDone:
	VZEROUPPER
	RET

// func maxPool2x2GradAsm(x, dy, dx unsafe.Pointer, w, oh, full int, tail uint64, relu bool)
// Writes the first 2·ow columns of the first 2·oh rows of dx: each cell is
// the gradient dy of its window if it is the window's arg-max, else 0.
// With relu set, the windows are those of ReLU(x), and a window whose
// largest ReLU(x) is not positive (as an int32: +0, or negative) passes
// no gradient: ReLU's gradient at the arg-max. Arguments as for
// maxPool2x2Asm.
TEXT ·maxPool2x2GradAsm(SB), NOSPLIT, $0-57
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ dx+16(FP), R12
	MOVQ w+24(FP), R9
	SHLQ $2, R9
	MOVQ oh+32(FP), DX
	MOVQ full+40(FP), R8
	MOVQ tail+48(FP), R11
	VMOVUPS evens<>(SB), Z20
	VMOVUPS odds<>(SB), Z21
	VMOVUPS zipLo<>(SB), Z22
	VMOVUPS zipHi<>(SB), Z23
	VPXORD Z25, Z25, Z25
	MOVL $0x80000000, BX
	MOVL $0xffff, AX
	MOVBLZX relu+56(FP), CX
	TESTQ CX, CX
	JEQ bwdFloor
	XORL BX, BX
	XORL AX, AX

bwdFloor:
	VPBROADCASTD BX, Z24
	KMOVW AX, K0 // every lane passes its gradient without ReLU
	MOVL $0xffff, AX
	TESTQ DX, DX
	JEQ bwdDone

bwdRow:
	MOVQ SI, R10
	MOVQ R12, R13
	KMOVW AX, K5
	KMOVW AX, K6
	KMOVW AX, K7
	MOVQ R8, CX
	TESTQ CX, CX
	JEQ bwdTail

bwdFull:
	CALL bwdBlock<>(SB)
	ADDQ $128, SI
	ADDQ $128, R12
	ADDQ $64, DI
	DECQ CX
	JNE bwdFull

bwdTail:
	MOVQ R11, BX
	SHRQ $32, BX
	TESTQ BX, BX
	JEQ bwdNext
	KMOVW BX, K7
	KMOVW R11, K5
	MOVQ R11, BX
	SHRQ $16, BX
	KMOVW BX, K6
	CALL bwdBlock<>(SB)
	KMOVW K7, BX
	POPCNTL BX, BX
	LEAQ (DI)(BX*4), DI

bwdNext:
	LEAQ (R10)(R9*2), SI
	LEAQ (R13)(R9*2), R12
	DECQ DX
	JNE bwdRow

bwdDone:
	VZEROUPPER
	RET

// bwdBlock handles 16 windows: inputs at SI, output gradients at DI, input
// gradients written at R12 (top row) and R12+R9 (bottom row). K0 holds the
// lanes whose gradient passes whatever the window's largest cell; Z25 is 0.
TEXT bwdBlock<>(SB), NOSPLIT, $0
	// 1 KB ahead in both rows of x and of dx: LeNet's first pooling
	// gradient took 0.36–0.40 ms a step without, 0.19–0.22 ms with (per-op
	// times over 50 training steps, 3 rounds alternated); its second
	// 0.14–0.20 against 0.10–0.11.
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(SI)(R9*1)
	PREFETCHT0 1024(R12)
	PREFETCHT0 1024(R12)(R9*1)
	WINDOWS
	VPCMPGTD Z25, Z6, K1        // the window's largest cell is positive
	KORW K0, K1, K1
	KANDW K7, K1, K1
	VMOVUPS.Z (DI), K1, Z12
	KANDNW K4, K2, K1           // b wins: b beats a, the top pair wins
	VMOVAPS.Z Z12, K1, Z14
	KANDW K2, K4, K1            // a wins
	VMOVAPS.Z Z12, K1, Z13
	KANDNW K3, K4, K1           // c wins: c beats d, the bottom pair wins
	VMOVAPS.Z Z12, K1, Z15
	KORW K3, K4, K1
	KNOTW K1, K1                // d wins
	VMOVAPS.Z Z12, K1, Z16
	VMOVAPS Z22, Z17
	VPERMI2PS Z14, Z13, Z17     // a0 b0 a1 b1 … a7 b7
	VMOVAPS Z23, Z18
	VPERMI2PS Z14, Z13, Z18     // a8 b8 … a15 b15
	VMOVUPS Z17, K5, (R12)
	VMOVUPS Z18, K6, 64(R12)
	VMOVAPS Z22, Z17
	VPERMI2PS Z16, Z15, Z17
	VMOVAPS Z23, Z18
	VPERMI2PS Z16, Z15, Z18
	VMOVUPS Z17, K5, (R12)(R9*1)
	VMOVUPS Z18, K6, 64(R12)(R9*1)
	RET
