"""The appliance file (services/config.py) is refused before anything starts, with every key and reason."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from access.credentials import CredentialError, hash_credential, parse_hash, verify
from services.config import ConfigError, load

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "appliance.toml"
HASH = hash_credential("pw", n=1024, salt=b"0123456789abcdef")


def write(tmp_path, text):
    p = tmp_path / "a.toml"
    p.write_text(text)
    return p


def problems(tmp_path, text):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text), check_imports=False)
    return dict(e.value.problems)


def test_example_is_valid_and_its_credential_is_the_documented_one():
    cfg = load(EXAMPLE, check_imports=False)
    assert cfg.feed.line_a == ("239.1.1.1", 31001)
    assert cfg.gateway.users[0].name == "mm1"
    assert verify("demo-mm", cfg.gateway.users[0].credential)
    assert not verify("demo-MM", cfg.gateway.users[0].credential)


def test_every_problem_is_named_by_key(tmp_path):
    p = problems(tmp_path, f"""
[appliance]
nmae = "x"
driver = "sometimes"
[feed]
source = "carrier-pigeon"
line_a = "239.1.1.1"
core = 999
idle = "spin-fast"
[gateway]
symbols = ["AAPL", "AAPL"]
[[gateway.user]]
name = "u1"
account = "A"
credential = "plain-password"
[[strategy]]
name = "s"
class = "not a class ref"
user = "nobody"
""")
    assert "unknown key" in p["appliance.nmae"]
    assert "not one of auto, external" in p["appliance.driver"]
    assert "carrier-pigeon" in p["feed.source"]
    assert "HOST:PORT" in p["feed.line_a"]
    assert "CPU 999" in p["feed.core"]
    assert "idle strategy" in p["feed.idle"]
    assert "twice" in p["gateway.symbols"]
    assert "tickwire user hash" in p["gateway.user[0].credential"]
    assert "MODULE:CLASS" in p["strategy[0].class"]


def test_cross_checks(tmp_path):
    p = problems(tmp_path, f"""
[gateway]
symbols = ["AAPL"]
[[gateway.user]]
name = "u1"
account = "A"
credential = "{HASH}"
[[gateway.user]]
name = "u1"
account = "B"
credential = "{HASH}"
[[strategy]]
name = "s"
class = "strategy.base:Strategy"
user = "u2"
""")
    assert "defined twice" in p["gateway.user[1].name"]
    assert "no [[gateway.user]] named 'u2'" in p["strategy[0].user"]
    assert "credential_env or credential_file" in p["strategy[0].credential_env"]


def test_nothing_to_run_and_bad_files(tmp_path):
    assert "no service" in problems(tmp_path, "[appliance]\nname = 'x'\n")["(file)"]
    assert "not TOML" in problems(tmp_path, "[feed\n")["(file)"]
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[feed]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(tmp_path / "bin.toml")


def test_strategy_class_must_import(tmp_path):
    p = write(tmp_path, "[[strategy]]\nname = 's'\nclass = 'no_such_module_xyz:Thing'\n")
    with pytest.raises(ConfigError, match="cannot import no_such_module_xyz"):
        load(p)


@pytest.mark.parametrize("bad, why", [
    ("", "not a scrypt"), ("scrypt$n=3,r=8,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "out of range"),
    ("scrypt$n=1024,r=8,p=1$!!!$AAAA", "base64"), ("scrypt$x$y$z", "bad parameters"),
])
def test_bad_hashes_are_refused(bad, why):
    with pytest.raises(CredentialError, match=why):
        parse_hash(bad)


def test_credentials_are_salted_and_checked():
    a, b = hash_credential("same", n=1024), hash_credential("same", n=1024)
    assert a != b                                   # a fresh salt each time
    assert verify("same", a) and verify("same", b)
    assert not verify("Same", a) and not verify("", a) and not verify("x" * 100, a)
    with pytest.raises(CredentialError):
        hash_credential("")


def test_run_refuses_a_bad_file_with_exit_2_and_one_line_per_problem(tmp_path):
    p = write(tmp_path, "[feed]\nsource = 'udp'\nline_a = 'nonsense'\ncore = -1\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "tickwire", "run", str(p)], capture_output=True, text=True, env=env)
    assert r.returncode == 2, r.stderr
    assert "configuration refused" in r.stderr and "feed.line_a" in r.stderr and "feed.core" in r.stderr
    assert "Traceback" not in r.stderr


def test_user_hash_reads_stdin_never_argv():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "tickwire", "user", "hash"], input="s3cret\n", capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and verify("s3cret", r.stdout.strip())
    r = subprocess.run([sys.executable, "-m", "tickwire", "user", "hash", "s3cret"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 2
