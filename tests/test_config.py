"""show_config() / get_config(): which ISA is selected and compiled, OpenMP, threads."""
from __future__ import annotations

import os
import re

import logitcore as lc
from logitcore import _core

from ._helpers import BEST_ISA, BLOCK, INITIAL_ISA, SUPPORTED_ISAS, forced_isa

KEYS = {
    "version",
    "isa_selected",
    "isa_compiled",
    "isa_supported_by_cpu",
    "isa_forced_by_env",
    "openmp",
    "num_threads",
    "block_size",
}


def test_get_config_keys_and_values():
    cfg = lc.get_config()
    assert set(cfg) == KEYS
    assert cfg["version"] == lc.__version__
    assert cfg["isa_selected"] == _core._isa() == INITIAL_ISA
    assert cfg["isa_forced_by_env"] == (os.environ.get("LOGITCORE_ISA") or None)
    if cfg["isa_forced_by_env"] is None:
        assert cfg["isa_selected"] == BEST_ISA
    assert cfg["isa_compiled"] == list(_core._compiled_isas())
    assert cfg["isa_supported_by_cpu"] == SUPPORTED_ISAS
    assert set(cfg["isa_supported_by_cpu"]) <= set(cfg["isa_compiled"])
    assert isinstance(cfg["openmp"], bool)
    assert isinstance(cfg["num_threads"], int) and cfg["num_threads"] >= 1
    assert cfg["block_size"] == BLOCK == 2048


def test_show_config_prints_isa_openmp_threads(capsys, restore_threads):
    lc.set_num_threads(3)
    with forced_isa("scalar"):
        lc.show_config()
    out = capsys.readouterr().out
    lines = dict(
        (k.strip(), v.strip()) for k, v in (ln.split(":", 1) for ln in out.strip().splitlines())
    )
    assert lines["isa_selected"] == "scalar"
    assert lines["isa_compiled"] == ", ".join(_core._compiled_isas())
    assert lines["isa_supported_by_cpu"] == ", ".join(SUPPORTED_ISAS)
    assert lines["openmp"] in ("True", "False")
    assert lines["openmp"] == str(bool(_core._have_openmp()))
    assert lines["num_threads"] == "3"
    assert lines["block_size"] == str(BLOCK)
    assert re.search(r"^version\s+: " + re.escape(lc.__version__), out, re.M)
    # after restoring, show_config reflects the new state
    lc.set_num_threads(0)
    lc.show_config()
    out = capsys.readouterr().out
    assert re.search(r"^isa_selected\s+: " + INITIAL_ISA + "$", out, re.M)
    assert re.search(r"^num_threads\s+: " + str(lc.get_num_threads()) + "$", out, re.M)


def test_public_api():
    for name in lc.__all__:
        assert hasattr(lc, name), name
    assert {"logsumexp", "softmax", "log_softmax", "softmax_entropy", "entropy", "LogSumExpState"} <= set(lc.__all__)
