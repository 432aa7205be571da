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

// func prefetchRows(base unsafe.Pointer, stride, size int, slots unsafe.Pointer, step, n int)
// For i in [0, n): s is the uint32 at slots+i*step; PREFETCHT0 every cache line
// of the size bytes at base+s*stride. The loads start and nothing waits for
// them. size > 0.
TEXT ·prefetchRows(SB), NOSPLIT, $0-48
	MOVQ base+0(FP), SI
	MOVQ stride+8(FP), DX
	MOVQ size+16(FP), R9
	MOVQ slots+24(FP), DI
	MOVQ step+32(FP), BX
	MOVQ n+40(FP), CX
	TESTQ CX, CX
	JLE  done
	DECQ R9

next:
	MOVL (DI), AX
	IMULQ DX, AX
	ADDQ SI, AX
	LEAQ (AX)(R9*1), R8
	PREFETCHT0 (AX)
	ANDQ $-64, AX

line:
	ADDQ $64, AX
	CMPQ AX, R8
	JHI  row
	PREFETCHT0 (AX)
	JMP  line

row:
	ADDQ BX, DI
	DECQ CX
	JNZ  next

done:
	RET
