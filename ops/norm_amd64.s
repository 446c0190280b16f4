//go:build amd64 && !noasm

#include "textflag.h"

// Kernels of the normalisations and of global average pooling on float32
// data, with float64 arithmetic (norm_lanes.go describes them and holds
// the Go versions; the elementwise ones compute the same bits, and
// norm_lanes_amd64_test.go models the order of the sums).
//
// A row of n ≥ 32 floats is read 32 at a time, as four groups of 8
// converted to float64 (one zmm each). Its last n mod 32 floats, if any,
// are read as the row's last 32 (a block that overlaps the one before),
// of which only the lanes of those floats are added or stored: the masks
// K1-K4 of the four groups come from a uint32 holding one 8-bit mask per
// group (see normMasks). Nothing outside the rows is read or written. A
// sum keeps 32 float64 lanes in four zmm accumulators: float i of a row
// goes to lane i mod 32, and its last n mod 32 floats to the top lanes
// (float i to lane i − n + 32). REDUCE adds the lanes in a fixed order.
// (An AVX-512 load does not fault on masked-off lanes, but where those lie
// in a page that is not mapped it costs a microcode assist of about a
// microsecond: hence the overlapping last block rather than a masked one
// reaching past the row.)

// TAILMASKS loads the four group masks packed in r (32 bits) into K1-K4,
// clobbering r.
#define TAILMASKS(r) \
	KMOVW r, K1; \
	SHRL $8, r; \
	KMOVW r, K2; \
	SHRL $8, r; \
	KMOVW r, K3; \
	SHRL $8, r; \
	KMOVW r, K4

// REDUCE adds the 32 lanes of a, b, c, d into the low lane of ax (ay and
// ax are a's ymm and xmm): t = (a + b) + (c + d), then t[l] + t[l+4] (4
// lanes), then u[l] + u[l+2] (2 lanes), then v[0] + v[1]. It clobbers Z7.
#define REDUCE(a, b, c, d, ay, ax) \
	VADDPD b, a, a; \
	VADDPD d, c, c; \
	VADDPD c, a, a; \
	VEXTRACTF64X4 $1, a, Y7; \
	VADDPD Y7, ay, ay; \
	VEXTRACTF128 $1, ay, X7; \
	VADDPD X7, ax, ax; \
	VPERMILPD $1, ax, X7; \
	VADDSD X7, ax, ax

// ZERO4 zeroes four zmm registers.
#define ZERO4(a, b, c, d) \
	VPXORQ a, a, a; \
	VPXORQ b, b, b; \
	VPXORQ c, c, c; \
	VPXORQ d, d, d


// TAILSETUP loads the masks of a row's tail (from the uint32 at m) into
// K1-K4 and R13, and its length in bytes, 4·(n mod 32), into R14, from n
// in CX; it clobbers AX.
#define TAILSETUP(m) \
	MOVL m, R13; \
	MOVL R13, AX; \
	TAILMASKS(AX); \
	MOVQ CX, R14; \
	ANDQ $31, R14; \
	SHLQ $2, R14

// SUM8 adds the 8 floats at off(R10) into acc; SUM8T those of its lanes
// in k.
#define SUM8(off, z, acc) \
	VCVTPS2PD off(R10), z; \
	VADDPD z, acc, acc

#define SUM8T(off, k, z, acc) \
	VCVTPS2PD off(R10), z; \
	VADDPD z, acc, k, acc

