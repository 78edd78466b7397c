// Special functions the distribution families need: log-gamma and digamma,
// in float and double, on the host and the device.
//
// lgamma is the C library's (glibc on the host, CUDA's libdevice on the
// device): correctly rounded to a few ulp and not worth rewriting. Note
// that glibc's lgamma also writes the global `signgam`; every argument we
// pass is positive, so all threads write the same value.
//
// digamma(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x lifts x to
// at least 10, then the asymptotic series
//   psi(x) ~ log x - 1/(2x) - 1/(12x^2) + 1/(120x^4) - 1/(252x^6)
//            + 1/(240x^8) - 1/(132x^10),
// whose first omitted term, 691/(32760 x^12), is below 2.2e-14 for x >= 10
// (1e-14 relative to psi(10) = 2.25). The loop runs at most 10 times, so a
// NaN or -inf argument cannot hang it (they give NaN).
#pragma once

#include "common.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace math {

ZS_HD float lgamma(float x) { return ::lgammaf(x); }
ZS_HD double lgamma(double x) { return ::lgamma(x); }

template <typename T>
ZS_HD T digamma(T x) {
  T acc = T(0);
  for (int i = 0; i < 10 && x < T(10); ++i) {
    acc -= T(1) / x;
    x += T(1);
  }
  T inv = T(1) / x;
  T inv2 = inv * inv;
  T tail = inv2 * (T(1) / T(12) -
                   inv2 * (T(1) / T(120) -
                           inv2 * (T(1) / T(252) - inv2 * (T(1) / T(240) - inv2 / T(132)))));
  return acc + log(x) - T(0.5) * inv - tail;
}

}  // namespace math
ZHUSUAN_ISA_END
}  // namespace zhusuan
