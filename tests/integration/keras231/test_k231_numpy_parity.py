"""Keras 2.3.1 layers on jkb compute what their definitions say: predictions compared with
NumPy forward passes written from the layers' weights (Dense, Conv2D in both data
formats with strides/dilation/'same' padding, pooling, LSTM, GRU, SimpleRNN)."""

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import layers  # noqa: E402
from keras.models import Sequential  # noqa: E402

RTOL, ATOL = 1e-5, 1e-5


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape).astype("float32")


def _randomize(model, seed=1):
    """Random weights everywhere (biases too, which the initializers set to zero)."""
    rng = np.random.RandomState(seed)
    model.set_weights([rng.uniform(-0.8, 0.8, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model.get_weights()


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "softmax", "elu", "selu",
                                        "softplus", "sigmoid", "hard_sigmoid"])
def test_dense(activation):
    x = _rand(7, 5)
    model = Sequential([layers.Dense(4, activation=activation, input_shape=(5,))])
    w, b = _randomize(model)
    z = x @ w + b
    want = {
        "linear": z, "relu": np.maximum(z, 0), "tanh": np.tanh(z),
        "softmax": np.exp(z) / np.exp(z).sum(-1, keepdims=True),
        "elu": np.where(z > 0, z, np.expm1(z)),
        "selu": 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z)),
        "softplus": np.log1p(np.exp(z)), "sigmoid": _sigmoid(z),
        "hard_sigmoid": np.clip(0.2 * z + 0.5, 0, 1),
    }[activation]
    np.testing.assert_allclose(model.predict(x), want, rtol=RTOL, atol=ATOL)


def test_dense_on_3d_input():
    x = _rand(3, 4, 5)
    model = Sequential([layers.Dense(2, input_shape=(4, 5))])
    w, b = _randomize(model)
    np.testing.assert_allclose(model.predict(x), x @ w + b, rtol=RTOL, atol=ATOL)


