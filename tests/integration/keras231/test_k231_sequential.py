"""Sequential MLPs on Keras 2.3.1 + jkb: every optimizer Keras ships, and every way of
training and running a model (fit, evaluate, predict, *_on_batch, the generator loops)."""

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import optimizers  # noqa: E402
from keras.layers import Activation, Dense, Dropout  # noqa: E402
from keras.models import Sequential  # noqa: E402

K = keras.backend
N, D, C = 256, 10, 3


def _three_class_data(seed=0):
    """Points labelled by the largest of three random linear scores (separable)."""
    rng = np.random.RandomState(seed)
    w = rng.randn(D, C)
    x = rng.randn(N, D).astype("float32")
    y = np.argmax(x @ w, axis=1)
    return x, y, keras.utils.to_categorical(y, C)


def _mlp(dropout=0.1):
    return Sequential([
        Dense(32, input_shape=(D,)),
        Activation("relu"),
        Dropout(dropout),
        Dense(C, activation="softmax"),
    ])


OPTIMIZERS = {
    "sgd_nesterov": lambda: optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(lr=0.01),
    "adagrad": lambda: optimizers.Adagrad(lr=0.1),
    "adadelta": lambda: optimizers.Adadelta(lr=1.0),
    "adam": lambda: optimizers.Adam(lr=0.01),
    "adam_amsgrad": lambda: optimizers.Adam(lr=0.01, amsgrad=True),
    "adamax": lambda: optimizers.Adamax(lr=0.02),
    "nadam": lambda: optimizers.Nadam(lr=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_mlp_learns_with_each_optimizer(name):
    x, _, y = _three_class_data()
    model = _mlp()
    opt = OPTIMIZERS[name]()
    model.compile(opt, "categorical_crossentropy", metrics=["accuracy"])
    before = [w.copy() for w in model.get_weights()]
    epochs, batch = 30, 32
    hist = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    loss, acc = model.evaluate(x, y, batch_size=64, verbose=0)
    assert loss < 0.35 and acc > 0.9, (loss, acc)
    # Each batch ran the optimizer's updates exactly once.
    assert int(K.get_value(opt.iterations)) == epochs * N // batch
    assert all(np.abs(b - a).max() > 0 for b, a in zip(before, model.get_weights()))


def test_fit_evaluate_predict_and_batch_methods():
    x, labels, y = _three_class_data(seed=1)
    model = _mlp(dropout=0.2)
    model.compile(optimizers.SGD(lr=0.1, momentum=0.9), "categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=32, epochs=20, validation_split=0.25, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert hist.history["val_accuracy"][-1] > 0.85, hist.history["val_accuracy"]

    probs = model.predict(x, batch_size=64)
    assert probs.shape == (N, C) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probs.argmax(axis=1) == labels) > 0.9
    np.testing.assert_array_equal(model.predict_classes(x, batch_size=64),
                                  probs.argmax(axis=1))
    # Inference is deterministic (dropout is off outside training).
    np.testing.assert_array_equal(model.predict(x, batch_size=64), probs)
    np.testing.assert_allclose(model.predict_on_batch(x[:64]), probs[:64], rtol=1e-6)

    loss, acc = model.evaluate(x, y, batch_size=64, verbose=0)
    t_loss, t_acc = model.test_on_batch(x, y)
    np.testing.assert_allclose(t_loss, loss, rtol=1e-5)
    np.testing.assert_allclose(t_acc, acc, rtol=1e-6)

    # train_on_batch: [loss, accuracy] of the batch, and a step on the weights.
    before = model.get_weights()
    out = model.train_on_batch(x[:64], y[:64])
    assert len(out) == 2 and 0 <= out[1] <= 1 and np.isfinite(out[0])
    assert any(np.abs(b - a).max() > 0 for b, a in zip(before, model.get_weights()))
    for _ in range(30):
        model.train_on_batch(x[:64], y[:64])
    assert model.test_on_batch(x[:64], y[:64])[0] < loss


def _batches(x, y, batch):
    while True:
        for i in range(0, len(x), batch):
            yield x[i:i + batch], y[i:i + batch]


class _Seq(keras.utils.Sequence):
    def __init__(self, x, y, batch):
        self.x, self.y, self.batch = x, y, batch

    def __len__(self):
        return len(self.x) // self.batch

    def __getitem__(self, i):
        s = slice(i * self.batch, (i + 1) * self.batch)
        return self.x[s], self.y[s]


def test_generator_loops():
    x, labels, y = _three_class_data(seed=2)
    model = _mlp()
    model.compile(optimizers.Adam(lr=0.01), "categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit_generator(_batches(x, y, 32), steps_per_epoch=N // 32, epochs=10,
                               validation_data=_Seq(x, y, 64), verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert hist.history["val_accuracy"][-1] > 0.9
    # A Sequence, fed from worker threads.
    model.fit_generator(_Seq(x, y, 32), epochs=2, workers=2, use_multiprocessing=False,
                        verbose=0)
    loss, acc = model.evaluate_generator(_Seq(x, y, 64))
    # Keras 2.3.1 reports the accuracy over all batches but the loss of the last batch.
    np.testing.assert_allclose(acc, model.evaluate(x, y, batch_size=64, verbose=0)[1])
    np.testing.assert_allclose(loss, model.test_on_batch(x[-64:], y[-64:])[0], rtol=1e-5)
    assert acc > 0.9
    probs = model.predict_generator(_Seq(x, y, 64))
    np.testing.assert_allclose(probs, model.predict(x, batch_size=64), rtol=1e-6)


def test_binary_and_regression_heads_with_sample_weights():
    rng = np.random.RandomState(3)
    x = rng.randn(N, 4).astype("float32")
    y_bin = (x[:, 0] * x[:, 1] > 0).astype("float32")  # XOR of signs: needs the hidden layer
    model = Sequential([Dense(16, activation="tanh", input_shape=(4,)),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(lr=0.03), "binary_crossentropy", metrics=["accuracy"])
    # Zero weight on half the samples: they must not influence the loss.
    sw = np.where(np.arange(N) % 2 == 0, 1.0, 0.0)
    model.fit(x, y_bin, sample_weight=sw, batch_size=32, epochs=40, verbose=0)
    _, acc = model.evaluate(x[::2], y_bin[::2], batch_size=64, verbose=0)
    assert acc > 0.9, acc

    y_reg = (2.0 * x[:, :1] - x[:, 1:2] + 0.5).astype("float32")
    reg = Sequential([Dense(1, input_shape=(4,))])
    reg.compile(optimizers.SGD(lr=0.1), "mse", metrics=["mae"])
    reg.fit(x, y_reg, batch_size=32, epochs=15, verbose=0)
    mse, mae = reg.evaluate(x, y_reg, batch_size=64, verbose=0)
    assert mse < 1e-3 and mae < 0.03, (mse, mae)
    w, b = reg.get_weights()
    np.testing.assert_allclose(w.ravel(), [2.0, -1.0, 0.0, 0.0], atol=0.02)
    np.testing.assert_allclose(b, [0.5], atol=0.02)


def test_stateful_metrics_precision_recall_auc():
    rng = np.random.RandomState(4)
    x = rng.randn(N, D).astype("float32")
    y = (x[:, :3].sum(1) + 0.5 * rng.randn(N) > 0).astype("float32")[:, None]
    model = Sequential([Dense(8, activation="relu", input_shape=(D,)),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(lr=0.01), "binary_crossentropy",
                  metrics=[keras.metrics.Precision(), keras.metrics.Recall(),
                           keras.metrics.AUC(num_thresholds=500)])
    model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    _, precision, recall, auc = model.evaluate(x, y, batch_size=64, verbose=0)
    p = model.predict(x, batch_size=64)
    pos = p > 0.5
    tp = np.sum(pos & (y > 0.5))
    assert precision == pytest.approx(tp / pos.sum(), rel=1e-5)
    assert recall == pytest.approx(tp / (y > 0.5).sum(), rel=1e-5)
    # Exact ROC AUC: probability that a positive is ranked above a negative.
    ps, ns = p[y > 0.5], p[y < 0.5]
    exact = np.mean(ps[:, None] > ns[None, :])
    assert auc == pytest.approx(exact, abs=0.01)
    assert auc > 0.9
