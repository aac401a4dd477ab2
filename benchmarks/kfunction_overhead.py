"""Per-call time of ``K.function`` vs the same program as a raw ``jax.jit`` with donated state.

* light: ``softmax(dot(x, W) + b)`` with x 32x64 and one update ``W <- W - 0.01 * (W - 1)``:
  the lightest dispatch-bound program, where jkb's fixed per-call cost weighs most.
  Target ratio <= 1.15.
* small: the same with the update ``W <- W - 0.01 * dot(x.T, out)`` (one more matmul).
  Target ratio <= 1.15.
* large: two 1024x1024 dense layers (ReLU between), batch 256, MSE-to-zero loss, SGD update
  of all four parameters through ``K.gradients``: compute-bound. Target ratio <= 1.03.

Both sides take a NumPy batch, keep their parameters on the device (donating the updated
ones) and hand the outputs back as NumPy arrays, which is what ``K.function`` returns.

``<row>.ref_vs_bare`` (info) checks the reference itself: its closure (as timed above)
against the same raw loop written inline, without a function call per step; it should be
about 1.0. Off the CPU, ``small.vs_early_copy`` (info) compares with a raw loop that also
starts the host copy right after dispatch, as ``K.function`` does there.
"""

from __future__ import annotations

import time

import numpy as np
from _common import Result, main_of, paired, pick, timed


def build_small(batch=32, din=64, dout=10, seed=0, early_copy=False, light=False):
    import jax
    import jax.numpy as jnp

    import jkb as K

    rng = np.random.default_rng(seed)
    xv = rng.standard_normal((batch, din)).astype(np.float32)
    w0 = (rng.standard_normal((din, dout)) * 0.1).astype(np.float32)
    b0 = (rng.standard_normal(dout) * 0.1).astype(np.float32)

    x = K.placeholder((None, din))
    W, b = K.variable(w0), K.variable(b0)
    out = K.softmax(K.dot(x, W) + b)
    new_w = W - 0.01 * (W - 1.0) if light else W - 0.01 * K.dot(K.transpose(x), out)
    f = K.function([x], [out], updates=[K.update(W, new_w)])

    def step(w, b, x):
        o = jax.nn.softmax(x @ w + b)
        return o, (w - 0.01 * (w - 1.0) if light else w - 0.01 * (x.T @ o))

    jitted = jax.jit(step, donate_argnums=(0,))
    st = [jnp.array(w0), jnp.array(b0)]

    def ref(xb):
        o, st[0] = jitted(st[0], st[1], xb)
        if early_copy:  # what K.function does off the CPU: start the host copy at once
            o.copy_to_host_async()
        return [np.asarray(o)]

    def bare(n):
        """n steps of the reference written inline: no closure call per step."""
        w, c = st
        t = time.perf_counter()
        for _ in range(n):
            o, w = jitted(w, c, xv)
            np.asarray(o)
        st[0] = w
        return (time.perf_counter() - t) / n

    feed = [xv]
    return (lambda: f(feed)), (lambda: ref(xv)), f, bare


def build_large(batch=256, width=1024, seed=0):
    import jax
    import jax.numpy as jnp

    import jkb as K

    rng = np.random.default_rng(seed)
    xv = rng.standard_normal((batch, width)).astype(np.float32)
    init = [(rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32),
            np.zeros(width, np.float32),
            (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32),
            np.zeros(width, np.float32)]
    lr = 0.01

    x = K.placeholder((None, width))
    params = [K.variable(v) for v in init]
    W1, b1, W2, b2 = params
    h = K.relu(K.dot(x, W1) + b1)
    y = K.dot(h, W2) + b2
    loss = K.mean(K.square(y))
    grads = K.gradients(loss, params)
    f = K.function([x], [loss], updates=[K.update(p, p - lr * g) for p, g in zip(params, grads)])

    def loss_fn(ps, x):
        w1, c1, w2, c2 = ps
        return jnp.mean(jnp.square(jax.nn.relu(x @ w1 + c1) @ w2 + c2))

    def step(ps, x):
        lv, g = jax.value_and_grad(loss_fn)(ps, x)
        return lv, [p - lr * gi for p, gi in zip(ps, g)]

    jitted = jax.jit(step, donate_argnums=(0,))
    st = [[jnp.array(v) for v in init]]

    def ref(xb):
        lv, st[0] = jitted(st[0], xb)
        return [np.asarray(lv)]

    feed = [xv]
    return (lambda: f(feed)), (lambda: ref(xv)), f, None


def _ref_vs_bare(name, fb, bare, rounds, inner=20):
    """Median over rounds of (closure reference per step / inline loop per step)."""
    import gc
    import statistics

    for _ in range(20):
        fb()
    ratios = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _r in range(rounds):
            t = time.perf_counter()
            for _ in range(inner):
                fb()
            a = (time.perf_counter() - t) / inner
            b = bare(inner)
            ratios.append(a / b)
    finally:
        if gc_was:
            gc.enable()
    return Result(f"kfunction_overhead.{name}.ref_vs_bare", kind="info",
                  ratio=statistics.median(ratios),
                  note="the reference closure / the same loop inline; should be about 1")


def _one(name, build, target, inner, rounds, min_sample_s=0.0, **kw):
    import jkb as K

    K.clear_session()
    fa, fb, f, bare = build(**kw)
    (out_a, t_a) = timed(fa)
    (out_b, t_b) = timed(fb)
    np.testing.assert_allclose(out_a[0], out_b[0], rtol=2e-4, atol=1e-5)
    r = paired(fa, fb, inner=inner, rounds=rounds, min_sample_s=min_sample_s)
    if target is None:  # an informational comparison: no target, no first-call row
        return [Result(f"kfunction_overhead.{name}", kind="info", ratio=r.ratio, jkb=r.a_ms,
                       ref=r.b_ms, note="raw jit also starts the host copy early")]
    out = [
        Result(f"kfunction_overhead.{name}", ratio=r.ratio, target=target, jkb=r.a_ms,
               ref=r.b_ms, extra={"p10_ratio": round(r.p10_ratio, 3), "traces": f.trace_count}),
        Result(f"kfunction_overhead.{name}.first_call", kind="info", ratio=t_a / t_b,
               jkb=t_a * 1e3, ref=t_b * 1e3, note="compile+run, informational"),
    ]
    if bare is not None:
        out.append(_ref_vs_bare(name, fb, bare, rounds=max(rounds // 3, 11)))
    return out


def run(mode):
    import jkb as K

    res = _one("light", build_small, 1.15, inner=20, rounds=pick(mode, 101, 301, 1001),
               light=True)
    res += _one("small", build_small, 1.15, inner=20, rounds=pick(mode, 101, 301, 1001))
    if K.platform.platform() != "cpu":
        # Against a raw loop that also starts its output's host copy early, as K.function
        # does off the CPU: what is left is jkb's own per-call Python.
        res += _one("small.vs_early_copy", build_small, None, inner=20,
                    rounds=pick(mode, 101, 301, 1001), early_copy=True)
    if mode == "quick":
        res += _one("large", build_large, 1.03, inner=1, rounds=5, batch=128, width=512)
        for r in res[-2:]:
            r.note = (r.note + "; " if r.note else "") + "quick: 512 wide, batch 128"
    else:
        res += _one("large", build_large, 1.03, inner=2, rounds=pick(mode, 5, 21, 41),
                    min_sample_s=0.02)
    return res


if __name__ == "__main__":
    main_of(run)
