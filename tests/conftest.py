"""Shared fixtures for the logitcore test suite (comparison helpers live in _helpers.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import logitcore
from logitcore import _core

from ._helpers import SUPPORTED_ISAS, restore_isa

settings.register_profile(
    "logitcore",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "logitcore"))

# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Force each ISA the host supports in turn (in-process); restore the initial ISA."""
    _core._set_isa(request.param)
    try:
        assert _core._isa() == request.param
        yield request.param
    finally:
        restore_isa()


@pytest.fixture
def restore_threads():
    """Let a test change the thread count; restore the OpenMP default afterwards."""
    yield
    logitcore.set_num_threads(0)


@pytest.fixture
def rng(request):
    # a stable per-test seed (reproducible failures, different data per test)
    return np.random.default_rng(_stable_seed(request.node.nodeid))


def _stable_seed(s: str) -> int:
    import zlib

    return zlib.crc32(s.encode())


