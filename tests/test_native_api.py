"""The installed native package, as its users see it: CMake, pkg-config, C, C++ and ctypes.

Once per module the library is built from this checkout with plain CMake (not pip) and
installed into a fresh prefix. Then:

* the installed tree: the public headers (and nothing else of the sources), the shared library
  with its SONAME links, the static library, the CMake package and version files, the
  pkg-config file; the shared library exports exactly the functions logitcore.h declares;
* ``find_package(logitcore <version> CONFIG)`` accepts 0.2 and refuses other minor versions;
* examples/cpp (C++17, logitcore.hpp; against the shared and the static library) and examples/c
  (C99, logitcore.h; with CMake and with pkg-config) build against the prefix, run, and with
  ``--dump`` give results bitwise equal to the Python API on every ISA the host supports;
* the shared library called through ctypes (no pybind11) gives the same results bit for bit,
  reports errors through logitcore_last_error, and reads LOGITCORE_ISA as ``import logitcore``
  does.

Needs cmake (the pip package scikit-build-core builds with will do) and a C and a C++
compiler; without them the module is skipped, or fails when LOGITCORE_TEST_REQUIRE names
"native" (set it where CI has them). About 35 s on two cores, most of it compiling the library.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import logitcore
from logitcore import _core

from ._helpers import BEST_ISA, SUPPORTED_ISAS, forced_isa

REPO = Path(__file__).resolve().parents[1]
HEADER_DIR = REPO / "cpp" / "include" / "logitcore"
VERSION = logitcore.__version__

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the installed-tree checks expect an ELF shared library (liblogitcore.so, Linux)",
)

# the ABI values of logitcore.h
OK, INVALID_ARGUMENT, OUT_OF_RANGE = 0, 1, 2
LOSS_GAMMA_CE = 0
REDUCTION_NONE, REDUCTION_SUM, REDUCTION_MEAN = 0, 1, 2

# the constants of the examples (examples/c/lse.c, examples/cpp/decode_loop.cpp)
C_LOSS_GAMMA = 0.5
CPP_TARGET_ENTROPY = 3.0


# --------------------------------------------------------------------------------------
# tools


def _missing(what: str):
    required = {s.strip() for s in os.environ.get("LOGITCORE_TEST_REQUIRE", "").split(",")}
    if "native" in required:
        pytest.fail(f"{what}, and LOGITCORE_TEST_REQUIRE names native", pytrace=False)
    pytest.skip(what)


def _works(exe) -> bool:
    try:
        return subprocess.run([exe, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _find_cmake():
    candidates = [shutil.which("cmake")]
    try:
        import cmake  # the pip package (a build dependency of scikit-build-core)

        # (run from the repository, "cmake" may also name its cmake/ folder of package files)
        bin_dir = getattr(cmake, "CMAKE_BIN_DIR", None)
        if bin_dir:
            candidates.append(os.path.join(bin_dir, "cmake"))
    except ImportError:
        pass
    return next((c for c in candidates if c and _works(c)), None)


def _find_compiler(env_var: str, names):
    if os.environ.get(env_var):
        return shutil.which(os.environ[env_var].split()[0])
    return next((shutil.which(n) for n in names if shutil.which(n)), None)


def _tail(text: str, n: int = 30) -> str:
    """The error messages (with the lines after them) and the end of a warning-heavy build log."""
    lines = text.splitlines()
    keep = []
    for i, line in enumerate(lines):
        if re.search(r"(?i)\berror\b|could not", line):
            keep.extend(j for j in range(i, min(i + 4, len(lines))) if j not in keep)
    return "\n".join([lines[j] for j in keep[:40]] + ["..."] + lines[-n:])


def _run(cmd, log: Path, **kw) -> subprocess.CompletedProcess:
    cmd = [str(c) for c in cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 900), **kw)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{p.stdout}\n{p.stderr}\nrc={p.returncode}\n")
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed (rc {p.returncode}; full log {log}):\n{_tail(p.stdout + p.stderr)}",
                    pytrace=False)
    return p


def _run_env(isa=None) -> dict:
    """The environment of the programs: the ISA forced (or unset), no LD_LIBRARY_PATH (the
    CMake-built programs find the library through their RUNPATH)."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    env.pop("LOGITCORE_ISA", None)
    if isa is not None:
        env["LOGITCORE_ISA"] = isa
    return env


