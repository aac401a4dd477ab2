"""Elementwise math, comparisons and reductions (jkb/math.py) against NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from jax.test_util import check_grads
from opcheck import check

import jkb as K

RNG = np.random.default_rng(0)


def rand(shape, dtype="float32", lo=-2.0, hi=2.0):
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(int(lo), int(hi) + 1, size=shape).astype(dtype)
    if np.dtype(dtype) == bool:
        return RNG.random(shape) < 0.5
    return RNG.uniform(lo, hi, size=shape).astype(dtype)


def as_float(x):
    """NumPy mirror of jkb's rule: int/bool inputs of float ops compute in floatx."""
    return x.astype(K.floatx()) if x.dtype.kind in "iub" else x


def tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-12} if np.dtype(dtype) == np.float64 else {}


# ----------------------------------------------------------------------------- unary

UNARY = {
    # name: (numpy reference, input range lo, hi)
    "square": (np.square, -3, 3),
    "abs": (np.abs, -3, 3),
    "sqrt": (lambda x: np.sqrt(np.maximum(as_float(x), 0)), -2, 4),
    "exp": (lambda x: np.exp(as_float(x)), -3, 3),
    "log": (lambda x: np.log(as_float(x)), 1, 5),
    "round": (np.round, -3, 3),
    "sign": (np.sign, -2, 2),
    "sin": (lambda x: np.sin(as_float(x)), -3, 3),
    "cos": (lambda x: np.cos(as_float(x)), -3, 3),
}
SHAPES = [(2, 3), (1, 4, 1), (5,)]


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype,shape,none", [
    ("float32", (2, 3), "batch"), ("float64", (1, 4, 1), "all"), ("int32", (5,), "batch"),
    ("float32", (), None),
])
def test_unary(name, dtype, shape, none):
    ref, lo, hi = UNARY[name]
    x = rand(shape, dtype, lo, hi)
    if name == "round" and dtype != "int32":
        x = np.concatenate([x.ravel(), np.array([0.5, 1.5, -2.5], dtype)])[-x.size:]
        x = x.reshape(shape)
    check(getattr(K, name), ref, x, none=none, **tol(dtype))


def test_sqrt_clamps_negatives_to_zero():
    x = np.array([-1.0, -1e-9, 0.0, 4.0], "float32")
    out = np.asarray(K.sqrt(x))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 2.0])
    assert not np.isnan(out).any()
    check(K.sqrt, lambda a: np.sqrt(np.clip(a, 0, None)), x)


def test_round_half_to_even_keeps_float():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, -2.5001], "float32")
    res = check(K.round, np.round, x)
    for got in res.values():
        got = np.asarray(got)
        np.testing.assert_array_equal(got, [0.0, 2.0, 2.0, -0.0, -2.0, 2.0, -3.0])
        assert got.dtype == np.float32
        assert np.signbit(got[3])  # -0.5 rounds to -0


def test_log_is_unclipped():
    out = np.asarray(K.log(np.array([0.0, 1.0], "float32")))
    assert out[0] == -np.inf and out[1] == 0.0


def test_python_scalars_and_lists_get_tf_dtypes():
    assert K.exp(1.0).dtype == np.float32
    assert K.sqrt(4).dtype == np.float32
    assert float(K.sqrt(4)) == 2.0
    assert K.square(3).dtype == np.int32
    assert K.abs([-1.5, 2.0]).dtype == np.float32
    K.set_floatx("float64")
    assert K.exp(1.0).dtype == np.float64
    assert K.sqrt(np.arange(3, dtype="int32")).dtype == np.float64


def test_unary_on_variable_returns_fresh_tensor():
    v = K.variable(np.array([1.0, -2.0], "float32"))
    t = K.abs(v)
    assert t is not v and not isinstance(t, type(v))
    np.testing.assert_array_equal(K.eval(t), [1.0, 2.0])


# ----------------------------------------------------------------------------- pow / clip


