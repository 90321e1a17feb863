"""Network namespace pairs joined by a veth link, for tests that need real kernel networking.

Every test gets its own pair of namespaces (``A`` = sender side, ``B`` = receiver side) with unique
names, one veth link between them and addresses from a private /30 (``10.200.x.y/30``) that exist
ONLY inside those namespaces. Nothing is configured in the root namespace and eth0 is never touched:
test traffic cannot leave the pair. Everything is removed on exit, also when the test fails.

Use as a context manager::

    from netns_util import veth_pair          # tests/ is on sys.path under pytest
    with veth_pair() as net:
        net.run(net.ns_b, "ip", "addr")                 # a command in namespace B
        out = net.python(net.ns_a, "print(1 + 1)")       # Python code in namespace A (subprocess)
        with net.enter(net.ns_b):                        # THIS thread in namespace B: sockets created
            sock = socket.socket(...)                    # here stay in B after leaving the block

or as the pytest fixture ``netns_pair`` (``from netns_util import netns_pair`` in a test module,
or ``pytest_plugins``). Needs root (``CAP_SYS_ADMIN`` + ``CAP_NET_ADMIN``); without it the fixture
fails with a clear message rather than skipping, because CI runs as root.

``enter`` uses ``setns(2)`` on the calling thread only: the mount namespace stays the root one, so
``/sys/fs/bpf`` and ``/sys/class/net`` of the root namespace stay visible (``ip netns exec`` remounts
/sys and has no bpffs, which makes libxdp fall back to a single program).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Iterator, Sequence

NETNS_DIR = "/run/netns"
PREFIX = "twt"                       # every namespace / link this helper makes starts with it
MCAST_ROUTE = "224.0.0.0/4"
_counter = itertools.count()
_lock = threading.Lock()


class NetnsError(RuntimeError):
    """A namespace/link command failed; the message carries the command and its stderr."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NetnsError("`ip` not found: install iproute2 (tuning/system-deps.sh)") from None
    if check and p.returncode != 0:
        raise NetnsError(f"{shlex.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def _unique_id() -> tuple[str, int]:
    """A short unique tag (pid + counter) and a subnet index for the /30."""
    with _lock:
        n = next(_counter)
    pid = os.getpid()
    return f"{pid % 100000}{n}", (pid * 7 + n) % 16384


@dataclass
class VethPair:
    """Two namespaces and the veth between them. ``*_a`` is the sender side, ``*_b`` the receiver."""

    ns_a: str
    ns_b: str
    if_a: str
    if_b: str
    ip_a: str
    ip_b: str
    prefixlen: int = 30
    mac_a: str = ""
    mac_b: str = ""
    _procs: list = field(default_factory=list, repr=False)

    # ------------------------------------------------------------ running ----
    def cmd(self, ns: str, *argv: str) -> list[str]:
        """The argv that runs ``argv`` inside namespace ``ns``."""
        return ["ip", "netns", "exec", ns, *argv]

    def run(self, ns: str, *argv: str, check: bool = True, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a command inside ``ns`` and wait; raises NetnsError (with stderr) when it fails."""
        cmd = self.cmd(ns, *argv)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise NetnsError(f"{shlex.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}\n{p.stdout}")
        return p

    def popen(self, ns: str, *argv: str, **kw) -> subprocess.Popen:
        """Start a command inside ``ns``; it is killed on exit if still running."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(self.cmd(ns, *argv), **kw)
        self._procs.append(p)
        return p

    def python(self, ns: str, code: str, *args: str, timeout: float = 60, check: bool = True) -> str:
        """Run Python ``code`` (with the test's interpreter and sys.path) inside ``ns``; return stdout."""
        env_path = os.pathsep.join([os.path.dirname(os.path.abspath(__file__))] + [p for p in sys.path if p])
        argv = ["env", f"PYTHONPATH={env_path}", sys.executable, "-c", code, *args]
        return self.run(ns, *argv, timeout=timeout, check=check).stdout

    def python_popen(self, ns: str, code: str, *args: str, **kw) -> subprocess.Popen:
        """Start Python ``code`` inside ``ns`` in the background (e.g. a sender); killed on exit."""
        env_path = os.pathsep.join([os.path.dirname(os.path.abspath(__file__))] + [p for p in sys.path if p])
        return self.popen(ns, "env", f"PYTHONPATH={env_path}", sys.executable, "-c", code, *args, **kw)

    @contextlib.contextmanager
    def enter(self, ns: str) -> Iterator[None]:
        """Move the CALLING THREAD into network namespace ``ns`` for the block, then back.

        Sockets (UDP, AF_PACKET, AF_XDP) created inside the block belong to ``ns`` for their whole
        life, so a test can open a source in B and poll it from the root namespace afterwards.
        """
        with open(f"/proc/thread-self/ns/net") as home, open(os.path.join(NETNS_DIR, ns)) as target:
            os.setns(target.fileno(), os.CLONE_NEWNET)
            try:
                yield
            finally:
                os.setns(home.fileno(), os.CLONE_NEWNET)

    def ifindex(self, ns: str, ifname: str) -> int:
        return int(self.run(ns, "cat", f"/sys/class/net/{ifname}/ifindex").stdout)

    # ------------------------------------------------------------ cleanup ----
    def close(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.kill()
                with contextlib.suppress(Exception):
                    p.wait(timeout=5)
        self._procs.clear()
        for ns in (self.ns_a, self.ns_b):
            _ip("netns", "del", ns, check=False)


def _setup_side(ns: str, ifname: str, addr: str, prefixlen: int) -> None:
    ex = ["-n", ns]
    _ip(*ex, "link", "set", "lo", "up")
    _ip(*ex, "addr", "add", f"{addr}/{prefixlen}", "dev", ifname)
    _ip(*ex, "link", "set", ifname, "up")
    # Multicast leaves through the veth (no default route exists in the namespace).
    _ip(*ex, "route", "add", MCAST_ROUTE, "dev", ifname)


def _mac(ns: str, ifname: str) -> str:
    with contextlib.suppress(Exception):
        return _ip("-n", ns, "-br", "link", "show", ifname).stdout.split()[2]
    return ""


def cleanup_stale() -> None:
    """Remove namespaces this helper left behind from processes that no longer exist (killed runs)."""
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(NETNS_DIR):
            if not name.startswith(PREFIX):
                continue
            pid = name[len(PREFIX):].split("_")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                _ip("netns", "del", name, check=False)


@contextlib.contextmanager
def veth_pair(mtu: int = 1500, settle: bool = True, queues: int = 1) -> Iterator[VethPair]:
    """Create namespaces A and B joined by a veth (A: ``10.200.x.y+1``, B: ``+2`` in a /30); remove on exit.

    ``queues`` > 1 gives each end that many RX/TX queues (multi-queue AF_XDP tests).
    """
    if os.geteuid() != 0:
        raise NetnsError("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); run the tests as root")
    cleanup_stale()
    tag, subnet = _unique_id()
    pid = os.getpid()
    ns_a, ns_b = f"{PREFIX}{pid}_{tag}a", f"{PREFIX}{pid}_{tag}b"
    # Interface names are at most 15 bytes; they only need to be unique per namespace, but unique
    # names make kernel logs and `ip -all netns` readable.
    if_a, if_b = f"tw{tag}a"[:15], f"tw{tag}b"[:15]
    base = subnet * 4                                 # 10.200.0.0/16 holds 16384 /30 subnets
    ip_a = f"10.200.{base // 256}.{base % 256 + 1}"
    ip_b = f"10.200.{base // 256}.{base % 256 + 2}"
    pair = VethPair(ns_a, ns_b, if_a, if_b, ip_a, ip_b)
    try:
        _ip("netns", "add", ns_a)
        _ip("netns", "add", ns_b)
        # Created directly inside A with its peer inside B: the link never exists in the root namespace.
        q = ["numtxqueues", str(queues), "numrxqueues", str(queues)] if queues > 1 else []
        _ip("-n", ns_a, "link", "add", if_a, "mtu", str(mtu), *q, "type", "veth",
            "peer", "name", if_b, "netns", ns_b, "mtu", str(mtu), *q)
        _setup_side(ns_a, if_a, ip_a, pair.prefixlen)
        _setup_side(ns_b, if_b, ip_b, pair.prefixlen)
        pair.mac_a, pair.mac_b = _mac(ns_a, if_a), _mac(ns_b, if_b)
        if settle:
            # Both ends up (carrier) before the test sends: veth is up as soon as both peers are.
            for ns, ifn in ((ns_a, if_a), (ns_b, if_b)):
                for _ in range(100):
                    if "LOWER_UP" in _ip("-n", ns, "link", "show", ifn).stdout:
                        break
                    threading.Event().wait(0.01)
        yield pair
    finally:
        pair.close()


# ------------------------------------------------------------------ traffic ----
def mold_packet(seq: int, size: int = 64, session: bytes = b"TWTEST0001") -> bytes:
    """A MoldUDP64 packet of ``size`` bytes (>= 22): one message whose bytes derive from ``seq``.

    Deterministic, so a sender process and the test build identical bytes without passing them.
    """
    size = max(size, 22)
    body_len = size - 22
    body = bytes((seq * 31 + i * 7) & 0xFF for i in range(body_len))
    return session[:10].ljust(10) + seq.to_bytes(8, "big") + (1).to_bytes(2, "big") + body_len.to_bytes(2, "big") + body


def send_udp_main(argv: list[str]) -> None:
    """Sender process: ``dst port first count size [src_port [ifaddr [pace_every]]]``; prints the count sent.

    Sends ``mold_packet(seq)`` for seq in first..first+count-1 with sendmmsg-sized bursts (sendto in a
    loop; multicast leaves through the namespace's multicast route). ``pace_every`` > 0 sleeps 1 ms
    every that many packets so a small receive buffer cannot overflow in correctness tests.
    """
    import socket
    import time
    dst, port, first, count, size = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    src_port = int(argv[5]) if len(argv) > 5 else 0
    ifaddr = argv[6] if len(argv) > 6 else ""
    pace = int(argv[7]) if len(argv) > 7 else 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 4)
    if ifaddr:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    if src_port:
        s.bind(("0.0.0.0", src_port))
    for i in range(count):
        s.sendto(mold_packet(first + i, size), (dst, port))
        if pace and (i + 1) % pace == 0:
            time.sleep(0.001)
    print(count, flush=True)


SENDER = "import sys, netns_util; netns_util.send_udp_main(sys.argv[1:])"


def send_udp(pair: "VethPair", ns: str, dst: str, port: int, first: int, count: int, size: int = 64,
             src_port: int = 0, ifaddr: str = "", pace_every: int = 0, wait: bool = True):
    """Send ``count`` MoldUDP64 packets from namespace ``ns``; wait for the sender unless ``wait=False``."""
    args = [dst, str(port), str(first), str(count), str(size), str(src_port), ifaddr, str(pace_every)]
    if wait:
        return pair.python(ns, SENDER, *args, timeout=120)
    return pair.python_popen(ns, SENDER, *args)


RAW_SENDER = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
print(len(sys.argv) - 2)
"""


def send_raw(pair: "VethPair", ns: str, ifname: str, frames: Sequence[bytes]) -> None:
    """Send whole Ethernet frames (any bytes: VLAN tags, malformed headers) out of ``ifname`` in ``ns``."""
    pair.python(ns, RAW_SENDER, ifname, *(f.hex() for f in frames))


def ether_udp(dst_mac: str, src_mac: str, src_ip: str, dst_ip: str, sport: int, dport: int,
              payload: bytes, vlan: int | None = None, udp_len: int | None = None) -> bytes:
    """An Ethernet(/802.1Q)/IPv4/UDP frame; ``udp_len`` overrides the UDP length (malformed frames)."""
    import socket
    import struct
    ulen = 8 + len(payload) if udp_len is None else udp_len
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    total = 20 + len(udp)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0,
                      socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    csum = sum(struct.unpack("!10H", hdr))
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
    ip = hdr[:10] + struct.pack("!H", csum) + hdr[12:]
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    return eth + struct.pack("!H", 0x0800) + ip + udp


try:  # the pytest fixture, when pytest is there (the helper itself does not need it)
    import pytest

    @pytest.fixture
    def netns_pair() -> Iterator[VethPair]:
        """A fresh namespace pair with a veth link, removed after the test (also on failure)."""
        with veth_pair() as pair:
            yield pair
except ImportError:  # pragma: no cover
    pass


if __name__ == "__main__":  # manual check: python tests/netns_util.py
    with veth_pair() as net:
        print(net)
        with net.enter(net.ns_b):
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((net.ip_b, 5000))
        net.python(net.ns_a, f"import socket; socket.socket(2, 2).sendto(b'hi', ('{net.ip_b}', 5000))")
        print(s.recvfrom(16))
