"""DPDK error paths: every failure is a clear error with a code, its NAME and DPDK's own words.

Scenarios that initialise the EAL run in their own interpreter (tests/dpdk_helper.py). The config
checks that fail before ``rte_eal_init`` run here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dpdk_helper import ROOT, run_scenario

EAL = ["--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry", "-l", "0"]


def run_code(code: str) -> dict:
    """Run ``code`` (which prints one JSON line) in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in sys.path if p]))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, f"exit {p.returncode}: {p.stdout}\n{p.stderr}"
    return json.loads(lines[-1])


def test_bad_eal_argument_raises_with_the_eal_message():
    r = run_scenario({"eal": EAL + ["--no-such-option"], "ports": [0]})
    assert r["ok"] is False and r["error"] == "EalError"
    assert r["code"] == -701 and r["name"] == "EAL_E_INIT" and r["errno"] == 22
    assert r["message"].startswith("EAL_E_INIT (-701): rte_eal_init failed [EINVAL: Invalid argument]")
    # The EAL's own words, without its usage text.
    assert "unrecognized option '--no-such-option'" in r["message"]
    assert "Invalid 'command line' arguments" in r["message"]
    assert "Usage:" not in r["message"] and "--huge-dir" not in r["message"]
    assert r["returncode"] == 0


def test_unknown_vdev_driver_raises_enodev():
    r = run_scenario({"eal": EAL + ["--vdev", "net_nosuchdriver0"], "ports": [0]})
    assert r["name"] == "EAL_E_INIT" and r["errno"] == 19            # ENODEV
    assert 'failed to parse device "net_nosuchdriver0"' in r["message"]


def test_vdev_probe_failure_names_the_driver_reason(tmp_path):
    missing = tmp_path / "missing.pcap"
    r = run_scenario({"eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={missing}"], "ports": ["net_pcap0"]})
    assert r["code"] == -706 and r["name"] == "EAL_E_PROBE"
    assert f"Couldn't open {missing}" in r["message"]
    assert "failed to initialize net_pcap0 device" in r["message"]
    assert r["returncode"] == 0          # no crash at exit (the EAL is cleaned up)


def test_unknown_port_name_lists_the_ports(data_dir):
    pcap = next((data_dir / "pcap").rglob("*.pcap"))
    r = run_scenario({"eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={pcap}"], "ports": ["net_pcap7"]})
    assert r["ok"] is False and r["error"] == "PortError"
    assert r["code"] == -711 and r["name"] == "PORT_E_NO_PORT" and r["errno"] == 19
    assert r["message"] == ("PORT_E_NO_PORT (-711): no such DPDK port [ENODEV: No such device]: "
                            "no port named 'net_pcap7'; ports: {0: 'net_pcap0'}")


def test_unknown_port_id():
    r = run_scenario({"eal": EAL + ["--vdev", "net_null0"], "ports": [5]})
    assert r["name"] == "PORT_E_NO_PORT"
    assert "no port with id 5; ports: {0: 'net_null0'}" in r["message"]


def test_mempool_too_big_for_the_memory():
    r = run_scenario({"eal": EAL + ["--vdev", "net_null0"], "ports": ["net_null0"], "mbufs": 4_000_000})
    assert r["code"] == -715 and r["name"] == "PORT_E_MEMPOOL" and r["errno"] == 12   # ENOMEM
    assert "rte_pktmbuf_pool_create('tw_rx_0', n=4000000" in r["message"]


def test_eal_is_initialised_once_per_process():
    r = run_code("""
import json
from dpdk_bindings import eal
args = eal.virtual_args(["net_null0"])
n = eal.init(args, quiet=True)
again = eal.init(args)                 # same arguments: idempotent
try:
    eal.init(eal.virtual_args(["net_null1"]))
    other = None
except eal.EalError as e:
    other = [e.code, e.name, str(e)]
eal.cleanup()
try:
    eal.init(args)
    after = None
except eal.EalError as e:
    after = [e.code, e.name]
print(json.dumps({"n": n, "again": again, "other": other, "after": after}))
""")
    assert r["n"] == r["again"] > 0
    assert r["other"][:2] == [-702, "EAL_E_ALREADY"]
    assert "running with" in r["other"][2] and "net_null1" in r["other"][2]
    assert r["after"] == [-703, "EAL_E_CLEANED"]


def test_calls_before_init_and_bad_config_are_clear():
    # No rte_eal_init here: safe in the test process itself.
    from dpdk_bindings import eal, ethdev
    with pytest.raises(eal.EalError) as e:
        eal.args_from_config({"no_huge": True, "hugepages": 4})
    assert e.value.code == -705 and e.value.name == "EAL_E_BAD_CONFIG"
    assert "unknown key 'hugepages'" in str(e.value)
    assert eal.args_from_config({"lcores": "0", "no_huge": True, "memory_mb": 256, "vdev": ["net_null0", "net_null1"],
                                 "no_pci": True}) == ["-l", "0", "--no-huge", "-m", "256", "--vdev", "net_null0",
                                                      "--vdev", "net_null1", "--no-pci"]
    if not eal.is_initialized():
        with pytest.raises(eal.EalError) as e:
            ethdev.port_count()
        assert e.value.name == "EAL_E_NOT_INIT"
        assert str(e.value) == "EAL_E_NOT_INIT (-704): the EAL is not initialised: call dpdk_bindings.eal.init() first"
    assert eal.strerror(12) == "Cannot allocate memory"
