#include "textflag.h"

// FOLD_Y0_AX adds the eight 32-bit sums in Y0 into AX (clobbers X1).
#define FOLD_Y0_AX \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDD       X1, X0, X0; \
	VPSHUFD      $0x4E, X0, X1; \
	VPADDD       X1, X0, X0; \
	VPSHUFD      $0xB1, X0, X1; \
	VPADDD       X1, X0, X0; \
	VMOVD        X0, AX

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

	FOLD_Y0_AX
	MOVL         AX, ret+24(FP)
	VZEROUPPER
	RET

// func dotInt4AVX2(q *int8, c *uint8, table *[16]int8, n int) int32
// 64 dimensions per step: 32 packed bytes split into low and high nibbles, each
// looked up in the table (VPSHUFB) as signed bytes d; then |d| (unsigned) times
// q with d's sign (VPMADDUBSW) gives 16-bit pair sums (at most 2·127·127, no
// saturation), widened to 32 bits (VPMADDWD by ones) and accumulated.
TEXT ·dotInt4AVX2(SB), NOSPLIT, $0-36
	MOVQ q+0(FP), SI
	MOVQ c+8(FP), DI
	MOVQ table+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTI128 (DX), Y7
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVL $0x00010001, AX
	VMOVD AX, X5
	VPBROADCASTD X5, Y5
	VPXOR Y0, Y0, Y0

loop4:
	VMOVDQU    (DI), Y1
	VPSRLW     $4, Y1, Y2
	VPAND      Y6, Y1, Y1
	VPAND      Y6, Y2, Y2
	VPSHUFB    Y1, Y7, Y1
	VPSHUFB    Y2, Y7, Y2
	VMOVDQU    (SI), Y3
	VMOVDQU    32(SI), Y4
	VPSIGNB    Y1, Y3, Y3
	VPSIGNB    Y2, Y4, Y4
	VPABSB     Y1, Y1
	VPABSB     Y2, Y2
	VPMADDUBSW Y3, Y1, Y1
	VPMADDUBSW Y4, Y2, Y2
	VPMADDWD   Y5, Y1, Y1
	VPMADDWD   Y5, Y2, Y2
	VPADDD     Y1, Y0, Y0
	VPADDD     Y2, Y0, Y0
	ADDQ       $32, DI
	ADDQ       $64, SI
	SUBQ       $64, CX
	JNZ        loop4

	FOLD_Y0_AX
	MOVL         AX, ret+32(FP)
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
