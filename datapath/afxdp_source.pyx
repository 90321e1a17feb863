# cython: language_level=3
"""AF_XDP source through libxdp/libbpf (see afxdp_source.pxd)."""
import errno as _errno
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset
from posix.unistd cimport usleep

from datapath.batch cimport Frame, PacketSource, BURST_SIZE, SRC_E_CLOSED, SRC_E_IO
from core.linux cimport (errno, EAGAIN, EINTR, EBUSY, poll, pollfd, POLLIN, socklen_t, getsockopt,
                             mmap, munmap, MAP_FAILED, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS,
                             MAP_POPULATE, MAP_HUGETLB, if_nametoindex, htons, htonl, now_realtime_ns, MSG_DONTWAIT,
                             recvfrom, setsockopt, SOL_SOCKET, SO_BUSY_POLL, SO_PREFER_BUSY_POLL,
                             SO_BUSY_POLL_BUDGET)
from datapath.libxdp cimport *
from datapath.packet cimport UdpView, udp_parse_ether, udp_accept, PKT_OK, PKT_E_NOT_IPV4, PKT_E_NOT_UDP, PKT_E_FILTERED
from core.compiler cimport tw_likely, tw_unlikely, tw_prefetch, TW_DEBUG

from datapath.igmp import IgmpJoin
from datapath.source_codes import (SourceError, KSRC_E_NO_INTERFACE, KSRC_E_BAD_OPTION, KSRC_E_XDP_PROGRAM,
                                   KSRC_E_XSK_BUSY, KSRC_E_XSK, KSRC_E_UMEM, KSRC_E_CLOSED, KSRC_E_SOCKOPT,
                                   permission_hint)

DEBUG = bool(TW_DEBUG)       # built with the TW_DEBUG invariant checks

tw_xdp_capture_logs()

BPF_SOURCE = "tw_xdp_udp.c"
MODES = {"native": XDP_MODE_NATIVE, "skb": XDP_MODE_SKB}
_programs = {}            # (netns inode, ifindex) -> XdpProgram


# ------------------------------------------------------------ BPF object ----
def _root() -> Path:
    return Path(os.environ.get("TICKWIRE_ROOT") or Path(__file__).resolve().parents[1])


