"""Saving and loading on Keras 2.3.1 + jkb (HDF5 through h5py 3): save_weights /
load_weights and save / load_model round trips give identical predictions, and training
resumes where it stopped (optimizer state included)."""

import json

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

import h5py  # noqa: E402  (installed with Keras' extra)
from keras import layers  # noqa: E402
from keras.models import Model, Sequential, load_model, model_from_json  # noqa: E402

K = keras.backend


def _cnn_rnn_model():
    """Conv, batch norm, an LSTM and two outputs: many kinds of weights to round-trip."""
    img = layers.Input((8, 8, 1), name="img")
    seq = layers.Input((5,), name="seq")
    h = layers.Conv2D(4, 3, activation="relu")(img)
    h = layers.BatchNormalization()(h)
    h = layers.GlobalMaxPooling2D()(h)
    e = layers.Embedding(7, 3, mask_zero=True)(seq)
    s = layers.LSTM(6)(e)
    joint = layers.concatenate([h, s])
    out1 = layers.Dense(3, activation="softmax", name="cls")(joint)
    out2 = layers.Dense(1, name="reg")(joint)
    model = Model([img, seq], [out1, out2])
    model.compile(keras.optimizers.Adam(lr=0.01),
                  {"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  metrics={"cls": "accuracy"})
    return model


def _data(n=64, seed=0):
    rng = np.random.RandomState(seed)
    img = rng.randn(n, 8, 8, 1).astype("float32")
    seq = rng.randint(0, 7, (n, 5))
    return [img, seq], [rng.randint(0, 3, n), rng.randn(n, 1).astype("float32")]


def _assert_same_predictions(a, b, x):
    for pa, pb in zip(a.predict(x, batch_size=32), b.predict(x, batch_size=32)):
        np.testing.assert_array_equal(pa, pb)


def test_save_weights_load_weights_roundtrip(tmp_path):
    x, y = _data()
    model = _cnn_rnn_model()
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    path = str(tmp_path / "weights.h5")
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert f.attrs["backend"] == b"jkb"
        assert f.attrs["keras_version"] == b"2.3.1"
        names = [n.decode("utf8") for n in f.attrs["layer_names"]]
    assert names == [layer.name for layer in model.layers]

    other = _cnn_rnn_model()  # fresh random weights
    assert not np.array_equal(other.get_weights()[0], model.get_weights()[0])
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    _assert_same_predictions(model, other, x)

    # by_name: only layers with matching names get weights.
    seq_only = Sequential([layers.Dense(3, input_shape=(4,), name="cls")])
    with pytest.raises(ValueError):
        seq_only.load_weights(path, by_name=True)  # same name, different shapes


def test_save_and_load_model_roundtrip_and_resume_training(tmp_path):
    x, y = _data()
    model = _cnn_rnn_model()
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    path = str(tmp_path / "model.h5")
    model.save(path)
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"].decode("utf8"))
    assert config["class_name"] == "Model"

    loaded = load_model(path)
    _assert_same_predictions(model, loaded, x)
    assert loaded.metrics_names == model.metrics_names
    # The optimizer state came back too: one more identical step on both models gives
    # identical weights.
    assert int(K.get_value(loaded.optimizer.iterations)) == 4
    np.testing.assert_array_equal(K.batch_get_value(loaded.optimizer.weights)[1],
                                  K.batch_get_value(model.optimizer.weights)[1])
    batch_x = [x[0][:32], x[1][:32]]
    batch_y = [y[0][:32], y[1][:32]]
    model.reset_metrics()  # fit leaves its last epoch in the per-output loss metrics
    out_a = model.train_on_batch(batch_x, batch_y)
    out_b = loaded.train_on_batch(batch_x, batch_y)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-6)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_json_config_and_custom_objects_roundtrip(tmp_path):
    def scaled_tanh(t):
        return 2.0 * K.tanh(t)

    model = Sequential([layers.Dense(4, activation=scaled_tanh, input_shape=(3,)),
                        layers.Dropout(0.5),
                        layers.Dense(2)])
    model.compile("rmsprop", "mse")
    x = np.random.RandomState(0).randn(10, 3).astype("float32")
    clone = model_from_json(model.to_json(), custom_objects={"scaled_tanh": scaled_tanh})
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))

    path = str(tmp_path / "custom.h5")
    model.save(path)
    with pytest.raises(ValueError, match="Unknown activation function"):
        load_model(path)
    loaded = load_model(path, custom_objects={"scaled_tanh": scaled_tanh})
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
