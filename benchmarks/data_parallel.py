"""Data parallelism: what one step of the MLP training function communicates, and its time.

Runs on every device JAX sees; on a machine with only a CPU, 8 simulated CPU devices.

* ``allreduce_per_param_byte``: bytes of every cross-device reduction (all-reduce,
  reduce-scatter) in the compiled, partitioned step, divided by the bytes of the trainable
  parameters. Data parallelism should reduce each gradient once and nothing else of size:
  target 1.0 (the loss and batch statistics add a few scalars). All-gathers are reported
  beside it (the step's outputs come back whole).
* ``step_vs_1_device`` (info): the same step on the mesh / on one device, interleaved in one
  process. Simulated CPU devices share the same cores, so on a CPU this shows the cost of
  partitioning, not a speed-up.
"""

from __future__ import annotations

import os
import re

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8")

import numpy as np  # noqa: E402
from _common import Result, main_of, paired, pick  # noqa: E402

_BYTES = {"f64": 8, "f32": 4, "bf16": 2, "f16": 2, "s64": 8, "s32": 4, "u32": 4, "pred": 1,
          "s8": 1, "u8": 1, "u64": 8}
_SHAPE = re.compile(r"\b(f64|f32|bf16|f16|s64|s32|u32|u64|s8|u8|pred)\[([\d,]*)\]")


def collective_bytes(hlo: str, op: str) -> int:
    """Bytes of the results of every ``op`` instruction in an HLO module's text."""
    total = 0
    for line in hlo.splitlines():
        m = re.search(rf"=\s*(.*?)\s{re.escape(op)}(-start)?\(", line)
        if not m:
            continue
        for dt, dims in _SHAPE.findall(m.group(1)):
            n = int(np.prod([int(d) for d in dims.split(",") if d])) if dims else 1
            total += n * _BYTES[dt]
    return total


def run(mode):
    import jax
    from _models import init_params, jkb_train_function, make_data

    import jkb as K
    import jkb.distribute as D

    batch = 256
    x, y = make_data("mlp", batch)
    init = init_params("mlp")
    res = []
    K.clear_session()
    f1, _, _ = jkb_train_function("mlp", init)
    dist = D.DataParallel()
    with dist.scope():
        f8, params, _ = jkb_train_function("mlp", init)
    n = len(jax.devices())
    hlo = f8.lower([x, y, 1]).compile().as_text()
    param_bytes = sum(int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize for p in params)
    reduced = collective_bytes(hlo, "all-reduce") + collective_bytes(hlo, "reduce-scatter")
    res.append(Result("data_parallel.allreduce_per_param_byte", kind="time",
                      ratio=reduced / param_bytes, target=1.01,
                      extra={"devices": n, "param_bytes": param_bytes,
                             "reduced_bytes": reduced,
                             "all_gather_bytes": collective_bytes(hlo, "all-gather")},
                      note=f"MLP 784-512-512-10 + Adam, batch {batch}, {n} devices"))
    inner, rounds = pick(mode, 3, 5, 10), pick(mode, 5, 9, 15)
    p = paired(lambda: f8([x, y, 1]), lambda: f1([x, y, 1]), inner=inner, rounds=rounds,
               min_sample_s=0.02)
    res.append(Result("data_parallel.step_vs_1_device", kind="info", ratio=p.ratio,
                      jkb=p.a_ms, ref=p.b_ms, extra={"p10_ratio": p.p10_ratio},
                      note=f"{n} {jax.devices()[0].platform} devices vs 1"))
    return res


if __name__ == "__main__":
    main_of(run)
