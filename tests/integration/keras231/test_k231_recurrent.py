"""Recurrent models on Keras 2.3.1 + jkb: Embedding(mask_zero=True) with LSTM, GRU and
SimpleRNN, return_sequences, Bidirectional, and stateful RNNs with reset_states."""

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

from keras import layers  # noqa: E402
from keras.models import Model, Sequential  # noqa: E402
from keras.preprocessing.sequence import pad_sequences  # noqa: E402

K = keras.backend
VOCAB = 10


def _token_sequences(n, seed=0, max_len=10):
    """Variable-length sequences of tokens 1..9; label: is the first token below 5?
    The model must carry the first token through the whole sequence."""
    rng = np.random.RandomState(seed)
    seqs = [list(rng.randint(1, VOCAB, rng.randint(3, max_len + 1))) for _ in range(n)]
    y = np.array([s[0] < 5 for s in seqs], dtype="float32")
    return seqs, y


RNN_LAYERS = {
    "lstm": lambda: layers.LSTM(16),
    "gru": lambda: layers.GRU(16),
    "simple_rnn": lambda: layers.SimpleRNN(16, activation="tanh"),
}


@pytest.mark.parametrize("kind", sorted(RNN_LAYERS))
def test_masked_embedding_rnn_learns_and_ignores_padding(kind):
    seqs, y = _token_sequences(384)
    x = pad_sequences(seqs, maxlen=10, padding="post")
    model = Sequential([layers.Embedding(VOCAB, 8, mask_zero=True, input_length=None),
                        RNN_LAYERS[kind](),
                        layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(lr=0.02), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=12, verbose=0)
    seqs_t, y_t = _token_sequences(128, seed=1)
    x_t = pad_sequences(seqs_t, maxlen=10, padding="post")
    loss, acc = model.evaluate(x_t, y_t, batch_size=128, verbose=0)
    assert acc > 0.9, (kind, loss, acc)
    # Masked steps neither change the state nor the output: extra padding is invisible.
    p10 = model.predict(x_t, batch_size=128)
    p16 = model.predict(pad_sequences(seqs_t, maxlen=16, padding="post"), batch_size=128)
    np.testing.assert_allclose(p16, p10, rtol=1e-5, atol=1e-6)
    p_pre = model.predict(pad_sequences(seqs_t, maxlen=14, padding="pre"), batch_size=128)
    np.testing.assert_allclose(p_pre, p10, rtol=1e-5, atol=1e-6)


def test_return_sequences_and_bidirectional():
    # Per step target: the next input (only the backward direction can see it) plus the
    # previous one (forward direction); both directions are needed.
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (256, 12, 1)).astype("float32")
    nxt = np.concatenate([x[:, 1:], np.zeros_like(x[:, :1])], axis=1)
    prv = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    y = (nxt + prv).astype("float32")
    inp = layers.Input((12, 1))
    h = layers.Bidirectional(layers.LSTM(16, return_sequences=True), merge_mode="concat")(inp)
    assert K.int_shape(h) == (None, 12, 32)
    out = layers.TimeDistributed(layers.Dense(1))(h)
    model = Model(inp, out)
    model.compile(keras.optimizers.Adam(lr=0.02), "mse")
    base = model.evaluate(x, y, batch_size=128, verbose=0)
    model.fit(x, y, batch_size=32, epochs=25, verbose=0)
    mse = model.evaluate(x, y, batch_size=128, verbose=0)
    assert mse < 0.02 and mse < 0.05 * base, (base, mse)

    # A forward-only GRU cannot see the next input: it stays far worse.
    fwd = Sequential([layers.GRU(16, return_sequences=True, input_shape=(12, 1)),
                      layers.TimeDistributed(layers.Dense(1))])
    fwd.compile(keras.optimizers.Adam(lr=0.02), "mse")
    fwd.fit(x, y, batch_size=32, epochs=10, verbose=0)
    assert fwd.evaluate(x, y, batch_size=128, verbose=0) > 5 * mse


