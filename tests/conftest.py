"""Shared fixtures for the logitcore test suite (comparison helpers live in _helpers.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import logitcore
from logitcore import _core

from ._helpers import SUPPORTED_ISAS, set_threads

settings.register_profile(
    "logitcore",
    deadline=None,
    # the `isa` fixture is function-scoped on purpose: every example of a property test runs
    # on the ISA the test was parametrized with
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
# CI: the same examples on every run (derandomized, no example database), so a clean clone's
# result does not depend on the draw; development runs keep exploring new examples
settings.register_profile("ci", parent=settings.get_profile("logitcore"), derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "logitcore"))


def pytest_report_header(config):
    mods = []
    for name in ("scipy", "hypothesis", "mpmath", "torch"):
        try:
            mods.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            mods.append(f"{name} missing")
    return [
        f"logitcore: isa {_core._isa()} of {', '.join(SUPPORTED_ISAS)}, {logitcore.get_num_threads()} threads",
        "optional test dependencies: " + ", ".join(mods),
    ]


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def _isa_and_threads_unchanged(request):
    """Every test leaves the ISA and the thread count as it found them (a LOGITCORE_ISA=scalar
    run must stay on the scalar path from the first test to the last). Whatever a test
    changes is put back, and a test that changed them without restoring them fails."""
    isa0, nt0 = _core._isa(), logitcore.get_num_threads()
    yield
    isa1, nt1 = _core._isa(), logitcore.get_num_threads()
    if isa1 != isa0:
        _core._set_isa(isa0)
    if nt1 != nt0:
        set_threads(nt0)
    if (isa1, nt1) != (isa0, nt0):
        pytest.fail(
            f"{request.node.nodeid} left the ISA / thread count at {isa1!r} / {nt1}, found {isa0!r} / {nt0} "
            "(restored now; use the isa / restore_threads fixtures or _helpers.forced_isa)",
            pytrace=False,
        )


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Force each ISA the host supports in turn (in-process); restore the ISA found."""
    found = _core._isa()
    _core._set_isa(request.param)
    try:
        assert _core._isa() == request.param
        yield request.param
    finally:
        _core._set_isa(found)


@pytest.fixture
def restore_threads():
    """Let a test change the thread count; restore the count found afterwards."""
    found = logitcore.get_num_threads()
    yield
    set_threads(found)


@pytest.fixture
def rng(request):
    # a stable per-test seed (reproducible failures, different data per test)
    return np.random.default_rng(_stable_seed(request.node.nodeid))


def _stable_seed(s: str) -> int:
    import zlib

    return zlib.crc32(s.encode())


