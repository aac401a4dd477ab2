"""Keras 2.3.1 ``model.fit`` on jkb vs the hand-written JAX + optax loop of _models.py.

Same two models (mlp with dropout, cnn), same initial weights, same data, batch 128,
Adam(lr=1e-3), categorical crossentropy. One warm-up epoch on each side compiles; then
rounds of one epoch each, interleaved. Each JAX epoch shuffles and slices the NumPy arrays
per batch and fetches the loss of every batch, as ``fit`` does. Figure: samples/s of
Keras-on-jkb / samples/s of JAX (higher is better), target >= 0.80. Beside it, per batch:
the time inside jkb's train function (its dispatch, the device work and the wait), the
time in the rest of ``fit`` (Keras' own Python: batch slicing, callbacks), and the JAX
step. On a fast device the second one sets the ratio, not jkb.

Runs only when Keras 2.3.1 can load jkb (``KERAS_BACKEND=jkb``); otherwise, or when a
layer fails, the figure is reported as skipped with the reason.
"""

from __future__ import annotations

import os
import traceback

import numpy as np
from _common import Result, main_of, paired, pick

BATCH = 128


def keras_model(model, init):
    from _models import BETA_1, BETA_2, DROPOUT, EPS, LR
    from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from keras.models import Sequential
    from keras.optimizers import Adam

    if model == "mlp":
        layers = [Dense(512, activation="relu", input_shape=(784,)), Dropout(DROPOUT),
                  Dense(512, activation="relu"), Dropout(DROPOUT),
                  Dense(10, activation="softmax")]
    else:
        layers = [Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                  MaxPooling2D((2, 2)), Conv2D(64, (3, 3), activation="relu"),
                  MaxPooling2D((2, 2)), Flatten(), Dense(10, activation="softmax")]
    m = Sequential(layers)
    m.set_weights(init)
    m.compile(Adam(lr=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPS),
              "categorical_crossentropy")
    return m


def jax_epoch_fn(model, init, x, y, seed=0):
    from _models import jax_train_step

    call, _ = jax_train_step(model, init)
    rng = np.random.default_rng(seed)
    n = len(x)

    def epoch():
        perm = rng.permutation(n)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            call(x[idx], y[idx])

    return epoch


def fit_split(m, x, y):
    """One more epoch, timed: (ms per batch inside the jkb train function, ms per batch
    in the rest of ``fit``, which is Keras 2.3.1's own Python)."""
    import time

    f = m.train_function
    inside = [0.0]

    def timed_f(ins):
        t = time.perf_counter()
        out = f(ins)
        inside[0] += time.perf_counter() - t
        return out

    m.train_function = timed_f  # Keras calls whatever train_function holds
    try:
        t = time.perf_counter()
        m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        total = time.perf_counter() - t
    finally:
        m.train_function = f
    nb = -(-len(x) // BATCH)
    return inside[0] / nb * 1e3, (total - inside[0]) / nb * 1e3


def run(mode):
    os.environ.setdefault("KERAS_BACKEND", "jkb")
    res = []
    try:
        import keras  # noqa: F401
        from keras import backend as KB
        if KB.backend() != "jkb":
            raise RuntimeError(f"Keras loaded backend {KB.backend()!r}, not jkb")
    except Exception as e:  # Keras missing or not loadable on jkb yet
        reason = f"keras not usable: {type(e).__name__}: {e}".splitlines()[0][:200]
        return [Result(f"keras_fit.{m}", kind="rate", skipped=reason) for m in ("mlp", "cnn")]

    from _models import init_params, make_data

    import jkb as K

    for model in ("mlp", "cnn"):
        K.clear_session()
        # Epochs of some length, so that what fit() does once per call (callbacks, input
        # checks) is spread over batches as in real training (an MNIST epoch is 469).
        nb = pick(mode, 8, 32, 64) if model == "mlp" else pick(mode, 2, 8, 16)
        x, y = make_data(model, nb * BATCH)
        init = init_params(model)
        try:
            m = keras_model(model, init)

            def fa(m=m, x=x, y=y):
                m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)

            fb = jax_epoch_fn(model, init, x, y)
            fa()  # compile
            fb()
            rounds = pick(mode, 3, 7, 11) if model == "mlp" else pick(mode, 3, 5, 9)
            r = paired(fa, fb, inner=1, rounds=rounds, warmup=0)
            in_f, keras_py = fit_split(m, x, y)
        except Exception as e:
            tb = traceback.extract_tb(e.__traceback__)[-1]
            reason = (f"{type(e).__name__}: {e} (at {os.path.basename(tb.filename)}:"
                      f"{tb.lineno})").splitlines()[0][:240]
            res.append(Result(f"keras_fit.{model}", kind="rate", skipped=reason))
            continue
        n = nb * BATCH
        res.append(Result(f"keras_fit.{model}", kind="rate", ratio=1.0 / r.ratio, target=0.80,
                          jkb=n / (r.a_ms / 1e3), ref=n / (r.b_ms / 1e3),
                          extra={"p10_ratio": round(1.0 / r.p10_ratio, 3),
                                 "ms_per_batch": f"jkb_function={in_f:.3f},"
                                                 f"keras_python={keras_py:.3f},"
                                                 f"ref_step={r.b_ms / nb:.3f}"},
                          note=f"{nb} batches of {BATCH} per epoch, fit(verbose=0)"))
    return res


if __name__ == "__main__":
    main_of(run)
