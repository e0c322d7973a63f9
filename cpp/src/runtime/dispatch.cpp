// CPU feature detection and kernel-table selection. Compiled for the baseline target.
#include "runtime/runtime.h"

#include <atomic>
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define LOGITCORE_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#ifdef LOGITCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace logitcore {
namespace {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512 = false;
};

#ifdef LOGITCORE_X86
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int regs[4];
  __cpuidex(regs, static_cast<int>(leaf), static_cast<int>(sub));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(regs[i]);
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

std::uint64_t xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  std::uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef LOGITCORE_X86
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 7) return f;
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1;
  const bool avx = (r[2] >> 28) & 1;
  const bool fma = (r[2] >> 12) & 1;
  if (!osxsave || !avx) return f;
  const std::uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  cpuid(7, 0, r);
  const unsigned ebx = r[1];
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1;
  const bool avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1;
  const bool avx512vl = (ebx >> 31) & 1;
  f.avx2 = os_ymm && avx2 && fma;
  f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
#endif
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

const KernelTable* best_table() {
  if (features().avx512) return table_avx512();
  if (features().avx2) return table_avx2();
  return table_scalar();
}

std::atomic<const KernelTable*>& active_slot() {
  static std::atomic<const KernelTable*> slot{best_table()};
  return slot;
}

std::atomic<int> g_threads{0};  // 0: not set by the user, use the OpenMP default

}  // namespace

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "scalar") { *out = Isa::scalar; return true; }
  if (name == "avx2") { *out = Isa::avx2; return true; }
  if (name == "avx512") { *out = Isa::avx512; return true; }
  return false;
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return features().avx2;
    case Isa::avx512: return features().avx512;
  }
  return false;
}

std::vector<std::string> compiled_isas() { return {"scalar", "avx2", "avx512"}; }

std::vector<std::string> supported_isas() {
  std::vector<std::string> out{"scalar"};
  if (features().avx2) out.push_back("avx2");
  if (features().avx512) out.push_back("avx512");
  return out;
}

const KernelTable* table_for(Isa isa) {
  switch (isa) {
    case Isa::scalar: return table_scalar();
    case Isa::avx2: return table_avx2();
    case Isa::avx512: return table_avx512();
  }
  return table_scalar();
}

const KernelTable* active_table() { return active_slot().load(std::memory_order_acquire); }

std::string active_isa_name() { return active_table()->name; }

std::string set_isa(const std::string& name) {
  if (name == "auto" || name.empty()) {
    active_slot().store(best_table(), std::memory_order_release);
    return {};
  }
  Isa isa;
  if (!parse_isa(name, &isa)) return "unknown ISA '" + name + "' (expected scalar, avx2, avx512 or auto)";
  if (!cpu_supports(isa)) return "this CPU does not support the '" + name + "' kernels";
  active_slot().store(table_for(isa), std::memory_order_release);
  return {};
}

int get_num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
#ifdef LOGITCORE_HAVE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) { g_threads.store(n > 0 ? n : 0, std::memory_order_relaxed); }

bool have_openmp() {
#ifdef LOGITCORE_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace logitcore
