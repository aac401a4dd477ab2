"""Shared pieces of the jkb benchmarks: modes, paired timing, result lines.

Every figure is a *ratio* of two things run side by side in one process. Timings are
interleaved (A, B, A, B, ...) and the reported ratio is the median of the per-round ratios,
so slow drifts of the machine (other processes, thermal, turbo) hit both sides alike.
Absolute milliseconds are printed for context only; nothing asserts on them.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import NamedTuple

# Make `import jkb` work when a script is run from a checkout without installing.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

MODES = ("quick", "default", "full")


def parse_mode(argv=None) -> str:
    p = argparse.ArgumentParser()
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    g.add_argument("--full", action="store_true", help="more repeats and steps")
    args, _ = p.parse_known_args(argv)
    return "quick" if args.quick else "full" if args.full else "default"


def pick(mode: str, quick, default, full=None):
    """The setting for ``mode`` (``full`` defaults to ``default``)."""
    if mode == "quick":
        return quick
    if mode == "full":
        return default if full is None else full
    return default


@dataclass
class Result:
    """One figure. ``kind='time'``: ratio = jkb / ref (lower is better);
    ``kind='rate'``: ratio = jkb / ref throughput (higher is better);
    ``kind='count'``: ``value`` compared with ``expected`` exactly."""

    name: str
    kind: str = "time"
    ratio: float | None = None
    target: float | None = None
    jkb: float | None = None     # ms (time) or samples/s (rate)
    ref: float | None = None
    value: int | None = None
    expected: int | None = None
    note: str = ""
    skipped: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "SKIP"
        if self.kind == "count":
            return "PASS" if self.value == self.expected else "FAIL"
        if self.kind == "info" or self.target is None or self.ratio is None:
            return "INFO"
        ok = self.ratio >= self.target if self.kind == "rate" else self.ratio <= self.target
        return "PASS" if ok else "MISS"

    def line(self) -> str:
        kv = {"name": self.name, "status": self.status}
        if self.skipped is not None:
            kv["reason"] = self.skipped
        elif self.kind == "count":
            kv.update(value=self.value, expected=self.expected)
        else:
            if self.ratio is not None:
                kv["ratio"] = f"{self.ratio:.3f}"
            if self.target is not None:
                kv["target"] = ("<=" if self.kind != "rate" else ">=") + f"{self.target:g}"
            unit = "ms" if self.kind in ("time", "info") else "sps"
            if self.jkb is not None:
                kv[f"jkb_{unit}"] = f"{self.jkb:.4g}"
            if self.ref is not None:
                kv[f"ref_{unit}"] = f"{self.ref:.4g}"
        for k, v in self.extra.items():
            kv[k] = v if isinstance(v, str) else f"{v:.4g}" if isinstance(v, float) else v
        if self.note:
            kv["note"] = self.note
        return "BENCH " + " ".join(f"{k}={shlex.quote(str(v))}" for k, v in kv.items())


def emit(results) -> None:
    for r in results:
        print(r.line(), flush=True)


def block(x):
    """Waits for every array in ``x`` (a pytree)."""
    import jax
    jax.block_until_ready(x)
    return x


class Paired(NamedTuple):
    ratio: float      # median over rounds of (a time / b time)
    a_ms: float       # median per-call time of a
    b_ms: float
    p10_ratio: float  # 10th percentile of a's rounds / that of b's: robust on a busy machine


def paired(fa, fb, *, inner: int, rounds: int, warmup: int = 2,
           min_sample_s: float = 0.0) -> Paired:
    """Interleaved timing of two zero-argument callables.

    Each round runs ``fa`` ``inner`` times then ``fb`` ``inner`` times (the order alternates
    between rounds). With ``min_sample_s``, ``inner`` is raised until one sample (``inner``
    calls of the slower side) takes at least that long: the same script then times a 90 ms
    CPU step and a 1 ms GPU step with the same relative precision.
    """
    for _ in range(warmup):
        fa()
        fb()
    if min_sample_s:
        t = max(timed(fa)[1], timed(fb)[1])
        inner = max(inner, math.ceil(min_sample_s / max(t, 1e-9)))
    ta, tb = [], []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = (fa, fb) if r % 2 == 0 else (fb, fa)
            times = {}
            for f in order:
                t0 = time.perf_counter()
                for _ in range(inner):
                    f()
                times[f] = (time.perf_counter() - t0) / inner
            ta.append(times[fa])
            tb.append(times[fb])
    finally:
        if gc_was:
            gc.enable()
    ratio = statistics.median(a / b for a, b in zip(ta, tb))
    return Paired(ratio, statistics.median(ta) * 1e3, statistics.median(tb) * 1e3,
                  _p10(ta) / _p10(tb))


def _p10(xs):
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 10]


def timed(f):
    """(result, seconds) of one call of ``f``."""
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def main_of(run):
    """The ``__main__`` of a benchmark script: run it in the chosen mode and print lines."""
    mode = parse_mode()
    print(f"# mode={mode}", flush=True)
    emit(run(mode))
