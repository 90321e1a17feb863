# cython: language_level=3
"""DPDK Environment Abstraction Layer: init once per process, clear errors, cleanup.

The EAL can be initialised only once in a process (and never again after ``rte_eal_cleanup``), so
``init`` is idempotent: a second call with the same arguments returns the first result, a call with
different ones raises :class:`EalError` (``EAL_E_ALREADY``) rather than silently ignoring them.

Arguments are a list (``["--no-huge", "-m", "256", "--vdev", "net_pcap0,rx_pcap=f.pcap"]``), one
string (split like a shell), or a config dict (see :func:`args_from_config`).

What the EAL prints while it parses and probes (getopt complaints, ``EAL: ...`` log lines) goes to
the process's stdout/stderr; ``init`` captures it so a failure raises with the EAL's own message,
then replays it to stderr. After init DPDK's log goes to stderr (not DPDK's default stdout), so a
program's stdout stays its own.
"""
import atexit
import errno as _errno
import os
import shlex
import sys
import tempfile

from libc.stdio cimport stderr, fflush, stdout
from libc.stdlib cimport malloc, free
from libc.string cimport strdup

from dpdk_bindings.rte cimport (
    rte_eal_init, rte_eal_cleanup, rte_strerror, tw_rte_errno, rte_openlog_stream,
    rte_lcore_count, rte_get_main_lcore, rte_socket_id, rte_get_tsc_hz, rte_eal_has_hugepages,
)

# ----------------------------------------------------------- result codes ----
# EAL_E_* (-701..) of this module and PORT_E_* (-711..) of ethdev: values and messages in core/codes.pxd.
from core import codes as _codes
from core.codes import EAL_E_INIT, EAL_E_ALREADY, EAL_E_CLEANED, EAL_E_NOT_INIT, EAL_E_BAD_CONFIG, EAL_E_PROBE

#: code -> (NAME, message)
CODES = {c.value: (c.name, c.message) for c in _codes.CODES.values() if c.name.startswith("EAL_E_")}


class DpdkError(_codes.TickwireError, RuntimeError):
    """A DPDK call failed. ``code``: a module code (EAL_E_*, PORT_E_*) ; ``errno``: DPDK's errno (or 0);
    ``name``: the code's NAME; ``detail``: rte_strerror and the EAL's own output where there is one.
    ``str()``: ``NAME (code): message [ERRNO: strerror]: detail``."""

    def __init__(self, code, detail="", err=0):
        self.errno = err
        self.detail = detail
        text = _codes.code_message(code)
        if err:
            text += f" [{_errno.errorcode.get(err, err)}: {strerror(err)}]"
        if detail:
            text += f": {detail}"
        super().__init__(code, text)

    def __reduce__(self):
        return (type(self), (self.code, self.detail, self.errno))


class EalError(DpdkError):
    """EAL initialisation / lifecycle error (codes EAL_E_*)."""


def strerror(int err):
    """``rte_strerror``: DPDK's message for an errno or a DPDK-specific code (positive)."""
    return (<bytes>rte_strerror(err)).decode("utf-8", "replace")


# -------------------------------------------------------------- config ----
_FLAG_KEYS = {"no_huge": "--no-huge", "no_pci": "--no-pci", "no_shconf": "--no-shconf",
              "in_memory": "--in-memory", "no_telemetry": "--no-telemetry", "huge_unlink": "--huge-unlink"}
_VALUE_KEYS = {"lcores": "-l", "memory_mb": "-m", "channels": "-n", "file_prefix": "--file-prefix",
               "huge_dir": "--huge-dir", "iova_mode": "--iova-mode", "main_lcore": "--main-lcore",
               "socket_mem": "--socket-mem", "proc_type": "--proc-type"}
_LIST_KEYS = {"vdev": "--vdev", "allow": "-a", "block": "-b", "driver": "-d", "log_level": "--log-level"}


