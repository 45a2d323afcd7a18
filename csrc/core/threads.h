// The native kernels' OpenMP thread count and a parallel-for helper used by every family.
#pragma once
#include <cstdint>
#include <string>

namespace nervo {

void set_num_threads(int n);
int get_num_threads();
// "GNU libgomp <spec date>" or similar; empty when built without OpenMP.
std::string openmp_runtime();

}  // namespace nervo
