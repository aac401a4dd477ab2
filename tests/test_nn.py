"""NN ops: activations, crossentropies, l2_normalize, in_top_k, normalization, bias_add."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from opcheck import check

import jkb as K

RNG = np.random.default_rng(0)


def _grads(f, args, order=2):
    """check_grads on the jitted function (eager op-by-op dispatch is much slower)."""
    check_grads(jax.jit(f), args, order=order, modes=["rev"])


def _tol(dtype):
    return dict(rtol=2e-5, atol=1e-6) if np.dtype(dtype) == np.float32 else \
        dict(rtol=1e-10, atol=1e-12)


def _randn(shape, dtype, rng=RNG):
    return rng.standard_normal(shape).astype(dtype)


def _probs(shape, dtype, rng=RNG):
    # Unnormalized positive scores: the ops must renormalize them themselves.
    return rng.uniform(0.05, 1.0, shape).astype(dtype)


# ----------------------------------------------------------------------------- NumPy refs


def np_relu(x, alpha=0.0, max_value=None, threshold=0.0):
    x64 = x.astype(np.float64)
    above = x64 > threshold
    pos = x64 if max_value is None else np.clip(x64, 0.0, max(max_value, 0.0))
    return np.where(above, pos, alpha * (x64 - threshold)).astype(x.dtype)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


ACTIVATIONS = {
    "elu": (lambda x: K.elu(x), lambda x: np.where(x > 0, x, np.expm1(x))),
    "elu_alpha": (lambda x: K.elu(x, alpha=0.3), lambda x: np.where(x > 0, x, 0.3 * np.expm1(x))),
    "softplus": (K.softplus, lambda x: np.logaddexp(0.0, x)),
    "softsign": (K.softsign, lambda x: x / (1 + np.abs(x))),
    "sigmoid": (K.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "hard_sigmoid": (K.hard_sigmoid, lambda x: np.minimum(np.maximum(0.2 * x + 0.5, 0), 1)),
    "tanh": (K.tanh, np.tanh),
    "relu": (lambda x: K.relu(x), lambda x: np_relu(x)),
}


# ----------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("shape,none,dtype", [((3, 4), "batch", np.float32),
                                              ((2, 1, 3), "all", np.float64)])
def test_activations(name, shape, none, dtype):
    fn, ref = ACTIVATIONS[name]
    x = (_randn(shape, np.float64) * 3).astype(dtype)
    check(fn, lambda a: ref(a.astype(np.float64)).astype(dtype), x, none=none, **_tol(dtype))


@pytest.mark.parametrize("shape,none,dtype", [((5,), "all", np.float64), ((), None, np.float32)])
def test_activations_other_ranks(shape, none, dtype):
    names = sorted(ACTIVATIONS)
    x = (_randn(shape, np.float64) * 3).astype(dtype)
    check(lambda a: tuple(ACTIVATIONS[n][0](a) for n in names),
          lambda a: tuple(ACTIVATIONS[n][1](a.astype(np.float64)).astype(dtype) for n in names),
          x, none=none, **_tol(dtype))


def test_activation_extremes_are_finite():
    x = np.array([-1e4, -50.0, 50.0, 1e4], np.float32)
    for name, (fn, ref) in ACTIVATIONS.items():
        got = np.asarray(fn(jnp.asarray(x)))
        assert np.all(np.isfinite(got)), name
        with np.errstate(over="ignore"):  # the unused branch of np.where overflows
            want = ref(x.astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_activations_of_ints_compute_in_floatx(floatx):
    K.set_floatx(floatx)
    x = np.array([[-2, 0, 3]], np.int32)
    # The plain relu keeps integers (TF's Relu); see test_fidelity.py.
    names = sorted(n for n in ACTIVATIONS if n != "relu")
    check(lambda a: tuple(ACTIVATIONS[n][0](a) for n in names),
          lambda a: tuple(ACTIVATIONS[n][1](a.astype(np.float64)).astype(floatx) for n in names),
          x, rtol=1e-6, atol=1e-7)


def test_floatx_change_is_not_cached_away():
    x = jnp.asarray([[1, -2]], jnp.int32)
    assert K.sigmoid(x).dtype == np.float32 and K.relu(x, alpha=0.1).dtype == np.float32
    K.set_floatx("float64")
    assert K.sigmoid(x).dtype == np.float64 and K.relu(x, alpha=0.1).dtype == np.float64
    # Python numbers follow floatx as well
    assert K.tanh(0.5).dtype == np.float64
    K.set_floatx("float32")
    assert K.tanh(0.5).dtype == np.float32


def test_activation_keeps_float16():
    x = np.array([-1.5, 0.25, 2.0], np.float16)
    check(K.sigmoid, lambda a: (1 / (1 + np.exp(-a.astype(np.float64)))).astype(np.float16), x,
          rtol=2e-3, atol=1e-3)


RELU_CASES = [
    dict(),
    dict(alpha=0.1),
    dict(alpha=2.0),  # a leak above 1 is still piecewise, not max(x, alpha * x)
    dict(max_value=6.0),
    dict(max_value=1.5, alpha=0.2),
    dict(threshold=0.5),
    dict(threshold=-1.0),  # (threshold, 0) passes through negative
    dict(threshold=-1.0, max_value=2.0),  # ... but is clipped to 0 with a cap
    dict(threshold=-1.0, alpha=0.3),
    dict(threshold=1.0, alpha=0.5, max_value=2.5),
    dict(max_value=-1.0),  # a cap below 0 is raised to 0, as K.clip does
]


@pytest.mark.parametrize("i", range(len(RELU_CASES)))
def test_relu_variants(i):
    kwargs = RELU_CASES[i]
    dtype = (np.float32, np.float64)[i % 2]
    # Includes points exactly at the thresholds and on both sides of each kink.
    x = np.array([[-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.7, 6.0, 8.0],
                  [2.5, -2.0, 0.25, -0.25, 1.5, 3.0, -1.5, 0.75, -4.0]], dtype)
    check(lambda a: K.relu(a, **kwargs), lambda a: np_relu(a, **kwargs), x, none="all",
          **_tol(dtype))


def test_relu_plain_form_nan_and_kink():
    # The plain relu is max(x, 0) (what XLA fuses into a conv); every form passes NaN
    # through and has a zero gradient at the kink.
    x = np.array([np.nan, -1.0, 0.0, 2.0], np.float32)
    for kw in ({}, {"alpha": 0.1}, {"max_value": 6.0}, {"threshold": 0.5}):
        out = np.asarray(K.relu(x, **kw))
        assert np.isnan(out[0]), kw
    assert "max" in str(jax.make_jaxpr(K.relu)(x)) and "select_n" not in str(
        jax.make_jaxpr(K.relu)(x))
    g = jax.grad(lambda a: jnp.sum(K.relu(a)))(np.array([-1.0, 0.0, 3.0], np.float32))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])
    g = jax.grad(lambda a: jnp.sum(K.relu(a, max_value=6.0)))(np.array([0.0, 1.0], np.float32))
    np.testing.assert_array_equal(g, [0.0, 1.0])


def test_relu_at_threshold_is_zero():
    x = jnp.asarray([0.5, -1.0], jnp.float32)
    np.testing.assert_array_equal(np.asarray(K.relu(x, alpha=0.4, threshold=0.5))[0], 0.0)
    np.testing.assert_array_equal(np.asarray(K.relu(x, alpha=0.4, threshold=-1.0))[1], 0.0)


def test_relu_tensor_parameters():
    x = np.array([-2.0, -0.5, 0.3, 4.0], np.float32)
    alpha = K.variable(0.25)
    cap = K.variable(3.0)
    got = K.eval(K.relu(K.variable(x), alpha=alpha, max_value=cap))
    np.testing.assert_allclose(got, np_relu(x, alpha=0.25, max_value=3.0), rtol=1e-6)


def test_activation_grads():
    # Away from the kinks (0 for relu/elu/softsign, +-2.5 for hard_sigmoid).
    x = jnp.asarray([-3.1, -1.2, -0.4, 0.3, 0.9, 2.2, 4.0], jnp.float64)
    smooth = ["elu", "elu_alpha", "softplus", "softsign", "sigmoid", "tanh"]
    _grads(lambda a: tuple(ACTIVATIONS[n][0](a) for n in smooth), (x,), order=2)
    # piecewise linear: the second derivative is 0 and checks nothing
    _grads(lambda a: (K.relu(a), K.hard_sigmoid(a), K.relu(a, alpha=0.3),
                      K.relu(a, alpha=0.2, max_value=2.0, threshold=-0.5),
                      K.relu(a, threshold=0.7)), (x,), order=1)


def test_relu_grad_values():
    x = jnp.asarray([-2.0, -0.2, 0.6, 3.0], jnp.float64)
    g = jax.grad(lambda a: jnp.sum(K.relu(a, alpha=0.1, max_value=2.0, threshold=-0.5)))(x)
    # slope alpha below the threshold, 0 where the cap clips (-0.2 -> 0, 3 -> 2), 1 elsewhere
    np.testing.assert_allclose(np.asarray(g), [0.1, 0.0, 1.0, 0.0])


# ----------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("shape,axis,none,dtype", [
    ((4,), -1, "all", np.float32), ((3, 5), -1, "batch", np.float64),
    ((3, 5), 0, "all", np.float32), ((2, 3, 4), 1, "all", np.float64),
    ((2, 3, 4), -2, "batch", np.float32), ((2, 3, 4), -3, None, np.float64),
    ((2, 1, 3), 1, "batch", np.float32)])
def test_softmax(shape, axis, none, dtype):
    x = (_randn(shape, np.float64) * 4).astype(dtype)
    check(lambda a: K.softmax(a, axis=axis),
          lambda a: np_softmax(a.astype(np.float64), axis).astype(dtype), x, none=none,
          **_tol(dtype))


def test_softmax_default_axis_and_stability():
    x = np.array([[1000.0, 1001.0, 999.0], [-1e4, 0.0, 1e4]], np.float32)
    got = np.asarray(K.softmax(jnp.asarray(x)))
    np.testing.assert_allclose(got, np_softmax(x.astype(np.float64)), rtol=1e-6, atol=1e-30)


def test_softmax_grads():
    x = jnp.asarray(_randn((3, 4), np.float64))
    _grads(lambda a: (K.softmax(a), K.softmax(a, axis=0)), (x,))


def test_softmax_errors():
    with pytest.raises(ValueError, match=r"softmax: axis 2 is out of range.*rank 2.*\(3, 4\)"):
        K.softmax(jnp.ones((3, 4)), axis=2)
    with pytest.raises(ValueError, match=r"softmax: axis -3 is out of range"):
        K.softmax(K.placeholder((None, 4)), axis=-3)
    with pytest.raises(ValueError, match=r"softmax: the input must have rank >= 1"):
        K.softmax(jnp.float32(1.0))


# ----------------------------------------------------------------------------- categorical


def np_cce(t, o, from_logits=False, axis=-1, eps=1e-7):
    dtype = o.dtype
    t, o = t.astype(np.float64), o.astype(np.float64)
    if from_logits:
        res = -(t * np_log_softmax(o, axis)).sum(axis=axis)
    else:
        o = o / o.sum(axis=axis, keepdims=True)
        e = float(np.asarray(eps, dtype))
        o = np.clip(o, e, float(dtype.type(1) - dtype.type(e)))
        res = -(t * np.log(o)).sum(axis=axis)
    return res.astype(dtype)


def _one_hot_targets(shape, axis, dtype, rng=RNG):
    idx = rng.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1:] if axis >= 0
                       else None)
    return np.moveaxis(np.eye(shape[axis], dtype=dtype)[idx], -1, axis)


@pytest.mark.parametrize("shape,axis,none,dtype", [
    ((4, 5), -1, "all", np.float32), ((4, 5), 0, "batch", np.float64),
    ((4, 5), -2, "all", np.float32), ((2, 3, 4), -1, "batch", np.float64),
    ((2, 3, 4), 1, "all", np.float32), ((2, 3, 4), -3, None, np.float64),
    ((6,), 0, "all", np.float32)])
def test_categorical_crossentropy(shape, axis, none, dtype):
    ax = axis % len(shape)
    hot, probs = _one_hot_targets(shape, ax, dtype), _probs(shape, dtype)
    # soft targets (label smoothing-like) with the logits
    soft = np_softmax(_randn(shape, np.float64), ax).astype(dtype)
    logits = (_randn(shape, np.float64) * 2).astype(dtype)
    check(lambda a, b, c, d: (K.categorical_crossentropy(a, b, axis=axis),
                              K.categorical_crossentropy(c, d, from_logits=True, axis=axis)),
          lambda a, b, c, d: (np_cce(a, b, False, ax), np_cce(c, d, True, ax)),
          hot, probs, soft, logits, none=none, **_tol(dtype))


def test_categorical_crossentropy_clips_and_renormalizes():
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    out = np.array([[0.5, 0.0, 1.5], [2.0, 0.0, 0.0]], np.float32)  # rows sum to 2
    check(K.categorical_crossentropy, np_cce, t, out)
    got = np.asarray(K.categorical_crossentropy(jnp.asarray(t), jnp.asarray(out)))
    assert np.all(np.isfinite(got))
    assert got[0] == pytest.approx(-np.log(1e-7), rel=1e-5)  # log(0) clipped to log(eps)
    assert got[1] == pytest.approx(-np.log(np.float32(1) - np.float32(1e-7)), rel=1e-3)


@pytest.mark.parametrize("eps", [1e-3, 0.05])
def test_categorical_crossentropy_reads_epsilon_at_call_time(eps):
    t = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    out = np.array([[0.3, 0.001, 0.699], [0.02, 0.0, 0.98]], np.float32)
    default = np.asarray(K.categorical_crossentropy(jnp.asarray(t), jnp.asarray(out)))
    K.set_epsilon(eps)
    check(K.categorical_crossentropy, lambda a, b: np_cce(a, b, eps=eps), t, out)
    changed = np.asarray(K.categorical_crossentropy(jnp.asarray(t), jnp.asarray(out)))
    assert not np.allclose(changed, default)
    K.set_epsilon(1e-7)
    np.testing.assert_array_equal(
        np.asarray(K.categorical_crossentropy(jnp.asarray(t), jnp.asarray(out))), default)


def test_categorical_crossentropy_of_a_softmax_uses_its_logits():
    # An output straight from K.softmax is computed from the logits, as Keras 2.3.1's TF
    # backend does (more cases in test_fidelity.py); a plain array is clipped.
    logits = np.array([[30.0, 0.0, -30.0]], np.float32)
    t = np.array([[0.0, 0.0, 1.0]], np.float32)
    x = K.placeholder((None, 3))
    loss = K.categorical_crossentropy(K.constant(t), K.softmax(x))
    got = K.function([x], [loss])([logits])[0]
    np.testing.assert_allclose(got, [60.0], rtol=1e-5)
    clipped = K.categorical_crossentropy(jnp.asarray(t), K.softmax(jnp.asarray(logits)))
    np.testing.assert_allclose(clipped, [-np.log(1e-7)], rtol=1e-5)


def test_categorical_crossentropy_int_targets():
    t = np.array([[0, 1, 0], [1, 0, 0]], np.int32)
    out = _probs((2, 3), np.float32)
    check(K.categorical_crossentropy, np_cce, t, out)


def test_categorical_crossentropy_grads():
    rng = np.random.default_rng(1)
    t = jnp.asarray(np_softmax(rng.standard_normal((3, 4))))
    logits = jnp.asarray(rng.standard_normal((3, 4)))
    probs = jnp.asarray(rng.uniform(0.2, 1, (3, 4)))
    _grads(lambda a, b, c: (K.categorical_crossentropy(a, b, True),
                            K.categorical_crossentropy(a, b, True, axis=0),
                            K.categorical_crossentropy(a, c),
                            K.categorical_crossentropy(a, c, axis=-2)), (t, logits, probs))


def test_categorical_crossentropy_errors():
    with pytest.raises(ValueError, match=r"categorical_crossentropy: target and output shapes "
                                         r"are incompatible.*\(2, 3\).*\(2, 4\)"):
        K.categorical_crossentropy(jnp.ones((2, 3)), jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"incompatible.*target.shape=\(None, 3, 1\)"):
        K.categorical_crossentropy(K.placeholder((None, 3, 1)), K.placeholder((None, 3)))
    with pytest.raises(ValueError, match=r"categorical_crossentropy: axis 2 is out of range"):
        K.categorical_crossentropy(jnp.ones((2, 3)), jnp.ones((2, 3)), axis=2)
    # None dims are compatible with anything
    assert K.int_shape(K.categorical_crossentropy(K.placeholder((None, 3)),
                                                  K.placeholder((None, 3)))) == (None,)


# ----------------------------------------------------------------------------- sparse


def np_scce(t, o, from_logits=False, axis=-1, eps=1e-7):
    dtype = o.dtype
    o = np.moveaxis(o.astype(np.float64), axis, -1)
    if from_logits:
        logp = np_log_softmax(o)
    else:
        e = float(np.asarray(eps, dtype))
        p = np.clip(o, e, float(dtype.type(1) - dtype.type(e)))
        logp = np.log(p / p.sum(-1, keepdims=True))
    lead = o.shape[:-1]
    flat_t = np.asarray(t).reshape(-1).astype(np.int64)
    flat_lp = logp.reshape(-1, o.shape[-1])
    res = -flat_lp[np.arange(flat_lp.shape[0]), flat_t]
    if np.ndim(t) == o.ndim - 1 or o.ndim >= 3:
        res = res.reshape(lead)
    return res.astype(dtype)


@pytest.mark.parametrize("shape,tshape,axis,none,tdtype", [
    ((4, 5), (4,), -1, "batch", np.int32),
    ((4, 5), (4, 1), -1, "batch", np.float32),    # trailing 1: result (4,), not (4, 1)
    ((2, 3, 5), (2, 3), -1, "all", np.int64),
    ((2, 3, 5), (2, 3, 1), -1, "batch", np.int32),  # rank >= 3: reshaped back to (2, 3)
    ((2, 5, 3), (2, 3), 1, "batch", np.float32),  # class axis in the middle
    ((5, 4), (4,), -2, None, np.int64),
    ((6,), (), 0, None, np.int32),
])
def test_sparse_categorical_crossentropy(shape, tshape, axis, none, tdtype):
    ax = axis % len(shape)
    t = RNG.integers(0, shape[ax], size=tshape).astype(tdtype)
    probs, logits = _probs(shape, np.float32), _randn(shape, np.float32) * 2
    check(lambda a, b, c: (K.sparse_categorical_crossentropy(a, b, axis=axis),
                           K.sparse_categorical_crossentropy(a, c, True, axis)),
          lambda a, b, c: (np_scce(a, b, False, ax), np_scce(a, c, True, ax)),
          t, probs, logits, none=none, **_tol(np.float32))


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy_float64(from_logits):
    out = _randn((3, 4), np.float64) if from_logits else _probs((3, 4), np.float64)
    t = np.array([0, 3, 2], np.int64)
    check(lambda a, b: K.sparse_categorical_crossentropy(a, b, from_logits=from_logits),
          lambda a, b: np_scce(a, b, from_logits), t, out, **_tol(np.float64))


def test_sparse_matches_dense_with_one_hot():
    out = _probs((4, 3, 6), np.float64)
    t = RNG.integers(0, 6, size=(4, 3))
    dense = K.categorical_crossentropy(jnp.eye(6)[t], jnp.asarray(out))
    sparse = K.sparse_categorical_crossentropy(jnp.asarray(t), jnp.asarray(out))
    np.testing.assert_allclose(np.asarray(sparse), np.asarray(dense), rtol=1e-12)


def test_sparse_categorical_crossentropy_epsilon_and_float_labels():
    K.set_epsilon(0.01)
    out = np.array([[0.001, 0.5, 0.499], [0.9, 0.1, 0.0]], np.float32)
    t = np.array([0.0, 2.9], np.float32)  # float labels truncate to 0 and 2
    check(K.sparse_categorical_crossentropy,
          lambda a, b: np_scce(np.trunc(a), b, eps=0.01), t, out)


def test_sparse_categorical_crossentropy_out_of_range_is_nan():
    out = jnp.asarray(_probs((3, 4), np.float32))
    got = np.asarray(K.sparse_categorical_crossentropy(jnp.asarray([1, 4, -1]), out))
    assert np.isfinite(got[0]) and np.isnan(got[1]) and np.isnan(got[2])


def test_sparse_categorical_crossentropy_grads():
    rng = np.random.default_rng(2)
    t = jnp.asarray([[0], [3], [1]])
    logits = jnp.asarray(rng.standard_normal((3, 4)))
    probs = jnp.asarray(rng.uniform(0.2, 1, (3, 4)))
    _grads(lambda b, c: (K.sparse_categorical_crossentropy(t, b, True),
                         K.sparse_categorical_crossentropy(t, c)), (logits, probs))


def test_sparse_categorical_crossentropy_errors():
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: target does not "
                                         r"match the output without its class axis 1.*"
                                         r"target.shape=\(4, 2\), output.shape=\(4, 3\)"):
        K.sparse_categorical_crossentropy(jnp.zeros((4, 2), jnp.int32), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"target does not match.*\(3,\)"):
        K.sparse_categorical_crossentropy(jnp.zeros((3,), jnp.int32), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"target does not match.*axis 0.*\(None, 3\)"):
        K.sparse_categorical_crossentropy(K.placeholder((5,)), K.placeholder((None, 3)),
                                          axis=0)
    with pytest.raises(TypeError, match=r"sparse_categorical_crossentropy: target must hold "
                                        r"integer.*bool"):
        K.sparse_categorical_crossentropy(jnp.zeros((4,), bool), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"axis 2 is out of range"):
        K.sparse_categorical_crossentropy(jnp.zeros((4,), jnp.int32), jnp.ones((4, 3)), axis=2)


def test_sparse_categorical_crossentropy_runtime_mismatch():
    # Unknown dims: the graph builds, and the mismatch raises when the function runs.
    t = K.placeholder((None, 2), dtype="int32")
    y = K.placeholder((None, 3))
    f = K.function([t, y], [K.sparse_categorical_crossentropy(t, y)])
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: target holds 8 "
                                         r"labels but output has 4 rows of 3 classes.*"
                                         r"target.shape=\(4, 2\)"):
        f([np.zeros((4, 2), np.int32), np.ones((4, 3), np.float32)])
    t1 = K.placeholder((None,), dtype="int32")
    g = K.function([t1, y], [K.sparse_categorical_crossentropy(t1, y)])
    with pytest.raises(ValueError, match=r"target shape must equal output shape without the "
                                         r"class axis.*\(3,\)"):
        g([np.zeros((3,), np.int32), np.ones((4, 3), np.float32)])


@pytest.mark.parametrize("out_shape", [(None, 4), (None, 3, 4)])
def test_crossentropies_with_keras_target_placeholders(out_shape):
    # Keras 2.3.1 feeds targets through placeholders of ndim=rank(output), all dims unknown.
    y = K.placeholder(out_shape)
    t = K.placeholder(ndim=len(out_shape))
    cce = K.categorical_crossentropy(t, y)
    scce = K.sparse_categorical_crossentropy(t, y)
    bce = K.binary_crossentropy(t, y)
    assert K.int_shape(cce) == K.int_shape(scce) == out_shape[:-1]
    assert K.int_shape(bce) == out_shape
    lead = (2,) + out_shape[1:-1]
    probs = _probs(lead + (4,), np.float32)
    labels = RNG.integers(0, 4, size=lead + (1,)).astype(np.float32)
    hot = np.eye(4, dtype=np.float32)[labels[..., 0].astype(int)]
    f = K.function([t, y], [cce, bce])
    got_cce, got_bce = f([hot, probs])
    np.testing.assert_allclose(got_cce, np_cce(hot, probs), rtol=2e-5)
    np.testing.assert_allclose(got_bce, np_bce(hot, probs), rtol=2e-5)
    got = K.function([t, y], [scce])([labels, probs])[0]
    np.testing.assert_allclose(got, np_scce(labels, probs).reshape(lead), rtol=2e-5)


# ----------------------------------------------------------------------------- binary


def np_bce(t, o, from_logits=False, eps=1e-7):
    dtype = o.dtype
    t, x = t.astype(np.float64), o.astype(np.float64)
    if from_logits:
        # TF's stable form, a different formula from the implementation's.
        res = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    else:
        e = float(np.asarray(eps, dtype))
        p = np.clip(x, e, float(dtype.type(1) - dtype.type(e)))
        res = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    return res.astype(dtype)


@pytest.mark.parametrize("shape,none,dtype", [
    ((4, 3), "all", np.float32), ((5,), "batch", np.float64), ((2, 3, 1), "batch", np.float32),
    ((), None, np.float64)])
def test_binary_crossentropy(shape, none, dtype):
    t = RNG.uniform(0, 1, shape).astype(dtype)
    if shape:
        t.reshape(-1)[:2] = [0.0, 1.0][:t.size]
    probs = RNG.uniform(0, 1, shape).astype(dtype)
    logits = _randn(shape, dtype) * 3
    check(lambda a, b, c: (K.binary_crossentropy(a, b),
                           K.binary_crossentropy(a, c, from_logits=True)),
          lambda a, b, c: (np_bce(a, b), np_bce(a, c, True)), t, probs, logits, none=none,
          **_tol(dtype))


def test_binary_crossentropy_clipping_and_epsilon():
    t = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    out = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    check(K.binary_crossentropy, np_bce, t, out)
    assert np.all(np.isfinite(np.asarray(K.binary_crossentropy(jnp.asarray(t),
                                                               jnp.asarray(out)))))
    K.set_epsilon(0.1)
    check(K.binary_crossentropy, lambda a, b: np_bce(a, b, eps=0.1), t, out)


def test_binary_crossentropy_logits_are_stable():
    x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0], np.float32)
    for tv in (0.0, 0.3, 1.0):
        t = np.full_like(x, tv)
        got = np.asarray(K.binary_crossentropy(jnp.asarray(t), jnp.asarray(x), from_logits=True))
        np.testing.assert_allclose(got, np_bce(t.astype(np.float64), x.astype(np.float64), True),
                                   rtol=1e-6, atol=1e-30)


def test_binary_crossentropy_broadcasts_and_int_targets():
    t = np.array([[1], [0]], np.int32)
    out = np.array([[0.2, 0.9, 0.5], [0.4, 0.1, 0.7]], np.float32)
    check(K.binary_crossentropy, lambda a, b: np_bce(np.broadcast_to(a, b.shape), b), t, out)


def test_binary_crossentropy_grads():
    rng = np.random.default_rng(3)
    t = jnp.asarray(rng.uniform(0, 1, (3, 4)))
    logits = jnp.asarray(rng.standard_normal((3, 4)) * 2)
    probs = jnp.asarray(rng.uniform(0.2, 0.8, (3, 4)))
    _grads(lambda a, b, c: (K.binary_crossentropy(a, b, True), K.binary_crossentropy(a, c)),
           (t, logits, probs))
    # the logits path at exactly 0, where its stable formula has kinks
    z = jnp.zeros((3,), jnp.float64)
    _grads(lambda a, b: K.binary_crossentropy(a, b, True), (t[0, :3], z))


# ----------------------------------------------------------------------------- l2_normalize


def np_l2(x, axis=None):
    x64 = x.astype(np.float64)
    ax = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    sq = np.sum(x64 ** 2, axis=ax, keepdims=True)
    return (x64 / np.sqrt(np.maximum(sq, 1e-12))).astype(x.dtype)


@pytest.mark.parametrize("shape,axis,none,dtype", [
    ((3, 4), None, "batch", np.float32), ((3, 4), -1, "all", np.float64),
    ((3, 4), 0, "batch", np.float32), ((2, 3, 4), [1, 2], "all", np.float64),
    ((2, 3, 4), (0, -1), "batch", np.float32), ((5,), 0, None, np.float64),
    ((2, 1, 3), 1, "all", np.float32)])
def test_l2_normalize(shape, axis, none, dtype):
    x = _randn(shape, dtype)
    check(lambda a: K.l2_normalize(a, axis=axis), lambda a: np_l2(a, axis), x, none=none,
          **_tol(dtype))


def test_l2_normalize_zero_vector_and_tiny_values():
    x = np.array([[0.0, 0.0, 0.0], [1e-8, 0.0, 0.0], [3.0, 4.0, 0.0]], np.float64)
    check(lambda a: K.l2_normalize(a, axis=-1), lambda a: np_l2(a, -1), x)
    got = np.asarray(K.l2_normalize(jnp.asarray(x), axis=-1))
    np.testing.assert_array_equal(got[0], 0.0)
    np.testing.assert_allclose(got[1], [1e-2, 0, 0])  # floored at 1e-12, not at epsilon()


def test_l2_normalize_grads_and_errors():
    x = jnp.asarray(_randn((3, 4), np.float64))
    _grads(lambda a: (K.l2_normalize(a, axis=1), K.l2_normalize(a)), (x,))
    with pytest.raises(ValueError, match=r"l2_normalize: axis 2 is out of range"):
        K.l2_normalize(x, axis=2)


# ----------------------------------------------------------------------------- in_top_k


def np_in_top_k(pred, targets, k):
    res = np.zeros(pred.shape[0], bool)
    for i, (row, t) in enumerate(zip(pred, targets)):
        if not (0 <= t < row.size) or not np.all(np.isfinite(row)) or k < 1:
            continue
        kth = np.sort(row)[::-1][min(k, row.size) - 1]
        res[i] = row[t] >= kth
    return res


@pytest.mark.parametrize("k,tdtype", [(0, np.int32), (1, np.int64), (2, np.int32),
                                       (3, np.int64), (5, np.int32), (7, np.int64)])
def test_in_top_k_ties(k, tdtype):
    rows = np.array([[0.1, 0.5, 0.5, 0.2, 0.0],
                     [0.3, 0.3, 0.3, 0.3, 0.3],
                     [0.9, 0.8, 0.8, 0.8, 0.1],
                     [0.2, 0.7, 0.1, 0.7, 0.7],
                     [0.5, 0.4, 0.3, 0.2, 0.1]], np.float32)
    # every row with every target column
    pred = np.repeat(rows, 5, axis=0)
    t = np.tile(np.arange(5), 5).astype(tdtype)
    check(lambda p, q: K.in_top_k(p, q, k), lambda p, q: np_in_top_k(p, q, k), pred, t)


def test_in_top_k_tie_counts_as_hit():
    pred = jnp.asarray([[0.1, 0.5, 0.5, 0.2]], jnp.float32)
    # top-1 by index would pick only class 1; the tie makes class 2 a hit too
    assert bool(np.asarray(K.in_top_k(pred, jnp.asarray([2]), 1))[0])
    assert not bool(np.asarray(K.in_top_k(pred, jnp.asarray([3]), 1))[0])
    assert bool(np.asarray(K.in_top_k(pred, jnp.asarray([3]), 3))[0])


def test_in_top_k_random_and_special_rows():
    pred = RNG.integers(0, 4, size=(12, 6)).astype(np.float64)  # many ties
    pred[3, 2] = np.nan
    pred[5, 0] = np.inf
    t = RNG.integers(0, 6, size=12).astype(np.int64)
    t[7], t[8] = 6, -1  # out of range
    for k in (1, 2, 4):
        check(lambda p, q, k=k: K.in_top_k(p, q, k), lambda p, q, k=k: np_in_top_k(p, q, k),
              pred, t, none="batch")
    got = np.asarray(K.in_top_k(jnp.asarray(pred), jnp.asarray(t), 6))
    assert got.dtype == bool
    assert not got[[3, 5, 7, 8]].any() and got[[0, 1, 2, 4, 6, 9, 10, 11]].all()


def test_in_top_k_errors():
    with pytest.raises(TypeError, match=r"in_top_k: targets must be integers.*float32"):
        K.in_top_k(jnp.ones((2, 3)), jnp.ones((2,), jnp.float32), 1)
    with pytest.raises(ValueError, match=r"in_top_k: expected predictions of rank 2.*"
                                         r"predictions.shape=\(3,\)"):
        K.in_top_k(jnp.ones((3,)), jnp.zeros((3,), jnp.int32), 1)
    with pytest.raises(ValueError, match=r"targets.shape=\(None, 1\)"):
        K.in_top_k(K.placeholder((None, 3)), K.placeholder((None, 1), dtype="int32"), 1)
    with pytest.raises(ValueError, match=r"in_top_k: predictions and targets must have the "
                                         r"same batch size.*\(2, 3\).*\(4,\)"):
        K.in_top_k(jnp.ones((2, 3)), jnp.zeros((4,), jnp.int32), 1)
    # with an unknown batch the graph builds; the mismatch raises when it runs
    p, t = K.placeholder((None, 3)), K.placeholder((4,), dtype="int32")
    f = K.function([p, t], [K.in_top_k(p, t, 1)])
    with pytest.raises(ValueError, match=r"same batch size.*\(2, 3\).*\(4,\)"):
        f([np.ones((2, 3), np.float32), np.zeros((4,), np.int32)])
    pred = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.2, 0.9]], np.float32)
    np.testing.assert_array_equal(f([pred, np.array([0, 1, 2, 0], np.int32)])[0],
                                  np_in_top_k(pred, [0, 1, 2, 0], 1))


# ----------------------------------------------------------------------------- bias_add


def np_bias_add(x, b, data_format):
    nd = x.ndim
    if nd in (3, 4, 5):
        if b.ndim == 1:
            shape = [1] * nd
            shape[1 if data_format == "channels_first" else nd - 1] = b.size
            return x + b.reshape(shape)
        if data_format == "channels_first":
            # Keras reshapes the channels-last bias (it does not transpose it)
            return x + np.reshape(b, (1, b.shape[-1]) + b.shape[:-1])
        return x + b[None]
    return x + b


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("xshape,full,dtype", [
    ((2, 3), False, np.float32), ((2, 3, 4), False, np.float64), ((2, 3, 4), True, np.float32),
    ((2, 3, 4, 5), False, np.float64), ((2, 3, 4, 5), True, np.float32),
    ((2, 2, 3, 2, 4), False, np.float32), ((2, 2, 3, 2, 4), True, np.float64),
    ((2, 3, 1, 2, 1, 2), False, np.float64)])
def test_bias_add(data_format, xshape, full, dtype):
    x = _randn(xshape, dtype)
    nd = len(xshape)
    chan = xshape[1] if data_format == "channels_first" and nd in (3, 4, 5) else xshape[-1]
    if full:
        spatial = xshape[2:] if data_format == "channels_first" else xshape[1:-1]
        bshape = spatial + (chan,)
    else:
        bshape = (chan,)
    b = _randn(bshape, dtype)
    # unknown batch and spatial dims, known channels
    if nd in (3, 4, 5) and not full:
        pspec = tuple(None if i != (1 if data_format == "channels_first" else nd - 1) else d
                      for i, d in enumerate(xshape))
    else:
        pspec = (None,) + xshape[1:]
    check(lambda a, c: K.bias_add(a, c, data_format=data_format),
          lambda a, c: np_bias_add(a, c, data_format), x, b, none=[pspec, None], **_tol(dtype))


def test_bias_add_default_data_format_is_read_at_call_time():
    x = _randn((2, 3, 4), np.float32)
    b = _randn((3,), np.float32)
    K.set_image_data_format("channels_first")
    check(K.bias_add, lambda a, c: np_bias_add(a, c, "channels_first"), x, b,
          none=["batch", None])
    with pytest.raises(ValueError, match=r"bias_add: .*\(channels_first\); expected \(3,\)"):
        K.bias_add(x, np.ones(4, np.float32))
    K.set_image_data_format("channels_last")
    check(K.bias_add, lambda a, c: np_bias_add(a, c, "channels_last"), x,
          _randn((4,), np.float32), none=["batch", None])


def test_bias_add_full_channels_first_is_a_reshape_not_a_transpose():
    x = np.zeros((1, 2, 3), np.float32)
    b = np.arange(6, dtype=np.float32).reshape(3, 2)
    got = np.asarray(K.bias_add(jnp.asarray(x), jnp.asarray(b), "channels_first"))
    np.testing.assert_array_equal(got[0], b.reshape(2, 3))
    assert not np.array_equal(got[0], b.T)


def test_bias_add_grads():
    x = jnp.asarray(_randn((2, 3, 4), np.float64))
    b = jnp.asarray(_randn((3,), np.float64))
    full = jnp.asarray(_randn((3, 4), np.float64))
    _grads(lambda a, c, d: (K.bias_add(a, c, "channels_first"), K.bias_add(a, d)), (x, b, full))


def test_bias_add_errors():
    with pytest.raises(ValueError, match=r"bias_add: unexpected bias dimensions 2, expected 1 "
                                         r"or 3.*x.shape=\(2, 3, 4, 5\), bias.shape=\(4, 5\)"):
        K.bias_add(jnp.ones((2, 3, 4, 5)), jnp.ones((4, 5)))
    with pytest.raises(ValueError, match=r"bias_add: bias shape does not match the channels "
                                         r"of x \(channels_first\); expected \(3,\)"):
        K.bias_add(K.placeholder((None, 3, 4)), jnp.ones((4,)), "channels_first")
    with pytest.raises(ValueError, match=r"expected \(4, 3\).*bias.shape=\(3, 4\)"):
        K.bias_add(jnp.ones((2, 3, 4)), jnp.ones((3, 4)), "channels_first")
    with pytest.raises(ValueError, match=r"bias must be 1-D"):
        K.bias_add(jnp.ones((4,)), jnp.ones(()))
    with pytest.raises(ValueError, match=r"bias_add: bias shape does not match"):
        K.bias_add(jnp.ones((2, 3)), jnp.ones((2,)))
    with pytest.raises(ValueError, match=r"data_format"):
        K.bias_add(jnp.ones((2, 3)), jnp.ones((3,)), "NHWC")


# ----------------------------------------------------------------------------- batch norm


def np_bn(x, mean, var, beta, gamma, axis=-1, eps=1e-3):
    def along(p):
        if p is None:
            return None
        p = np.asarray(p, np.float64)
        if p.ndim == 1 and x.ndim > 1:
            shape = [1] * x.ndim
            shape[axis] = p.size
            p = p.reshape(shape)
        return p
    mean, var, beta, gamma = map(along, (mean, var, beta, gamma))
    out = (x.astype(np.float64) - mean) / np.sqrt(var + eps)
    if gamma is not None:
        out = out * gamma
    if beta is not None:
        out = out + beta
    return out.astype(x.dtype)


@pytest.mark.parametrize("xshape,axis,pshape,dtype,with_affine", [
    ((4, 3), -1, (3,), np.float32, True), ((2, 3, 4, 5), 1, (3,), np.float64, True),
    ((2, 3, 4, 5), -3, (3,), np.float32, False), ((2, 3, 4, 5), -1, (5,), np.float64, False),
    ((2, 3, 4, 5), 1, (1, 3, 1, 1), np.float32, True), ((2, 4, 3), 1, (4,), np.float64, True),
    ((2, 4, 3), -1, (1, 1, 3), np.float32, False), ((2, 2, 3, 2, 4), 4, (4,), np.float64, True),
    ((2, 2, 3, 2, 4), 1, (2,), np.float32, True), ((4, 3), 0, (4,), np.float64, False)])
def test_batch_normalization(xshape, axis, pshape, dtype, with_affine):
    x = _randn(xshape, dtype)
    xspec = tuple(d if i == axis % len(xshape) else None for i, d in enumerate(xshape))
    mean = _randn(pshape, dtype)
    var = RNG.uniform(0.1, 2.0, pshape).astype(dtype)
    if with_affine:
        beta, gamma = _randn(pshape, dtype), _randn(pshape, dtype)
        check(lambda a, m, v, b, g: K.batch_normalization(a, m, v, b, g, axis=axis, epsilon=1e-2),
              lambda a, m, v, b, g: np_bn(a, m, v, b, g, axis % len(xshape), 1e-2),
              x, mean, var, beta, gamma, none=[xspec, None, None, None, None], **_tol(dtype))
    else:
        check(lambda a, m, v: K.batch_normalization(a, m, v, None, None, axis=axis),
              lambda a, m, v: np_bn(a, m, v, None, None, axis % len(xshape)),
              x, mean, var, none=[xspec, None, None], **_tol(dtype))


def test_batch_normalization_grads_and_errors():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((2, 3, 4)))
    m, b, g = (jnp.asarray(rng.standard_normal(3)) for _ in range(3))
    v = jnp.asarray(rng.uniform(0.5, 1.5, 3))
    _grads(lambda *a: K.batch_normalization(*a, axis=1), (x, m, v, b, g))
    with pytest.raises(ValueError, match=r"batch_normalization: axis 3 is out of range"):
        K.batch_normalization(x, m, v, b, g, axis=3)


def np_nbit(x, gamma, beta, axes, eps=1e-3):
    x64 = x.astype(np.float64)
    axes = tuple(a % x.ndim for a in axes)
    mean = x64.mean(axis=axes, keepdims=True)
    var = x64.var(axis=axes, keepdims=True)
    out = (x64 - mean) / np.sqrt(var + eps)
    kept = tuple(1 if a in axes else d for a, d in enumerate(x.shape))
    if gamma is not None:
        out = out * np.asarray(gamma, np.float64).reshape(kept)
    if beta is not None:
        out = out + np.asarray(beta, np.float64).reshape(kept)
    return (out.astype(x.dtype), np.squeeze(mean, axes).astype(x.dtype),
            np.squeeze(var, axes).astype(x.dtype))


@pytest.mark.parametrize("xshape,axes,dtype,affine", [
    ((6, 3), [0], np.float32, "both"), ((2, 3, 4, 5), [0, 1, 2], np.float64, "gamma"),
    ((2, 3, 4, 5), [0, 2, 3], np.float32, "both"), ((2, 3, 4), [0, 2], np.float64, "both"),
    ((2, 3, 4), (0, 1), np.float32, "none"), ((3, 2, 2, 2, 4), [0, 1, 2, 3], np.float64, "both"),
    ((3, 4, 2, 5), [0, -1], np.float32, "both"), ((2, 3, 4, 5), [0, 1], np.float64, "none"),
    ((6, 3), [0], np.float64, "gamma")])
def test_normalize_batch_in_training(xshape, axes, dtype, affine):
    x = (_randn(xshape, np.float64) * 2 + 1).astype(dtype)
    kept = tuple(d for a, d in enumerate(xshape) if a not in {ax % len(xshape) for ax in axes})
    gamma = _randn(kept, dtype)
    beta = _randn(kept, dtype)
    if affine == "both":
        check(lambda a, g, b: K.normalize_batch_in_training(a, g, b, axes, epsilon=1e-2),
              lambda a, g, b: np_nbit(a, g, b, axes, 1e-2), x, gamma, beta,
              none=["batch", None, None], **_tol(dtype))
    elif affine == "gamma":
        check(lambda a, g: K.normalize_batch_in_training(a, g, None, axes),
              lambda a, g: np_nbit(a, g, None, axes), x, gamma,
              none=["batch", None], **_tol(dtype))
    else:
        check(lambda a: K.normalize_batch_in_training(a, None, None, axes),
              lambda a: np_nbit(a, None, None, axes), x, none="all", **_tol(dtype))


def test_normalize_batch_in_training_shapes_and_grads():
    x = K.placeholder((None, 3, None, None))
    normed, mean, var = K.normalize_batch_in_training(x, K.variable(np.ones(3)),
                                                      K.variable(np.zeros(3)), [0, 2, 3])
    assert K.int_shape(normed) == (None, 3, None, None)
    assert K.int_shape(mean) == (3,) and K.int_shape(var) == (3,)
    # all dims unknown (the kept size is then a trial size while inferring)
    xa = K.placeholder(ndim=4)
    outs = K.normalize_batch_in_training(xa, K.variable(np.full(3, 2.0)), K.variable(np.ones(3)),
                                         [0, 2, 3])
    assert [K.int_shape(o) for o in outs] == [(None,) * 4, (None,), (None,)]
    xv4 = _randn((2, 3, 4, 5), np.float32)
    got = K.function([xa], list(outs))([xv4])
    want = np_nbit(xv4, np.full(3, 2.0), np.ones(3), [0, 2, 3])
    for g_, w_ in zip(got, want):
        np.testing.assert_allclose(g_, w_, rtol=2e-5, atol=1e-6)
    rng = np.random.default_rng(5)
    xv = jnp.asarray(rng.standard_normal((4, 3, 2)))
    g, b = jnp.asarray(rng.standard_normal(3)), jnp.asarray(rng.standard_normal(3))
    _grads(lambda a, g_, b_: K.normalize_batch_in_training(a, g_, b_, [0, 2]), (xv, g, b))
    with pytest.raises(ValueError, match=r"normalize_batch_in_training: axis 3 is out of range"):
        K.normalize_batch_in_training(xv, None, None, [0, 3])


def test_normalize_batch_in_training_variance_is_biased():
    x = jnp.asarray([[1.0], [3.0]], jnp.float64)
    _, mean, var = K.normalize_batch_in_training(x, None, None, [0])
    np.testing.assert_allclose(np.asarray(mean), [2.0])
    np.testing.assert_allclose(np.asarray(var), [1.0])  # not the unbiased 2.0


def test_all_names_exported():
    import jkb.nn as nn
    assert sorted(nn.__all__) == sorted([
        "relu", "elu", "softmax", "softplus", "softsign", "sigmoid", "hard_sigmoid", "tanh",
        "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
        "l2_normalize", "in_top_k", "batch_normalization", "normalize_batch_in_training",
        "bias_add"])
    for name in nn.__all__:
        assert getattr(K, name) is getattr(nn, name)
