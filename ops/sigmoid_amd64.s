//go:build amd64 && !noasm

#include "textflag.h"

// The constants of math.Exp's amd64 kernel (GOROOT/src/math/exp_amd64.s),
// which sigmoidAsm evaluates in 8 float64 lanes with the same operations
// in the same order (its FMA path, which Go takes wherever AVX-512 is),
// and so the same bits.
DATA sigconst<>+0(SB)/8, $1.4426950408889634073599246810018920      // log2(e)
DATA sigconst<>+8(SB)/8, $0.69314718055966295651160180568695068359375 // ln 2, upper half
DATA sigconst<>+16(SB)/8, $0.28235290563031577122588448175013436025525412068e-12 // ln 2, lower half
DATA sigconst<>+24(SB)/8, $0.0625
DATA sigconst<>+32(SB)/8, $2.4801587301587301587e-5
DATA sigconst<>+40(SB)/8, $1.9841269841269841270e-4
DATA sigconst<>+48(SB)/8, $1.3888888888888888889e-3
DATA sigconst<>+56(SB)/8, $8.3333333333333333333e-3
DATA sigconst<>+64(SB)/8, $4.1666666666666666667e-2
DATA sigconst<>+72(SB)/8, $1.6666666666666666667e-1
DATA sigconst<>+80(SB)/8, $0.5
DATA sigconst<>+88(SB)/8, $1.0
DATA sigconst<>+96(SB)/8, $2.0
DATA sigconst<>+104(SB)/8, $0x8000000000000000 // the sign bit
DATA sigconst<>+112(SB)/8, $0x0010000000000000 // 2^-1022
DATA sigconst<>+120(SB)/4, $0x3FF              // the exponent bias (int32)
DATA sigconst<>+124(SB)/4, $0x3FE              // the bias − 1 (int32)
DATA sigconst<>+128(SB)/4, $-52                // (int32)
GLOBL sigconst<>(SB), RODATA, $132

// func sigmoidAsm(y, x unsafe.Pointer, n int)
// Sets y[i] = sigmoid(x[i]) for n float32s, n a multiple of 8, as the Go
// function sigmoid does: in float64, 1/(1 + e^−x) for x ≥ 0 and
// e^x/(1 + e^x) otherwise, e^a (a ≤ 0 or NaN) computed as math.Exp does on
// amd64. y may be x.
TEXT ·sigmoidAsm(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JEQ sigDone
	VBROADCASTSD sigconst<>+0(SB), Z16
	VBROADCASTSD sigconst<>+8(SB), Z17
	VBROADCASTSD sigconst<>+16(SB), Z18
	VBROADCASTSD sigconst<>+24(SB), Z19
	VBROADCASTSD sigconst<>+32(SB), Z20
	VBROADCASTSD sigconst<>+40(SB), Z21
	VBROADCASTSD sigconst<>+48(SB), Z22
	VBROADCASTSD sigconst<>+56(SB), Z23
	VBROADCASTSD sigconst<>+64(SB), Z24
	VBROADCASTSD sigconst<>+72(SB), Z25
	VBROADCASTSD sigconst<>+80(SB), Z26
	VBROADCASTSD sigconst<>+88(SB), Z27
	VBROADCASTSD sigconst<>+96(SB), Z28
	VBROADCASTSD sigconst<>+104(SB), Z29
	VBROADCASTSD sigconst<>+112(SB), Z30
	VPBROADCASTD sigconst<>+120(SB), Z31
	VPBROADCASTD sigconst<>+124(SB), Z14
	VPBROADCASTD sigconst<>+128(SB), Z13
	VPXORQ Z15, Z15, Z15

sigLoop:
	VCVTPS2PD (SI), Z0
	// a = −x where x ≥ 0, else x (NaN: x)
	VCMPPD $0x1d, Z15, Z0, K1    // x ≥ 0, ordered
	VXORPD Z29, Z0, K1, Z0
	// e^a: math.Exp's reduction a − k·ln 2, k = round(a·log2 e)
	VMULPD Z16, Z0, Z1
	VCVTPD2DQ Z1, Y2             // k (int32)
	VCVTDQ2PD Y2, Z1
	VMOVAPD Z0, Z3
	VFNMADD231PD Z17, Z1, Z3
	VFNMADD231PD Z18, Z1, Z3
	VMULPD Z19, Z3, Z3
	// its Taylor series and four squarings
	VMOVAPD Z20, Z4
	VFMADD213PD Z21, Z3, Z4
	VFMADD213PD Z22, Z3, Z4
	VFMADD213PD Z23, Z3, Z4
	VFMADD213PD Z24, Z3, Z4
	VFMADD213PD Z25, Z3, Z4
	VFMADD213PD Z26, Z3, Z4
	VFMADD213PD Z27, Z3, Z4
	VMULPD Z4, Z3, Z3
	VADDPD Z28, Z3, Z4
	VMULPD Z4, Z3, Z3
	VADDPD Z28, Z3, Z4
	VMULPD Z4, Z3, Z3
	VADDPD Z28, Z3, Z4
	VMULPD Z4, Z3, Z3
	VADDPD Z28, Z3, Z4
	VFMADD213PD Z27, Z4, Z3
	// times 2^k: e = k + bias; e ≤ 0 (denormal): times 2^(e+bias−1−1023)
	// then 2^-1022; e < −52: 0
	VPADDD Z31, Z2, Z2           // (lanes 8-15 are 0 and unused)
	VPCMPD $2, Z15, Z2, K2       // e ≤ 0
	VPCMPD $1, Z13, Z2, K3       // e < −52
	VPADDD Z14, Z2, K2, Z2
	VPMOVSXDQ Y2, Z5
	VPSLLQ $52, Z5, Z5
	VMULPD Z5, Z3, Z3
	VMULPD Z30, Z3, K2, Z3
	VPXORQ Z3, Z3, K3, Z3
	VCMPPD $3, Z0, Z0, K4        // a is NaN: e^a = a
	VMOVAPD Z0, K4, Z3
	// sigmoid: 1/(1 + e) where x ≥ 0, else e/(1 + e)
	VADDPD Z27, Z3, Z5
	VMOVAPD Z27, K1, Z3
	VDIVPD Z5, Z3, Z3
	VCVTPD2PS Z3, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNE sigLoop

sigDone:
	VZEROUPPER
	RET