def args_from_config(dict config):
    """EAL argv (without argv[0]) from a dict.

    Keys: flags ``no_huge``, ``no_pci``, ``no_shconf``, ``in_memory``, ``no_telemetry``,
    ``huge_unlink`` (bool); values ``lcores`` ("0" or "2-3"), ``memory_mb``, ``channels``,
    ``file_prefix``, ``huge_dir``, ``iova_mode`` ("va"/"pa"), ``main_lcore``, ``socket_mem``,
    ``proc_type``; lists ``vdev`` (device strings), ``allow`` (PCI addresses, ``-a``), ``block``,
    ``driver`` (``-d`` PMD .so to load), ``log_level``; ``extra`` (raw args appended).
    """
    out = []
    for key, value in config.items():
        if key in _FLAG_KEYS:
            if value:
                out.append(_FLAG_KEYS[key])
        elif key in _VALUE_KEYS:
            if value is not None:
                out += [_VALUE_KEYS[key], str(value)]
        elif key in _LIST_KEYS:
            for v in ([value] if isinstance(value, (str, int)) else value):
                out += [_LIST_KEYS[key], str(v)]
        elif key == "extra":
            out += [str(v) for v in value]
        else:
            raise EalError(EAL_E_BAD_CONFIG, f"unknown key {key!r}; known: "
                           + ", ".join(sorted([*_FLAG_KEYS, *_VALUE_KEYS, *_LIST_KEYS, "extra"])))
    return out


def normalize_args(args):
    """List of EAL arguments (without argv[0]) from a list, a shell-like string or a config dict."""
    if args is None:
        return []
    if isinstance(args, dict):
        return args_from_config(args)
    if isinstance(args, (str, bytes)):
        return shlex.split(args.decode() if isinstance(args, bytes) else args)
    return [str(a) for a in args]


# --------------------------------------------------------------- state ----
cdef object _args = None          # the argument list the EAL was initialised with
cdef bint _cleaned = False
cdef object _init_output = ""


def is_initialized():
    """True once ``init`` succeeded (and ``cleanup`` has not run)."""
    return _args is not None


def require():
    """Raise EalError(EAL_E_NOT_INIT / EAL_E_CLEANED) unless the EAL is up."""
    if _cleaned:
        raise EalError(EAL_E_CLEANED)
    if _args is None:
        raise EalError(EAL_E_NOT_INIT)


def _capture_fds():
    """Redirect fds 1 and 2 into one temporary file; return what restore needs."""
    sys.stdout.flush()
    sys.stderr.flush()
    fflush(stdout)
    fflush(stderr)
    tmp = tempfile.TemporaryFile(mode="w+b")
    saved = (os.dup(1), os.dup(2))
    os.dup2(tmp.fileno(), 1)
    os.dup2(tmp.fileno(), 2)
    return tmp, saved


def _restore_fds(tmp, saved):
    fflush(stdout)
    fflush(stderr)
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
    tmp.seek(0)
    text = tmp.read().decode("utf-8", "replace")
    tmp.close()
    return text


_INFO_LINES = ("Detected CPU lcores", "Detected NUMA nodes", "Detected shared linkage", "Detected static linkage",
               "Physical addresses are unavailable", "Selected IOVA mode", "No available 1048576 kB hugepages",
               "No free 2048 kB hugepages", "Static memory layout", "Multi-process socket",
               "No legacy callbacks")


def _eal_message(str output):
    """The EAL's own complaint: its output without the usage text and the routine start-up lines."""
    lines = []
    in_usage = False
    for line in output.splitlines():
        text = line.strip()
        if line.startswith("Usage:"):
            in_usage = True
            continue
        if in_usage:
            if not text or line[0].isspace() or text.endswith(":"):
                continue
            in_usage = False
        if not text or any(k in text for k in _INFO_LINES) or text in lines:
            continue
        lines.append(text)
    return " | ".join(lines[max(0, len(lines) - 8):])


