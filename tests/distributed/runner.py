"""Runs a scenario of ``worker.py`` in fresh processes with simulated CPU devices."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")


def _env():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # the worker sets the device count itself
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(scenario: str, ndev: int, tmp_path, *args, timeout: float = 240) -> dict:
    """The arrays ``worker.py SCENARIO NDEV`` measured; fails with its output if it did."""
    out = os.path.join(str(tmp_path), f"{scenario}-{ndev}-{len(os.listdir(tmp_path))}.npz")
    proc = subprocess.run([sys.executable, WORKER, scenario, str(ndev), out, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=_env())
    assert proc.returncode == 0, f"worker {scenario} failed:\n{proc.stdout}\n{proc.stderr}"
    with np.load(out) as f:
        return {k: f[k] for k in f}


def run_processes(scenario: str, nprocs: int, ndev: int, tmp_path, *args,
                  timeout: float = 240) -> list[dict]:
    """``nprocs`` workers joined by ``jax.distributed`` over a local coordinator."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs, outs = [], []
    for pid in range(nprocs):
        out = os.path.join(str(tmp_path), f"{scenario}-p{pid}.npz")
        outs.append(out)
        procs.append(subprocess.Popen(
            [sys.executable, WORKER, scenario, str(ndev), out, f"127.0.0.1:{port}",
             str(nprocs), str(pid), *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env()))
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=timeout)[0])
    finally:
        for p in procs:
            p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, f"worker {scenario} failed:\n{log}"
    results = []
    for out in outs:
        with np.load(out) as f:
            results.append({k: f[k] for k in f})
    return results
