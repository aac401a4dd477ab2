"""Training step: jkb the Keras-2 way vs a hand-written JAX + optax step (see _models.py).

Figures per model (mlp, cnn), batch 128:

* ``step``: time per training step, jkb / JAX, interleaved in one process. Target <= 1.10.
* ``first_call``: time of the first call (trace + compile + one step), jkb / JAX, with
  ``jax.clear_caches()`` before each measurement so that neither side profits from the
  caches the other filled; sides alternate, median over the repeats. Target <= 1.5.
  ``jkb_build_ms`` (building the symbolic graph: shape inference of every op) is reported
  beside it; it is not part of the ratio.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _common import Result, main_of, paired, pick

BATCH = 128


def _batches(model, nb, batch=BATCH):
    from _models import make_data

    x, y = make_data(model, nb * batch)
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(nb)]


def build_pair(model, nb=8):
    """Two zero-argument step callables (jkb, jax) cycling over the same batches."""
    from _models import init_params, jax_train_step, jkb_train_function

    init = init_params(model)
    data = _batches(model, nb)
    f, _, _ = jkb_train_function(model, init)
    ref, _ = jax_train_step(model, init)
    ia, ib = [0], [0]

    def a():
        xb, yb = data[ia[0] % nb]
        ia[0] += 1
        return f([xb, yb, 1])[0]

    def b():
        xb, yb = data[ib[0] % nb]
        ib[0] += 1
        return ref(xb, yb)

    return a, b, f


def first_call_ratio(model, repeats):
    """Median over ``repeats`` of jkb-first-call / JAX-first-call, caches cleared before each.

    The jkb graph is built once (its build time is reported separately); each repeat makes
    a new ``K.function`` from it and a new ``jax.jit`` step, after ``jax.clear_caches()``,
    alternating which side goes first.
    """
    import jax
    from _models import init_params, jax_train_step, jkb_train_function

    import jkb as K

    K.clear_session()
    init = init_params(model)
    xb, yb = _batches(model, 1)[0]
    t0 = time.perf_counter()
    f0, _, _ = jkb_train_function(model, init)
    build = time.perf_counter() - t0

    def jkb_first():
        f = K.function(f0.inputs, f0.outputs, updates=[u for _, u in f0.updates])
        t = time.perf_counter()
        f([xb, yb, 1])
        return time.perf_counter() - t

    def jax_first():
        t = time.perf_counter()
        call, _ = jax_train_step(model, init)
        call(xb, yb)
        return time.perf_counter() - t

    ja, jb = [], []
    for r in range(repeats):
        for side in ((jkb_first, jax_first) if r % 2 == 0 else (jax_first, jkb_first)):
            jax.clear_caches()
            (ja if side is jkb_first else jb).append(side())
    ratio = statistics.median(a / b for a, b in zip(ja, jb))
    return ratio, statistics.median(ja), statistics.median(jb), build


def run(mode):
    import jkb as K

    res = []
    for model in ("mlp", "cnn"):
        K.clear_session()
        try:
            a, b, f = build_pair(model)
        except AttributeError as e:  # an op not written yet
            res.append(Result(f"train_step.{model}.step", skipped=f"{type(e).__name__}: {e}"))
            continue
        la, lb = a(), b()
        if model == "cnn":  # no dropout: the first losses are the same computation
            np.testing.assert_allclose(la, lb, rtol=1e-4)
        inner = pick(mode, 2, 5, 10) if model == "mlp" else 1
        rounds = pick(mode, 5, 11, 21) if model == "mlp" else pick(mode, 3, 7, 15)
        r = paired(a, b, inner=inner, rounds=rounds, warmup=2, min_sample_s=0.02)
        res.append(Result(f"train_step.{model}.step", ratio=r.ratio, target=1.10, jkb=r.a_ms,
                          ref=r.b_ms, extra={"p10_ratio": round(r.p10_ratio, 3),
                                             "traces": f.trace_count}))
        reps = pick(mode, 1, 3, 5)
        ratio, ams, bms, build = first_call_ratio(model, reps)
        res.append(Result(f"train_step.{model}.first_call", ratio=ratio, target=1.5, jkb=ams * 1e3,
                          ref=bms * 1e3, extra={"jkb_build_ms": build * 1e3},
                          note=f"caches cleared before each, median of {reps}"))
    return res


if __name__ == "__main__":
    main_of(run)