@pytest.mark.parametrize("a", [2, 3, 0.5, -1.0, 2.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_scalar_exponent(a, dtype):
    x = rand((3, 4), dtype, 0.5, 3.0)
    check(lambda t: K.pow(t, a), lambda t: np.power(t, np.asarray(a, dtype)), x, **tol(dtype))


def test_pow_integer_dtypes():
    x = rand((2, 3), "int32", -3, 3)
    check(lambda t: K.pow(t, 2), lambda t: np.power(t, 2).astype("int32"), x)
    xp = rand((2, 3), "int32", 1, 5)
    check(lambda t: K.pow(t, 0.5), lambda t: np.sqrt(t.astype("float32")), xp)


def test_pow_tensor_exponent_broadcasts():
    x = rand((2, 3), "float32", 0.5, 2.0)
    a = rand((3,), "float32", -1.0, 2.0)
    check(K.pow, np.power, x, a, none=["batch", None])


def test_pow_python_scalar_follows_tensor_dtype():
    x = np.array([1.5, 2.0], "float16")
    assert K.pow(x, 2.0).dtype == np.float16
    assert K.maximum(x, 0.5).dtype == np.float16


CLIPS = [(-0.5, 0.5), (None, 0.3), (-0.2, None), (None, None), (0.5, -0.5), (1, 1)]


@pytest.mark.parametrize("lo,hi", CLIPS)
def test_clip_number_bounds(lo, hi):
    x = rand((3, 4), "float32", -1, 1)

    def ref(a):
        hi_ = hi if hi is None or lo is None else np.maximum(hi, lo)
        return np.clip(a, lo, hi_).astype(a.dtype)

    check(lambda t: K.clip(t, lo, hi), ref, x)


def test_clip_max_below_min_gives_min():
    x = np.array([-3.0, 0.0, 3.0], "float32")
    np.testing.assert_array_equal(np.asarray(K.clip(x, 1.0, -1.0)), [1.0, 1.0, 1.0])


def test_clip_keeps_integer_dtype():
    x = rand((4, 2), "int32", -5, 5)
    check(lambda t: K.clip(t, -2, 3), lambda a: np.clip(a, -2, 3), x)
    check(lambda t: K.clip(t, None, 3), lambda a: np.minimum(a, 3), x)


def test_clip_tensor_bounds():
    x = rand((3, 4), "float32", -2, 2)
    lo = rand((4,), "float32", -1.0, 0.0)
    hi = rand((4,), "float32", 0.0, 1.0)
    check(K.clip, np.clip, x, lo, hi, none=["batch", None, None])
    # Tensor bounds with min > max: min wins, as for numbers.
    lo2, hi2 = np.full((4,), 0.5, "float32"), np.full((4,), -0.5, "float32")
    check(K.clip, lambda a, b, c: np.maximum(np.minimum(a, c), b), x, lo2, hi2,
          none=["batch", None, None])
    # One tensor bound, the other a number.
    check(lambda t, h: K.clip(t, -0.5, h), lambda a, h: np.clip(a, -0.5, h), x, hi,
          none=["batch", None])


# ----------------------------------------------------------------------------- comparisons

COMPARISONS = {
    "equal": np.equal, "not_equal": np.not_equal, "greater": np.greater,
    "greater_equal": np.greater_equal, "less": np.less, "less_equal": np.less_equal,
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_comparison_broadcasting(name, dtype):
    # Small integer values so that ties (equality) really occur.
    x = rand((4, 3), "int32", -1, 1).astype(dtype)
    y = rand((3,), "int32", -1, 1).astype(dtype)
    res = check(getattr(K, name), COMPARISONS[name], x, y, none=["batch", None])
    assert all(np.asarray(r).dtype == bool for r in res.values())


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparison_with_python_scalar(name):
    x = rand((2, 5), "int32", -2, 2).astype("float64")
    check(lambda t: getattr(K, name)(t, 1), lambda a: COMPARISONS[name](a, 1), x)
    check(lambda t: getattr(K, name)(0.5, t), lambda a: COMPARISONS[name](0.5, a), x)


def test_equal_returns_bool_and_mixed_dtypes():
    x = np.array([1, 2, 3], "int32")
    y = np.array([1.0, 2.5, 3.0], "float32")
    out = K.equal(x, y)
    assert out.dtype == bool
    np.testing.assert_array_equal(np.asarray(out), [True, False, True])


def test_comparison_shape_mismatch_names_op():
    a = K.placeholder(shape=(None, 3))
    b = K.placeholder(shape=(4,))
    with pytest.raises(ValueError, match="greater"):
        K.greater(a, b)


# ----------------------------------------------------------------------------- max/min


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_maximum_minimum(name, dtype):
    ref = getattr(np, name)
    x = rand((3, 1, 4), dtype, -3, 3)
    y = rand((2, 4), dtype, -3, 3)
    check(getattr(K, name), ref, x, y, **tol(dtype))
    check(lambda t: getattr(K, name)(t, 1), lambda a: ref(a, np.asarray(1, dtype)), x)


def test_maximum_int_with_python_float_uses_floatx():
    x = np.array([-1, 0, 2], "int32")
    out = K.maximum(x, 0.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(out), [0.5, 0.5, 2.0])
    assert K.minimum(2.0, x).dtype == np.float32


# ----------------------------------------------------------------------------- reductions


def _int_mean(a, axis=None, keepdims=False):
    # TF rule: integer sum divided by the count, truncated toward zero.
    s = np.sum(a, axis=axis, keepdims=keepdims, dtype=np.int64)
    n = a.size // max(s.size, 1) if a.size else 1
    return (np.sign(s) * (np.abs(s) // n)).astype(a.dtype)


def _ref_reduce(name, a, axis, keepdims):
    axis = tuple(axis) if isinstance(axis, list) else axis
    kw = {"axis": axis, "keepdims": keepdims}
    if name in ("max", "min"):
        return getattr(np, name)(a, **kw)
    if name in ("sum", "prod"):
        dt = np.int32 if a.dtype == bool else a.dtype
        return getattr(np, name)(a, dtype=dt, **kw)
    if name == "mean":
        if a.dtype == bool:
            return np.mean(a.astype(K.floatx()), **kw)
        if a.dtype.kind in "iu":
            return _int_mean(a, **kw)
        return np.mean(a, **kw)
    if name in ("var", "std"):
        return getattr(np, name)(as_float(a), **kw)
    if name in ("any", "all"):
        return getattr(np, name)(a != 0, **kw)
    if name == "logsumexp":
        return np.asarray(scipy.special.logsumexp(as_float(a), **kw), as_float(a).dtype)
    raise AssertionError(name)


REDUCTIONS = ["max", "min", "sum", "prod", "mean", "var", "std", "any", "all", "logsumexp"]
AXES = [(None, False), (None, True), (0, True), (-1, False), ((0, 2), True), ([1, -1], False),
        ((), False), ([-2], True)]


def _reduction_input(name, shape, dtype):
    x = rand(shape, dtype, -2, 2)
    if name in ("any", "all") and x.dtype != bool:
        x = np.where(rand(shape, "float32", 0, 1) < 0.3, 0, x).astype(dtype)
    return x


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis,keepdims", AXES, ids=str)
def test_reduction_axes(name, axis, keepdims):
    x = _reduction_input(name, (3, 1, 4), "float32")
    check(lambda t: getattr(K, name)(t, axis=axis, keepdims=keepdims),
          lambda a: _ref_reduce(name, a, axis, keepdims), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dtype,shape,axis,none", [
    ("float64", (2, 3, 2), -2, "all"),
    ("int32", (4, 3), 0, "batch"),
    ("int32", (5,), None, "all"),
    ("bool", (3, 4), (0, 1), "batch"),
])
def test_reduction_dtypes(name, dtype, shape, axis, none):
    x = _reduction_input(name, shape, dtype)
    check(lambda t: getattr(K, name)(t, axis=axis), lambda a: _ref_reduce(name, a, axis, False),
          x, none=none, **tol(dtype))


def test_reduction_keepdims_with_unknown_dims():
    p = K.placeholder(shape=(None, 3, None))
    out = K.sum(p, axis=(0, -1), keepdims=True)
    assert K.int_shape(out) == (1, 3, 1)
    assert K.int_shape(K.mean(p, axis=1)) == (None, None)
    assert K.int_shape(K.max(p)) == ()


def test_sum_prod_keep_int32():
    x = np.array([[1, 2], [3, 4]], "int32")
    assert K.sum(x).dtype == np.int32
    assert K.prod(x, axis=0).dtype == np.int32
    assert K.sum(x > 1).dtype == np.int32
    assert int(K.sum(x > 1)) == 3


def test_mean_integer_truncates_toward_zero_and_bool_is_floatx():
    x = np.array([[1, 2], [-3, -4]], "int32")
    out = K.mean(x, axis=1)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(out), [1, -3])  # 1.5 -> 1, -3.5 -> -3
    b = np.array([True, False, False, True])
    assert K.mean(b).dtype == np.float32 and float(K.mean(b)) == 0.5
    K.set_floatx("float64")
    assert K.mean(b).dtype == np.float64
    assert K.var(b).dtype == np.float64


def test_var_std_are_population():
    x = np.array([1.0, 2.0, 3.0, 4.0], "float64")
    assert float(K.var(x)) == pytest.approx(1.25)
    assert float(K.std(x)) == pytest.approx(np.sqrt(1.25))


def test_any_all_cast_to_bool_first():
    x = np.array([[0.0, 0.1], [0.0, 0.0]], "float32")
    np.testing.assert_array_equal(np.asarray(K.any(x, axis=1)), [True, False])
    np.testing.assert_array_equal(np.asarray(K.all(x + 1e-3, axis=0)), [True, True])
    assert K.any(x).dtype == bool and K.all(np.array([1, 2], "int32")).dtype == bool


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_stable_for_large_values(dtype):
    x = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -1002.0]], dtype)
    res = check(lambda t: K.logsumexp(t, axis=-1),
                lambda a: scipy.special.logsumexp(a, axis=-1).astype(dtype), x, **tol(dtype))
    assert all(np.isfinite(np.asarray(r)).all() for r in res.values())