def xdp_object_path(rebuild: bool = False) -> Path:
    """The compiled XDP program: ``var/bpf/tw_xdp_udp.o``, built by clang from datapath/bpf/ when stale.

    Raises SourceError(KSRC_E_XDP_PROGRAM) naming the missing tool (clang, libbpf-dev headers).
    """
    candidates = [Path(__file__).resolve().parent / "bpf" / BPF_SOURCE, _root() / "datapath" / "bpf" / BPF_SOURCE]
    src = next((c for c in candidates if c.is_file()), None)
    if src is None:
        raise SourceError(KSRC_E_XDP_PROGRAM, f"XDP program source not found (looked in {', '.join(map(str, candidates))})")
    out = Path(os.environ.get("TW_XDP_OBJECT_DIR") or _root() / "var" / "bpf") / "tw_xdp_udp.o"
    if not rebuild and out.is_file() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    clang = shutil.which("clang") or shutil.which("clang-16") or shutil.which("clang-15") or shutil.which("clang-14")
    if clang is None:
        raise SourceError(KSRC_E_XDP_PROGRAM, "clang not found: it compiles the XDP program "
                          "(Debian: apt install clang llvm libbpf-dev; or run tuning/system-deps.sh)")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    except OSError:
        arch = ""
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".o")
    os.close(fd)
    cmd = [clang, "-O2", "-g", "-Wall", "-target", "bpf", "-c", str(src), "-o", tmp]
    if arch:
        cmd[1:1] = [f"-I/usr/include/{arch}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        os.unlink(tmp)
        raise SourceError(KSRC_E_XDP_PROGRAM, f"clang failed to compile {src} (libbpf-dev headers installed?): "
                          f"{p.stderr.strip()[:800]}")
    os.replace(tmp, out)                   # atomic: parallel test processes never see half a file
    return out


cdef str _liberr(long err):
    cdef char buf[256]
    libxdp_strerror(<int>err, buf, sizeof(buf))
    msg = buf.decode(errors="replace")
    log = tw_xdp_log_get().decode(errors="replace")
    return f"{msg}; libxdp/libbpf said: {log}" if log else msg


def _netns_key(int ifindex):
    return (os.stat("/proc/thread-self/ns/net").st_ino, ifindex)


PROGRAM_NAME = b"tw_xdp_udp"
LOCK_DIR = Path(os.environ.get("TW_XDP_LOCK_DIR", "/run/tickwire"))


def _owner_lock(key, str interface):
    """Take the per-(netns, ifindex) owner lock (flock, released by the kernel when the process dies).

    Held: no other LIVE tickwire process steers this interface, so a tw_xdp_udp program still attached
    is a leftover of a killed process and may be replaced. Busy: raise naming the owner's pid.
    """
    import fcntl
    d = LOCK_DIR
    try:
        d.mkdir(parents=True, exist_ok=True)
    except PermissionError:                  # not root: a per-user directory still serialises this user
        d = Path(tempfile.gettempdir()) / f"tickwire-{os.getuid()}"
        d.mkdir(parents=True, exist_ok=True)
    path = d / f"xdp-{key[0]}-{key[1]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SourceError(KSRC_E_XDP_PROGRAM, f"{interface} is steered by another tickwire process (pid {owner}, "
                          f"lock {path}): one process per interface owns its XDP program", EBUSY) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


cdef int _remove_stale(int ifindex) except -1:
    """Detach a tw_xdp_udp left attached by a dead process; returns 1 if one was removed."""
    cdef xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex)
    cdef xdp_program *p
    cdef int rc, removed = 0
    if libxdp_get_error(mp) or mp == NULL:
        return 0
    try:
        if xdp_multiprog__is_legacy(mp):
            p = xdp_multiprog__main_prog(mp)
            if p != NULL and xdp_program__name(p) == PROGRAM_NAME:
                rc = xdp_multiprog__detach(mp)
                removed = rc == 0
        else:
            p = xdp_multiprog__next_prog(NULL, mp)
            while p != NULL:
                if xdp_program__name(p) == PROGRAM_NAME:
                    rc = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0)
                    removed = rc == 0
                    break
                p = xdp_multiprog__next_prog(p, mp)
    finally:
        xdp_multiprog__close(mp)
    return removed


cdef class XdpProgram:
    """tw_xdp_udp attached to one interface. Use :func:`attach_program`; shared, reference counted."""

    def __cinit__(self):
        self.netns_fd = -1
        self.lock_fd = -1

    def __dealloc__(self):
        if self.prog != NULL:
            xdp_program__close(<xdp_program *>self.prog)
            self.prog = NULL
        if self.netns_fd >= 0:
            os.close(self.netns_fd)
            self.netns_fd = -1
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1

    def stats(self):
        """Program counters summed over CPUs: redirected to AF_XDP, passed to the stack, no socket."""
        cdef uint32_t k
        cdef int ncpu = libbpf_num_possible_cpus()
        cdef uint64_t vals[1024]
        out = {}
        if self.prog == NULL or ncpu <= 0 or ncpu > 1024:
            return out
        for k, name in enumerate(("xdp_redirected", "xdp_passed", "xdp_no_socket")):
            memset(vals, 0, sizeof(vals))
            if bpf_map_lookup_elem(self.stats_map_fd, &k, vals) == 0:
                out[name] = sum(vals[i] for i in range(ncpu))
        return out

    def detach(self):
        """Detach from the interface (when the last source using it closes)."""
        cdef int rc
        if self.prog == NULL:
            return
        tw_xdp_log_clear()
        # libxdp finds the interface by ifindex in the CALLING thread's namespace: go back to the
        # namespace it was attached in (a test may attach inside a netns and close from the root one).
        home = -1
        if os.stat("/proc/thread-self/ns/net").st_ino != self.key[0]:
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            os.setns(self.netns_fd, os.CLONE_NEWNET)
        try:
            rc = xdp_program__detach(<xdp_program *>self.prog, self.ifindex, MODES[self.mode], 0)
        finally:
            if home >= 0:
                os.setns(home, os.CLONE_NEWNET)
                os.close(home)
        os.close(self.netns_fd)
        self.netns_fd = -1
        if self.lock_fd >= 0:
            os.close(self.lock_fd)           # releases the owner lock
            self.lock_fd = -1
        xdp_program__close(<xdp_program *>self.prog)
        self.prog = NULL
        _programs.pop(self.key, None)
        if rc != 0:
            raise SourceError(KSRC_E_XDP_PROGRAM, f"detach XDP program from {self.interface}: {_liberr(rc)}", -rc)

    def __repr__(self):
        return f"XdpProgram({self.interface!r}, mode={self.mode!r}, cfg={self.cfg}, users={self.users})"


