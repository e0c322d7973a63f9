#!/usr/bin/env bash
# Build logitcore with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) and run the test
# suite's default selection under it, then the C and C++ API's GoogleTest suite (ctest).
#
#   tools/sanitize.sh [pytest arguments]     (default: the default selection, -q)
#
# The build has its own virtual environment and CMake build directory (SANITIZE_VENV,
# default build/asan-venv; SANITIZE_BUILD_DIR, default build/asan), so it never touches a
# development install. CPython is not built with ASan, so the runtime is preloaded
# (LD_PRELOAD=libasan.so, with libstdc++.so so that C++ exceptions thrown through pybind11
# unwind normally); leak detection is off (the interpreter keeps memory until exit by design).
# Every report halts the process; the run's whole output (the tests' captured output, so the
# reports of processes the tests start, included) is also searched for reports.
#
# Before the tests, a canary library compiled with the same flags commits a heap-buffer
# overflow and a misaligned load under the same settings; the run stops unless both are
# reported (a setup that cannot see errors cannot pass). SANITIZE_PLANT=address|undefined
# commits the same error outside the canary check, which must make the script fail: a way
# to check the failure path end to end.
#
# OpenMP: libgomp is not instrumented, but ASan (unlike ThreadSanitizer) needs no
# instrumentation of the threading runtime: worker threads' memory accesses in the kernels
# are checked like the main thread's, and the parallel runs give no false reports. The tests
# run with OMP_NUM_THREADS=2 unless it is set, so the threaded paths are exercised.
#
# PyTorch is not installed here (its bundled libraries and OpenMP runtime are not built for
# the sanitizers); the tests that need it are skipped. The exit status is non-zero on a
# build failure, a sanitizer report, or a test failure.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SANITIZE_VENV:-build/asan-venv}
BUILD_DIR=${SANITIZE_BUILD_DIR:-build/asan}
PYTHON=${PYTHON:-python3}
FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

log() { printf '[sanitize] %s\n' "$*"; }

for lib in libasan.so libubsan.so libstdc++.so; do
  path=$(gcc -print-file-name="$lib")
  if [ ! -e "$path" ]; then
    log "GCC has no $lib (Debian: apt-get install libasan8 libubsan1)"
    exit 2
  fi
done
ASAN_LIB=$(realpath "$(gcc -print-file-name=libasan.so)")
STDCXX_LIB=$(realpath "$(gcc -print-file-name=libstdc++.so)")

start=$(date +%s)
log "virtual environment $VENV, build directory $BUILD_DIR"
"$PYTHON" -m venv "$VENV"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install -q --upgrade pip
# build requirements, then the test extra's requirements read from pyproject.toml (installing
# ".[test]" would build the package a second time, without the flags)
python -m pip install -q scikit-build-core pybind11 ninja cmake numpy mpmath
python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]))' \
  > "$VENV/test-requirements.txt"
python -m pip install -q -r "$VENV/test-requirements.txt"
python -m pip install -q --no-build-isolation --force-reinstall --no-deps \
  -Cbuild-dir="$BUILD_DIR" \
  -Ccmake.build-type=RelWithDebInfo \
  -Ccmake.define.CMAKE_CXX_FLAGS="$FLAGS" \
  -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  .
built=$(date +%s)
log "built in $((built - start)) s"

# (found without importing it: it cannot load before the sanitizer runtime is preloaded)
# (grep without -q below: under pipefail an early exit of grep can fail the pipeline)
core=$(ls "$(python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"/logitcore/_core*.so 2>/dev/null || true)
if [ -z "$core" ] || ! ldd "$core" | grep libasan > /dev/null; then
  log "the installed extension ($core) is not linked against libasan: the flags were not applied"
  exit 2
fi

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/logitcore-sanitize.XXXXXX")
trap 'rm -rf "$LOG_DIR"' EXIT