def test_logsumexp_infinite_rows():
    x = np.array([[-np.inf, -np.inf], [-np.inf, 0.0], [np.inf, 1.0]], "float32")
    res = check(lambda t: K.logsumexp(t, axis=1, keepdims=True),
                lambda a: scipy.special.logsumexp(a, axis=1, keepdims=True).astype("float32"),
                x)
    got = np.asarray(res["placeholder"]).ravel()
    assert got[0] == -np.inf and got[1] == 0.0 and got[2] == np.inf


def test_prod_of_list_of_shape_scalars():
    p = K.placeholder(shape=(None, 3, None))
    s = K.shape(p)
    n = K.prod([s[0], s[2]])
    n2 = K.prod([s[0], 2])
    f = K.function([p], [n, n2])
    got = f([np.zeros((5, 3, 7), "float32")])
    assert int(got[0]) == 35 and int(got[1]) == 10
    assert np.asarray(got[0]).dtype == np.int32
    assert int(K.prod([3, 4])) == 12 and K.prod([3, 4]).dtype == np.int32
    assert float(K.prod([1.5, 2])) == 3.0 and K.prod([1.5, 2]).dtype == np.float32
    x = np.zeros((4, 6), "float32")
    assert int(K.prod([K.shape(x)[0], K.shape(x)[1]])) == 24