def init(args=None, str program="tickwire", bint quiet=False):
    """Initialise the EAL; return the number of arguments it consumed.

    Parameters
    ----------
    args : list of str, str or dict
        EAL arguments (see the module doc). ``None``: no arguments (PCI probe, hugepages).
    program : argv[0] (the EAL uses it for its log identity).
    quiet : do not replay the EAL's start-up output to stderr.

    Raises
    ------
    EalError
        ``EAL_E_INIT`` with rte_strerror and the EAL's own error lines; ``EAL_E_ALREADY`` when the
        EAL is up with other arguments; ``EAL_E_CLEANED`` after ``cleanup``.
    """
    global _args, _init_output
    argv_list = normalize_args(args)
    if _cleaned:
        raise EalError(EAL_E_CLEANED)
    if _args is not None:
        if argv_list == _args or args is None:
            return len(_args)
        raise EalError(EAL_E_ALREADY, f"running with {shlex.join(_args)!r}, asked for {shlex.join(argv_list)!r}")
    full = [program] + argv_list
    cdef int argc = len(full)
    # rte_eal_init permutes argv (getopt): give it copies it may own for the process's life.
    cdef char **argv = <char **>malloc((argc + 1) * sizeof(char *))
    if argv == NULL:
        raise MemoryError()
    cdef int i, rc, err
    for i, a in enumerate(full):
        b = a.encode()
        argv[i] = strdup(b)
    argv[argc] = NULL
    # DPDK's log to stderr (its Linux default is stdout + syslog), so it is captured below too.
    rte_openlog_stream(stderr)
    tmp, saved = _capture_fds()
    try:
        with nogil:
            rc = rte_eal_init(argc, argv)
        err = tw_rte_errno()
    finally:
        output = _restore_fds(tmp, saved)
    _init_output = output
    # argv stays allocated (once per process): after a failure the EAL may still refer to it.
    if rc < 0:
        detail = f"rte_eal_init({shlex.join(argv_list)}) -> {strerror(err)}"
        msg = _eal_message(output)
        if msg:
            detail += f"; EAL said: {msg}"
        if err == _errno.EALREADY:
            raise EalError(EAL_E_ALREADY, detail, err)
        raise EalError(EAL_E_INIT, detail, err)
    if output and not quiet:
        sys.stderr.write(output)
        sys.stderr.flush()
    _args = argv_list
    atexit.register(_cleanup_at_exit)
    if "probe failed" in output:
        # The EAL comes up without the device (22.11 only warns): the caller asked for it, so fail
        # loudly with the driver's own reason. The EAL stays up (it cannot be re-initialised).
        raise EalError(EAL_E_PROBE, _eal_message(output))
    return rc


def _cleanup_at_exit():
    # Without rte_eal_cleanup some PMDs' destructors double-free after a failed probe.
    if _args is not None:
        for fn in list(_before_cleanup):
            try:
                fn()
            except Exception:
                pass
        cleanup()


_before_cleanup = []


def on_cleanup(fn):
    """Run ``fn`` before ``rte_eal_cleanup`` at exit (ports stop/close themselves here)."""
    _before_cleanup.append(fn)


def init_output():
    """What the EAL printed during ``init`` (for diagnostics)."""
    return _init_output


def cleanup():
    """``rte_eal_cleanup``: release hugepages and EAL threads. Close every port first. Final."""
    global _args, _cleaned
    if _args is None:
        return 0
    cdef int rc
    with nogil:
        rc = rte_eal_cleanup()
    _args = None
    _cleaned = True
    if rc < 0:
        raise EalError(EAL_E_INIT, f"rte_eal_cleanup -> {strerror(-rc)}", -rc)
    return rc


def info():
    """EAL facts: lcores, main lcore, socket, TSC Hz, hugepages."""
    require()
    return {"lcores": rte_lcore_count(), "main_lcore": rte_get_main_lcore(), "socket": rte_socket_id(),
            "tsc_hz": rte_get_tsc_hz(), "hugepages": bool(rte_eal_has_hugepages()), "args": list(_args)}


def virtual_args(vdevs, memory_mb=256, lcores="0", extra=()):
    """EAL arguments for virtual devices on a machine without hugepages or a bound NIC.

    ``--no-huge -m MB --no-shconf --no-pci --no-telemetry`` (``--in-memory`` cannot be combined
    with ``--no-huge``), one ``--vdev`` per device string.
    """
    out = ["-l", str(lcores), "--no-huge", "-m", str(memory_mb), "--no-shconf", "--no-pci", "--no-telemetry"]
    for v in ([vdevs] if isinstance(vdevs, str) else vdevs):
        out += ["--vdev", v]
    return out + list(extra)