cdef XdpProgram attach_program(str interface, int ifindex, str mode, uint32_t dst_ip, uint16_t port):
    """Load tw_xdp_udp, attach it (mode "native", "skb" or "auto" = native then skb) and configure it."""
    cdef XdpProgram p
    key = _netns_key(ifindex)
    p = _programs.get(key)
    if p is not None:
        if p.cfg != (dst_ip, port):
            raise SourceError(KSRC_E_BAD_OPTION, f"{interface} already steers {p.cfg} to AF_XDP; one feed "
                              "(group, port) per interface: open the other queues with the same options")
        p.users += 1
        return p
    obj = str(xdp_object_path()).encode()
    lock_fd = _owner_lock(key, interface)
    try:
        p = _attach_new(interface, ifindex, mode, dst_ip, port, key, obj)
    except BaseException:
        os.close(lock_fd)
        raise
    p.lock_fd = lock_fd
    return p


cdef XdpProgram _attach_new(str interface, int ifindex, str mode, uint32_t dst_ip, uint16_t port, key, bytes obj):
    cdef XdpProgram p
    cdef xdp_program *prog
    cdef long err
    cdef int rc = -1
    cdef uint32_t zero = 0
    cdef uint32_t cfg[2]
    stale = _remove_stale(ifindex)           # safe: we hold the owner lock, nobody live uses it
    tried = []
    for m in (("native", "skb") if mode == "auto" else (mode,)):
        if m not in MODES:
            raise SourceError(KSRC_E_BAD_OPTION, f"xdp_mode {mode!r}: use 'auto', 'native' or 'skb'")
        tw_xdp_log_clear()
        prog = xdp_program__open_file(obj, b"xdp", NULL)
        err = libxdp_get_error(prog)
        if err:
            raise SourceError(KSRC_E_XDP_PROGRAM, f"open {obj.decode()}: {_liberr(err)}", -err)
        rc = xdp_program__attach(prog, ifindex, MODES[m], 0)
        if rc == 0:
            break
        tried.append(f"{m}: {_liberr(rc)}")
        xdp_program__close(prog)
    if rc != 0:
        raise SourceError(KSRC_E_XDP_PROGRAM, f"attach XDP program to {interface} failed ({'; '.join(tried)}); "
                          "another XDP program already attached? (ip link show " + interface + ")"
                          + permission_hint("attach", rc), -rc)
    p = XdpProgram.__new__(XdpProgram)
    p.prog = prog
    p.netns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    p.ifindex, p.interface, p.mode, p.key, p.users = ifindex, interface, m, key, 1
    bobj = xdp_program__bpf_obj(prog)
    p.xsks_map_fd = bpf_object__find_map_fd_by_name(bobj, b"xsks_map")
    p.cfg_map_fd = bpf_object__find_map_fd_by_name(bobj, b"tw_cfg_map")
    p.stats_map_fd = bpf_object__find_map_fd_by_name(bobj, b"tw_stats")
    if p.xsks_map_fd < 0 or p.cfg_map_fd < 0 or p.stats_map_fd < 0:
        p.detach()
        raise SourceError(KSRC_E_XDP_PROGRAM, "XDP object lacks xsks_map/tw_cfg_map/tw_stats (stale var/bpf build?)")
    cfg[0] = htonl(dst_ip)
    cfg[1] = htons(port)                   # dst_port (network order) in the low half, pad = 0
    if bpf_map_update_elem(p.cfg_map_fd, &zero, cfg, 0) != 0:
        e = errno
        p.detach()
        raise SourceError(KSRC_E_XDP_PROGRAM, "write tw_cfg_map", e)
    p.cfg = (dst_ip, port)
    p.replaced_stale = bool(stale)
    _programs[key] = p
    return p


