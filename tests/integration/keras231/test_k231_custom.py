"""User extensions on Keras 2.3.1 + jkb: a custom layer (weights, mask, learning phase,
add_loss/add_update) and custom losses and metrics written with keras.backend calls."""

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import layers  # noqa: E402
from keras.engine.base_layer import Layer  # noqa: E402
from keras.models import Model, Sequential  # noqa: E402

K = keras.backend


class RBF(Layer):
    """Gaussian radial-basis units: exp(-||x - c_j||^2 / (2 s_j^2)), trainable c and s."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.centers = self.add_weight("centers", (self.units, int(input_shape[-1])),
                                       initializer="uniform", trainable=True)
        self.log_scale = self.add_weight("log_scale", (self.units,), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        d2 = (K.sum(K.square(x), axis=-1, keepdims=True)
              - 2 * K.dot(x, K.transpose(self.centers))
              + K.expand_dims(K.sum(K.square(self.centers), axis=-1), 0))
        return K.exp(-d2 / (2 * K.exp(2 * self.log_scale)))

    def compute_output_shape(self, input_shape):
        return input_shape[:-1] + (self.units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


def _ring_data(n=256, seed=0):
    """Inside (1) or outside (0) of a ring in 2-D: not linearly separable."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, (n, 2)).astype("float32")
    r = np.sqrt((x ** 2).sum(1))
    return x, ((r > 0.8) & (r < 1.6)).astype("float32")[:, None]


def test_custom_layer_learns_and_matches_numpy():
    x, y = _ring_data()
    model = Sequential([RBF(24, input_shape=(2,)), layers.Dense(1, activation="sigmoid")])
    rbf = model.layers[0]
    assert [w.name for w in rbf.trainable_weights] == [
        rbf.name + "/centers:0", rbf.name + "/log_scale:0"]
    assert rbf.output_shape == (None, 24)
    model.compile(keras.optimizers.Adam(lr=0.05), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=30, verbose=0)
    _, acc = model.evaluate(x, y, batch_size=128, verbose=0)
    assert acc > 0.9, acc

    centers, log_scale, w, b = model.get_weights()
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    phi = np.exp(-d2 / (2 * np.exp(2 * log_scale)))
    want = 1 / (1 + np.exp(-(phi @ w + b)))
    np.testing.assert_allclose(model.predict(x, batch_size=128), want, rtol=1e-4, atol=1e-5)


class NoisyMaskedMean(Layer):
    """Mean over the unmasked time steps; Gaussian noise only in training; counts calls
    with an update and adds an activity penalty with add_loss."""

    supports_masking = True

    def build(self, input_shape):
        self.calls = self.add_weight("calls", (), initializer="zeros", trainable=False)
        super().build(input_shape)

    def call(self, x, mask=None, training=None):
        m = K.cast(K.expand_dims(mask, -1), K.floatx())
        mean = K.sum(x * m, axis=1) / K.maximum(K.sum(m, axis=1), 1.0)
        self.add_update([K.update_add(self.calls, 1.0)], x)
        self.add_loss(1e-3 * K.mean(K.square(mean)), x)
        noisy = mean + K.random_normal(K.shape(mean), stddev=0.1)
        return K.in_train_phase(noisy, mean, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return None


def test_custom_layer_with_mask_learning_phase_updates_and_losses():
    rng = np.random.RandomState(0)
    tokens = rng.randint(1, 6, (256, 8))
    lengths = rng.randint(2, 9, 256)
    tokens[np.arange(8)[None, :] >= lengths[:, None]] = 0
    y = (np.where(tokens == 5, 1, 0).sum(1) > 0).astype("float32")
    inp = layers.Input((8,))
    emb = layers.Embedding(6, 4, mask_zero=True)(inp)
    pooled_layer = NoisyMaskedMean()
    pooled = pooled_layer(emb)
    out = layers.Dense(1, activation="sigmoid")(pooled)
    model = Model(inp, out)
    assert len(model.losses) == 1 and len(model.updates) == 1
    model.compile(keras.optimizers.Adam(lr=0.05), "binary_crossentropy", metrics=["accuracy"])
    model.fit(tokens, y, batch_size=64, epochs=20, verbose=0)
    # One update per training batch only (not in evaluate/predict).
    assert K.get_value(pooled_layer.calls) == 20 * 256 // 64
    _, acc = model.evaluate(tokens, y, batch_size=128, verbose=0)
    assert acc > 0.9
    # Noise only in the training phase: inference is deterministic.
    np.testing.assert_array_equal(model.predict(tokens, batch_size=128),
                                  model.predict(tokens, batch_size=128))
    f = K.function([inp, K.learning_phase()], [pooled])
    assert not np.allclose(f([tokens, 1])[0], f([tokens, 1])[0])
    np.testing.assert_array_equal(f([tokens, 0])[0], f([tokens, 0])[0])
    # The masked mean ignores padding: compare with NumPy from the embedding weights.
    table = model.layers[1].get_weights()[0]
    mask = tokens > 0
    want = (table[tokens] * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(f([tokens, 0])[0], want, rtol=1e-5, atol=1e-6)


def _weighted_huber(delta):
    def loss(y_true, y_pred):
        err = K.abs(y_true - y_pred)
        quad = K.minimum(err, delta)
        return K.mean(0.5 * K.square(quad) + delta * (err - quad), axis=-1)
    return loss


def _r2(y_true, y_pred):
    ss_res = K.sum(K.square(y_true - y_pred))
    ss_tot = K.sum(K.square(y_true - K.mean(y_true)))
    return 1 - ss_res / (ss_tot + K.epsilon())


def test_custom_loss_and_metric_with_outliers():
    rng = np.random.RandomState(1)
    x = rng.randn(512, 3).astype("float32")
    y = (x @ np.array([[1.5], [-2.0], [0.5]]) + 1.0).astype("float32")
    y_noisy = y.copy()
    y_noisy[::16] += 50.0  # gross outliers: Huber is robust, MSE is not
    model = Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(keras.optimizers.SGD(lr=0.1), loss=_weighted_huber(1.0), metrics=[_r2])
    assert model.metrics_names == ["loss", "_r2"]
    model.fit(x, y_noisy, batch_size=64, epochs=40, verbose=0)
    w, b = model.get_weights()
    np.testing.assert_allclose(w.ravel(), [1.5, -2.0, 0.5], atol=0.1)
    np.testing.assert_allclose(b, [1.0], atol=0.3)
    loss, r2 = model.evaluate(x, y, batch_size=512, verbose=0)
    assert r2 > 0.98, r2
    err = np.abs(model.predict(x, batch_size=512) - y)
    quad = np.minimum(err, 1.0)
    np.testing.assert_allclose(loss, np.mean(0.5 * quad ** 2 + (err - quad)), rtol=1e-4)

    mse_model = Sequential([layers.Dense(1, input_shape=(3,))])
    mse_model.compile(keras.optimizers.SGD(lr=0.01), "mse")
    mse_model.fit(x, y_noisy, batch_size=64, epochs=40, verbose=0)
    assert abs(mse_model.get_weights()[1][0] - 1.0) > 1.0  # pulled by the outliers
