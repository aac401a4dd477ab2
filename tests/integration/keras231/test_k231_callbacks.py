"""Keras 2.3.1 callbacks on jkb: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,
LearningRateScheduler (plus CSVLogger, LambdaCallback and TerminateOnNaN)."""

import csv
import os

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import callbacks, layers  # noqa: E402
from keras.models import Sequential  # noqa: E402

K = keras.backend


def _data(seed=0, n=256):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 5).astype("float32")
    y = (x @ rng.randn(5, 1) > 0).astype("float32")
    return x, y


def _model(lr=0.05):
    model = Sequential([layers.Dense(16, activation="relu", input_shape=(5,)),
                        layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(lr=lr, momentum=0.9), "binary_crossentropy",
                  metrics=["accuracy"])
    return model


class _WeightsPerEpoch(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_early_stopping_restores_best_weights():
    x, y = _data()
    rng = np.random.RandomState(1)
    # Validation labels unrelated to the inputs: val_loss soon gets worse while training.
    x_val = rng.randn(64, 5).astype("float32")
    y_val = rng.randint(0, 2, (64, 1)).astype("float32")
    model = _model(lr=0.1)
    rec = _WeightsPerEpoch()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    hist = model.fit(x, y, validation_data=(x_val, y_val), batch_size=32, epochs=100,
                     callbacks=[rec, stop], verbose=0)
    val = hist.history["val_loss"]
    ran = len(val)
    assert ran < 100 and stop.stopped_epoch == ran - 1
    best = int(np.argmin(val))
    assert ran == best + 1 + 3  # stopped exactly `patience` epochs after the best one
    for got, want in zip(model.get_weights(), rec.weights[best]):
        np.testing.assert_array_equal(got, want)
    assert stop.best == pytest.approx(val[best])


def test_model_checkpoint_best_only(tmp_path):
    x, y = _data()
    x_val, y_val = _data(seed=2, n=64)
    pattern = str(tmp_path / "w.{epoch:02d}-{val_loss:.3f}.h5")
    model = _model(lr=0.02)
    rec = _WeightsPerEpoch()
    ckpt = callbacks.ModelCheckpoint(pattern, monitor="val_loss", save_best_only=True,
                                     save_weights_only=True)
    hist = model.fit(x, y, validation_data=(x_val, y_val), batch_size=32, epochs=6,
                     callbacks=[rec, ckpt], verbose=0)
    val = hist.history["val_loss"]
    improved = [e for e in range(len(val)) if val[e] < min(val[:e], default=np.inf)]
    files = sorted(os.listdir(tmp_path))
    assert files == [f"w.{e + 1:02d}-{val[e]:.3f}.h5" for e in improved]
    # The last file holds the weights of the best epoch.
    fresh = _model()
    fresh.load_weights(str(tmp_path / files[-1]))
    for got, want in zip(fresh.get_weights(), rec.weights[int(np.argmin(val))]):
        np.testing.assert_array_equal(got, want)

    full = str(tmp_path / "full.h5")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0,
              callbacks=[callbacks.ModelCheckpoint(full, monitor="loss")])
    reloaded = keras.models.load_model(full)
    np.testing.assert_allclose(reloaded.predict(x), model.predict(x), rtol=1e-6)


def test_reduce_lr_on_plateau():
    x, y = _data()
    model = _model(lr=0.1)
    # min_delta larger than any possible improvement: every epoch counts as a plateau.
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                         min_delta=100.0, cooldown=0, min_lr=0.01)
    hist = model.fit(x, y, batch_size=32, epochs=6, callbacks=[reduce], verbose=0)
    # The first epoch sets the reference; later epochs wait `patience` then halve.
    np.testing.assert_allclose(hist.history["lr"], [0.1, 0.1, 0.05, 0.025, 0.0125, 0.01],
                               rtol=1e-6)
    np.testing.assert_allclose(K.get_value(model.optimizer.lr), 0.01, rtol=1e-6)


def test_learning_rate_scheduler_changes_the_steps():
    x, y = _data()
    seen = []
    model = Sequential([layers.Dense(1, input_shape=(5,), use_bias=False,
                                     kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(lr=1.0), "mse")
    sched = callbacks.LearningRateScheduler(lambda epoch: [0.1, 0.0, 0.01][epoch])
    record = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(
            (float(K.get_value(model.optimizer.lr)), model.get_weights()[0].copy())),
        on_train_end=lambda logs: seen.append((None, model.get_weights()[0].copy())))
    model.fit(x, y, batch_size=256, epochs=3, callbacks=[sched, record], verbose=0)
    np.testing.assert_allclose([lr for lr, _ in seen[:3]], [0.1, 0.0, 0.01], rtol=1e-6)
    # Full-batch SGD from zero: the first step is -lr * dL/dw = lr * 2/n * x^T y.
    step0 = 0.1 * 2 * x.T @ y / len(x)
    np.testing.assert_allclose(seen[1][1], step0, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(seen[2][1], seen[1][1])  # lr 0: no change
    assert not np.array_equal(seen[3][1], seen[2][1])


def test_csv_logger_and_terminate_on_nan(tmp_path):
    x, y = _data()
    log = str(tmp_path / "log.csv")
    model = _model()
    model.fit(x, y, batch_size=32, epochs=3, callbacks=[callbacks.CSVLogger(log)], verbose=0)
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy"}

    bad = Sequential([layers.Dense(1, input_shape=(5,))])
    bad.compile(keras.optimizers.SGD(lr=1e6), "mse")  # diverges to inf/nan
    hist = bad.fit(x, 1e6 * y, batch_size=32, epochs=5, verbose=0,
                   callbacks=[callbacks.TerminateOnNaN()])
    assert len(hist.history["loss"]) == 1 and not np.isfinite(hist.history["loss"][0])
