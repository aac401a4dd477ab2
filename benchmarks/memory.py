"""Device memory held between training steps of a K.function with Adam ``K.update`` ops.

Model: 4 dense layers of width 4096 (4 x 4096 x 4096 float32 + biases, about 256 MiB of
parameters), MSE loss, Keras 2.3.1's Adam written with K ops (two slots per parameter), a
few steps. After each step the bytes of all live device arrays
(``sum(x.nbytes for x in jax.live_arrays())``) must stay within 1.1x of
``params + optimizer slots + one batch``: donation must recycle the updated buffers and
nothing may hold on to old values, gradients or fed batches.
"""

from __future__ import annotations

import gc

import numpy as np
from _common import Result, main_of, pick


def live_bytes():
    import jax

    gc.collect()
    return sum(x.nbytes for x in jax.live_arrays())


def run(mode):
    import jax
    from _models import keras2_adam_updates

    import jkb as K

    width = pick(mode, 1024, 4096)
    layers, batch, steps = 4, 16, pick(mode, 3, 4, 6)
    K.clear_session()
    base = live_bytes()
    rng = np.random.default_rng(0)
    x = K.placeholder((None, width))
    y = K.placeholder((None, width))
    params = []
    h = x
    for i in range(layers):
        w = K.variable((rng.standard_normal((width, width), dtype=np.float32)
                        / np.sqrt(width)).astype(np.float32), name=f"w{i}")
        b = K.variable(np.zeros(width, np.float32), name=f"b{i}")
        params += [w, b]
        h = K.bias_add(K.dot(h, w), b)
        if i < layers - 1:
            h = K.relu(h)
    loss = K.mean(K.square(h - y))
    updates, _ = keras2_adam_updates(loss, params)
    f = K.function([x, y], [loss], updates=updates)
    param_bytes = sum(int(np.prod(K.int_shape(p))) * 4 for p in params)
    xb = rng.standard_normal((batch, width), dtype=np.float32)
    yb = rng.standard_normal((batch, width), dtype=np.float32)
    budget = 3 * param_bytes + xb.nbytes + yb.nbytes  # params + m + v + one batch
    seen = []
    losses = []
    donated = True
    for _ in range(steps):
        before = K.get_session()._state.values[params[0].uid]
        losses.append(float(f([xb, yb])[0]))
        donated = donated and before.is_deleted()  # the old buffer was given to XLA
        del before
        seen.append(live_bytes() - base)
    assert losses[-1] < losses[0], losses  # it does train
    worst = max(seen)
    mib = 2 ** 20
    note = f"{width}-wide, batch {batch}, {steps} steps"
    if mode == "quick":
        note += " (quick: small model)"
    out = [Result("memory.live_after_step", ratio=worst / budget, target=1.1, note=note,
                  extra={"live_mib": round(worst / mib, 1), "budget_mib": round(budget / mib, 1),
                         "params_mib": round(param_bytes / mib, 1),
                         "per_step_mib": "/".join(f"{s / mib:.0f}" for s in seen),
                         "donated": "yes" if donated else "no"})]
    del f
    jax.clear_caches()
    return out


if __name__ == "__main__":
    main_of(run)