# ----------------------------------------------------------------------------- argmax/argmin


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype,shape,axis", [
    ("float32", (3, 4), -1), ("float64", (2, 3, 4), 1), ("int32", (5, 2), 0),
    ("float32", (1, 4, 1), -2), ("float32", (6,), 0),
])
def test_argmax_argmin(name, dtype, shape, axis):
    x = rand(shape, dtype, -5, 5)
    res = check(lambda t: getattr(K, name)(t, axis=axis),
                lambda a: getattr(np, name)(a, axis=axis).astype("int64"), x)
    assert all(np.asarray(r).dtype == np.int64 for r in res.values())


def test_argmax_default_axis_and_ties_first():
    x = np.array([[1, 3, 3], [2, 2, 1], [0, 0, 0]], "float32")
    check(K.argmax, lambda a: np.array([1, 0, 0], "int64"), x)
    check(K.argmin, lambda a: np.array([0, 2, 0], "int64"), x)


@pytest.mark.parametrize("name", ["argmax", "argmin", "cumsum", "cumprod"])
def test_single_axis_ops_reject_axis_lists(name):
    x = np.zeros((2, 3), "float32")
    with pytest.raises(TypeError, match=f"{name}: axis must be a single int"):
        getattr(K, name)(x, axis=(0, 1))
    with pytest.raises(TypeError, match=f"{name}: axis must be a single int"):
        getattr(K, name)(K.placeholder(shape=(None, 3)), axis=None)


