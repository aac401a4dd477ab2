"""How often a K.function traces: once per input shapes (and learning phase), never because
a variable's value changed (K.set_value of a learning rate), a feed needed a dtype cast, or
a step counter moved on."""

import numpy as np
import pytest

import jkb as K


def _sgd_function(din=6, dout=3, lr=0.1):
    """A linear model trained by SGD with the learning rate in a variable."""
    x = K.placeholder((None, din))
    y = K.placeholder((None, dout))
    W = K.variable(np.linspace(-1, 1, din * dout).reshape(din, dout).astype(np.float32))
    lr_var = K.variable(lr, name="lr")
    loss = K.mean(K.square(K.dot(x, W) - y))
    (g,) = K.gradients(loss, [W])
    f = K.function([x, y], [loss], updates=[K.update(W, W - lr_var * g)])
    return f, W, lr_var


def _batch(n, din=6, dout=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, din)).astype(np.float32),
            rng.standard_normal((n, dout)).astype(np.float32)]


def test_same_shapes_trace_once():
    f, _, _ = _sgd_function()
    assert f.trace_count == 0  # nothing traced before the first call
    for seed in range(4):
        f(_batch(8, seed=seed))
    assert f.trace_count == 1


def test_new_batch_size_traces_once_more():
    f, _, _ = _sgd_function()
    for n in (8, 8, 5, 5, 8, 5):
        f(_batch(n))
    assert f.trace_count == 2


def test_set_value_of_learning_rate_never_retraces():
    f, W, lr = _sgd_function()
    f(_batch(4))
    w0 = K.get_value(W)
    K.set_value(lr, 0.0)
    f(_batch(4, seed=1))
    # the new rate is read at run time: a zero rate leaves W as it was
    np.testing.assert_array_equal(K.get_value(W), w0)
    K.set_value(lr, np.float64(0.5))  # another dtype is cast, not retraced
    xb, yb = _batch(4, seed=2)
    f([xb, yb])
    grad = 2 * xb.T @ (xb @ w0 - yb) / yb.size
    np.testing.assert_allclose(K.get_value(W), w0 - 0.5 * grad, rtol=1e-5, atol=1e-6)
    K.set_value(lr, 1)  # a Python int too
    f(_batch(4, seed=3))
    assert f.trace_count == 1


def test_feed_dtype_is_cast_before_the_cache():
    f, _, _ = _sgd_function()
    xb, yb = _batch(4)
    f([xb, yb])
    f([xb.astype(np.float64), yb.astype(np.float64)])
    f([xb.tolist(), yb.tolist()])
    assert f.trace_count == 1


def test_learning_phase_values_trace_once_each():
    x = K.placeholder((None, 4))
    out = K.in_train_phase(K.dropout(x, 0.5), x)
    f = K.function([x, K.learning_phase()], [out])
    xb = np.ones((3, 4), np.float32)
    for phase in (1, 1, 0, 0, 1, 0):
        got = f([xb, phase])[0]
        if phase == 0:
            np.testing.assert_array_equal(got, xb)
    assert f.trace_count == 2


def test_random_ops_and_step_counter_do_not_retrace():
    x = K.placeholder((None, 5))
    out = K.dropout(x, 0.5)
    f = K.function([x], [out])
    xb = np.ones((64, 5), np.float32)
    masks = [f([xb])[0] != 0 for _ in range(3)]
    assert not np.array_equal(masks[0], masks[1])  # fresh draws on every call
    assert f.trace_count == 1


def test_integer_counter_variable_update_does_not_retrace():
    it = K.variable(0, dtype="int64")
    f = K.function([], [it], updates=[K.update_add(it, 1)])
    got = [int(f([])[0]) for _ in range(3)]
    assert got == [0, 1, 2]
    assert K.get_value(it) == 3
    assert f.trace_count == 1


@pytest.mark.parametrize("n", [1, 7])
def test_unknown_batch_traces_per_distinct_size(n):
    f, _, _ = _sgd_function()
    f(_batch(n))
    f(_batch(n))
    f(_batch(n + 1))
    assert f.trace_count == 2
