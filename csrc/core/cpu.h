// CPU feature detection and the process-wide ISA level the native kernels run at.
//
// The level is chosen once at import (best the CPU and OS support, or NERVO_ISA) and may be changed
// later by set_isa() (the test suite runs every kernel under every supported level). Kernel
// families read it through current_isa() each call, so a change takes effect on the next call.
#pragma once
#include <string>
#include <vector>

namespace nervo {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Parses "generic" | "avx2" | "avx512"; throws std::invalid_argument otherwise.
Isa isa_from_name(const std::string& name);

// True when both the CPU (cpuid) and the OS (XCR0 via xgetbv: the YMM/ZMM state is saved on
// context switches) support the level.
bool isa_supported(Isa isa);
std::vector<Isa> isa_available();
Isa best_isa();

Isa current_isa();
// Throws std::runtime_error naming the missing CPU feature when the level is not supported.
void set_isa(Isa isa);

}  // namespace nervo
