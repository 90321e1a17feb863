"""Verbs (ibverbs raw packet QP) source: a clear error without an RDMA device; the parser and sysfs helpers."""
import pytest

from netns_util import ether_udp, mold_packet

from datapath import registry, verbs_source
from datapath.registry import SourceUnavailable
from datapath.source_codes import KSRC_E_BAD_OPTION, SourceError

NO_DEVICE = ("no RDMA device: ibverbs needs a NIC with raw packet QP support, e.g. ConnectX; "
             "found none in /sys/class/infiniband")


def test_no_rdma_device_clear_error():
    if verbs_source.rdma_devices():
        pytest.skip("this machine has an RDMA device: see test_live_raw_qp")
    with pytest.raises(SourceUnavailable) as e:
        registry.open_source("verbs", port=26800)
    assert str(e.value) == NO_DEVICE
    with pytest.raises(SourceUnavailable, match="found none in /sys/class/infiniband"):
        verbs_source.VerbsSource(port=26800, group="239.200.4.1")
    with pytest.raises(SourceUnavailable) as e:                 # the options `tickwire listen` passes
        registry.open_source("verbs", interface="eth9", port=26800, group="239.200.4.1")
    assert str(e.value) == NO_DEVICE


def test_bad_option_before_device_lookup():
    with pytest.raises(SourceError) as e:
        verbs_source.VerbsSource(port=0)
    assert e.value.code == KSRC_E_BAD_OPTION and "port 0 out of range" in str(e.value)


def test_sysfs_helpers_on_a_tree(tmp_path):
    assert verbs_source.rdma_devices(tmp_path / "none") == []
    (tmp_path / "mlx5_0" / "device" / "net" / "enp1s0f0np0").mkdir(parents=True)
    (tmp_path / "mlx5_1").mkdir()
    assert verbs_source.rdma_devices(tmp_path) == ["mlx5_0", "mlx5_1"]
    assert verbs_source.device_netdev("mlx5_0", 1, tmp_path) == "enp1s0f0np0"
    assert verbs_source.device_netdev("mlx5_1", 1, tmp_path) is None


def test_python_parser_matches_packet_layout():
    p = mold_packet(42, 100)
    f = ether_udp("01:00:5e:48:04:01", "02:00:00:00:00:01", "10.0.0.1", "239.200.4.1", 4000, 26800, p)
    want = int.from_bytes(bytes([239, 200, 4, 1]), "big")
    assert verbs_source.parse_udp(f, want, 26800) == (p, int.from_bytes(bytes([10, 0, 0, 1]), "big"))
    assert verbs_source.parse_udp(f, want, 26801) == "filter"
    tagged = ether_udp("01:00:5e:48:04:01", "02:00:00:00:00:01", "10.0.0.1", "239.200.4.1", 4000, 26800, p, vlan=7)
    assert verbs_source.parse_udp(tagged, 0, 26800)[0] == p
    assert verbs_source.parse_udp(f[:30], 0, 0) == "bad"
    bad_len = ether_udp("01:00:5e:48:04:01", "02:00:00:00:00:01", "10.0.0.1", "239.200.4.1", 1, 2, p, udp_len=5)
    assert verbs_source.parse_udp(bad_len, 0, 0) == "bad"
    assert verbs_source.parse_udp(b"\x00" * 12 + b"\x86\xdd" + b"\x00" * 40, 0, 0) == "filter"


def test_live_raw_qp():
    if not verbs_source.rdma_devices():
        pytest.skip(NO_DEVICE)
    src = verbs_source.open_source(port=26800)             # pragma: no cover - needs a ConnectX
    try:
        assert isinstance(src.recv(), list) and src.counters()["dropped_bad"] == 0
    finally:
        src.close()
