"""Functional API on Keras 2.3.1 + jkb: two inputs, a shared layer, merge layers, two
outputs with loss weights."""

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import layers  # noqa: E402
from keras.models import Model  # noqa: E402

N, D = 512, 6


def _data(seed=0):
    rng = np.random.RandomState(seed)
    a = rng.randn(N, D).astype("float32")
    b = rng.randn(N, D).astype("float32")
    diff = (a.sum(1) - b.sum(1))[:, None].astype("float32")  # regression target
    same = ((a[:, 0] > 0) == (b[:, 0] > 0)).astype("float32")[:, None]  # needs both inputs
    return a, b, diff, same


def _model():
    in_a = layers.Input((D,), name="a")
    in_b = layers.Input((D,), name="b")
    shared = layers.Dense(16, activation="tanh", name="shared")
    ha, hb = shared(in_a), shared(in_b)
    merged = layers.concatenate([
        layers.add([ha, hb]), layers.subtract([ha, hb]), layers.multiply([ha, hb]),
        layers.average([ha, hb]), layers.maximum([ha, hb]), layers.minimum([ha, hb]),
        layers.dot([ha, hb], axes=1),
    ])
    hidden = layers.Dense(32, activation="relu")(merged)
    diff = layers.Dense(1, name="diff")(layers.concatenate([in_a, in_b, hidden]))
    same = layers.Dense(1, activation="sigmoid", name="same")(hidden)
    return Model([in_a, in_b], [diff, same])


def test_shared_layer_merges_and_two_weighted_outputs():
    a, b, diff, same = _data()
    model = _model()
    shared = model.get_layer("shared")
    assert len(shared._inbound_nodes) == 2 and len(model.trainable_weights) == 8
    assert model.output_shape == [(None, 1), (None, 1)]
    model.compile(keras.optimizers.Adam(lr=0.01),
                  loss={"diff": "mse", "same": "binary_crossentropy"},
                  loss_weights={"diff": 0.5, "same": 2.0}, metrics={"same": "accuracy"})
    assert model.metrics_names == ["loss", "diff_loss", "same_loss", "same_accuracy"]
    hist = model.fit({"a": a, "b": b}, {"diff": diff, "same": same}, batch_size=64,
                     epochs=30, verbose=0)
    assert hist.history["loss"][-1] < 0.2 * hist.history["loss"][0]

    total, l_diff, l_same, acc = model.evaluate([a, b], [diff, same], batch_size=128,
                                                verbose=0)
    assert l_diff < 0.05, l_diff
    assert acc > 0.9 and l_same < 0.3, (acc, l_same)
    # The total is the weighted sum of the output losses.
    np.testing.assert_allclose(total, 0.5 * l_diff + 2.0 * l_same, rtol=1e-5)

    p_diff, p_same = model.predict([a, b], batch_size=128)
    assert p_diff.shape == (N, 1) and p_same.shape == (N, 1)
    np.testing.assert_allclose(np.mean((p_diff - diff) ** 2), l_diff, rtol=1e-4)


def test_loss_weights_steer_training():
    a, b, diff, same = _data(seed=1)
    results = {}
    for weights in ([1.0, 0.0], [0.0, 1.0]):
        keras.backend.clear_session()
        np.random.seed(0)
        model = _model()
        model.compile(keras.optimizers.Adam(lr=0.01), ["mse", "binary_crossentropy"],
                      loss_weights=weights)
        model.fit([a, b], [diff, same], batch_size=64, epochs=10, verbose=0)
        results[tuple(weights)] = model.evaluate([a, b], [diff, same], batch_size=128,
                                                 verbose=0)
    only_diff, only_same = results[(1.0, 0.0)], results[(0.0, 1.0)]
    assert only_diff[1] < 0.2 * only_same[1]  # mse: trained vs untrained head
    assert only_same[2] < 0.8 * only_diff[2]  # crossentropy
    assert only_diff[0] == pytest.approx(only_diff[1], rel=1e-5)


def test_model_as_layer_and_multi_input_merge_shapes():
    a, b, diff, same = _data(seed=2)
    inner = _model()
    in_a, in_b = layers.Input((D,)), layers.Input((D,))
    out_diff, out_same = inner([in_a, in_b])  # a whole model called like a layer
    outer = Model([in_a, in_b], layers.concatenate([out_diff, out_same]))
    assert outer.output_shape == (None, 2)
    got = outer.predict([a[:8], b[:8]])
    want = np.concatenate(inner.predict([a[:8], b[:8]]), axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5)