cdef class AfXdpSource(PacketSource):
    """Receive a UDP feed through an AF_XDP socket on one RX queue of an interface.

    Parameters
    ----------
    interface : str
        Interface (in the caller's network namespace).
    port : int
        UDP destination port the XDP program steers to the socket (required, 1..65535).
    group : str, optional
        Also require this destination IPv4 address (the multicast group); None = any.
    queue : int
        RX queue id (one socket per queue; use RSS/ethtool -N to put the feed on it).
    frame_size : int
        UMEM chunk size: 2048 or 4096.
    num_frames : int
        UMEM chunks (power of two); the fill ring holds all of them, the RX ring ``rx_size``.
    rx_size : int
        RX ring descriptors (power of two).
    zero_copy : bool or None
        True: require zero-copy (fails on drivers without it), False: copy mode, None: try
        zero-copy then fall back to copy (veth and SKB mode are always copy).
    xdp_mode : str
        ``"auto"`` (native, else SKB/generic), ``"native"`` or ``"skb"``.
    busy_poll : bool
        True: ``rx_burst`` never waits (the caller spins); False: poll() up to ``timeout_ms``.
    busy_deadline_s : float
        How long to retry when the queue still has a socket bound (EBUSY right after a close).
    join : bool, optional
        Join ``group`` on the interface (IGMP + NIC multicast filter; datapath.igmp) for the source's
        lifetime. Default: when ``group`` is a multicast address.
    hugepages : bool
        UMEM in huge pages (MAP_HUGETLB: fewer TLB misses; needs vm.nr_hugepages reserved).
    napi_busy_poll_us : int
        > 0: preferred NAPI busy polling on the socket (SO_PREFER_BUSY_POLL, SO_BUSY_POLL,
        SO_BUSY_POLL_BUDGET=64): with a zero-copy NIC and ``busy_poll=True`` the application's empty
        polls drive the driver's NAPI loop instead of interrupts (set the NIC's
        napi_defer_hard_irqs / gro_flush_timeout as the kernel documentation describes).
    """

    def __cinit__(self):
        self.fd = -1
        self.umem = NULL
        self.xsk = NULL
        self.area = NULL

    def __init__(self, str interface, int port, group=None, int queue=0, int frame_size=2048,
                 int num_frames=4096, int rx_size=2048, zero_copy=None, str xdp_mode="auto",
                 bint busy_poll=False, int timeout_ms=100, double busy_deadline_s=5.0, join=None,
                 bint hugepages=False, int napi_busy_poll_us=0, int coalesce_us=0):
        cdef int ifindex, rc = 0, v
        cdef xsk_umem_config ucfg
        cdef xsk_socket_config scfg
        cdef uint32_t idx, i
        cdef xdp_options opts
        cdef socklen_t olen = sizeof(opts)
        if not 0 < port < 65536:
            raise SourceError(KSRC_E_BAD_OPTION, f"port {port} out of range 1..65535")
        if frame_size not in (2048, 4096):
            raise SourceError(KSRC_E_BAD_OPTION, f"frame_size {frame_size}: AF_XDP UMEM chunks are 2048 or 4096 bytes")
        for name, v in (("num_frames", num_frames), ("rx_size", rx_size)):
            if v < 64 or v & (v - 1):
                raise SourceError(KSRC_E_BAD_OPTION, f"{name} {v} must be a power of two >= 64")
        if queue < 0:
            raise SourceError(KSRC_E_BAD_OPTION, f"queue {queue} must be >= 0")
        self.interface, self.queue, self.busy_poll, self.timeout_ms = interface, queue, busy_poll, timeout_ms
        if not 0 <= coalesce_us <= 1_000_000:
            raise SourceError(KSRC_E_BAD_OPTION, f"coalesce_us {coalesce_us} out of range 0..1000000")
        self.coalesce_us = coalesce_us
        self.frame_size, self.num_frames = frame_size, num_frames
        self.want_port = port
        self.want_ip = int(ipaddress.IPv4Address(group)) if group is not None else 0
        ifindex = if_nametoindex(interface.encode())
        if ifindex == 0:
            raise SourceError(KSRC_E_NO_INTERFACE, f"interface {interface!r} not found "
                              f"(network namespace of pid {os.getpid()})", errno)
        try:
            # UMEM: anonymous, populated now (no page faults on the first packets).
            self.area_size = <size_t>frame_size * num_frames
            self.area = <uint8_t *>mmap(NULL, self.area_size, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (MAP_HUGETLB if hugepages else 0),
                                         -1, 0)
            if self.area == <uint8_t *>MAP_FAILED:
                self.area = NULL
                raise SourceError(KSRC_E_UMEM, f"mmap {self.area_size} B UMEM" +
                                  (" in huge pages (reserve them: sysctl vm.nr_hugepages=N)" if hugepages else ""), errno)
            memset(&ucfg, 0, sizeof(ucfg))
            ucfg.fill_size = num_frames
            ucfg.comp_size = 64             # RX only: the completion ring is never used
            ucfg.frame_size = frame_size
            tw_xdp_log_clear()
            rc = xsk_umem__create(&self.umem, self.area, self.area_size, &self.fill, &self.comp, &ucfg)
            if rc != 0:
                self.umem = NULL
                raise SourceError(KSRC_E_UMEM, f"xsk_umem__create {num_frames} x {frame_size} B: {_liberr(rc)}"
                                  + permission_hint("xsk_umem__create", rc), -rc)

            self.program = attach_program(interface, ifindex, xdp_mode, self.want_ip, port)

            memset(&scfg, 0, sizeof(scfg))
            scfg.rx_size = rx_size
            scfg.tx_size = 0
            scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD     # our program, not libxdp's default
            attempts = [True, False] if zero_copy is None else [bool(zero_copy)]
            errors = []
            deadline = time.monotonic() + busy_deadline_s
            for zc in attempts:
                scfg.bind_flags = (XDP_ZEROCOPY if zc else XDP_COPY) | XDP_USE_NEED_WAKEUP
                delay = 0.01
                while True:
                    tw_xdp_log_clear()
                    rc = xsk_socket__create(&self.xsk, interface.encode(), queue, self.umem, &self.rx, NULL, &scfg)
                    if rc != -EBUSY or time.monotonic() >= deadline:
                        break
                    time.sleep(delay)          # the previous socket on this queue is still being torn down
                    delay = min(delay * 2, 0.2)
                if rc == 0:
                    break
                self.xsk = NULL
                errors.append((zc, rc))
                if rc == -EBUSY:
                    raise SourceError(KSRC_E_XSK_BUSY, f"{interface} queue {queue} still busy after "
                                      f"{busy_deadline_s:g} s: another AF_XDP socket is bound to it", EBUSY)
            if rc != 0:
                detail = "; ".join(f"{'zero-copy' if zc else 'copy'}: {_liberr(e)}" for zc, e in errors)
                raise SourceError(KSRC_E_XSK, f"xsk_socket__create on {interface} queue {queue} ({detail})"
                                  + permission_hint("xsk_socket__create", rc), -rc)
            self.fd = xsk_socket__fd(self.xsk)
            if napi_busy_poll_us > 0:
                for opt, val, name in ((SO_PREFER_BUSY_POLL, 1, "SO_PREFER_BUSY_POLL"),
                                       (SO_BUSY_POLL, napi_busy_poll_us, "SO_BUSY_POLL"),
                                       (SO_BUSY_POLL_BUDGET, 64, "SO_BUSY_POLL_BUDGET")):
                    v = val
                    if setsockopt(self.fd, SOL_SOCKET, opt, &v, sizeof(int)) != 0:
                        raise SourceError(KSRC_E_SOCKOPT, f"{name}={val} on the AF_XDP socket", errno)
                self.napi_busy_poll = True
            if getsockopt(self.fd, SOL_XDP, XDP_OPTIONS, &opts, &olen) == 0:
                self.zero_copy = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0
            rc = xsk_socket__update_xskmap(self.xsk, self.program.xsks_map_fd)
            if rc != 0:
                raise SourceError(KSRC_E_XSK, f"insert the socket into xsks_map[{queue}]: {_liberr(rc)}", -rc)
            # Every UMEM chunk starts in the fill ring.
            if xsk_ring_prod__reserve(&self.fill, num_frames, &idx) != <uint32_t>num_frames:
                raise SourceError(KSRC_E_UMEM, "fill ring smaller than the UMEM")
            for i in range(<uint32_t>num_frames):
                xsk_ring_prod__fill_addr(&self.fill, idx + i)[0] = <uint64_t>i * frame_size
            xsk_ring_prod__submit(&self.fill, num_frames)
            if group is not None and (join if join is not None else ipaddress.IPv4Address(group).is_multicast):
                self.igmp = IgmpJoin(interface, group)
        except BaseException:
            self.close()
            raise

    def close(self):
        """Delete the socket and UMEM, detach the XDP program when no other source uses it."""
        if self.xsk != NULL:
            xsk_socket__delete(self.xsk)
            self.xsk = NULL
        self.fd = -1
        if self.umem != NULL:
            xsk_umem__delete(self.umem)
            self.umem = NULL
        if self.area != NULL:
            munmap(self.area, self.area_size)
            self.area = NULL
        if self.program is not None:
            prog, self.program = self.program, None
            prog.users -= 1
            if prog.users <= 0:
                try:
                    prog.detach()
                except SourceError as e:      # interface already gone: nothing left to detach
                    warnings.warn(str(e), RuntimeWarning, stacklevel=2)
        self.held_n = 0
        if self.igmp is not None:
            self.igmp.close()
            self.igmp = None

    def __dealloc__(self):
        # A source dropped without close(): free the kernel objects and give up its program reference
        # (detaching it when it was the last user), so nothing stays attached for the process's lifetime.
        try:
            self.close()
        except BaseException:                 # interpreter shutdown: free at least the C side
            if self.xsk != NULL:
                xsk_socket__delete(self.xsk)
            if self.umem != NULL:
                xsk_umem__delete(self.umem)
            if self.area != NULL:
                munmap(self.area, self.area_size)

    def fileno(self):
        return self.fd

    # ------------------------------------------------------------ receive ----
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil:
        cdef uint32_t idx = 0, n, i
        cdef int out = 0, rc
        cdef const xdp_desc *d
        cdef uint64_t addr, now
        cdef UdpView v
        cdef pollfd pfd
        if tw_unlikely(self.xsk == NULL):
            return SRC_E_CLOSED
        if self.held_n:
            self._refill()
        if max_frames > BURST_SIZE:
            max_frames = BURST_SIZE
        n = xsk_ring_cons__peek(&self.rx, max_frames, &idx)
        if n == 0:
            # Kick the kernel when it asks (need_wakeup), or always with preferred busy polling: the
            # syscall then runs the driver's NAPI poll on this core.
            if self.napi_busy_poll or xsk_ring_prod__needs_wakeup(&self.fill):
                recvfrom(self.fd, NULL, 0, MSG_DONTWAIT, NULL, NULL)
                if self.napi_busy_poll:
                    n = xsk_ring_cons__peek(&self.rx, max_frames, &idx)
        if n == 0:
            if self.busy_poll or self.timeout_ms == 0:
                return 0
            pfd.fd = self.fd
            pfd.events = POLLIN
            pfd.revents = 0
            rc = poll(&pfd, 1, self.timeout_ms)
            if rc < 0 and errno != EINTR:
                self.last_errno = errno
                return SRC_E_IO
            if rc > 0 and self.coalesce_us:
                usleep(self.coalesce_us)    # one wake-up per batch, not per few packets
            n = xsk_ring_cons__peek(&self.rx, max_frames, &idx)
            if n == 0:
                return 0
        now = now_realtime_ns()             # copy mode has no per-packet timestamp: one per burst
        # Each frame sits in its own UMEM chunk, written by another core: start every header's
        # cache-line transfer before parsing the first (l2fwd's prefetch of the whole burst).
        for i in range(n):
            tw_prefetch(xsk_umem__get_data(self.area, xsk_ring_cons__rx_desc(&self.rx, idx + i).addr))
        for i in range(n):
            d = xsk_ring_cons__rx_desc(&self.rx, idx + i)
            addr = d.addr
            self.held[self.held_n] = xsk_umem__extract_addr(addr)
            self.held_n += 1
            if TW_DEBUG:
                # A descriptor outside the UMEM or longer than a chunk would be a kernel/ring bug.
                if xsk_umem__extract_addr(addr) + d.len > self.area_size or d.len > self.frame_size:
                    self.debug_bad_desc += 1
                    self.dropped_bad += 1
                    continue
            rc = udp_parse_ether(<const uint8_t *>xsk_umem__get_data(self.area, addr), d.len, &v)
            if tw_likely(rc == PKT_OK):
                rc = udp_accept(&v, self.want_ip, self.want_port)
            if tw_likely(rc == PKT_OK):
                frames[out].data = v.payload
                frames[out].length = v.length
                frames[out].src_ip = v.src_ip
                frames[out].rx_ns = now
                self.rx_bytes += v.length
                out += 1
            elif rc == PKT_E_FILTERED or rc == PKT_E_NOT_IPV4 or rc == PKT_E_NOT_UDP:
                self.dropped_filter += 1
            else:
                self.dropped_bad += 1
        # The descriptors can go back at once: the chunks stay ours until they return to the fill ring.
        xsk_ring_cons__release(&self.rx, n)
        self.rx_packets += out
        return out

    cdef void rx_release(self) noexcept nogil:
        if self.held_n:
            self._refill()

    cdef void _refill(self) noexcept nogil:
        cdef uint32_t idx = 0, i, got
        got = xsk_ring_prod__reserve(&self.fill, self.held_n, &idx)
        if tw_unlikely(got != self.held_n):
            return                          # cannot happen (the fill ring holds every chunk); retry next time
        for i in range(got):
            xsk_ring_prod__fill_addr(&self.fill, idx + i)[0] = self.held[i]
        xsk_ring_prod__submit(&self.fill, got)
        self.held_n = 0

    # ------------------------------------------------------------- Python ----
    def held_frames(self):
        """UMEM chunks handed out and not yet returned to the fill ring."""
        return self.held_n

    def xdp_statistics(self):
        """The socket's XDP_STATISTICS (cumulative kernel counters)."""
        cdef xdp_statistics st
        cdef socklen_t n = sizeof(st)
        if self.fd < 0:
            raise SourceError(KSRC_E_CLOSED)
        memset(&st, 0, sizeof(st))
        if getsockopt(self.fd, SOL_XDP, XDP_STATISTICS, &st, &n) != 0:
            raise SourceError(KSRC_E_SOCKOPT, "getsockopt XDP_STATISTICS", errno)
        return dict(st)

    def counters(self):
        """Counters; kernel_drops from XDP_STATISTICS (RX dropped + RX ring full + fill ring empty)."""
        if self.fd >= 0:
            st = self.xdp_statistics()
            self.kernel_drops = st["rx_dropped"] + st["rx_ring_full"] + st["rx_fill_ring_empty_descs"]
        d = PacketSource.counters(self)
        if self.program is not None:
            d.update(self.program.stats())
        return d

    def __repr__(self):
        return (f"AfXdpSource({self.interface!r}, queue={self.queue}, port={self.want_port}, "
                f"zero_copy={self.zero_copy}, program={self.program!r})")

