"""The figures in README.md and docs/ are what their benchmark JSON renders (bench/figures.py --check)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pages_match_their_json():
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "figures.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_hand_edited_figure_is_caught(tmp_path):
    """--check must be able to fail: a copy of the tree with one figure changed by hand is refused."""
    (tmp_path / "bench").mkdir()
    (tmp_path / "docs").mkdir()
    for f in ("figures.py",):
        (tmp_path / "bench" / f).write_text((ROOT / "bench" / f).read_text())
    (tmp_path / "docs" / "figures").mkdir()
    for j in (ROOT / "docs" / "figures").glob("*.json"):
        (tmp_path / "docs" / "figures" / j.name).write_text(j.read_text())
    for page in (ROOT / "docs").glob("*.md"):
        (tmp_path / "docs" / page.name).write_text(page.read_text())
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- figures:engine -->")
    row = readme.index("\n|", readme.index("\n|---", start) + 1)     # first data row of the region
    (tmp_path / "README.md").write_text(readme[:row + 2] + "X" + readme[row + 2:])
    p = subprocess.run([sys.executable, str(tmp_path / "bench" / "figures.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
