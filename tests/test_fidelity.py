"""Keras 2.3.1 fidelity on TF: crossentropies from logits, graph details Keras relies on
(``_keras_shape``, sparse joins, static values, Python lists as operands), and nothing
silently accepted (None, objects, ragged lists raise and change nothing).

The per-name dtype table is in test_dtypes.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from test_dtypes import CALLS, Mode

import jkb as K
from jkb.core import Tensor

# ----------------------------------------------------------------------------- logits

Z = np.array([[50., -50., 0.], [-50., 50., 3.], [0.5, -0.5, 49.]], np.float32)  # saturated
T = np.array([[0., 1., 0.], [0., 0., 1.], [1., 0., 0.]], np.float32)  # confidently wrong
LABELS = np.array([1, 2, 0], np.int32)


def _cce(z, t):
    return -np.sum(t * jax.nn.log_softmax(z.astype(np.float64)), -1)


def _bce(z, t):
    z = z.astype(np.float64)
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z.astype(np.float64)))


def _softmax(z):
    return np.asarray(jax.nn.softmax(z.astype(np.float64)))


CASES = {
    # name: (loss of the symbolic output, reference loss, reference d(sum loss)/dz)
    "categorical": (lambda z, t: K.categorical_crossentropy(t, K.softmax(z)),
                    lambda: _cce(Z, T), lambda: _softmax(Z) - T),
    "sparse": (lambda z, t: K.sparse_categorical_crossentropy(
        K.argmax(t) if isinstance(t, Tensor) else LABELS, K.softmax(z)),
        lambda: _cce(Z, T), lambda: _softmax(Z) - T),
    "binary": (lambda z, t: K.binary_crossentropy(t, K.sigmoid(z)),
               lambda: _bce(Z, T), lambda: _sigmoid(Z) - T),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crossentropy_of_a_softmax_or_sigmoid_uses_the_logits(case):
    loss_of, ref_loss, ref_grad = CASES[case]
    # placeholders + K.function
    z, t = K.placeholder((None, 3)), K.placeholder((None, 3))
    loss = loss_of(z, t)
    grad = K.gradients(K.sum(loss), [z])[0]
    got_loss, got_grad = K.function([z, t], [loss, grad])([Z, T])
    np.testing.assert_allclose(got_loss, ref_loss(), rtol=1e-5)
    np.testing.assert_allclose(got_grad, ref_grad(), atol=1e-6)
    assert got_loss.max() > 40  # not clipped at -log(epsilon()) ~ 16.1
    # variables + K.eval
    zv, tv = K.variable(Z), K.variable(T)
    loss = loss_of(zv, tv)
    np.testing.assert_allclose(K.eval(loss), ref_loss(), rtol=1e-5)
    np.testing.assert_allclose(K.eval(K.gradients(K.sum(loss), [zv])[0]), ref_grad(),
                               atol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_plain_arrays_keep_the_clipped_formula(case):
    # A jax.Array carries no graph: the probabilities are clipped to [eps, 1 - eps], as
    # TF did for eager tensors.
    loss = np.asarray(CASES[case][0](jnp.asarray(Z), jnp.asarray(T)))
    cap = -np.log(K.epsilon())
    assert loss.max() <= cap + 1e-3 and loss.max() > cap - 1e-2, loss


def test_softmax_over_another_axis_or_another_op_is_not_taken_for_logits():
    z = K.placeholder((3, 3))
    t = K.placeholder((3, 3))
    f = K.function([z, t], [K.categorical_crossentropy(t, K.softmax(z, axis=0), axis=-1),
                            K.categorical_crossentropy(t, K.softmax(z) * 1.0)])
    a, b = f([Z, T])
    cap = -np.log(K.epsilon())
    assert a.max() <= cap + 1e-3 and b.max() <= cap + 1e-3


def test_logits_path_at_moderate_values_equals_the_probability_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 5)).astype(np.float32)
    t = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 4)]
    zp, tp = K.placeholder((None, 5)), K.placeholder((None, 5))
    out = K.function([zp, tp], [K.categorical_crossentropy(tp, K.softmax(zp))])([z, t])[0]
    np.testing.assert_allclose(out, -np.sum(t * np.log(_softmax(z)), -1), rtol=1e-5)


# ----------------------------------------------------------------------------- dtype rules


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float16", "float64"])
def test_zeros_like_and_ones_like_keep_the_dtype_of_x(dtype):
    x = np.ones((2, 3), dtype)
    for fn, value in ((K.zeros_like, 0), (K.ones_like, 1)):
        for arg in (x, K.variable(x, dtype=dtype), K.placeholder((None, 3), dtype=dtype)):
            out = fn(arg)
            assert np.dtype(out.dtype) == np.dtype(dtype), (fn, arg)
        np.testing.assert_array_equal(K.eval(fn(K.variable(x, dtype=dtype))),
                                      np.full((2, 3), value, dtype))
        assert fn(x, dtype="float16").dtype == np.float16


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_relu_on_integers_stays_integer(dtype):
    x = np.array([[-3, 0, 4]], dtype)
    np.testing.assert_array_equal(K.relu(x), [[0, 0, 4]])
    assert K.relu(x).dtype == np.dtype(dtype)
    p = K.placeholder((None, 3), dtype=dtype)
    out = K.function([p], [K.relu(p)])([x])[0]
    assert out.dtype == np.dtype(dtype) and out.tolist() == [[0, 0, 4]]
    assert K.relu(x, alpha=0.1).dtype == np.float32  # other forms compute in floatx


def test_arange_follows_tf_range_dtypes():
    assert K.arange(2.5).dtype == np.float32
    np.testing.assert_allclose(K.arange(0.5, 2), [0.5, 1.5])
    assert K.arange(1, 2, 0.25).dtype == np.float32
    assert K.arange(np.int64(3)).dtype == np.int64
    assert K.arange(np.float64(2)).dtype == np.float64
    assert K.arange(2.5, dtype="float16").dtype == np.float16  # cast when not int32
    assert K.arange(5).dtype == np.int32
    with pytest.raises(TypeError, match="arange"):
        K.arange(True)


# ----------------------------------------------------------------------------- graph details


def test_repeat_elements_sets_keras_shape_with_none_for_unknown_dims():
    x = K.placeholder((None, 3, None))
    assert K.repeat_elements(x, 2, 0)._keras_shape == (None, 3, None)
    assert K.repeat_elements(x, 2, 1)._keras_shape == (None, 6, None)
    assert K.repeat_elements(x, 2, 2)._keras_shape == (None, 3, None)
    v = K.resize_volumes(K.placeholder((None, 2, None, 2, 1)), 2, 2, 2, "channels_last")
    assert v._keras_shape == (None, 4, None, 4, 1) == K.int_shape(v)
    # the value matches its _keras_shape
    out = K.function([x], [K.repeat_elements(x, 2, 1)])([np.ones((2, 3, 4))])[0]
    assert out.shape == (2, 6, 4)


def test_concatenate_of_sparse_tensors_stays_sparse():
    m = sp.random(3, 4, density=0.5, format="csr", random_state=0, dtype=np.float32)
    a, b = K.placeholder((None, 4), sparse=True), K.placeholder((None, 4), sparse=True)
    v = K.variable(m)
    for parts, axis in (([a, b], 0), ([a, b], 1), ([v, v], 0), ([v, a], 0)):
        out = K.concatenate(parts, axis=axis)
        assert K.is_sparse(out), parts
    f = K.function([a, b], [K.to_dense(K.concatenate([a, b], axis=1))])
    np.testing.assert_allclose(f([m, m])[0], np.concatenate([m.toarray()] * 2, axis=1))
    np.testing.assert_allclose(K.eval(K.to_dense(K.concatenate([v, v], axis=0))),
                               np.concatenate([m.toarray()] * 2, axis=0))
    assert not K.is_sparse(K.concatenate([v, K.placeholder((None, 4))], axis=0))


def test_values_known_when_the_graph_is_built_are_static():
    np.testing.assert_array_equal(K.eval(K.arange(K.constant(3))), [0., 1., 2.])
    np.testing.assert_array_equal(K.arange(K.constant(1, dtype="int32"), 4), [1, 2, 3])
    x = K.placeholder((None, 6))
    f = K.function([x], [
        K.reshape(x, K.constant([-1, 2, 3], dtype="int32")),
        K.reshape(x, np.array([-1, 3])),
        K.sum(x, axis=K.constant(1, dtype="int32")),
        K.sum(x, axis=np.int64(1)),
        K.tile(x, K.constant([1, 2], dtype="int32")),
        K.softmax(x, axis=K.constant(-1, dtype="int32")),
        K.one_hot(K.cast(x, "int32"), K.constant(7, dtype="int32")),
    ])
    outs = f([np.arange(12.).reshape(2, 6)])
    assert [o.shape for o in outs] == [(2, 2, 3), (4, 3), (2,), (2,), (2, 12), (2, 6),
                                       (2, 6, 7)]
    img = K.placeholder((None, 5, 5, 1))
    out = K.pool2d(img, np.array([2, 2]), strides=K.constant([1, 1], dtype="int32"))
    assert K.int_shape(out) == (None, 4, 4, 1)


def test_operators_accept_nested_python_lists():
    x = K.placeholder((None, 2, 3))
    w = [[1., 2., 3.]]
    outs = [x * w, w * x, x + [[1, 2, 3], [4, 5, 6]], [[1, 2, 3]] - x, x / (1., 2., 4.),
            x ** [2, 1, 1], K.maximum(x, [[0., 1., 0.]]), K.dot(x, [[1.], [2.], [3.]]),
            K.switch(K.greater(x, 1.), x, [[0., 0., 0.]]), K.concatenate([x, [[[0, 0, 0]]] + x])]
    xv = np.arange(12., dtype=np.float32).reshape(2, 2, 3)
    got = K.function([x], outs)([xv])
    want = [xv * w, w * xv, xv + [[1, 2, 3], [4, 5, 6]], [[1, 2, 3]] - xv, xv / [1, 2, 4],
            xv ** [2, 1, 1], np.maximum(xv, [[0, 1, 0]]), xv @ [[1.], [2.], [3.]],
            np.where(xv > 1, xv, 0), np.concatenate([xv, xv], -1)]
    for g, wv, o in zip(got, want, outs):
        assert o.dtype == np.float32
        np.testing.assert_allclose(g, wv, rtol=1e-6)
    i = K.placeholder((None, 3), dtype="int32")
    assert (i + [1, 2, 3]).dtype == np.int32 and (i * [[2]]).dtype == np.int32
    assert (i * [0.5, 1., 2.]).dtype == np.float32  # floats next to integers: floatx
    assert (x * [True]).dtype == np.float32


def test_python_lists_get_tf_dtypes():
    assert K.identity([[1, 2]]).dtype == np.int32
    assert K.identity([[1., 2.]]).dtype == np.float32
    assert K.identity([True]).dtype == np.bool_
    assert K.concatenate([[1, 2], [3]]).dtype == np.int32
    assert K.stack([[1., 2.], [3., 4.]]).dtype == np.float32
    K.set_floatx("float64")
    assert K.softmax([[1., 2.]]).dtype == np.float64


# ------------------------------------------------------------------------ nothing accepted silently

BAD = {"None": None, "object": object(), "object array": np.array([object(), None]),
       "string": "1.5", "ragged": [[1., 2.], [3.]]}
# TF passes these through too: to_dense returns any non-sparse value unchanged;
# dtype(array) names the array's dtype (object included); stop_gradient of a list maps
# over its elements (TF: map(tf.stop_gradient, ...)), so a ragged list is a list of rows.
ALLOWED = {("to_dense", b) for b in BAD} | {("dtype", "object array"),
                                            ("stop_gradient", "ragged")}


class _Bad(Mode):
    """Gives the bad value as the first tensor argument, good values after."""

    def __init__(self, bad):
        super().__init__("plain")
        self.bad, self.calls = bad, 0

    def __call__(self, dt, shape=(2, 3), lo=1):
        self.calls += 1
        return self.bad if self.calls == 1 else super().__call__(dt, shape, lo)

    def const(self, dt, value):
        self.calls += 1
        return self.bad if self.calls == 1 else value


@pytest.mark.parametrize("name", sorted(n for n, (kind, _) in CALLS.items()
                                        if kind == "tensor"))
def test_every_op_refuses_none_and_objects(name):
    call = CALLS[name][1]
    for what, bad in BAD.items():
        if (name, what) in ALLOWED:
            continue
        with pytest.raises((TypeError, ValueError)):
            out = call(_Bad(bad), "float32")
            pytest.fail(f"K.{name} accepted {what}: returned {out!r:.80}")


@pytest.mark.parametrize("what", sorted(BAD))
def test_variables_and_constants_refuse_none_and_objects(what):
    bad = BAD[what]
    n_vars = len(K.get_session().variables)
    for make in (K.variable, K.constant, K.cast_to_floatx):
        with pytest.raises((TypeError, ValueError), match=make.__name__):
            make(bad)
    assert len(K.get_session().variables) == n_vars  # nothing created
    v, w = K.variable(np.ones(2)), K.variable(np.full(2, 2.))
    for action in (lambda: K.set_value(v, bad), lambda: K.batch_set_value([(w, 3.), (v, bad)]),
                   lambda: v.assign(bad)):
        with pytest.raises((TypeError, ValueError), match="set_value"):
            action()
        np.testing.assert_array_equal(K.get_value(v), [1., 1.])  # unchanged, all or nothing
        np.testing.assert_array_equal(K.get_value(w), [2., 2.])
    for action in (lambda: K.update(v, bad), lambda: K.update_add(v, bad),
                   lambda: K.moving_average_update(v, bad, 0.9)):
        with pytest.raises((TypeError, ValueError)):
            K.eval(action())
        np.testing.assert_array_equal(K.get_value(v), [1., 1.])
    p = K.placeholder((2,))
    f = K.function([p], [p * 2])
    with pytest.raises((TypeError, ValueError), match="placeholder"):
        f([bad])
    for fn in (K.eval, K.get_value, K.int_shape, K.ndim, K.count_params, K.shape, K.size,
               K.zeros, K.ones, K.eye):
        if fn in (K.int_shape, K.ndim, K.count_params) and what == "object array":
            continue  # introspection of a shape that exists
        with pytest.raises((TypeError, ValueError)):
            fn(bad)
    with pytest.raises((TypeError, ValueError)):
        K.function([p], [bad])


def test_error_messages_name_the_op_and_what_was_received():
    with pytest.raises(ValueError, match=r"variable: received None"):
        K.variable(None)
    with pytest.raises(ValueError, match=r"constant: received None"):
        K.constant(None)
    v = K.variable(np.zeros(3))
    with pytest.raises(ValueError, match=r"set_value: received None as the value for"):
        K.set_value(v, None)
    with pytest.raises(TypeError, match=r"variable: expected numbers .*object"):
        K.variable(np.array([object()]))
    with pytest.raises(ValueError, match=r"constant: a nested list must be rectangular"):
        K.constant([[1, 2], [3]])
    with pytest.raises(ValueError, match=r"relu: .*None"):
        K.relu(None)
    with pytest.raises(ValueError, match=r"mul: .*None"):
        v * None
    with pytest.raises(TypeError, match=r"operator: expected a number or a \(nested\) list"):
        v + [None, 1, 2]