def test_bidirectional_merge_modes_and_states():
    x = np.random.RandomState(1).randn(4, 5, 3).astype("float32")
    inp = layers.Input((5, 3))
    bi = layers.Bidirectional(layers.GRU(4, return_state=True), merge_mode=None)
    outs = bi(inp)
    assert len(outs) == 4  # forward output, backward output, forward state, backward state
    model = Model(inp, outs)
    fw_out, bw_out, fw_state, bw_state = model.predict(x)
    np.testing.assert_allclose(fw_out, fw_state, rtol=1e-6)  # GRU output == its state
    np.testing.assert_allclose(bw_out, bw_state, rtol=1e-6)
    # The backward layer is an RNN running over the reversed sequence.
    fw_copy = Sequential([layers.GRU(4, input_shape=(5, 3))])
    fw_copy.set_weights(bi.backward_layer.get_weights())
    np.testing.assert_allclose(fw_copy.predict(x[:, ::-1]), bw_out, rtol=1e-5, atol=1e-6)
    for mode, width in (("sum", 4), ("mul", 4), ("ave", 4), ("concat", 8)):
        m = Sequential([layers.Bidirectional(layers.SimpleRNN(4), merge_mode=mode,
                                             input_shape=(5, 3))])
        assert m.predict(x).shape == (4, width)


def test_stateful_rnn_carries_state_until_reset():
    batch, steps, feat = 4, 6, 2
    rng = np.random.RandomState(2)
    long_seq = rng.randn(batch, 2 * steps, feat).astype("float32")

    stateful = Sequential([layers.LSTM(5, stateful=True, return_sequences=True,
                                       batch_input_shape=(batch, steps, feat))])
    stateless = Sequential([layers.LSTM(5, return_sequences=True,
                                        input_shape=(2 * steps, feat))])
    stateless.set_weights(stateful.get_weights())
    whole = stateless.predict(long_seq)

    first = stateful.predict(long_seq[:, :steps], batch_size=batch)
    second = stateful.predict(long_seq[:, steps:], batch_size=batch)
    np.testing.assert_allclose(first, whole[:, :steps], rtol=1e-5, atol=1e-6)
    # The second chunk starts from the state left by the first one.
    np.testing.assert_allclose(second, whole[:, steps:], rtol=1e-5, atol=1e-6)
    lstm = stateful.layers[0]
    h_state = K.get_value(lstm.states[0])
    np.testing.assert_allclose(h_state, whole[:, -1], rtol=1e-5, atol=1e-6)

    stateful.reset_states()
    assert not K.get_value(lstm.states[0]).any() and not K.get_value(lstm.states[1]).any()
    again = stateful.predict(long_seq[:, steps:], batch_size=batch)
    fresh = stateless.predict(np.concatenate([long_seq[:, steps:]] * 2, axis=1))[:, :steps]
    np.testing.assert_allclose(again, fresh, rtol=1e-5, atol=1e-6)


def test_stateful_training_on_chunks():
    # Target: the previous input. At the first step of a chunk that is the last input of
    # the previous chunk, which only the state carried across the boundary can provide.
    batch, steps, chunks = 8, 5, 4
    rng = np.random.RandomState(3)
    model = Sequential([layers.SimpleRNN(8, stateful=True, return_sequences=True,
                                         batch_input_shape=(batch, steps, 1)),
                        layers.TimeDistributed(layers.Dense(1))])
    model.compile(keras.optimizers.Adam(lr=0.01), "mse")

    def episode():
        x = rng.uniform(-1, 1, (batch, chunks * steps, 1)).astype("float32")
        y = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
        return x, y

    for _ in range(150):
        x, y = episode()
        model.reset_states()
        for c in range(chunks):
            s = slice(c * steps, (c + 1) * steps)
            model.train_on_batch(x[:, s], y[:, s])
    x, y = episode()
    model.reset_states()
    first_step_err = []
    for c in range(chunks):
        s = slice(c * steps, (c + 1) * steps)
        pred = model.predict_on_batch(x[:, s])
        first_step_err.append(float(np.mean((pred[:, 0] - y[:, c * steps]) ** 2)))
        assert np.mean((pred - y[:, s]) ** 2) < 0.01
    # Across each boundary the error stays small (targets have mean square 1/3).
    assert max(first_step_err[1:]) < 0.01, first_step_err
    # Without the state (reset before every chunk) the first step cannot be predicted.
    model.reset_states()
    pred = model.predict_on_batch(x[:, steps:2 * steps])
    assert np.mean((pred[:, 0] - y[:, steps]) ** 2) > 0.1