# ----------------------------------------------------------------------------- cumulative


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype,shape,axis,none", [
    ("float32", (3, 4), 1, "batch"), ("float64", (2, 3, 2), -1, "all"),
    ("int32", (4, 3), 0, "batch"), ("float32", (1, 5), -2, None), ("float32", (4,), 0, "all"),
])
def test_cumulative(name, dtype, shape, axis, none):
    x = rand(shape, dtype, -2, 2)
    check(lambda t: getattr(K, name)(t, axis=axis),
          lambda a: getattr(np, name)(a, axis=axis, dtype=a.dtype), x, none=none, **tol(dtype))


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumulative_default_axis_is_zero(name):
    x = rand((3, 4), "float32", 0.5, 1.5)
    check(getattr(K, name), lambda a: getattr(np, name)(a, axis=0), x)


def test_cumsum_of_bool_counts_in_int32():
    x = np.array([True, False, True])
    out = K.cumsum(x)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(out), [1, 1, 2])


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_axis_out_of_range(name):
    x = K.placeholder(shape=(None, 3))
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range .*rank 2"):
        getattr(K, name)(x, axis=2)
    with pytest.raises(ValueError, match=rf"{name}: axis -3 is out of range"):
        getattr(K, name)(np.zeros((2, 3), "float32"), axis=[0, -3])


def test_reduction_bad_axis_types():
    x = np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"sum: repeated axis"):
        K.sum(x, axis=(1, -1))
    with pytest.raises(TypeError, match="mean: axis must be an int"):
        K.mean(x, axis=0.5)
    p = K.placeholder(shape=(None, 3))
    with pytest.raises(TypeError, match="max: axis must be a static int"):
        K.max(x, axis=K.sum(p))
    with pytest.raises(TypeError, match="exp: expected a tensor"):
        K.exp(None)


def test_numpy_int_axes_accepted():
    x = rand((2, 3, 4))
    check(lambda t: K.sum(t, axis=(np.int64(0), np.int32(-1))),
          lambda a: np.sum(a, axis=(0, -1)), x)
    check(lambda t: K.argmax(t, axis=np.array(1)), lambda a: np.argmax(a, axis=1), x)


# ----------------------------------------------------------------------------- gradients

POS = np.array([[0.7, 1.3, 2.1], [0.4, 1.9, 0.9]])
MIXED = np.array([[0.7, -1.3, 2.1], [-0.4, 1.9, -0.9]])

