"""DpdkSource invariants on both builds: in the TW_DEBUG build every accepted frame is checked to lie
inside its mbuf and every burst to be no larger than asked (``debug_violations`` must stay 0)."""
from __future__ import annotations

import os

from dpdk_helper import run_scenario
from test_dpdk_pcap import EAL, GROUP, PORT, craft_capture


def test_crafted_capture_invariants(tmp_path):
    path = tmp_path / "mixed.pcap"
    labels, reasons, _, _ = craft_capture(path, seed=11)
    spec = {"eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={path}"], "ports": ["net_pcap0"],
            "group": GROUP, "dst_port": PORT, "idle": 0.5, "max_seconds": 30}
    r = run_scenario(spec)
    assert r["ok"], r
    if os.environ.get("TICKWIRE_DEBUG", "0") not in ("", "0"):
        assert r["module_file"].startswith(os.getcwd()), r["module_file"]   # the TW_DEBUG build ran
    c = r["ports"][0]["counters"]
    assert c["debug_violations"] == 0
    assert c["rx_packets"] == labels.count("want")
    assert c["dropped_filter"] + c["dropped_bad"] == sum(reasons.values())
