"""Eager ops: ``K.softmax`` / ``K.dot`` / ``K.conv2d`` on ``jax.Array`` inputs vs the direct
``jax.nn.softmax`` / ``jnp.dot`` / ``lax.conv_general_dilated`` calls. Target ratio <= 1.10.

Two sizes each: ``small`` (dispatch-bound: what jkb adds per call is most visible) and
``medium`` (some real work per call). Each call waits for its result.
"""

from __future__ import annotations

import numpy as np
from _common import Result, block, main_of, paired, pick

CASES = {
    # name: (softmax x, dot x, dot y, conv x, conv kernel)
    "small": ((32, 10), (32, 64), (64, 10), (8, 16, 16, 8), (3, 3, 8, 8)),
    "medium": ((256, 1000), (256, 512), (512, 512), (32, 28, 28, 16), (3, 3, 16, 32)),
}


def pairs(size, seed=0):
    """(name, jkb callable, reference callable) for each op at ``size``."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    import jkb as K

    sm, dx, dy, cx, ck = CASES[size]
    rng = np.random.default_rng(seed)

    def arr(shape):
        return jnp.asarray(rng.standard_normal(shape).astype(np.float32))

    s, a, b, x, k = arr(sm), arr(dx), arr(dy), arr(cx), arr(ck)
    dn = ("NHWC", "HWIO", "NHWC")
    return [
        ("softmax", lambda: block(K.softmax(s)), lambda: block(jax.nn.softmax(s, axis=-1))),
        ("dot", lambda: block(K.dot(a, b)), lambda: block(jnp.dot(a, b))),
        ("conv2d", lambda: block(K.conv2d(x, k, padding="valid", data_format="channels_last")),
         lambda: block(lax.conv_general_dilated(x, k, (1, 1), "VALID",
                                                dimension_numbers=dn))),
    ]


def run(mode):
    res = []
    for size in CASES:
        try:
            ops = pairs(size)
        except AttributeError as e:
            res.append(Result(f"eager_ops.{size}", skipped=f"{type(e).__name__}: {e}"))
            continue
        for name, fa, fb in ops:
            np.testing.assert_allclose(np.asarray(fa()), np.asarray(fb()), rtol=1e-4, atol=1e-5)
            # short rounds, many of them: a round rarely spans another process's time slice
            inner = 10 if size == "small" else 2
            r = paired(fa, fb, inner=inner, rounds=pick(mode, 41, 151, 401), warmup=3)
            res.append(Result(f"eager_ops.{name}.{size}", ratio=r.ratio, target=1.10, jkb=r.a_ms,
                              ref=r.b_ms, extra={"p10_ratio": round(r.p10_ratio, 3)}))
    return res


if __name__ == "__main__":
    main_of(run)