GRAD_CASES = {
    "square": (K.square, MIXED),
    "abs": (K.abs, MIXED),
    "sqrt": (K.sqrt, POS),
    "exp": (K.exp, MIXED),
    "log": (K.log, POS),
    "sin": (K.sin, MIXED),
    "cos": (K.cos, MIXED),
    "pow_2.5": (lambda x: K.pow(x, 2.5), POS),
    "pow_3": (lambda x: K.pow(x, 3), MIXED),
    "clip": (lambda x: K.clip(x, -1.0, 1.0), MIXED),
    "maximum": (lambda x: K.maximum(x, 0.5), MIXED),
    "minimum": (lambda x: K.minimum(x, 0.5), MIXED),
    "max": (lambda x: K.max(x, axis=1), MIXED),
    "min": (lambda x: K.min(x, axis=0, keepdims=True), MIXED),
    "sum": (lambda x: K.sum(x, axis=(0, 1)), MIXED),
    "prod": (lambda x: K.prod(x, axis=-1), MIXED),
    "mean": (lambda x: K.mean(x, axis=0), MIXED),
    "var": (lambda x: K.var(x, axis=1), MIXED),
    "std": (lambda x: K.std(x), MIXED),
    "logsumexp": (lambda x: K.logsumexp(x, axis=1), MIXED),
    "logsumexp_large": (lambda x: K.logsumexp(x), MIXED * 300),
    "cumsum": (lambda x: K.cumsum(x, axis=1), MIXED),
    "cumprod": (K.cumprod, MIXED),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients(name):
    fn, x = GRAD_CASES[name]
    check_grads(fn, (jnp.asarray(x),), order=2, modes=["rev"], eps=1e-4)


def test_binary_gradients_both_args():
    x = jnp.asarray(POS)
    y = jnp.asarray(POS[::-1] * 1.1)
    check_grads(K.pow, (x, y), order=2, modes=["rev"])
    check_grads(K.maximum, (x, y), order=1, modes=["rev"])
    check_grads(lambda a, lo, hi: K.clip(a, lo, hi), (jnp.asarray(MIXED), x * -1, y),
                order=1, modes=["rev"])


def test_sqrt_negative_has_zero_gradient_and_logsumexp_grad_is_softmax():
    g = jax.grad(lambda x: K.sum(K.sqrt(x)))(jnp.array([-1.0, 4.0]))
    np.testing.assert_allclose(np.asarray(g), [0.0, 0.25])
    p = K.placeholder(shape=(None, 3))
    grad = K.gradients(K.sum(K.logsumexp(p, axis=1)), [p])[0]
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -np.inf]], "float32")
    got = K.function([p], [grad])([x])[0]
    np.testing.assert_allclose(got, scipy.special.softmax(x, axis=1), rtol=1e-6)


def test_ops_work_under_user_jit():
    @jax.jit
    def f(x):
        return K.mean(K.square(K.clip(x, 0.0, 1.0)), axis=-1) + K.logsumexp(x, axis=-1)

    x = rand((2, 3), "float32")
    want = np.mean(np.clip(x, 0, 1) ** 2, -1) + scipy.special.logsumexp(x, -1)
    np.testing.assert_allclose(np.asarray(f(x)), want, rtol=1e-5)


@pytest.mark.parametrize("dt", ["float16", "float32", "float64", "int32", "int64", "uint8",
                                "bool", "complex64"])
def test_cast_of_host_data_converts_as_xla_does(dt):
    """K.cast converts NumPy data on the host where NumPy and XLA agree (int/bool sources,
    float to float/bool/complex) and through XLA otherwise: either way the bits are XLA's,
    rounding, wrapping, overflow to inf and NaN included."""
    sources = [np.array([1e300, -1e300, np.nan, 1.5, 2.5, -2.5, 16777217.0]),
               np.array([2**31 + 5, -2**40 - 3, 16777217, 2**62 + 1], np.int64),
               np.array([0, 3, 2**32 - 1], np.uint32), np.array([True, False]),
               np.array([1.0, 0.0, np.nan, 65504.0], np.float16), np.float32(3.7)]
    for x in sources:
        got = K.cast(x, dt)
        want = jnp.asarray(x).astype(dt)
        assert isinstance(got, jax.Array) and got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
