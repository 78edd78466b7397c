// Which instruction set the CPU kernels run with (dispatch.cpp).
//
// ops.cpp and optim.cpp are compiled once per instruction set this module
// was built for (CMakeLists.txt): "baseline" (x86-64-v2 by default), "avx2"
// (x86-64-v3) and "avx512" (x86-64-v4); or a single "native" one for a
// -DZHUSUAN_NATIVE_ARCH=ON build. At load time the best one the CPU supports
// is chosen; zhusuan.kernels sets another from the ZHUSUAN_ISA environment
// variable. See docs/design.md, "Building".
#pragma once

#include <string>
#include <vector>

namespace zhusuan {
namespace cpu {

// The instruction sets compiled into this module, baseline first.
std::vector<std::string> compiled_isas();

// Those of compiled_isas() this CPU can run (checked with
// __builtin_cpu_supports, which also asks the OS whether it saves the AVX
// registers), baseline first.
std::vector<std::string> supported_isas();

// The instruction set the kernels run with now.
std::string active_isa();

// Run the kernels with `name` from now on. Throws std::invalid_argument,
// naming `name`, when it is not compiled in or the CPU cannot run it.
void set_isa(const std::string& name);

// Number of OpenMP threads the launchers use (1 without OpenMP).
int num_threads();

}  // namespace cpu
}  // namespace zhusuan
