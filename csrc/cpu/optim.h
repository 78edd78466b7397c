// The CPU launchers of the optimiser updates (zhusuan/optim.h): every tensor
// of one update in one OpenMP pass, in place. Arrays of n pointers (one per
// tensor), their element counts, and kAdamCoefs / kSgdCoefs doubles per
// tensor (see zhusuan/optim.h for the layout). The caller checks dtypes,
// sizes and aliasing (csrc/optim_bindings.cpp).
#pragma once

#include <cstdint>

#include "zhusuan/isa_namespace.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace cpu {

#include "optim_api.inc"

}  // namespace cpu
ZHUSUAN_ISA_END
}  // namespace zhusuan
