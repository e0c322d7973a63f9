// CPU feature detection (CPUID and XGETBV: the OS must save the wide registers), the table of
// implementations, the LOGITCORE_ISA override and the thread count. Compiled for the baseline.
#include "runtime/runtime.h"

#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(_M_X64)
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

namespace logitcore_impl {

#ifdef LOGITCORE_HAVE_AVX
const KernelTable* table_avx2();
const KernelTable* table_avx512();
#endif

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
  const bool f16c = (r[2] >> 29) & 1;  // the AVX2 kernels' float16 loads and stores
  if (!osxsave || !avx) return f;
  const std::uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  cpuid(7, 0, r);
  const unsigned ebx = r[1];
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1;
  const bool avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1;
  const bool avx512vl = (ebx >> 31) & 1;
  f.avx2 = os_ymm && avx2 && fma && f16c;
  f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
#endif
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

// The table of implementations, indexed by Isa.
const IsaEntry kIsas[kIsaCount] = {
    {Isa::scalar, "scalar", &table_scalar},
#ifdef LOGITCORE_HAVE_AVX
    {Isa::avx2, "avx2", &table_avx2},
    {Isa::avx512, "avx512", &table_avx512},
#else
    {Isa::avx2, "avx2", nullptr},
    {Isa::avx512, "avx512", nullptr},
#endif
};

Isa best_isa() {
  for (int i = kIsaCount - 1; i > 0; --i)
    if (cpu_supports(kIsas[i].isa)) return kIsas[i].isa;
  return Isa::scalar;
}

SetIsaResult resolve(const char* name, Isa* out) {
  if (name == nullptr || *name == '\0' || std::string(name) == "auto") {
    *out = best_isa();
    return SetIsaResult::ok;
  }
  if (!parse_isa(name, out)) return SetIsaResult::unknown;
  return cpu_supports(*out) ? SetIsaResult::ok : SetIsaResult::unsupported;
}

// The ISA in use: LOGITCORE_ISA is read when this is first needed (once per process).
struct Active {
  std::atomic<int> isa{0};
  std::string env_error;
  Active() {
    Isa chosen = best_isa();
    if (const char* env = std::getenv("LOGITCORE_ISA")) {
      std::string name;
      for (const char* c = env; *c; ++c)
        if (!std::isspace(static_cast<unsigned char>(*c))) name += static_cast<char>(std::tolower(*c));
      Isa want;
      switch (resolve(name.c_str(), &want)) {
        case SetIsaResult::ok: chosen = want; break;
        case SetIsaResult::unknown:
          env_error = "LOGITCORE_ISA='" + name + "': unknown ISA (expected scalar, avx2, avx512 or auto)";
          break;
        case SetIsaResult::unsupported:
          env_error = "LOGITCORE_ISA='" + name + "': this CPU (or build) does not support the '" + name + "' kernels";
          break;
      }
    }
    isa.store(static_cast<int>(chosen));
  }
};

Active& active() {
  static Active a;
  return a;
}

std::atomic<int> g_threads{0};  // 0: not set, use the OpenMP default

}  // namespace

const IsaEntry& isa_entry(Isa isa) { return kIsas[static_cast<int>(isa)]; }

bool isa_compiled(Isa isa) { return isa_entry(isa).table != nullptr; }

bool parse_isa(const char* name, Isa* out) {
  if (name == nullptr) return false;
  for (const IsaEntry& e : kIsas) {
    if (std::string(name) == e.name) {
      *out = e.isa;
      return true;
    }
  }
  return false;
}

bool cpu_supports(Isa isa) {
  if (!isa_compiled(isa)) return false;
  switch (isa) {
    case Isa::avx2: return features().avx2;
    case Isa::avx512: return features().avx512;
    default: return true;
  }
}

Isa active_isa() { return static_cast<Isa>(active().isa.load(std::memory_order_acquire)); }

const KernelTable& active_table() { return *isa_entry(active_isa()).table(); }

SetIsaResult set_isa(const char* name) {
  Isa isa;
  const SetIsaResult r = resolve(name, &isa);
  if (r == SetIsaResult::ok) active().isa.store(static_cast<int>(isa), std::memory_order_release);
  return r;
}

const char* isa_env_error() {
  const std::string& e = active().env_error;
  return e.empty() ? nullptr : e.c_str();
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

}  // namespace logitcore_impl