def assert_bitwise(got, want, what: str):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (
        f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}")
    if got.tobytes() == want.tobytes():
        return
    bits = f"u{got.itemsize}"
    diff = np.flatnonzero(np.ascontiguousarray(got).reshape(-1).view(bits)
                          != np.ascontiguousarray(want).reshape(-1).view(bits))
    i = int(diff[0])
    with np.errstate(invalid="ignore"):
        err = np.nanmax(np.abs(got.astype(np.float64) - want.astype(np.float64)))
    pytest.fail(f"{what}: {diff.size} of {got.size} elements differ (max |diff| {err:.3g}); first at flat index "
                f"{i}: got {got.reshape(-1)[i]!r}, want {want.reshape(-1)[i]!r}", pytrace=False)


# --------------------------------------------------------------------------------------
# the installed package


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    """Build the library from this checkout with plain CMake and install it into a fresh prefix."""
    cmake = _find_cmake()
    if cmake is None:
        _missing("no working cmake (neither on PATH nor the cmake pip package)")
    cc, cxx = _find_compiler("CC", ("cc", "gcc", "clang")), _find_compiler("CXX", ("c++", "g++", "clang++"))
    if cc is None or cxx is None:
        _missing(f"a C and a C++ compiler are needed (found C: {cc}, C++: {cxx})")
    tmp = tmp_path_factory.mktemp("native_api")
    build, prefix, log = tmp / "build", tmp / "prefix", tmp / "build.log"
    jobs = str(max(2, min(8, os.cpu_count() or 2)))
    # lib, not lib64: the tests below name the library directory
    _run([cmake, "-S", REPO, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_INSTALL_LIBDIR=lib"], log)
    _run([cmake, "--build", build, "-j", jobs], log)
    _run([cmake, "--install", build, "--prefix", prefix], log)
    return SimpleNamespace(cmake=cmake, cc=cc, tmp=tmp, prefix=prefix, lib=prefix / "lib", log=log)


def test_installed_tree(native):
    p = native.prefix
    assert sorted(d.name for d in p.iterdir()) == ["include", "lib"]
    # the public headers, and only those (no internal header leaks into the package)
    inc = p / "include" / "logitcore"
    assert sorted(f.name for f in inc.iterdir()) == ["export.h", "logitcore.h", "logitcore.hpp", "version.h"]
    for name in ("export.h", "logitcore.h", "logitcore.hpp"):
        assert (inc / name).read_bytes() == (HEADER_DIR / name).read_bytes(), f"installed {name} differs"
    assert f'#define LOGITCORE_VERSION_STRING "{VERSION}"' in (inc / "version.h").read_text()
    # the libraries: the SONAME chain of the shared one, and the static one
    lib = native.lib
    major_minor = ".".join(VERSION.split(".")[:2])
    real = lib / f"liblogitcore.so.{VERSION}"
    assert real.is_file() and not real.is_symlink()
    assert os.readlink(lib / f"liblogitcore.so.{major_minor}") == real.name
    assert os.readlink(lib / "liblogitcore.so") == f"liblogitcore.so.{major_minor}"
    assert (lib / "liblogitcore.a").is_file()
    # the CMake package and the pkg-config file
    cm = lib / "cmake" / "logitcore"
    for name in ("logitcoreConfig.cmake", "logitcoreConfigVersion.cmake", "logitcoreTargets.cmake"):
        assert (cm / name).is_file(), name
    assert f'set(PACKAGE_VERSION "{VERSION}")' in (cm / "logitcoreConfigVersion.cmake").read_text()
    pc = (lib / "pkgconfig" / "logitcore.pc").read_text()
    assert re.search(rf"^Version: {re.escape(VERSION)}$", pc, re.M), pc


def _declared_functions() -> set:
    text = (HEADER_DIR / "logitcore.h").read_text()
    return set(re.findall(r"LOGITCORE_API\s[^;(]*?\b(logitcore_\w+)\s*\(", text))


def test_exports_only_the_c_api(native):
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    out = _run([nm, "-D", "--defined-only", native.lib / "liblogitcore.so"], native.log).stdout
    symbols = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] != "A":  # "A": the version node (LOGITCORE_0.2)
            symbols.add(parts[2].split("@")[0])
    declared = _declared_functions()
    assert len(declared) > 40, "the header parse found too few functions"
    assert not {s for s in symbols if not s.startswith("logitcore_")}, "exports outside the C API"
    assert symbols == declared, (f"declared, not exported: {sorted(declared - symbols)}; "
                                 f"exported, not declared: {sorted(symbols - declared)}")


def test_soname(native):
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    out = _run([readelf, "-d", native.lib / "liblogitcore.so"], native.log).stdout
    major_minor = ".".join(VERSION.split(".")[:2])
    assert f"Library soname: [liblogitcore.so.{major_minor}]" in out


@pytest.mark.parametrize("requested, accepted", [
    ("0.2", True), (VERSION, True), ("0.1", False), ("0.3", False), ("1.0", False)])
def test_find_package_version(native, requested, accepted):
    src = native.tmp / f"probe-{requested}"
    src.mkdir(exist_ok=True)
    (src / "CMakeLists.txt").write_text(textwrap.dedent(f"""\
        cmake_minimum_required(VERSION 3.18)
        project(probe LANGUAGES NONE)
        find_package(logitcore {requested} CONFIG)
        message(STATUS "probe: found=${{logitcore_FOUND}} version=${{logitcore_VERSION}}")
        """))
    p = _run([native.cmake, "-S", src, "-B", src / "build", f"-DCMAKE_PREFIX_PATH={native.prefix}"], native.log)
    out, err = p.stdout, p.stderr
    if accepted:
        assert f"probe: found=1 version={VERSION}" in out, out
    else:
        assert "probe: found=0" in out, out
        # refused for its version, not missed: CMake names the file it considered
        assert str(native.prefix / "lib" / "cmake" / "logitcore") in out + err, err
        assert f"version: {VERSION}" in out + err, err


# --------------------------------------------------------------------------------------
# the examples, built against the prefix


def _build_example(native, subdir: str, name: str, exe: str, *defs) -> Path:
    build = native.tmp / name
    _run([native.cmake, "-S", REPO / "examples" / subdir, "-B", build, f"-DCMAKE_PREFIX_PATH={native.prefix}",
          "-DCMAKE_BUILD_TYPE=Release", *defs], native.log)
    _run([native.cmake, "--build", build], native.log)
    return build / exe


@pytest.fixture(scope="module")
def decode_loop(native):
    return _build_example(native, "cpp", "example-cpp", "decode_loop")


@pytest.fixture(scope="module")
def decode_loop_static(native):
    return _build_example(native, "cpp", "example-cpp-static", "decode_loop", "-DDECODE_LOOP_STATIC=ON")


@pytest.fixture(scope="module")
def lse_c(native):
    return _build_example(native, "c", "example-c", "lse")


def _batch():
    """A batch with the awkward rows of a decode step: 6 rows of 5003 logits (more than two
    blocks of 2048, a ragged tail), a masked vocabulary (-inf), large logits, a row dominated
    by its maximum, an ignored row (target -100)."""
    rng = np.random.default_rng(20240611)
    rows, cols = 6, 5003
    x = (3 * rng.standard_normal((rows, cols))).astype(np.float32)
    x[1, ::7] = -np.inf
    x[2] += 80
    x[3, 17] += 40
    t = rng.integers(0, cols, rows)
    t[1], t[3], t[4] = 1, 17, -100
    return x, t


def _write_input(path: Path, x, t):
    with open(path, "wb") as f:
        f.write(np.asarray(x.shape, dtype="<i8").tobytes())
        f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())
        f.write(np.ascontiguousarray(t, dtype="<i8").tobytes())


