// The runtime: CPU features, the one table of kernel implementations (an entry per compiled
// ISA), the LOGITCORE_ISA override (read once, here) and the thread count. Baseline target.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

// Everything inside the library lives in logitcore_impl, never in logitcore: the public C++
// API (logitcore.hpp) is inline code in namespace logitcore compiled into its clients, and a
// client linking the static library must not find an internal function of the same name.
namespace logitcore_impl {

// One entry per ISA this build contains, best last. Index = logitcore_isa value.
struct IsaEntry {
  Isa isa;
  const char* name;
  const KernelTable* (*table)();  // null when not compiled in this build
};

constexpr int kIsaCount = 3;
const IsaEntry& isa_entry(Isa isa);
bool isa_compiled(Isa isa);
bool cpu_supports(Isa isa);
// Name -> ISA; false for an unknown name.
bool parse_isa(const char* name, Isa* out);

// The table in use: the best supported, or the one LOGITCORE_ISA / set_isa chose. Thread-safe.
const KernelTable& active_table();
Isa active_isa();
enum class SetIsaResult { ok, unknown, unsupported };
// "auto" (or null/empty) selects the best supported ISA.
SetIsaResult set_isa(const char* name);
// The problem with LOGITCORE_ISA, or null when it is unset or valid.
const char* isa_env_error();

// Threads
constexpr int kMaxThreads = 4096;
int get_num_threads();
void set_num_threads(int n);  // n <= 0: the OpenMP default
bool have_openmp();

}  // namespace logitcore_impl
