// ZHUSUAN_ISA_BEGIN / ZHUSUAN_ISA_END: an inline namespace around every
// function of these headers, named after the instruction set the translation
// unit is compiled for.
//
// Why: the CPU kernels are compiled three times, for a baseline x86-64, AVX2
// and AVX-512 (CMakeLists.txt; docs/design.md, "Building"), and linked into
// one module. The functions and templates of these headers are inline, so
// each of the three objects carries its own copy under the same symbol, and
// the linker keeps only one of them: the AVX2 entry point could end up
// running the baseline loop, or worse the baseline entry point an AVX-512
// loop on a CPU without AVX-512. Compiling with -DZHUSUAN_ISA_NS=isa_avx2
// puts everything in zhusuan::isa_avx2 (inline, so `zhusuan::math::exp`
// still names it) and gives each copy a symbol of its own.
//
// Without ZHUSUAN_ISA_NS (the CUDA kernels, the jit backend's jt.code
// sources, the bindings) the macros expand to nothing.
#pragma once

#ifdef ZHUSUAN_ISA_NS
#define ZHUSUAN_ISA_BEGIN inline namespace ZHUSUAN_ISA_NS {
#define ZHUSUAN_ISA_END }
#else
#define ZHUSUAN_ISA_BEGIN
#define ZHUSUAN_ISA_END
#endif
