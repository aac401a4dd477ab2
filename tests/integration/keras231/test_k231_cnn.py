"""Convolutional models on Keras 2.3.1 + jkb: Conv2D/MaxPooling2D/BatchNormalization/
Dropout/Flatten/Dense on images, Conv1D + GlobalAveragePooling1D on sequences, and the
BatchNormalization moving statistics (updated in training, used in inference)."""

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import layers  # noqa: E402
from keras.models import Model, Sequential  # noqa: E402

K = keras.backend


def _bars(n, size=10, seed=0):
    """Noisy images with one horizontal (class 0), vertical (1) or diagonal (2) bar."""
    rng = np.random.RandomState(seed)
    x = 0.3 * rng.randn(n, size, size, 1).astype("float32")
    y = rng.randint(0, 3, n)
    for i, c in enumerate(y):
        k = rng.randint(1, size - 1)
        if c == 0:
            x[i, k, :, 0] += 1.0
        elif c == 1:
            x[i, :, k, 0] += 1.0
        else:
            idx = np.arange(size - 2)
            x[i, idx + rng.randint(0, 3), idx + rng.randint(0, 3), 0] += 1.0
    return x, y


def test_cnn_with_batchnorm_learns_images():
    x, y = _bars(384)
    model = Sequential([
        layers.Conv2D(8, (3, 3), padding="same", input_shape=(10, 10, 1)),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(8, (3, 3), activation="relu"),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    assert model.output_shape == (None, 3)
    assert model.layers[3].output_shape == (None, 5, 5, 8)
    model.compile(keras.optimizers.Adam(lr=0.005), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    bn = model.layers[1]
    mean0 = K.get_value(bn.moving_mean).copy()
    hist = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert hist.history["loss"][-1] < 0.3 * hist.history["loss"][0], hist.history["loss"]
    loss, acc = model.evaluate(x, y, batch_size=128, verbose=0)
    assert acc > 0.95, (loss, acc)
    # The moving statistics moved during training (and only then).
    mean1 = K.get_value(bn.moving_mean).copy()
    assert np.abs(mean1 - mean0).max() > 1e-3
    model.predict(x, batch_size=128)
    model.evaluate(x, y, batch_size=128, verbose=0)
    np.testing.assert_array_equal(K.get_value(bn.moving_mean), mean1)

    x_test, y_test = _bars(128, seed=1)
    assert model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1] > 0.9


def test_batchnorm_moving_statistics_and_inference():
    rng = np.random.RandomState(0)
    x = (3.0 + 2.0 * rng.randn(512, 4)).astype("float32")
    inp = layers.Input((4,))
    bn = layers.BatchNormalization(momentum=0.8, epsilon=1e-3)
    model = Model(inp, bn(inp))
    # Target 0: gamma and beta stay near their initial values; what we watch are the
    # moving averages, updated by every training step.
    model.compile(keras.optimizers.SGD(lr=0.0), "mse")
    model.fit(x, np.zeros_like(x), batch_size=128, epochs=10, verbose=0)
    gamma, beta, mov_mean, mov_var = model.get_weights()
    np.testing.assert_allclose(mov_mean, x.mean(0), atol=0.15)
    np.testing.assert_allclose(mov_var, x.var(0, ddof=1), rtol=0.1)

    # Inference normalizes with the moving statistics...
    want = gamma * (x - mov_mean) / np.sqrt(mov_var + 1e-3) + beta
    np.testing.assert_allclose(model.predict(x, batch_size=64), want, rtol=1e-4, atol=1e-4)
    # ...and the training phase with the statistics of the batch itself.
    f = K.function([inp, K.learning_phase()], [model.output])
    got = f([x[:128], 1])[0]
    batch = x[:128]
    want_train = gamma * (batch - batch.mean(0)) / np.sqrt(batch.var(0) + 1e-3) + beta
    np.testing.assert_allclose(got, want_train, rtol=1e-4, atol=1e-4)


def _waves(n, length=32, seed=0):
    """Noisy sines: slow (class 0) or fast (class 1), random phase and amplitude."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, n)
    t = np.arange(length)
    freq = np.where(y == 0, 0.15, 0.9)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.5, (n, 1))
    x = amp * np.sin(freq * t + phase) + 0.2 * rng.randn(n, length)
    return x[..., None].astype("float32"), y.astype("float32")


def test_conv1d_global_average_pooling_learns_sequences():
    x, y = _waves(256)
    model = Sequential([
        layers.Conv1D(8, 5, activation="relu", input_shape=(32, 1)),
        layers.Conv1D(8, 3, activation="relu", padding="causal"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(1, activation="sigmoid"),
    ])
    assert model.layers[1].output_shape == (None, 28, 8)
    model.compile(keras.optimizers.Adam(lr=0.02), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=20, verbose=0)
    x_test, y_test = _waves(128, seed=1)
    loss, acc = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    assert acc > 0.95 and loss < 0.2, (loss, acc)