def _read_output(path: Path, layout):
    buf = path.read_bytes()
    out, off = {}, 0
    for name, dtype, count in layout:
        out[name] = np.frombuffer(buf, dtype=dtype, count=count, offset=off)
        off += out[name].nbytes
    assert off == len(buf), f"{path.name}: {len(buf)} bytes, expected {off}"
    return out


def _dump(exe: Path, x, t, work: Path, isa, env=None) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    inp, out = work / "in.bin", work / "out.bin"
    _write_input(inp, x, t)
    p = subprocess.run([exe, "--dump", inp, out], env=env or _run_env(isa), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, f"{exe.name} --dump failed (rc {p.returncode}): {p.stderr}"
    return out


def _lse_layout(rows, cols):
    return [("lse", "<f4", rows), ("softmax", "<f4", rows * cols), ("row_loss", "<f8", rows),
            ("loss", "<f8", 1), ("grad", "<f4", rows * cols)]


def _decode_layout(rows, cols):
    return [("log_softmax", "<f4", rows * cols), ("argmax", "<i8", rows), ("q", "<f4", rows * cols),
            ("gamma", "<f8", rows), ("row_loss", "<f8", rows), ("loss", "<f8", 1), ("grad", "<f4", rows * cols)]


def test_cpp_example_demo(decode_loop):
    p = subprocess.run([decode_loop], env=_run_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"logitcore {VERSION} (headers {VERSION}), ISA {BEST_ISA}" in p.stdout, p.stdout
    assert len(re.findall(r"^step \d+: tokens", p.stdout, re.M)) == 5, p.stdout


def test_c_example_demo(lse_c):
    p = subprocess.run([lse_c], env=_run_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"logitcore {VERSION} (headers {VERSION}), ISA {BEST_ISA}" in p.stdout, p.stdout
    # the error path of the demo: a bad target reported with its message, nothing written
    assert re.search(r"a bad target: status 2 \(out of range\): target\[1\] = 5 .*; loss left at -1\.0", p.stdout), \
        p.stdout


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_cpp_example_matches_python(decode_loop, native, isa):
    x, t = _batch()
    rows, cols = x.shape
    got = _read_output(_dump(decode_loop, x, t, native.tmp / f"dump-cpp-{isa}", isa), _decode_layout(rows, cols))
    with forced_isa(isa):
        log_p = logitcore.log_softmax(x, axis=-1)
        q, info = logitcore.entropy_normalize(x, CPP_TARGET_ENTROPY, logits=True, return_info=True)
        row_loss = logitcore.gamma_cross_entropy(x, t, reduction="none")
        loss, grad = logitcore.gamma_cross_entropy(x, t, reduction="mean", return_grad=True)
    assert_bitwise(got["log_softmax"].reshape(x.shape), log_p, "log_softmax")
    assert_bitwise(got["argmax"], np.argmax(log_p, axis=-1).astype("<i8"), "argmax")
    assert_bitwise(got["q"].reshape(x.shape), q, "entropy-normalized q")
    assert_bitwise(got["gamma"], info.gamma, "entropy normalization gamma")
    # the Python API returns float32 losses for float32 logits: the library's doubles, rounded
    assert_bitwise(got["row_loss"].astype(np.float32), row_loss, "per-row cross-entropy")
    assert_bitwise(np.float32(got["loss"][0]), loss, "mean cross-entropy")
    assert_bitwise(got["grad"].reshape(x.shape), grad, "gradient (in place)")
    assert got["row_loss"][4] == 0 and not got["grad"].reshape(x.shape)[4].any()  # the ignored row


def test_cpp_example_static(decode_loop, decode_loop_static, native):
    """Linked with logitcore::logitcore_static: no liblogitcore.so needed, the same results."""
    readelf = shutil.which("readelf")
    if readelf is not None:
        needed = _run([readelf, "-d", decode_loop_static], native.log).stdout
        assert "liblogitcore" not in needed
    x, t = _batch()
    isa = _core._isa()
    shared = _dump(decode_loop, x, t, native.tmp / "dump-cpp-shared", isa)
    static = _dump(decode_loop_static, x, t, native.tmp / "dump-cpp-static", isa)
    assert static.read_bytes() == shared.read_bytes()


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_c_example_matches_python(lse_c, clib, native, isa):
    x, t = _batch()
    rows, cols = x.shape
    got = _read_output(_dump(lse_c, x, t, native.tmp / f"dump-c-{isa}", isa), _lse_layout(rows, cols))
    with forced_isa(isa):
        lse = logitcore.logsumexp(x, axis=-1)
        sm = logitcore.softmax(x, axis=-1)
        row_loss = logitcore.gamma_cross_entropy(x, t, gamma=C_LOSS_GAMMA, reduction="none")
        loss, grad = logitcore.gamma_cross_entropy(x, t, gamma=C_LOSS_GAMMA, reduction="sum", return_grad=True)
    assert_bitwise(got["lse"], lse, "logsumexp")
    assert_bitwise(got["softmax"].reshape(x.shape), sm, "softmax")
    assert_bitwise(got["row_loss"].astype(np.float32), row_loss, "per-row gamma-cross-entropy")
    assert_bitwise(np.float32(got["loss"][0]), loss, "summed gamma-cross-entropy")
    assert_bitwise(got["grad"].reshape(x.shape), grad, "gradient")
    # and the same doubles as the library called through ctypes
    ct = _ctypes_compute(clib, isa, x, t, gamma=C_LOSS_GAMMA, reduction=REDUCTION_SUM)
    assert_bitwise(got["row_loss"], ct["row_loss"], "per-row losses, C program vs ctypes")
    assert_bitwise(got["loss"][0], ct["loss"], "summed loss, C program vs ctypes")


def test_c_example_pkg_config(native, lse_c):
    """examples/c/lse.c built with `cc $(pkg-config --cflags --libs logitcore)`."""
    pkg_config = shutil.which("pkg-config") or shutil.which("pkgconf")
    if pkg_config is None:
        pytest.skip("pkg-config is not installed")
    env = _run_env()
    env["PKG_CONFIG_PATH"] = str(native.lib / "pkgconfig")
    version = _run([pkg_config, "--modversion", "logitcore"], native.log, env=env).stdout.strip()
    assert version == VERSION
    flags = _run([pkg_config, "--cflags", "--libs", "logitcore"], native.log, env=env).stdout.split()
    # the flags point into the prefix the package was installed to (not the configured one)
    dirs = {f[:2]: Path(f[2:]).resolve() for f in flags if f[:2] in ("-I", "-L")}
    assert dirs == {"-I": (native.prefix / "include").resolve(), "-L": native.lib.resolve()}, flags
    exe = native.tmp / "lse-pkg-config"
    _run([native.cc, "-std=c99", "-Wall", "-Werror", REPO / "examples" / "c" / "lse.c", *flags, "-o", exe],
         native.log, env=env)
    x, t = _batch()
    isa = _core._isa()
    run_env = _run_env(isa)
    run_env["LD_LIBRARY_PATH"] = str(native.lib)  # no RUNPATH here
    by_pkg_config = _dump(exe, x, t, native.tmp / "dump-c-pkg-config", isa, env=run_env)
    by_cmake = _dump(lse_c, x, t, native.tmp / "dump-c-cmake", isa)
    assert by_pkg_config.read_bytes() == by_cmake.read_bytes()


# --------------------------------------------------------------------------------------
# ctypes: the shared library without pybind11


class Matrix(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("rows", ctypes.c_int64), ("cols", ctypes.c_int64),
                ("row_stride", ctypes.c_int64), ("col_stride", ctypes.c_int64)]


class Vector(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_int64), ("stride", ctypes.c_int64)]


class LossOptions(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("param", ctypes.c_double), ("threshold", ctypes.c_double),
                ("ignore_index", ctypes.c_int64), ("class_weight", ctypes.POINTER(ctypes.c_double)),
                ("reduction", ctypes.c_int), ("row_weight", ctypes.POINTER(ctypes.c_double))]


class SamplingParams(ctypes.Structure):
    _fields_ = [(name, t) for field, ct in (("temperature", ctypes.c_double), ("top_k", ctypes.c_int64),
                                            ("top_p", ctypes.c_double), ("min_p", ctypes.c_double),
                                            ("target_entropy", ctypes.c_double), ("seed", ctypes.c_uint64),
                                            ("offset", ctypes.c_uint64))
                for name, t in ((field, ctypes.POINTER(ct)), (field + "_stride", ctypes.c_int64))]


_PM, _PV, _PD = ctypes.POINTER(Matrix), ctypes.POINTER(Vector), ctypes.POINTER(ctypes.c_double)
_PI64 = ctypes.POINTER(ctypes.c_int64)
_SIGNATURES = {
    "logitcore_version": (ctypes.c_char_p, []),
    "logitcore_last_error": (ctypes.c_char_p, []),
    "logitcore_status_name": (ctypes.c_char_p, [ctypes.c_int]),
    "logitcore_isa_name": (ctypes.c_char_p, [ctypes.c_int]),
    "logitcore_get_isa": (ctypes.c_int, []),
    "logitcore_set_isa": (ctypes.c_int, [ctypes.c_char_p]),
    "logitcore_isa_env_error": (ctypes.c_char_p, []),
    "logitcore_logsumexp_f32": (ctypes.c_int, [_PM, _PM, _PV, _PV, ctypes.c_int]),
    "logitcore_softmax_f32": (ctypes.c_int, [_PM, _PM, ctypes.c_int]),
    "logitcore_loss_default_options": (LossOptions, []),
    "logitcore_loss_f32": (ctypes.c_int, [_PM, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(LossOptions), _PD, _PD,
                                          _PM, ctypes.c_int]),
    "logitcore_sampling_default_params": (SamplingParams, []),
    "logitcore_sample_f32": (ctypes.c_int, [_PM, ctypes.POINTER(SamplingParams), _PI64, ctypes.c_int64, _PD, _PI64,
                                            _PD, ctypes.c_int]),
}


def _load(path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


@pytest.fixture(scope="module")
def clib(native):
    return _load(native.lib / "liblogitcore.so")


def _matrix(a: np.ndarray) -> Matrix:
    """A view of a 2-D array, strides in elements (a.ctypes.data is the address of a[0, 0])."""
    assert a.ndim == 2 and all(s % a.itemsize == 0 for s in a.strides)
    return Matrix(a.ctypes.data, a.shape[0], a.shape[1], a.strides[0] // a.itemsize, a.strides[1] // a.itemsize)


def _check(lib, status):
    assert status == OK, f"status {status} ({lib.logitcore_status_name(status).decode()}): " \
                         f"{lib.logitcore_last_error().decode()}"


def _ctypes_compute(lib, isa, x, t, *, gamma=0.0, reduction=REDUCTION_MEAN):
    _check(lib, lib.logitcore_set_isa(isa.encode()))
    assert lib.logitcore_isa_name(lib.logitcore_get_isa()).decode() == isa
    rows, cols = x.shape
    lse = np.empty(rows, np.float32)
    _check(lib, lib.logitcore_logsumexp_f32(_matrix(x), None, Vector(lse.ctypes.data, rows, 1), None, 0))
    sm = np.empty((rows, cols), np.float32)
    _check(lib, lib.logitcore_softmax_f32(_matrix(x), _matrix(sm), 0))
    opt = lib.logitcore_loss_default_options()
    opt.kind, opt.param, opt.reduction = LOSS_GAMMA_CE, gamma, reduction
    t64 = np.ascontiguousarray(t, dtype=np.int64)
    row_loss = np.empty(rows, np.float64)
    loss = ctypes.c_double(np.nan)
    grad = np.empty((rows, cols), np.float32)
    _check(lib, lib.logitcore_loss_f32(_matrix(x), t64.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), opt,
                                       row_loss.ctypes.data_as(_PD), ctypes.byref(loss), _matrix(grad), 0))
    return {"lse": lse, "softmax": sm, "row_loss": row_loss, "loss": np.float64(loss.value), "grad": grad}


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_ctypes_matches_python(clib, isa, layout):
    x, t = _batch()
    if layout == "strided":  # every other column, rows reversed: strides (-2 * 5003, 2) elements
        x = np.concatenate([x, x[:, ::-1]], axis=1)[::-1, ::2]
        t = t[::-1].copy()
    got = _ctypes_compute(clib, isa, x, t, gamma=0.1, reduction=REDUCTION_MEAN)
    with forced_isa(isa):
        lse = logitcore.logsumexp(x, axis=-1)
        sm = logitcore.softmax(x, axis=-1)
        row_loss = logitcore.gamma_cross_entropy(x, t, gamma=0.1, reduction="none")
        loss, grad = logitcore.gamma_cross_entropy(x, t, gamma=0.1, reduction="mean", return_grad=True)
    assert_bitwise(got["lse"], lse, "logsumexp")
    assert_bitwise(got["softmax"], sm, "softmax")
    assert_bitwise(got["row_loss"].astype(np.float32), row_loss, "per-row loss")
    assert_bitwise(np.float32(got["loss"]), loss, "mean loss")
    assert_bitwise(got["grad"], grad, "gradient")


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_ctypes_sampler_gives_the_python_tokens(clib, isa):
    """A C++ server calling the installed library gets the tokens the Python API gives, for
    per-row settings (a batch of different requests) and their log-probabilities."""
    rng = np.random.default_rng(3)
    rows, cols, n = 8, 40000, 3
    x = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
    settings = {
        "temperature": np.array([0.7, 1.0, 0.0, 1.2, 0.9, 1.0, 0.8, 1.0]),
        "top_k": np.array([0, 40, 0, 0, 5000, 1, 40, 0], dtype=np.int64),
        "top_p": np.array([1.0, 0.95, 1.0, 0.9, 0.8, 1.0, 0.95, 1.0]),
        "min_p": np.array([0.0, 0.05, 0.0, 0.0, 0.1, 0.0, 0.05, 0.0]),
        "target_entropy": np.array([np.nan] * 7 + [2.0]),
        "seed": np.arange(100, 108, dtype=np.uint64),
        "offset": np.arange(8, dtype=np.uint64) * 1000,
    }
    _check(clib, clib.logitcore_set_isa(isa.encode()))
    p = clib.logitcore_sampling_default_params()
    ctype = {"top_k": ctypes.c_int64, "seed": ctypes.c_uint64, "offset": ctypes.c_uint64}
    for name, arr in settings.items():
        setattr(p, name, arr.ctypes.data_as(ctypes.POINTER(ctype.get(name, ctypes.c_double))))
        setattr(p, name + "_stride", 1)
    tokens = np.full(rows, -1, np.int64)
    lp = np.empty(rows)
    top = np.empty(rows * n, np.int64)
    toplp = np.empty(rows * n)
    _check(clib, clib.logitcore_sample_f32(_matrix(x), ctypes.byref(p), tokens.ctypes.data_as(_PI64), n,
                                           lp.ctypes.data_as(_PD), top.ctypes.data_as(_PI64),
                                           toplp.ctypes.data_as(_PD), 0))
    with forced_isa(isa):
        res = logitcore.sample(x, logprobs=n, **settings)
    np.testing.assert_array_equal(tokens, res.tokens)
    assert_bitwise(lp, res.logprob, "chosen token's log-probability")
    np.testing.assert_array_equal(top.reshape(rows, n), res.top_tokens)
    assert_bitwise(toplp.reshape(rows, n), res.top_logprobs, "top log-probabilities")


def test_ctypes_errors(clib):
    x, t = _batch()
    # a shape mismatch: INVALID_ARGUMENT, a message, and nothing written
    y = np.full((x.shape[0], x.shape[1] - 1), 7.0, np.float32)
    status = clib.logitcore_softmax_f32(_matrix(x), _matrix(y), 0)
    assert status == INVALID_ARGUMENT
    assert clib.logitcore_status_name(status).decode() == "invalid argument"
    message = clib.logitcore_last_error().decode()
    assert message == "x has shape 6 x 5003, y has 6 x 5002", message
    assert (y == 7.0).all()
    # a target out of range: OUT_OF_RANGE naming the row
    bad = t.copy()
    bad[2] = x.shape[1]
    opt = clib.logitcore_loss_default_options()
    loss = ctypes.c_double(-1.0)
    status = clib.logitcore_loss_f32(_matrix(x), bad.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), opt, None,
                                     ctypes.byref(loss), None, 0)
    assert status == OUT_OF_RANGE
    assert "target[2]" in clib.logitcore_last_error().decode()
    assert loss.value == -1.0
    # an unknown ISA name
    assert clib.logitcore_set_isa(b"sse9") == INVALID_ARGUMENT
    assert "sse9" in clib.logitcore_last_error().decode()


def test_ctypes_version_and_defaults(clib):
    assert clib.logitcore_version().decode() == VERSION == _core.__version__
    opt = clib.logitcore_loss_default_options()  # a struct returned by value
    assert (opt.kind, opt.param, opt.threshold, opt.ignore_index, bool(opt.class_weight), opt.reduction,
            bool(opt.row_weight)) == (LOSS_GAMMA_CE, 0.0, 0.0, -100, False, REDUCTION_MEAN, False)
    assert [clib.logitcore_isa_name(i).decode() for i in range(3)] == ["scalar", "avx2", "avx512"]
    assert clib.logitcore_isa_name(3) is None


# LOGITCORE_ISA read by the library called through ctypes and by `import logitcore`, in a process
# of their own (the variable is read once per process)
_ISA_CHILD = textwrap.dedent("""\
    import ctypes, json, sys
    lib = ctypes.CDLL(sys.argv[1])
    lib.logitcore_isa_name.restype = ctypes.c_char_p
    lib.logitcore_get_isa.restype = ctypes.c_int
    lib.logitcore_isa_env_error.restype = ctypes.c_char_p
    out = {"c_isa": lib.logitcore_isa_name(lib.logitcore_get_isa()).decode()}
    err = lib.logitcore_isa_env_error()
    out["c_env_error"] = err.decode() if err is not None else None
    try:
        import logitcore
        out["py_isa"] = logitcore.get_config()["isa_selected"]
    except ImportError as e:
        out["py_import_error"] = str(e)
    print(json.dumps(out))
    """)


def _isa_child(native, value):
    p = subprocess.run([sys.executable, "-c", _ISA_CHILD, str(native.lib / "liblogitcore.so")],
                       env=_run_env(value), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_isa_env_in_c_and_python(native, isa):
    out = _isa_child(native, isa)
    assert out == {"c_isa": isa, "c_env_error": None, "py_isa": isa}, out


def test_isa_env_bogus(native):
    out = _isa_child(native, "bogus")
    # the library reports the problem and uses the best ISA; Python refuses to import
    assert out["c_isa"] == BEST_ISA and "py_isa" not in out, out
    assert out["c_env_error"] and "bogus" in out["c_env_error"], out
    assert "LOGITCORE_ISA" in out.get("py_import_error", ""), out
