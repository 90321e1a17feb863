"""TW_DEBUG build: risk's ack fast path (the check's figures reused) is cross-checked against the
recomputation on every reuse, and working / open counts never go negative (``debug_violations`` = 0)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_risk_fastpath import TOML, _setup, _stream  # noqa: E402


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_risk_fast_paths_agree_with_recomputation(seed):
    _, loop, risk = _setup(TOML)
    loop.run_all(_stream(3000, seed))
    risk.validate_internal_state()
    assert risk.debug_violations == 0
