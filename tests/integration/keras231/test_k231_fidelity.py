"""Keras 2.3.1 on jkb, where it relies on TF backend details: softmax/sigmoid outputs
trained from their logits, Lambda arguments restored as lists, stateful ConvLSTM2D, and
Keras' own H5Dict on h5py 3."""

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import layers  # noqa: E402
from keras.models import Model, Sequential, load_model, model_from_json  # noqa: E402
from keras.utils.io_utils import H5Dict  # noqa: E402

K = keras.backend


def test_softmax_output_layer_is_trained_from_its_logits():
    # A confidently wrong softmax output: the loss is the exact logits formula (about 60),
    # not -log(epsilon) ~ 16.1, and the gradient does not vanish.
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(2,),
                                     kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(lr=0.1), "categorical_crossentropy")
    model.set_weights([np.zeros((2, 3), "float32"), np.array([30., -30., 0.], "float32")])
    x, y = np.ones((4, 2), "float32"), np.tile(np.eye(3, dtype="float32")[1], (4, 1))
    want = 60.0 + np.log1p(np.exp(-30.) + np.exp(-60.))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), want, rtol=1e-5)
    bias_before = model.get_weights()[1]
    model.train_on_batch(x, y)
    # d loss / d bias = softmax - y = (1, -1, 0) per sample (averaged): a full SGD step.
    np.testing.assert_allclose(model.get_weights()[1] - bias_before, [-0.1, 0.1, 0.],
                               atol=1e-6)


def test_sigmoid_output_layer_is_trained_from_its_logits():
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile(keras.optimizers.SGD(lr=0.1), "binary_crossentropy")
    model.set_weights([np.zeros((2, 1), "float32"), np.array([40.], "float32")])
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), 40.0, rtol=1e-5)
    model.train_on_batch(x, y)
    np.testing.assert_allclose(model.get_weights()[1], [40. - 0.1], rtol=1e-6)


def test_lambda_arguments_restored_as_lists_still_work(tmp_path):
    # model_from_json / load_model hand NumPy `arguments` back as (nested) lists.
    inp = layers.Input((2, 3))
    out = layers.Lambda(lambda x, w, b: K.maximum(x * w + b, [[0., 0., 0.5]]) - w,
                        arguments={"w": np.array([[1., 2., 3.]], "float32"),
                                   "b": np.array([0.5, 0., -1.])})(inp)
    model = Model(inp, out)
    x = np.random.RandomState(0).randn(4, 2, 3).astype("float32")
    want = np.maximum(x * [[1, 2, 3]] + [0.5, 0, -1], [[0, 0, 0.5]]) - [[1, 2, 3]]
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-6, atol=1e-6)
    restored = model_from_json(model.to_json())
    assert isinstance(restored.layers[1].arguments["w"], list)
    np.testing.assert_allclose(restored.predict(x), want, rtol=1e-6, atol=1e-6)
    path = str(tmp_path / "lambda.h5")
    model.save(path)
    np.testing.assert_allclose(load_model(path).predict(x), want, rtol=1e-6, atol=1e-6)


def test_stateful_conv_lstm2d_carries_state_until_reset():
    batch, steps = 2, 3
    rng = np.random.RandomState(4)
    seq = rng.randn(batch, 2 * steps, 5, 5, 1).astype("float32")

    def conv_lstm(**kw):
        return layers.ConvLSTM2D(3, (3, 3), padding="same", return_sequences=True, **kw)

    stateful = Sequential([conv_lstm(stateful=True, batch_input_shape=(batch, steps, 5, 5, 1))])
    stateless = Sequential([conv_lstm(input_shape=(2 * steps, 5, 5, 1))])
    stateless.set_weights(stateful.get_weights())
    whole = stateless.predict(seq)
    first = stateful.predict(seq[:, :steps], batch_size=batch)
    second = stateful.predict(seq[:, steps:], batch_size=batch)
    np.testing.assert_allclose(first, whole[:, :steps], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second, whole[:, steps:], rtol=1e-5, atol=1e-6)
    layer = stateful.layers[0]
    np.testing.assert_allclose(K.get_value(layer.states[0]), whole[:, -1], rtol=1e-5,
                               atol=1e-6)
    stateful.reset_states()
    assert not any(K.get_value(s).any() for s in layer.states)
    again = stateful.predict(seq[:, steps:], batch_size=batch)
    fresh = stateless.predict(np.concatenate([seq[:, steps:]] * 2, axis=1))[:, :steps]
    np.testing.assert_allclose(again, fresh, rtol=1e-5, atol=1e-6)
    # Training on chunks moves the weights and keeps the state shapes.
    stateful.compile("sgd", "mse")
    stateful.train_on_batch(seq[:, :steps], np.zeros((batch, steps, 5, 5, 3), "float32"))
    assert K.get_value(layer.states[0]).shape == (batch, 5, 5, 3)


def test_h5dict_round_trips_lists_of_strings_as_on_h5py_2(tmp_path):
    path = str(tmp_path / "d.h5")
    big = [f"name{i:05d}" for i in range(12000)]  # chunked over several attributes
    with H5Dict(path, mode="w") as f:
        f["names"] = ["dense_1", "dense_2", "é"]
        f["raw"] = [b"w:0", b"b:0"]
        f["one"] = "keras"
        f["array"] = np.arange(3)
        f["big"] = big
        group = f["model_weights"]
        group["layer_names"] = ["dense_1"]
        group["dense_1"]["weight_names"] = [b"dense_1/kernel:0", b"dense_1/bias:0"]
    with H5Dict(path, mode="r") as f:
        assert f["names"] == [b"dense_1", b"dense_2", "é".encode()]
        assert f["raw"] == [b"w:0", b"b:0"]
        assert f["one"] == "keras"
        np.testing.assert_array_equal(f["array"], [0, 1, 2])
        assert f["big"] == big
        group = f["model_weights"]
        assert group["layer_names"] == [b"dense_1"]
        assert group["dense_1"]["weight_names"] == [b"dense_1/kernel:0", b"dense_1/bias:0"]
    # Keras' own model saving through H5Dict still loads.
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    model.save(str(tmp_path / "m.h5"))
    again = load_model(str(tmp_path / "m.h5"))
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
