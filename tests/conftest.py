"""Shared fixtures: where the project and ../shared live; hypothesis profiles."""
import os
from pathlib import Path

import pytest

try:
    from hypothesis import settings
except ImportError:                      # hypothesis is a test dependency; without it its tests fail on import
    settings = None

if settings is not None:
    # CI (CI=true): derandomized, so a run repeats exactly, and a failure prints the blob that
    # reproduces it (@reproduce_failure); no example database. Locally: random as usual, also with the
    # blob. Neither sets max_examples: each test's own @settings(max_examples=...) stands.
    # TW_HYPOTHESIS_PROFILE=ci|dev picks one explicitly.
    settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None, database=None)
    settings.register_profile("dev", print_blob=True)
    settings.load_profile(os.environ.get("TW_HYPOTHESIS_PROFILE") or (
        "ci" if os.environ.get("CI", "").lower() not in ("", "0", "false", "no") else "dev"))

ROOT = Path(os.environ.get("TICKWIRE_ROOT", Path(__file__).resolve().parents[1]))
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"test data not found at {DATA}: clone tickwire with ../shared beside it")
    return DATA