// func normSumAsm(x *float32, n, rows, stride int, masks uint32) float64
// Σ of rows rows of n ≥ 32 floats, row r at x + r·stride (floats).
TEXT ·normSumAsm(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	TAILSETUP(masks+32(FP))
	SHRQ $5, CX
	MOVQ rows+16(FP), DX
	MOVQ stride+24(FP), R8
	SHLQ $2, R8
	ZERO4(Z0, Z1, Z2, Z3)
	TESTQ DX, DX
	JEQ sumDone

sumRow:
	MOVQ SI, R10
	MOVQ CX, R12

sumFull:
	SUM8(0, Z4, Z0)
	SUM8(32, Z5, Z1)
	SUM8(64, Z6, Z2)
	SUM8(96, Z7, Z3)
	ADDQ $128, R10
	DECQ R12
	JNE sumFull
	TESTL R13, R13
	JEQ sumNext
	LEAQ -128(R10)(R14*1), R10
	SUM8T(0, K1, Z4, Z0)
	SUM8T(32, K2, Z5, Z1)
	SUM8T(64, K3, Z6, Z2)
	SUM8T(96, K4, Z7, Z3)

sumNext:
	ADDQ R8, SI
	DECQ DX
	JNE sumRow

sumDone:
	REDUCE(Z0, Z1, Z2, Z3, Y0, X0)
	VMOVSD X0, ret+40(FP)
	VZEROUPPER
	RET

// SQ8 adds the squares of the 8 floats at off(R10) less Z31 into acc.
#define SQ8(off, z, acc) \
	VCVTPS2PD off(R10), z; \
	VSUBPD Z31, z, z; \
	VMULPD z, z, z; \
	VADDPD z, acc, acc

#define SQ8T(off, k, z, acc) \
	VCVTPS2PD off(R10), z; \
	VSUBPD Z31, z, z; \
	VMULPD z, z, z; \
	VADDPD z, acc, k, acc

// func normSqDevAsm(x *float32, n, rows, stride int, masks uint32, m float64) float64
// Σ(x − m)² over the rows, as normSumAsm.
TEXT ·normSqDevAsm(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	TAILSETUP(masks+32(FP))
	SHRQ $5, CX
	MOVQ rows+16(FP), DX
	MOVQ stride+24(FP), R8
	SHLQ $2, R8
	VBROADCASTSD m+40(FP), Z31
	ZERO4(Z0, Z1, Z2, Z3)
	TESTQ DX, DX
	JEQ sqDone

sqRow:
	MOVQ SI, R10
	MOVQ CX, R12

sqFull:
	SQ8(0, Z4, Z0)
	SQ8(32, Z5, Z1)
	SQ8(64, Z6, Z2)
	SQ8(96, Z7, Z3)
	ADDQ $128, R10
	DECQ R12
	JNE sqFull
	TESTL R13, R13
	JEQ sqNext
	LEAQ -128(R10)(R14*1), R10
	SQ8T(0, K1, Z4, Z0)
	SQ8T(32, K2, Z5, Z1)
	SQ8T(64, K3, Z6, Z2)
	SQ8T(96, K4, Z7, Z3)

sqNext:
	ADDQ R8, SI
	DECQ DX
	JNE sqRow

sqDone:
	REDUCE(Z0, Z1, Z2, Z3, Y0, X0)
	VMOVSD X0, ret+48(FP)
	VZEROUPPER
	RET

// GRAD8 adds, for the 8 floats x at off(R10) and g at off(R11), g into
// s, (x − Z31)² into q and g·(x − Z31) into p.
#define GRAD8(off, zx, zg, s, q, p) \
	VCVTPS2PD off(R10), zx; \
	VCVTPS2PD off(R11), zg; \
	VSUBPD Z31, zx, zx; \
	VADDPD zg, s, s; \
	VMULPD zx, zg, zg; \
	VMULPD zx, zx, zx; \
	VADDPD zx, q, q; \
	VADDPD zg, p, p

#define GRAD8T(off, k, zx, zg, s, q, p) \
	VCVTPS2PD off(R10), zx; \
	VCVTPS2PD off(R11), zg; \
	VSUBPD Z31, zx, zx; \
	VADDPD zg, s, k, s; \
	VMULPD zx, zg, zg; \
	VMULPD zx, zx, zx; \
	VADDPD zx, q, k, q; \
	VADDPD zg, p, k, p

// func normGradSumsAsm(x, dy *float32, n, rows, stride int, masks uint32, m float64, out *[3]float64)
// out = Σdy, Σ(x − m)², Σdy·(x − m) over the rows, as normSumAsm.
TEXT ·normGradSumsAsm(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ n+16(FP), CX
	TAILSETUP(masks+40(FP))
	SHRQ $5, CX
	MOVQ rows+24(FP), DX
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	VBROADCASTSD m+48(FP), Z31
	ZERO4(Z0, Z1, Z2, Z3)
	ZERO4(Z8, Z9, Z10, Z11)
	ZERO4(Z12, Z13, Z14, Z15)
	TESTQ DX, DX
	JEQ gradDone

gradRow:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ CX, R12

gradFull:
	GRAD8(0, Z4, Z16, Z0, Z8, Z12)
	GRAD8(32, Z5, Z17, Z1, Z9, Z13)
	GRAD8(64, Z6, Z18, Z2, Z10, Z14)
	GRAD8(96, Z7, Z19, Z3, Z11, Z15)
	ADDQ $128, R10
	ADDQ $128, R11
	DECQ R12
	JNE gradFull
	TESTL R13, R13
	JEQ gradNext
	LEAQ -128(R10)(R14*1), R10
	LEAQ -128(R11)(R14*1), R11
	GRAD8T(0, K1, Z4, Z16, Z0, Z8, Z12)
	GRAD8T(32, K2, Z5, Z17, Z1, Z9, Z13)
	GRAD8T(64, K3, Z6, Z18, Z2, Z10, Z14)
	GRAD8T(96, K4, Z7, Z19, Z3, Z11, Z15)

gradNext:
	ADDQ R8, SI
	ADDQ R8, DI
	DECQ DX
	JNE gradRow

gradDone:
	MOVQ out+56(FP), AX
	REDUCE(Z0, Z1, Z2, Z3, Y0, X0)
	VMOVSD X0, 0(AX)
	REDUCE(Z8, Z9, Z10, Z11, Y8, X8)
	VMOVSD X8, 8(AX)
	REDUCE(Z12, Z13, Z14, Z15, Y12, X12)
	VMOVSD X12, 16(AX)
	VZEROUPPER
	RET

// BNNORM8 writes the 8 floats ((x − Z31)·Z30 + Z29) of the x at off(R10)
// to off(R11); BNNORM8T those of its lanes in k.
#define BNNORM8(off, z, y) \
	VCVTPS2PD off(R10), z; \
	VSUBPD Z31, z, z; \
	VMULPD Z30, z, z; \
	VADDPD Z29, z, z; \
	VCVTPD2PS z, y; \
	VPMAXSD Y8, y, y; \
	VMOVUPS y, off(R11)

#define BNNORM8T(off, k, z, y) \
	VCVTPS2PD off(R10), z; \
	VSUBPD Z31, z, z; \
	VMULPD Z30, z, z; \
	VADDPD Z29, z, z; \
	VCVTPD2PS z, y; \
	VPMAXSD Y8, y, y; \
	VMOVUPS y, k, off(R11)

// func bnNormAsm(y, x *float32, n, rows, stride int, masks uint32, m, sc, b float64, relu bool)
// y = (x − m)·sc + b over the rows (of x and y alike), as normSumAsm, and
// ReLU(y) with relu set: the float32 results' bits as int32s, floored at 0
// by VPMAXSD (Y8; at INT32_MIN, no floor, without relu), which is relu's
// bit operation.
TEXT ·bnNormAsm(SB), NOSPLIT, $0-73
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	TAILSETUP(masks+40(FP))
	SHRQ $5, CX
	MOVQ rows+24(FP), DX
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	VBROADCASTSD m+48(FP), Z31
	VBROADCASTSD sc+56(FP), Z30
	VBROADCASTSD b+64(FP), Z29
	MOVL $0x80000000, AX
	MOVBLZX relu+72(FP), BX
	TESTQ BX, BX
	JEQ normFloor
	XORL AX, AX

normFloor:
	MOVL AX, X8
	VPBROADCASTD X8, Y8
	TESTQ DX, DX
	JEQ normDone

normRow:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ CX, R12

normFull:
	BNNORM8(0, Z4, Y4)
	BNNORM8(32, Z5, Y5)
	BNNORM8(64, Z6, Y6)
	BNNORM8(96, Z7, Y7)
	ADDQ $128, R10
	ADDQ $128, R11
	DECQ R12
	JNE normFull
	TESTL R13, R13
	JEQ normNext
	LEAQ -128(R10)(R14*1), R10
	LEAQ -128(R11)(R14*1), R11
	BNNORM8T(0, K1, Z4, Y4)
	BNNORM8T(32, K2, Z5, Y5)
	BNNORM8T(64, K3, Z6, Y6)
	BNNORM8T(96, K4, Z7, Y7)

normNext:
	ADDQ R8, SI
	ADDQ R8, DI
	DECQ DX
	JNE normRow

normDone:
	VZEROUPPER
	RET

// BNDX8 writes the 8 floats Z28·((dy − Z29) − (x − Z31)·Z30) of the x at
// off(R10) and dy at off(R9) to off(R11).
#define BNDX8(off, z, zg, y) \
	VCVTPS2PD off(R10), z; \
	VCVTPS2PD off(R9), zg; \
	VSUBPD Z31, z, z; \
	VSUBPD Z29, zg, zg; \
	VMULPD Z30, z, z; \
	VSUBPD z, zg, zg; \
	VMULPD Z28, zg, zg; \
	VCVTPD2PS zg, y; \
	VMOVUPS y, off(R11)

#define BNDX8T(off, k, z, zg, y) \
	VCVTPS2PD off(R10), z; \
	VCVTPS2PD off(R9), zg; \
	VSUBPD Z31, z, z; \
	VSUBPD Z29, zg, zg; \
	VMULPD Z30, z, z; \
	VSUBPD z, zg, zg; \
	VMULPD Z28, zg, zg; \
	VCVTPD2PS zg, y; \
	VMOVUPS y, k, off(R11)

// func bnDxAsm(dx, dy, x *float32, n, rows, stride int, masks uint32, k *[4]float64)
// dx = k1·((dy − k2) − (x − m)·k3) over the rows, k = (m, k1, k2, k3), as
// normSumAsm.
TEXT ·bnDxAsm(SB), NOSPLIT, $0-64
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), BX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	TAILSETUP(masks+48(FP))
	SHRQ $5, CX
	MOVQ rows+32(FP), DX
	MOVQ stride+40(FP), R8
	SHLQ $2, R8
	MOVQ k+56(FP), AX
	VBROADCASTSD 0(AX), Z31
	VBROADCASTSD 8(AX), Z28
	VBROADCASTSD 16(AX), Z29
	VBROADCASTSD 24(AX), Z30
	TESTQ DX, DX
	JEQ dxDone

dxRow:
	MOVQ SI, R10
	MOVQ BX, R9
	MOVQ DI, R11
	MOVQ CX, R12

dxFull:
	BNDX8(0, Z4, Z16, Y16)
	BNDX8(32, Z5, Z17, Y17)
	BNDX8(64, Z6, Z18, Y18)
	BNDX8(96, Z7, Z19, Y19)
	ADDQ $128, R10
	ADDQ $128, R9
	ADDQ $128, R11
	DECQ R12
	JNE dxFull
	TESTL R13, R13
	JEQ dxNext
	LEAQ -128(R10)(R14*1), R10
	LEAQ -128(R9)(R14*1), R9
	LEAQ -128(R11)(R14*1), R11
	BNDX8T(0, K1, Z4, Z16, Y16)
	BNDX8T(32, K2, Z5, Z17, Y17)
	BNDX8T(64, K3, Z6, Z18, Y18)
	BNDX8T(96, K4, Z7, Z19, Y19)

dxNext:
	ADDQ R8, SI
	ADDQ R8, BX
	ADDQ R8, DI
	DECQ DX
	JNE dxRow

dxDone:
	VZEROUPPER
	RET

// LNNORM8 writes the 8 floats ((x − Z31)·Z30)·γ + β of the x at off(R10),
// float64 γ at off2(R8) and β at off2(R9) to off(R11).
#define LNNORM8(off, off2, z, y) \
	VCVTPS2PD off(R10), z; \
	VSUBPD Z31, z, z; \
	VMULPD Z30, z, z; \
	VMULPD off2(R8), z, z; \
	VADDPD off2(R9), z, z; \
	VCVTPD2PS z, y; \
	VMOVUPS y, off(R11)

#define LNNORM8T(off, off2, k, z, y) \
	VCVTPS2PD off(R10), z; \
	VSUBPD Z31, z, z; \
	VMULPD Z30, z, z; \
	VMULPD off2(R8), z, z; \
	VADDPD off2(R9), z, z; \
	VCVTPD2PS z, y; \
	VMOVUPS y, k, off(R11)

// func lnNormAsm(y, x *float32, gamma, beta *float64, n int, masks uint32, m, inv float64)
// y = ((x − m)·inv)·γ + β over one row of n ≥ 32 floats.
TEXT ·lnNormAsm(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), R11
	MOVQ x+8(FP), R10
	MOVQ gamma+16(FP), R8
	MOVQ beta+24(FP), R9
	MOVQ n+32(FP), CX
	TAILSETUP(masks+40(FP))
	SHRQ $5, CX
	VBROADCASTSD m+48(FP), Z31
	VBROADCASTSD inv+56(FP), Z30

lnFull:
	LNNORM8(0, 0, Z0, Y0)
	LNNORM8(32, 64, Z1, Y1)
	LNNORM8(64, 128, Z2, Y2)
	LNNORM8(96, 192, Z3, Y3)
	ADDQ $128, R10
	ADDQ $256, R8
	ADDQ $256, R9
	ADDQ $128, R11
	DECQ CX
	JNE lnFull
	TESTL R13, R13
	JEQ lnDone
	LEAQ -128(R10)(R14*1), R10
	LEAQ -256(R8)(R14*2), R8
	LEAQ -256(R9)(R14*2), R9
	LEAQ -128(R11)(R14*1), R11
	LNNORM8T(0, 0, K1, Z0, Y0)
	LNNORM8T(32, 64, K2, Z1, Y1)
	LNNORM8T(64, 128, K3, Z2, Y2)
	LNNORM8T(96, 192, K4, Z3, Y3)

lnDone:
	VZEROUPPER
	RET

// LNGRAD8 adds, for the 8 floats x at off(R10), dy at off(R11) and the
// float64 γ at off2(R9), g = dy·γ into s and g·(x − Z31) into p.
#define LNGRAD8(off, off2, zx, zg, s, p) \
	VCVTPS2PD off(R10), zx; \
	VCVTPS2PD off(R11), zg; \
	VSUBPD Z31, zx, zx; \
	VMULPD off2(R9), zg, zg; \
	VADDPD zg, s, s; \
	VMULPD zx, zg, zg; \
	VADDPD zg, p, p

#define LNGRAD8T(off, off2, k, zx, zg, s, p) \
	VCVTPS2PD off(R10), zx; \
	VCVTPS2PD off(R11), zg; \
	VSUBPD Z31, zx, zx; \
	VMULPD off2(R9), zg, zg; \
	VADDPD zg, s, k, s; \
	VMULPD zx, zg, zg; \
	VADDPD zg, p, k, p

// func lnGradSumsAsm(x, dy *float32, gamma *float64, n int, masks uint32, m float64, out *[2]float64)
// out = Σg, Σg·(x − m) with g = dy·γ, over one row of n ≥ 32 floats.
TEXT ·lnGradSumsAsm(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), R10
	MOVQ dy+8(FP), R11
	MOVQ gamma+16(FP), R9
	MOVQ n+24(FP), CX
	TAILSETUP(masks+32(FP))
	SHRQ $5, CX
	VBROADCASTSD m+40(FP), Z31
	ZERO4(Z0, Z1, Z2, Z3)
	ZERO4(Z8, Z9, Z10, Z11)

lgFull:
	LNGRAD8(0, 0, Z4, Z16, Z0, Z8)
	LNGRAD8(32, 64, Z5, Z17, Z1, Z9)
	LNGRAD8(64, 128, Z6, Z18, Z2, Z10)
	LNGRAD8(96, 192, Z7, Z19, Z3, Z11)
	ADDQ $128, R10
	ADDQ $128, R11
	ADDQ $256, R9
	DECQ CX
	JNE lgFull
	TESTL R13, R13
	JEQ lgDone
	LEAQ -128(R10)(R14*1), R10
	LEAQ -128(R11)(R14*1), R11
	LEAQ -256(R9)(R14*2), R9
	LNGRAD8T(0, 0, K1, Z4, Z16, Z0, Z8)
	LNGRAD8T(32, 64, K2, Z5, Z17, Z1, Z9)
	LNGRAD8T(64, 128, K3, Z6, Z18, Z2, Z10)
	LNGRAD8T(96, 192, K4, Z7, Z19, Z3, Z11)

lgDone:
	MOVQ out+48(FP), AX
	REDUCE(Z0, Z1, Z2, Z3, Y0, X0)
	VMOVSD X0, 0(AX)
	REDUCE(Z8, Z9, Z10, Z11, Y8, X8)
	VMOVSD X8, 8(AX)
	VZEROUPPER
	RET

// LNDX8 writes the 8 floats inv·((g − c1) − ((x − m)·inv)·c2), g = dy·γ,
// of the x at off(R10), dy at off(R9) and float64 γ at off2(R8) to
// off(R11); Z31 = m, Z30 = inv, Z29 = c1, Z28 = c2.
#define LNDX8(off, off2, z, zg, y) \
	VCVTPS2PD off(R10), z; \
	VCVTPS2PD off(R9), zg; \
	VSUBPD Z31, z, z; \
	VMULPD off2(R8), zg, zg; \
	VMULPD Z30, z, z; \
	VSUBPD Z29, zg, zg; \
	VMULPD Z28, z, z; \
	VSUBPD z, zg, zg; \
	VMULPD Z30, zg, zg; \
	VCVTPD2PS zg, y; \
	VMOVUPS y, off(R11)

#define LNDX8T(off, off2, k, z, zg, y) \
	VCVTPS2PD off(R10), z; \
	VCVTPS2PD off(R9), zg; \
	VSUBPD Z31, z, z; \
	VMULPD off2(R8), zg, zg; \
	VMULPD Z30, z, z; \
	VSUBPD Z29, zg, zg; \
	VMULPD Z28, z, z; \
	VSUBPD z, zg, zg; \
	VMULPD Z30, zg, zg; \
	VCVTPD2PS zg, y; \
	VMOVUPS y, k, off(R11)

// func lnDxAsm(dx, dy, x *float32, gamma *float64, n int, masks uint32, k *[4]float64)
// dx = inv·((g − c1) − ((x − m)·inv)·c2), g = dy·γ, over one row of n ≥ 32
// floats, k = (m, inv, c1, c2).
TEXT ·lnDxAsm(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), R11
	MOVQ dy+8(FP), R9
	MOVQ x+16(FP), R10
	MOVQ gamma+24(FP), R8
	MOVQ n+32(FP), CX
	TAILSETUP(masks+40(FP))
	SHRQ $5, CX
	MOVQ k+48(FP), AX
	VBROADCASTSD 0(AX), Z31
	VBROADCASTSD 8(AX), Z30
	VBROADCASTSD 16(AX), Z29
	VBROADCASTSD 24(AX), Z28

ldFull:
	LNDX8(0, 0, Z0, Z1, Y1)
	LNDX8(32, 64, Z2, Z3, Y3)
	LNDX8(64, 128, Z4, Z5, Y5)
	LNDX8(96, 192, Z6, Z7, Y7)
	ADDQ $128, R10
	ADDQ $128, R9
	ADDQ $256, R8
	ADDQ $128, R11
	DECQ CX
	JNE ldFull
	TESTL R13, R13
	JEQ ldDone
	LEAQ -128(R10)(R14*1), R10
	LEAQ -128(R9)(R14*1), R9
	LEAQ -256(R8)(R14*2), R8
	LEAQ -128(R11)(R14*1), R11
	LNDX8T(0, 0, K1, Z0, Z1, Y1)
	LNDX8T(32, 64, K2, Z2, Z3, Y3)
	LNDX8T(64, 128, K3, Z4, Z5, Y5)
	LNDX8T(96, 192, K4, Z6, Z7, Y7)

ldDone:
	VZEROUPPER
	RET

// COLACC8 adds to the 8 float64 at off2(DI) the dy at off(R9) times
// (x − Z31)·Z30, x at off(R10).
#define COLACC8(off, off2, z, zg, za) \
	VCVTPS2PD off(R10), z; \
	VCVTPS2PD off(R9), zg; \
	VMOVUPD off2(DI), za; \
	VSUBPD Z31, z, z; \
	VMULPD Z30, z, z; \
	VMULPD z, zg, zg; \
	VADDPD zg, za, za; \
	VMOVUPD za, off2(DI)

#define COLACC8T(off, off2, k, z, zg, za) \
	VCVTPS2PD off(R10), z; \
	VCVTPS2PD off(R9), zg; \
	VMOVUPD off2(DI), za; \
	VSUBPD Z31, z, z; \
	VMULPD Z30, z, z; \
	VMULPD z, zg, zg; \
	VADDPD zg, za, za; \
	VMOVUPD za, k, off2(DI)

// func lnColAccAsm(acc *float64, dy, x *float32, n int, masks uint32, m, inv float64)
// acc += dy·((x − m)·inv) over one row of n ≥ 32 columns.
TEXT ·lnColAccAsm(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ dy+8(FP), R9
	MOVQ x+16(FP), R10
	MOVQ n+24(FP), CX
	TAILSETUP(masks+32(FP))
	SHRQ $5, CX
	VBROADCASTSD m+40(FP), Z31
	VBROADCASTSD inv+48(FP), Z30

caFull:
	COLACC8(0, 0, Z0, Z1, Z2)
	COLACC8(32, 64, Z3, Z4, Z5)
	COLACC8(64, 128, Z6, Z7, Z8)
	COLACC8(96, 192, Z9, Z10, Z11)
	ADDQ $128, R10
	ADDQ $128, R9
	ADDQ $256, DI
	DECQ CX
	JNE caFull
	TESTL R13, R13
	JEQ caDone
	LEAQ -128(R10)(R14*1), R10
	LEAQ -128(R9)(R14*1), R9
	LEAQ -256(DI)(R14*2), DI
	COLACC8T(0, 0, K1, Z0, Z1, Z2)
	COLACC8T(32, 64, K2, Z3, Z4, Z5)
	COLACC8T(64, 128, K3, Z6, Z7, Z8)
	COLACC8T(96, 192, K4, Z9, Z10, Z11)

caDone:
	VZEROUPPER
	RET

// COLADD8 adds the 8 floats at off(R9) to the float64 at off2(DI).
#define COLADD8(off, off2, zg, za) \
	VCVTPS2PD off(R9), zg; \
	VADDPD off2(DI), zg, za; \
	VMOVUPD za, off2(DI)

#define COLADD8T(off, off2, k, zg, za) \
	VCVTPS2PD off(R9), zg; \
	VADDPD off2(DI), zg, za; \
	VMOVUPD za, k, off2(DI)

// func colAddAsm(acc *float64, dy *float32, n int, masks uint32)
// acc += dy over one row of n ≥ 32 columns.
TEXT ·colAddAsm(SB), NOSPLIT, $0-28
	MOVQ acc+0(FP), DI
	MOVQ dy+8(FP), R9
	MOVQ n+16(FP), CX
	TAILSETUP(masks+24(FP))
	SHRQ $5, CX

cdFull:
	COLADD8(0, 0, Z0, Z1)
	COLADD8(32, 64, Z2, Z3)
	COLADD8(64, 128, Z4, Z5)
	COLADD8(96, 192, Z6, Z7)
	ADDQ $128, R9
	ADDQ $256, DI
	DECQ CX
	JNE cdFull
	TESTL R13, R13
	JEQ cdDone
	LEAQ -128(R9)(R14*1), R9
	LEAQ -256(DI)(R14*2), DI
	COLADD8T(0, 0, K1, Z0, Z1)
	COLADD8T(32, 64, K2, Z2, Z3)
	COLADD8T(64, 128, K3, Z4, Z5)
	COLADD8T(96, 192, K4, Z6, Z7)

cdDone:
	VZEROUPPER
	RET

// func planeMeansAsm(y, x *float32, planes, hw int, masks uint32)
// y[p] = float32(Σ/hw) of each plane p of hw ≥ 32 floats of x, summed as
// normSumAsm sums one row.
TEXT ·planeMeansAsm(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ planes+16(FP), DX
	MOVQ hw+24(FP), CX
	TAILSETUP(masks+32(FP))
	VCVTSI2SDQ CX, X8, X8
	MOVQ CX, R8
	SHLQ $2, R8
	SHRQ $5, CX
	TESTQ DX, DX
	JEQ pmDone

pmPlane:
	ZERO4(Z0, Z1, Z2, Z3)
	MOVQ SI, R10
	MOVQ CX, R12

pmFull:
	SUM8(0, Z4, Z0)
	SUM8(32, Z5, Z1)
	SUM8(64, Z6, Z2)
	SUM8(96, Z7, Z3)
	ADDQ $128, R10
	DECQ R12
	JNE pmFull
	TESTL R13, R13
	JEQ pmSum
	LEAQ -128(R10)(R14*1), R10
	SUM8T(0, K1, Z4, Z0)
	SUM8T(32, K2, Z5, Z1)
	SUM8T(64, K3, Z6, Z2)
	SUM8T(96, K4, Z7, Z3)

pmSum:
	REDUCE(Z0, Z1, Z2, Z3, Y0, X0)
	VDIVSD X8, X0, X0
	VCVTSD2SS X0, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ DX
	JNE pmPlane

pmDone:
	VZEROUPPER
	RET

// func planeFillAsm(dx, dy *float32, planes, hw int)
// Sets the hw ≥ 16 floats of each plane p of dx to
// float32(float64(dy[p])/hw): blocks of 16, the last one ending at the
// plane's end (overlapping the one before).
TEXT ·planeFillAsm(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ planes+16(FP), DX
	MOVQ hw+24(FP), R8
	VCVTSI2SDQ R8, X8, X8
	MOVQ R8, CX
	SHRQ $4, CX
	ANDQ $15, R8
	SHLQ $2, R8
	TESTQ DX, DX
	JEQ pfDone

pfPlane:
	VCVTSS2SD (SI), X0, X0
	VDIVSD X8, X0, X0
	VCVTSD2SS X0, X0, X0
	VBROADCASTSS X0, Z0
	MOVQ CX, R12

pfFull:
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	DECQ R12
	JNE pfFull
	TESTQ R8, R8
	JEQ pfNext
	ADDQ R8, DI
	VMOVUPS Z0, -64(DI)

pfNext:
	ADDQ $4, SI
	DECQ DX
	JNE pfPlane

pfDone:
	VZEROUPPER
	RET
