// Runtime ISA detection and selection (CPUID + XGETBV), cached; LOGITCORE_ISA overrides.
#pragma once

#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace logitcore {

bool cpu_supports(Isa isa);
std::vector<std::string> compiled_isas();
std::vector<std::string> supported_isas();
// The table in use (detected best, or forced). Thread-safe.
const KernelTable* active_table();
const KernelTable* table_for(Isa isa);
// Force an ISA by name ("scalar", "avx2", "avx512", or "auto"). Returns an empty string on
// success, otherwise the reason it was refused.
std::string set_isa(const std::string& name);
std::string active_isa_name();
bool parse_isa(const std::string& name, Isa* out);

// Threads
int get_num_threads();
void set_num_threads(int n);
bool have_openmp();

}  // namespace logitcore
