"""Build of tickwire's Cython extensions.

Every ``*.pyx`` under the product packages, ``testing`` and ``bench`` becomes one extension
(``bench``'s drive the benchmarks; it is not an installed package). Set
``TICKWIRE_DEBUG=1`` to compile with the ``TW_DEBUG`` C macro, which turns on
invariant checks and extra counters in the hot paths (see ARCHITECTURE.md).
``TW_MODULES`` (comma-separated prefixes such as ``book,feedhandlers.itch``)
restricts a build to some modules, so parallel work does not rebuild all.
"""
import os
import shlex
import subprocess
from pathlib import Path

import numpy
from Cython.Build import cythonize
from Cython.Compiler import Options as CythonOptions
from setuptools import Extension, setup

ROOT = Path(__file__).parent
PACKAGES = ["core", "datapath", "dpdk_bindings", "feedhandlers", "book", "engine", "messaging", "lab", "tickwire",
            "testing", "bench", "services", "strategy"]
DEBUG = os.environ.get("TICKWIRE_DEBUG", "0") not in ("", "0")
# Warnings are errors (C and Cython) where the Makefile builds (TW_WERROR=1: this tree builds without one);
# a build with another compiler or Cython release (pip install) only prints them.
WERROR = os.environ.get("TW_WERROR", "0") not in ("", "0")


def pkg_config(name: str) -> dict:
    """Compile and link flags of a system library, or {} when it is not installed."""
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", name], check=True, capture_output=True, text=True).stdout
        libs = subprocess.run(["pkg-config", "--libs", name], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"extra_compile_args": shlex.split(cflags), "extra_link_args": shlex.split(libs)}


def pyaeron_link() -> dict:
    """Link flags for the modules on the Aeron C client: pip pyaeron's extension module exports the whole
    Aeron 1.53 C client and media driver (no header: messaging/aeron_c.h declares what tickwire uses), so
    messaging.transport links against that very file (``-l:NAME``), found in the installed pyaeron
    package, with an rpath to it: the dynamic loader then maps the same file pyaeron imports (one
    copy of the client in the process). pip installs pyaeron (pyproject dependency, and a build
    requirement for pip's isolated builds) before the build."""
    import importlib.util
    spec = importlib.util.find_spec("pyaeron")
    libs = sorted(Path(spec.submodule_search_locations[0]).glob("_pyaeron*.so")) if spec and spec.submodule_search_locations else []
    if not libs:
        raise SystemExit("setup.py: messaging.transport needs pip pyaeron (the Aeron C client): pip install pyaeron")
    lib = libs[0].resolve()
    # rpath: the pyaeron this build found (in-place builds), and pyaeron beside the installed package
    # (site-packages/messaging/../pyaeron: a wheel, whose build environment is gone at run time).
    return {"library_dirs": [str(lib.parent)],
            "extra_link_args": [f"-l:{lib.name}", f"-Wl,-rpath,{lib.parent}", "-Wl,-rpath,$ORIGIN/../pyaeron"]}


# Per-module extra build flags: module-name prefix -> callable returning Extension kwargs.
EXTRA = {
    "dpdk_bindings.": lambda: pkg_config("libdpdk"),
    "bench.rxloop": lambda: pkg_config("libdpdk"),
    "datapath.dpdk_source": lambda: pkg_config("libdpdk"),
    "datapath.afxdp_source": lambda: pkg_config("libxdp libbpf"),
    "messaging.transport": pyaeron_link,
    "bench.aeron_runs": pyaeron_link,
    "services.gateway_loop": pyaeron_link,
    "services.md_publisher": pyaeron_link,
    "bench.md_runs": pyaeron_link,
}


def extensions():
    only = [p for p in os.environ.get("TW_MODULES", "").split(",") if p]
    exts = []
    for pkg in PACKAGES:
        for pyx in sorted((ROOT / pkg).rglob("*.pyx")):
            rel = pyx.relative_to(ROOT)
            name = ".".join(rel.with_suffix("").parts)
            if only and not any(name.startswith(p) for p in only):
                continue
            kw = {"extra_compile_args": [], "extra_link_args": []}
            for prefix, extra in EXTRA.items():
                if name.startswith(prefix):
                    for k, v in extra().items():
                        kw.setdefault(k, []).extend(v)
            kw["extra_compile_args"] += ["-O3", "-fno-strict-aliasing", "-Wno-unused-function", "-Wno-unreachable-code"] + (["-Werror"] if WERROR else [])
            macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"), ("TW_DEBUG", "1" if DEBUG else "0")]
            exts.append(Extension(name, [str(rel)], include_dirs=[numpy.get_include(), str(ROOT)],
                                  define_macros=macros, **kw))
    return exts


CythonOptions.warning_errors = WERROR

setup(
    ext_modules=cythonize(
        extensions(),
        build_dir="build/cython-debug" if DEBUG else "build/cython",
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": False,
            "initializedcheck": DEBUG,
            "cdivision": True,
            "embedsignature": True,
        },
        nthreads=int(os.environ.get("TW_JOBS", "2")),
        quiet=True,
    ),
)
