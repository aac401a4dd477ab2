"""Runs every jkb benchmark and prints one table plus one ``BENCH ...`` line per figure.

    python benchmarks/run_all.py [--quick | --full] [--only NAME[,NAME...]]

Each benchmark runs in its own process (so device memory and caches of one never affect
another). Every timed figure is a ratio of jkb and a reference run side by side in that
process (interleaved rounds, median of the per-round ratios); absolute times are shown for
context only. ``--quick`` shrinks some sizes (the affected rows say so in their note);
``--full`` uses the specified sizes with more repeats. Exit status: 0 unless a benchmark
crashed (a missed target is reported, not an error).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = ["retrace", "kfunction_overhead", "eager_ops", "train_step", "keras_fit",
              "memory", "compile_cache", "data_parallel", "conv_pieces", "peers"]


def _parse_line(line: str) -> dict:
    kv = {}
    for tok in shlex.split(line[len("BENCH "):]):
        k, _, v = tok.partition("=")
        kv[k] = v
    return kv


def _fmt_row(kv: dict) -> list[str]:
    unit = "sps" if "jkb_sps" in kv or "ref_sps" in kv else "ms"
    shown_unit = unit if f"jkb_{unit}" in kv or f"ref_{unit}" in kv else ""
    if "value" in kv:
        figure = f"{kv['value']} (expect {kv['expected']})"
    else:
        figure = kv.get("ratio", "-")
    skip = {"name", "status", "ratio", "target", "value", "expected", "note", "reason",
            f"jkb_{unit}", f"ref_{unit}"}
    extra = " ".join(f"{k}={v}" for k, v in kv.items() if k not in skip)
    note = kv.get("reason") or kv.get("note", "")
    detail = "; ".join(s for s in (extra, note) if s)
    return [kv["name"], kv["status"], figure, kv.get("target", ""),
            kv.get(f"jkb_{unit}", ""), kv.get(f"ref_{unit}", ""), shown_unit, detail]


def _table(rows):
    head = ["figure", "status", "ratio", "target", "jkb", "ref", "unit", "details"]
    rows = [head] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    out = []
    for j, r in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths) + "  -------")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--full", action="store_true")
    p.add_argument("--only", default="", help="comma-separated benchmark names")
    args = p.parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"
    names = [n for n in args.only.split(",") if n] or BENCHMARKS
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        p.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")

    env = dict(os.environ)  # before importing jkb, which may add to XLA_FLAGS
    if os.path.dirname(HERE) not in sys.path:  # this checkout's jkb, as the scripts use
        sys.path.insert(0, os.path.dirname(HERE))
    import jax

    import jkb
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ncpu = os.cpu_count()
    info = jkb.platform.cpu_info()
    print(f"# jkb benchmarks, mode={mode}; jax {jax.__version__}; "
          f"device {jax.devices()[0].device_kind}; {ncpu} CPUs ({info['usable_cpus']} usable, "
          f"cgroup quota {info['cgroup_cpus']}); load average {load:.1f}", flush=True)
    print(f"# XLA flags: {jkb.platform.xla_flags_status()}; malloc: "
          f"{jkb.platform.malloc_status()}", flush=True)
    if mode == "quick":
        print("# --quick: fewer repeats; the large/ memory / cache figures use smaller sizes "
              "(see each row's note)", flush=True)
    if load > (ncpu or 1):
        print(f"# warning: load average {load:.1f} > {ncpu} CPUs: other processes compete; "
              "ratios of dispatch-bound figures are noisy", flush=True)
    env.setdefault("KERAS_BACKEND", "jkb")
    env["PYTHONPATH"] = os.pathsep.join(
        [HERE, os.path.dirname(HERE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    rows, failed = [], []
    t_all = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        cmd = [sys.executable, os.path.join(HERE, f"{name}.py")]
        if mode != "default":
            cmd.append(f"--{mode}")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        got = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
        for ln in got:
            print(ln, flush=True)
            rows.append(_fmt_row(_parse_line(ln)))
        if proc.returncode != 0:
            failed.append(name)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            reason = tail[-1] if tail else f"exit {proc.returncode}"
            print(f"BENCH name={name} status=ERROR reason={shlex.quote(reason[:300])}", flush=True)
            rows.append([name, "ERROR", "-", "", "", "", "", reason[:300]])
            print("\n".join("#   " + t for t in tail), flush=True)
        print(f"# {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    print()
    print(_table(rows))
    print(f"\n# total {time.perf_counter() - t_all:.0f} s; ratios are jkb/reference "
          "(time: lower is better; sps: higher is better); MISS = target not met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
