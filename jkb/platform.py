"""Per-platform choices: XLA CPU flags set at import, and which formulation an op uses.

Nothing here starts a JAX backend at import.

**XLA CPU convolution kernels.** jaxlib 0.10 sends convolutions to YNNPACK by default. On
the CPU, for the convolutions of Keras-sized CNNs, XLA's own (Eigen) convolution was faster
for the forward pass (1.4-5x, except with one input channel) and for the kernel gradient
(2-4x), and ran a small CNN's training step 1.5-1.7x faster (both compared in one process,
interleaved, with per-program compiler options). So, when jkb is imported and

* the environment variable ``JKB_XLA_CPU_FLAGS`` is not ``0`` (the opt-out),
* ``XLA_FLAGS`` does not already name ``xla_cpu_experimental_ynn_fusion_type`` (a value the
  user set is never overridden),
* the CPU may run the programs (``JAX_PLATFORMS`` unset or naming ``cpu``),
* the installed jaxlib knows the flag and its ``individual_convolution`` value (an unknown
  XLA flag aborts the process, so this is checked first), and
* no JAX backend has started yet (XLA reads ``XLA_FLAGS`` once, when its first backend
  starts),

jkb appends ``--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`` to
``XLA_FLAGS``. It only changes which library runs convolutions on the CPU; matmuls and
reductions keep YNNPACK, and GPU/TPU compilations ignore it. It applies to every JAX
program of the process, not only jkb's. ``xla_flags_status()`` says what was done and why.

**Memory allocator (Linux, glibc).** XLA's CPU runtime allocates each program run's
buffers with ``malloc``. glibc serves large blocks with fresh ``mmap``s and gives freed
memory back to the OS, so every training step page-faults its buffers in again: about
9,500 page faults (37 MB zeroed) and 12 ms of system time per step of the small CNN of the
benchmarks run as a ``K.function``, 1,500 faults and 2 ms per step inside Keras' ``fit``.
At import, unless ``JKB_CPU_MALLOC=0``, the user set any ``MALLOC_*`` variable (or
``GLIBC_TUNABLES`` for malloc) or preloads another allocator, jkb calls ``mallopt`` so that
blocks up to 1 GiB come from the heap and freed memory stays there for reuse
(``M_MMAP_THRESHOLD=1 GiB``, ``M_TRIM_THRESHOLD=2 GiB - 1``): the steps then take
20-750 page faults and no measurable system time. The cost: memory freed by the process
is not returned to the OS (its resident size stays near its peak). (Also forcing a single
arena, ``M_ARENA_MAX=1``, removed the last faults but risks lock contention between
threads; it was not kept.) ``malloc_status()`` says what was done.

**Threads.** XLA's CPU runtime sizes its thread pool from the process's CPU affinity mask
(``os.sched_getaffinity``), so it uses every core the process may run on; it does not read
cgroup CPU quotas (``docker --cpus``). To use fewer cores, restrict the affinity before
the process starts (``taskset -c 0-3 python train.py``, ``docker --cpuset-cpus``), or call
``os.sched_setaffinity(0, cores)`` before JAX's first computation. ``cpu_info()``
reports the counts.

**Formulations.** ``platform()`` is the platform the ops are traced for (JAX's default
backend, read when a graph is built or traced, not at import). Ops choose a formulation
per platform where one was measured to win there; e.g. non-overlapping pooling uses
strided slices on the CPU and ``lax.reduce_window`` elsewhere. ``in_loop_body()`` is true
while the body of a loop (``K.rnn``, ``map_fn``, ``foldl``/``foldr``) is recorded or
traced: inside XLA CPU's while loops, convolution gradients lose the fast (Eigen) kernels,
so convolutions there use another formulation (see ``jkb.conv._conv_plan``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

__all__ = ["platform", "xla_flags_status", "malloc_status", "cpu_info"]

OPT_OUT_ENV = "JKB_XLA_CPU_FLAGS"
YNN_FLAG = "xla_cpu_experimental_ynn_fusion_type"
CPU_FLAGS = (f"--{YNN_FLAG}=-individual_convolution",)
# jaxlib versions on which the flag and value were checked; others are checked by looking
# for both names in jaxlib's shared library (about 0.1 s, once per import).
_VERIFIED = ((0, 10),)

_status = "not configured (jkb.platform.configure_xla_flags was not called)"
_malloc_status = "not configured (jkb.platform.configure_malloc was not called)"

MALLOC_OPT_OUT_ENV = "JKB_CPU_MALLOC"
# glibc's mallopt parameters (malloc.h) and the values jkb sets
_MALLOPT = (("M_MMAP_THRESHOLD", -3, 1 << 30),
            ("M_TRIM_THRESHOLD", -1, (1 << 31) - 1))


def _jaxlib_version() -> tuple:
    try:
        from jaxlib.version import __version__ as v
    except Exception:  # pragma: no cover - jaxlib always has it
        return ()
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _jaxlib_knows_flag() -> bool:
    """Whether the installed jaxlib accepts ``CPU_FLAGS`` (an unknown flag would abort)."""
    if _jaxlib_version()[:2] in _VERIFIED:
        return True
    try:
        import mmap

        import jaxlib
        lib = os.path.join(os.path.dirname(jaxlib.__file__), "libjax_common.so")
        with open(lib, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return (m.find(YNN_FLAG.encode()) >= 0
                    and m.find(b"LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION") >= 0)
    except Exception:
        return False


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge
    except Exception:  # pragma: no cover
        return False
    return bool(getattr(xla_bridge, "_backends", None))


def _cpu_may_run() -> bool:
    plats = os.environ.get("JAX_PLATFORMS") or os.environ.get("JAX_PLATFORM_NAME") or ""
    plats = [p.strip().lower() for p in plats.split(",") if p.strip()]
    return not plats or "cpu" in plats


def configure_xla_flags() -> str:
    """Appends ``CPU_FLAGS`` to ``XLA_FLAGS`` when the rules of the module docstring allow;
    returns (and records for ``xla_flags_status()``) what was done."""
    global _status
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get(OPT_OUT_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        _status = f"off: {OPT_OUT_ENV}={os.environ[OPT_OUT_ENV]}"
    elif YNN_FLAG in flags:
        _status = f"off: XLA_FLAGS already sets {YNN_FLAG} (kept as the user set it)"
    elif not _cpu_may_run():
        _status = "off: JAX_PLATFORMS does not include cpu"
    elif _backend_started():
        _status = "off: a JAX backend started before jkb was imported (XLA_FLAGS already read)"
    elif not _jaxlib_knows_flag():
        _status = f"off: jaxlib {'.'.join(map(str, _jaxlib_version()))} lacks {YNN_FLAG}"
    else:
        os.environ["XLA_FLAGS"] = " ".join([flags.strip(), *CPU_FLAGS]).strip()
        _status = "on: " + " ".join(CPU_FLAGS)
    return _status


def configure_malloc() -> str:
    """Tunes glibc's allocator as the module docstring says, when allowed; returns (and
    records for ``malloc_status()``) what was done."""
    global _malloc_status
    import sys
    user = sorted(k for k in os.environ if k.startswith("MALLOC_"))
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        user.append("GLIBC_TUNABLES")
    if "malloc" in os.environ.get("LD_PRELOAD", ""):  # jemalloc, tcmalloc, ...
        user.append("LD_PRELOAD")
    if os.environ.get(MALLOC_OPT_OUT_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        _malloc_status = f"off: {MALLOC_OPT_OUT_ENV}={os.environ[MALLOC_OPT_OUT_ENV]}"
    elif user:
        _malloc_status = f"off: the environment sets {', '.join(user)} (kept as the user set it)"
    elif not sys.platform.startswith("linux") or not _cpu_may_run():
        _malloc_status = "off: not Linux, or JAX_PLATFORMS does not include cpu"
    else:
        try:
            import ctypes
            import platform as _pyplatform
            if _pyplatform.libc_ver()[0] != "glibc":
                raise OSError("not glibc")
            mallopt = ctypes.CDLL(None).mallopt
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            done = [f"{name}={value}" for name, code, value in _MALLOPT
                    if mallopt(code, value) == 1]
            _malloc_status = "on: " + " ".join(done) if done else "off: mallopt refused"
        except (OSError, AttributeError) as e:
            _malloc_status = f"off: {e}"
    return _malloc_status


def malloc_status() -> str:
    """What jkb did to the C allocator at import, and why."""
    return _malloc_status


def xla_flags_status() -> str:
    """What jkb did to ``XLA_FLAGS`` at import, and why."""
    return _status


_loop = threading.local()


def in_loop_body() -> bool:
    """True while a loop body is being recorded or traced (see the module docstring)."""
    return getattr(_loop, "depth", 0) > 0


@contextlib.contextmanager
def loop_body():
    """Marks the code it wraps as (recording or tracing) the body of a loop."""
    _loop.depth = getattr(_loop, "depth", 0) + 1
    try:
        yield
    finally:
        _loop.depth -= 1


@functools.cache
def _default_platform() -> str:
    import jax
    return jax.default_backend()


def platform() -> str:
    """The platform jkb's ops are traced for: JAX's default backend ('cpu', 'gpu', 'tpu')."""
    return _default_platform()


def _cgroup_cpus() -> float | None:
    """The CPU quota of this process's cgroup, in CPUs, or None when unlimited/unknown."""
    try:  # cgroup v2
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def cpu_info() -> dict:
    """``os_cpus`` (``os.cpu_count()``), ``usable_cpus`` (the affinity mask: what XLA's CPU
    thread pool is sized from), ``cgroup_cpus`` (the cgroup quota in CPUs, None if none)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = os.cpu_count()
    return {"os_cpus": os.cpu_count(), "usable_cpus": usable, "cgroup_cpus": _cgroup_cpus()}