# canary: errors the setup must report
cat > "$LOG_DIR/canary.cpp" <<'EOF'
#include <cstdlib>
#include <cstring>
extern "C" int address() {  // one element past the end of a heap block
  volatile int n = 8;
  int* p = static_cast<int*>(std::malloc(n * sizeof(int)));
  std::memset(p, 0, n * sizeof(int));
  p[n] = 1;
  int r = p[0];
  std::free(p);
  return r;
}
extern "C" int undefined() {  // a load through a misaligned int pointer
  alignas(8) static char buf[16] = {0};
  volatile int off = 1;
  return *reinterpret_cast<int*>(buf + off);
}
EOF
g++ $FLAGS -O1 -shared -fPIC "$LOG_DIR/canary.cpp" -o "$LOG_DIR/libcanary.so"

REPORT='ERROR: AddressSanitizer|runtime error: |ERROR: LeakSanitizer'

sanitized() {  # run a command with the sanitizer runtime preloaded; reports go to stderr
  env LD_PRELOAD="$ASAN_LIB:$STDCXX_LIB${LD_PRELOAD:+:$LD_PRELOAD}" \
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    "$@"
}

for kind in address undefined; do
  if sanitized python -c "import ctypes; ctypes.CDLL('$LOG_DIR/libcanary.so').$kind()" > "$LOG_DIR/canary.out" 2>&1; then
    log "canary: the $kind error was not caught (exit status 0); the sanitizer setup is broken"
    exit 2
  fi
  what=$(grep -m1 -oE '(heap-buffer-overflow|runtime error: [a-z ]+)' "$LOG_DIR/canary.out" || true)
  if [ -z "$what" ]; then
    log "canary: no report for the $kind error; the sanitizer setup is broken:"
    cat "$LOG_DIR/canary.out"
    exit 2
  fi
  log "canary: the $kind error was reported ($what)"
done

# The run: everything it prints (the tests' captured output included) is searched for reports.
status=0
if [ -n "${SANITIZE_PLANT:-}" ]; then
  log "SANITIZE_PLANT=$SANITIZE_PLANT: committing the canary's $SANITIZE_PLANT error on purpose"
  { sanitized python -c "import ctypes; ctypes.CDLL('$LOG_DIR/libcanary.so').$SANITIZE_PLANT()" 2>&1 \
      | tee "$LOG_DIR/plant.log"; } || status=$?
fi

if [ "$#" -eq 0 ]; then
  set -- -q -p no:cacheprovider
fi
# --capture=sys: pytest's default fd capture would swallow a report written just before the
# process halts
log "python -m pytest --capture=sys $*"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
unset LOGITCORE_TEST_REQUIRE  # PyTorch is not installed here: its tests are skipped
{ sanitized python -m pytest --capture=sys "$@" 2>&1 | tee "$LOG_DIR/pytest.log"; } || status=$?

# the C and C++ API's GoogleTest suite, built with the same flags (executables linked with the
# sanitizers need no preloading); allocator_may_return_null: the out-of-memory tests ask for
# impossible scratch and expect LOGITCORE_OUT_OF_MEMORY, not an ASan abort
if [ -e /usr/include/gtest/gtest.h ]; then
  log "ctest: the GoogleTest suite of the C and C++ API"
  if cmake -S . -B "$BUILD_DIR-ctest" -DLOGITCORE_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_C_FLAGS="$FLAGS" \
       -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
       -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" > "$LOG_DIR/ctest-build.txt" 2>&1 \
     && cmake --build "$BUILD_DIR-ctest" -j2 >> "$LOG_DIR/ctest-build.txt" 2>&1; then
    { ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:allocator_may_return_null=1" \
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
        ctest --test-dir "$BUILD_DIR-ctest" --output-on-failure 2>&1 | tee "$LOG_DIR/ctest.log"; } || status=$?
  else
    log "the sanitizer build of the C/C++ tests failed:"
    tail -n 30 "$LOG_DIR/ctest-build.txt"
    status=1
  fi
else
  log "GoogleTest is not installed (Debian: libgtest-dev): the C/C++ API suite is not run here"
fi

if grep -qE "$REPORT" "$LOG_DIR"/*.log; then
  log "sanitizer reports found:"
  grep -hE -A3 "$REPORT" "$LOG_DIR"/*.log | head -n 60
  [ "$status" -ne 0 ] || status=1
fi
end=$(date +%s)
log "tests took $((end - built)) s; total $((end - start)) s; exit status $status"
exit "$status"
