// cpuid / xgetbv based detection. Baseline x86-64 code: no ISA flags here.
#include "core/cpu.h"

#include <atomic>
#include <stdexcept>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define NERVO_X86 1
#endif

namespace nervo {
namespace {

struct Features {
  bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512dq = false,
       avx512vl = false, os_ymm = false, os_zmm = false;
};

Features detect() {
  Features f;
#ifdef NERVO_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  if (osxsave) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.os_ymm = (lo & 0x6) == 0x6;     // SSE + AVX state
    f.os_zmm = (lo & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  }
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
  }
#endif
  return f;
}

const Features& features() {
  static const Features f = detect();
  return f;
}

std::atomic<int> g_isa{-1};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::generic: return "generic";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

Isa isa_from_name(const std::string& name) {
  if (name == "generic") return Isa::generic;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("nervo: unknown ISA level '" + name +
                              "' (expected 'generic', 'avx2' or 'avx512')");
}

bool isa_supported(Isa isa) {
  const Features& f = features();
  switch (isa) {
    case Isa::generic: return true;
    case Isa::avx2: return f.avx2 && f.fma && f.os_ymm;
    case Isa::avx512:
      return f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.os_zmm && f.avx2 && f.fma;
  }
  return false;
}

std::vector<Isa> isa_available() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

Isa best_isa() { return isa_available().back(); }

Isa current_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(best_isa());
    g_isa.store(v, std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
  if (!isa_supported(isa)) {
    const Features& f = features();
    std::string why = isa == Isa::avx512
                          ? (f.avx512f ? "the OS does not enable ZMM state or a subset of F/BW/DQ/VL is missing"
                                       : "the CPU lacks AVX-512F")
                          : (f.avx2 ? "the CPU lacks FMA or the OS does not enable YMM state"
                                    : "the CPU lacks AVX2");
    throw std::runtime_error(std::string("nervo: ISA level '") + isa_name(isa) +
                             "' is not supported on this machine (" + why + "); available: " +
                             (isa_supported(Isa::avx2) ? "generic, avx2" : "generic"));
  }
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace nervo
