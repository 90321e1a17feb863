"""The engine's software prefetches survive compilation.

A prefetch changes no state, so a helper that only prefetches looks pure to GCC, which then deletes
every call to it: risk's order-table prefetches were compiled away without any test noticing (results
are identical either way, only slower). ``tw_prefetch`` now carries an empty volatile asm; this test
reads the machine code of the built modules and counts the prefetch instructions of each hook.
"""
import platform
import re
import shutil
import subprocess

import pytest

import engine.matching
import engine.risk

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                reason="reads x86-64 machine code (prefetcht0)")

# function symbol -> prefetch instructions its source issues (at least)
EXPECTED = {
    (engine.risk.__file__, "__pyx_f_6engine_4risk_10RiskEngine_prefetch"): 4,          # slot (2 lines), cell, perm
    (engine.risk.__file__, "__pyx_f_6engine_4risk_10RiskEngine_prefetch_events"): 5,   # maker slot, cells, cancel slot
    (engine.matching.__file__, "__pyx_f_6engine_8matching_14MatchingEngine_prefetch"): 1,  # id-index slot
}


def _prefetches(so: str, symbol: str) -> int:
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", so], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(rf"<{re.escape(symbol)}>:\n(.*?)(?:\n\n|\Z)", out, re.S)
    assert m, f"{symbol} not found in {so}"
    return len(re.findall(r"\tprefetch", m.group(1)))


@pytest.mark.parametrize("so,symbol", list(EXPECTED))
def test_prefetch_instructions_present(so, symbol):
    assert shutil.which("objdump"), "objdump (binutils, installed with gcc) is needed to read the build"
    n = _prefetches(so, symbol)
    assert n >= EXPECTED[(so, symbol)], f"{symbol}: {n} prefetch instructions, want >= {EXPECTED[(so, symbol)]}"
