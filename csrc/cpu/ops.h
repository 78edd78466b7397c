// The CPU backend of the fused ops: host pointers, OpenMP + SIMD.
// Declarations only (ops_api.inc); the definitions instantiate
// zhusuan/ops_impl.h with the CPU engine (engine.h) for float and double in
// ops.cpp, which CMakeLists.txt compiles once per instruction set; the
// functions the bindings call are dispatch.cpp's, which pick one of those at
// run time (isa.h). The contract of each
// op (shapes, axes, weight, null gradient outputs) is in ops_impl.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zhusuan/broadcast.h"
#include "zhusuan/isa_namespace.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace cpu {

#include "ops_api.inc"

}  // namespace cpu
ZHUSUAN_ISA_END
}  // namespace zhusuan
