#include "core/threads.h"

#include <omp.h>
#include <stdexcept>

namespace nervo {

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("nervo.set_num_threads: n must be >= 1, got " + std::to_string(n));
  omp_set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

std::string openmp_runtime() {
#ifdef _OPENMP
  std::string name =
#if defined(__clang__)
      "LLVM libomp";
#elif defined(__GNUC__)
      "GNU libgomp";
#else
      "OpenMP";
#endif
  return name + " (OpenMP " + std::to_string(_OPENMP) + ")";
#else
  return "";
#endif
}

}  // namespace nervo
