"""Shared fixtures: where the project and ../shared live."""
import os
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("TICKWIRE_ROOT", Path(__file__).resolve().parents[1]))
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"test data not found at {DATA}: clone tickwire with ../shared beside it")
    return DATA
