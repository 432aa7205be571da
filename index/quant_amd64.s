#include "textflag.h"

// func dotInt8AVX2(a, b *int8, n int) int32
// Sixteen bytes of each side per step: sign-extend to 16-bit words, multiply
// and add adjacent pairs into eight 32-bit sums (VPMADDWD), accumulate, then
// fold the eight sums into one.
TEXT ·dotInt8AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VPXOR Y0, Y0, Y0

loop:
	VPMOVSXBW (SI), Y1
	VPMOVSXBW (DI), Y2
	VPMADDWD  Y1, Y2, Y1
	VPADDD    Y1, Y0, Y0
	ADDQ      $16, SI
	ADDQ      $16, DI
	SUBQ      $16, CX
	JNZ       loop

	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	MOVL         AX, ret+24(FP)
	VZEROUPPER
	RET

// func prefetchSlots(base unsafe.Pointer, stride, size int, slots []uint32)
// For each slot s, PREFETCHT0 every cache line of the size bytes at
// base+s*stride: the loads start and nothing waits for them. size > 0.
TEXT ·prefetchSlots(SB), NOSPLIT, $0-48
	MOVQ base+0(FP), SI
	MOVQ stride+8(FP), DX
	MOVQ size+16(FP), R9
	MOVQ slots_base+24(FP), DI
	MOVQ slots_len+32(FP), CX
	TESTQ CX, CX
	JZ   done
	DECQ R9

next:
	MOVL (DI), AX
	IMULQ DX, AX
	ADDQ SI, AX
	LEAQ (AX)(R9*1), R8

line:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	CMPQ AX, R8
	JLS  line
	PREFETCHT0 (R8)
	ADDQ $4, DI
	DECQ CX
	JNZ  next

done:
	RET

// func prefetchStrided(base unsafe.Pointer, stride int, slots unsafe.Pointer, step, n int)
// For i in [0, n): s is the uint32 at slots+i*step; PREFETCHT0 base+s*stride.
TEXT ·prefetchStrided(SB), NOSPLIT, $0-40
	MOVQ base+0(FP), SI
	MOVQ stride+8(FP), DX
	MOVQ slots+16(FP), DI
	MOVQ step+24(FP), BX
	MOVQ n+32(FP), CX
	TESTQ CX, CX
	JLE  sdone

snext:
	MOVL (DI), AX
	IMULQ DX, AX
	PREFETCHT0 (SI)(AX*1)
	ADDQ BX, DI
	DECQ CX
	JNZ  snext

sdone:
	RET