def _conv2d_nhwc(x, k, strides, padding, dilation):
    kh, kw, _, _ = k.shape
    ekh, ekw = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    if padding == "same":
        pads = []
        for size, ek, s in ((x.shape[1], ekh, strides[0]), (x.shape[2], ekw, strides[1])):
            out = -(-size // s)
            total = max((out - 1) * s + ek - size, 0)
            pads.append((total // 2, total - total // 2))  # the extra cell goes at the end
        x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    oh = (x.shape[1] - ekh) // strides[0] + 1
    ow = (x.shape[2] - ekw) // strides[1] + 1
    out = np.zeros((x.shape[0], oh, ow, k.shape[3]), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * strides[0]:i * strides[0] + ekh:dilation[0],
                      j * strides[1]:j * strides[1] + ekw:dilation[1], :]
            out[:, i, j, :] = np.einsum("bhwc,hwcf->bf", patch, k)
    return out


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides,padding,dilation", [
    ((1, 1), "valid", (1, 1)), ((2, 2), "same", (1, 1)), ((1, 2), "same", (1, 1)),
    ((1, 1), "same", (2, 2)), ((2, 1), "valid", (1, 1))])
def test_conv2d(data_format, strides, padding, dilation):
    x = _rand(2, 9, 8, 3)
    model = Sequential([layers.Conv2D(4, (3, 2), strides=strides, padding=padding,
                                      dilation_rate=dilation, data_format=data_format,
                                      activation="relu",
                                      input_shape=(9, 8, 3) if data_format == "channels_last"
                                      else (3, 9, 8))])
    k, b = _randomize(model)
    want = np.maximum(_conv2d_nhwc(x, k, strides, padding, dilation) + b, 0)
    if data_format == "channels_first":
        got = model.predict(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    else:
        got = model.predict(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling2d(padding):
    x = _rand(2, 7, 6, 3)
    pool = dict(pool_size=(3, 2), strides=(2, 2), padding=padding)
    got_max = Sequential([layers.MaxPooling2D(input_shape=(7, 6, 3), **pool)]).predict(x)
    got_avg = Sequential([layers.AveragePooling2D(input_shape=(7, 6, 3), **pool)]).predict(x)
    pads = ((1, 1), (0, 0)) if padding == "same" else ((0, 0), (0, 0))  # 7->4, 6->3
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=np.nan)
    oh, ow = (4, 3) if padding == "same" else (3, 3)
    want_max = np.zeros((2, oh, ow, 3))
    want_avg = np.zeros((2, oh, ow, 3))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, 2 * i:2 * i + 3, 2 * j:2 * j + 2, :]
            want_max[:, i, j] = np.nanmax(win, axis=(1, 2))
            want_avg[:, i, j] = np.nanmean(win, axis=(1, 2))  # padding is not counted
    np.testing.assert_allclose(got_max, want_max, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got_avg, want_avg, rtol=RTOL, atol=ATOL)


def _run_lstm(x, kernel, rec, bias, units):
    h = np.zeros((x.shape[0], units))
    c = np.zeros((x.shape[0], units))
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ rec + bias
        i, f = _sigmoid(z[:, :units]), _sigmoid(z[:, units:2 * units])
        g, o = np.tanh(z[:, 2 * units:3 * units]), _sigmoid(z[:, 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1), h, c


def test_lstm_forward():
    x = _rand(3, 6, 4)
    model = Sequential([layers.LSTM(5, return_sequences=True, input_shape=(6, 4))])
    kernel, rec, bias = _randomize(model)
    seq, _, _ = _run_lstm(x, kernel, rec, bias, 5)
    np.testing.assert_allclose(model.predict(x), seq, rtol=RTOL, atol=ATOL)

    # Final output and both states; go_backwards reads the sequence from the end.
    inp = layers.Input((6, 4))
    lstm = layers.LSTM(5, return_state=True, go_backwards=True)
    m2 = keras.models.Model(inp, lstm(inp))
    m2.set_weights([kernel, rec, bias])
    _, h_back, c_back = _run_lstm(x[:, ::-1], kernel, rec, bias, 5)
    out, h, c = m2.predict(x)
    np.testing.assert_allclose(out, h_back, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(h, h_back, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(c, c_back, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_forward(reset_after):
    x = _rand(3, 6, 4)
    u = 5
    model = Sequential([layers.GRU(u, return_sequences=True, reset_after=reset_after,
                                   input_shape=(6, 4))])
    kernel, rec, bias = _randomize(model)
    in_b, rec_b = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
    h = np.zeros((3, u))
    hs = []
    for t in range(6):
        xz = x[:, t] @ kernel + in_b
        hz = h @ rec + rec_b
        z = _sigmoid(xz[:, :u] + hz[:, :u])
        r = _sigmoid(xz[:, u:2 * u] + hz[:, u:2 * u])
        if reset_after:
            hh = np.tanh(xz[:, 2 * u:] + r * hz[:, 2 * u:])
        else:
            hh = np.tanh(xz[:, 2 * u:] + (r * h) @ rec[:, 2 * u:])
        h = z * h + (1 - z) * hh
        hs.append(h)
    np.testing.assert_allclose(model.predict(x), np.stack(hs, 1), rtol=RTOL, atol=ATOL)


def test_simple_rnn_forward_with_mask():
    x = _rand(3, 6, 4)
    x[0, 4:] = 0.0  # masked trailing steps keep the state and repeat the output
    x[1, :2] = 0.0  # masked leading steps: the state stays zero
    model = Sequential([layers.Masking(0.0, input_shape=(6, 4)),
                        layers.SimpleRNN(5, return_sequences=True)])
    kernel, rec, bias = _randomize(model)
    mask = np.any(x != 0, axis=-1)
    h = np.zeros((3, 5))
    hs = []
    for t in range(6):
        new = np.tanh(x[:, t] @ kernel + h @ rec + bias)
        h = np.where(mask[:, t:t + 1], new, h)
        hs.append(h)
    np.testing.assert_allclose(model.predict(x), np.stack(hs, 1), rtol=RTOL, atol=ATOL)
