"""Linear algebra, shape manipulation and image padding/resizing (jkb/shapes.py)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse as jsparse
from jax.test_util import check_grads
from opcheck import check

import jkb as K

RNG = np.random.default_rng(1234)
FI = ["float32", "int32"]
FFI = ["float32", "float64", "int32"]
FF = ["float32", "float64"]


def rand(*shape, dtype="float32"):
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        return RNG.integers(-5, 6, size=shape).astype(dt)
    return RNG.standard_normal(shape).astype(dt)


def cycle(cases, dtypes, one=False):
    """Each case once with the dtypes taken in turn; the first case with every dtype.

    ``one``: each case is a single parameter value (not a tuple of values).
    """
    cases = [(c,) if one or not isinstance(c, tuple) else c for c in cases]
    out = [cases[0] + (d,) for d in dtypes]
    out += [c + (dtypes[i % len(dtypes)],) for i, c in enumerate(cases) if i]
    return out


def run(fn, arrays, shapes):
    """fn on placeholders of ``shapes``, compiled and fed ``arrays``."""
    ps = [K.placeholder(shape=s, dtype=a.dtype) for a, s in zip(arrays, shapes)]
    out = fn(*ps)
    return out, K.function(ps, [out])(list(arrays))[0]


# ----------------------------------------------------------------------------- dot

DOT_SHAPES = [
    ((2, 3), (3, 4)),
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((1, 3), (3, 1)),
    ((2, 3, 4), (5, 4, 6)),
    ((2, 3), (4, 3, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)),
]


@pytest.mark.parametrize("xs,ys,dtype", cycle(DOT_SHAPES, FFI))
def test_dot(xs, ys, dtype):
    x, y = rand(*xs, dtype=dtype), rand(*ys, dtype=dtype)
    check(K.dot, np.dot, x, y)


def test_dot_nd_shape_rule():
    # (2, 3) . (4, 3, 5) -> (2, 4, 5): contraction with y's second-to-last axis.
    x, y = rand(2, 3), rand(4, 3, 5)
    out = K.dot(x, y)
    assert out.shape == (2, 4, 5)
    np.testing.assert_allclose(out[1, 2], x[1] @ y[2], rtol=1e-5)
    assert K.dot(K.placeholder((None, 3, 4)), K.placeholder((5, 4, 6))).shape == \
        (None, 3, 5, 6)


def test_dot_none_dims():
    x, w = rand(5, 4), rand(4, 6)
    check(K.dot, np.dot, x, w, none=["batch", None])
    # A fully unknown x against a known weight: the static result keeps w's last dim.
    check(K.dot, np.dot, x, w, none=["all", None])
    check(K.dot, np.dot, rand(2, 3, 4), rand(5, 4, 6), none=["all", "batch"])


def test_dot_grads():
    for xs, ys in [((2, 3), (3, 4)), ((2, 3, 4), (5, 4, 6))]:
        x, y = rand(*xs, dtype="float64"), rand(*ys, dtype="float64")
        check_grads(jax.jit(K.dot), (x, y), order=2, modes=["rev"])


def test_dot_under_user_jit():
    x, y = rand(2, 3, 4), rand(5, 4, 6)
    np.testing.assert_allclose(jax.jit(K.dot)(x, y), np.dot(x, y), rtol=1e-5)


def test_dot_sparse():
    x = rand(3, 4) * (RNG.random((3, 4)) > 0.5)
    y = rand(4, 5)
    out = K.dot(jsparse.BCOO.fromdense(jnp.asarray(x)), y)
    np.testing.assert_allclose(out, x @ y, rtol=1e-5, atol=1e-6)


def test_dot_errors():
    with pytest.raises(ValueError, match=r"dot: the last axis of x \(3\).*y \(4\).*"
                                         r"x.shape=\(2, 3\), y.shape=\(4, 5\)"):
        K.dot(rand(2, 3), rand(4, 5))
    with pytest.raises(ValueError, match=r"dot: .*x.shape=\(None, 3\)"):
        K.dot(K.placeholder((None, 3)), K.variable(rand(4, 5)))
    # Unknown at build time, wrong at run time.
    p = K.placeholder((None, None))
    f = K.function([p], [K.dot(p, K.variable(rand(4, 5)))])
    assert f([rand(2, 4)])[0].shape == (2, 5)
    with pytest.raises(ValueError, match=r"dot: the last axis of x \(3\)"):
        f([rand(2, 3)])


# ----------------------------------------------------------------------------- batch_dot


def np_batch_dot(x, y, axes=None):
    xn, yn = x.ndim, y.ndim
    if axes is None:
        axes = (xn - 1, yn - 1) if yn == 2 else (xn - 1, yn - 2)
    elif isinstance(axes, int):
        axes = (axes, axes)
    a0, a1 = (a % n for a, n in zip(axes, (xn, yn)))
    out = np.stack([np.tensordot(x[i], y[i], axes=(a0 - 1, a1 - 1))
                    for i in range(x.shape[0])])
    return out[:, None] if out.ndim == 1 else out


BATCH_DOT_CASES = [
    ((3, 4), (3, 4), None, (3, 1)),
    ((3, 4, 3), (3, 3, 5), (2, 1), (3, 4, 5)),
    ((3, 4), (3, 3, 4), (1, 2), (3, 3)),
    ((3, 3, 4, 5), (3, 2, 3, 4), (2, 3), (3, 3, 5, 2, 3)),
    ((3, 2, 3), (3, 3, 4), None, (3, 2, 4)),
    ((3, 2, 3), (3, 3), None, (3, 2)),
    ((3, 3, 4), (3, 3, 5), 1, (3, 4, 5)),
    ((3, 4, 3), (3, 3, 5), (-1, -2), (3, 4, 5)),
    ((3, 3), (3, 3, 5), (1, 1), (3, 5)),
    ((1, 2), (1, 2), -1, (1, 1)),
]


@pytest.mark.parametrize("xs,ys,axes,out,dtype", cycle(BATCH_DOT_CASES, FFI))
def test_batch_dot(xs, ys, axes, out, dtype):
    x, y = rand(*xs, dtype=dtype), rand(*ys, dtype=dtype)
    assert np_batch_dot(x, y, axes).shape == out
    check(lambda a, b: K.batch_dot(a, b, axes=axes), lambda a, b: np_batch_dot(a, b, axes),
          x, y)


def test_batch_dot_none_dims():
    x, y = rand(3, 4, 2), rand(3, 2, 5)
    t = K.batch_dot(K.placeholder((None, 4, 2)), K.placeholder((None, 2, 5)))
    assert t.shape == (None, 4, 5)
    check(K.batch_dot, np_batch_dot, x, y, none="all")
    # Unknown x against known y: the batch and contracted sizes come from y.
    t = K.batch_dot(K.placeholder((None, None)), K.variable(rand(3, 4)))
    assert t.shape == (3, 1)
    check(K.batch_dot, np_batch_dot, rand(3, 4), rand(3, 4), none=["all", None])


def test_batch_dot_grads():
    for xs, ys, axes in [((2, 4), (2, 4), None), ((2, 3, 4, 5), (2, 2, 3, 4), (2, 3))]:
        x, y = rand(*xs, dtype="float64"), rand(*ys, dtype="float64")
        check_grads(jax.jit(lambda a, b, axes=axes: K.batch_dot(a, b, axes)), (x, y),
                    order=2, modes=["rev"])


def test_batch_dot_errors():
    with pytest.raises(ValueError, match=r"batch_dot: both inputs need rank >= 2.*"
                                         r"x.shape=\(3,\), y.shape=\(3, 4\)"):
        K.batch_dot(rand(3), rand(3, 4))
    with pytest.raises(ValueError, match=r"batch_dot: cannot contract axis 0"):
        K.batch_dot(rand(3, 4), rand(3, 4), axes=0)
    with pytest.raises(ValueError, match=r"batch_dot: cannot contract axis 0"):
        K.batch_dot(rand(3, 4, 5), rand(3, 4, 5), axes=(-3, 1))
    with pytest.raises(ValueError, match=r"batch_dot: the batch sizes differ \(2 != 3\)"):
        K.batch_dot(rand(2, 4), rand(3, 4))
    with pytest.raises(ValueError, match=r"batch_dot: x.shape\[1\] != y.shape\[1\] "
                                         r"\(4 != 5\)"):
        K.batch_dot(rand(3, 4), rand(3, 5))
    with pytest.raises(ValueError, match=r"batch_dot: contracting several axes"):
        K.batch_dot(rand(3, 4, 5), rand(3, 4, 5), axes=[[1, 2], [1, 2]])
    with pytest.raises(ValueError, match=r"batch_dot: axes must be None, an int or a pair"):
        K.batch_dot(rand(3, 4, 5), rand(3, 4, 5), axes=(1, 2, 1))
    with pytest.raises(ValueError, match=r"batch_dot: axes \(3, 1\) are out of range"):
        K.batch_dot(rand(3, 4, 5), rand(3, 4, 5), axes=(3, 1))
    p, q = K.placeholder((None, 4)), K.placeholder((None, 4))
    f = K.function([p, q], [K.batch_dot(p, q)])
    with pytest.raises(ValueError, match=r"batch_dot: the batch sizes differ \(2 != 3\)"):
        f([rand(2, 4), rand(3, 4)])


# ----------------------------------------------------------------------------- transpose


@pytest.mark.parametrize("shape,dtype", cycle([(), (3,), (2, 3), (2, 3, 4), (1, 2, 1, 3)],
                                               FI, one=True))
def test_transpose(shape, dtype):
    check(K.transpose, np.transpose, rand(*shape, dtype=dtype))


# ----------------------------------------------------------------------------- concatenate


@pytest.mark.parametrize("shapes,axis,dtype", cycle([
    (((2, 3), (2, 4)), -1),
    (((2, 3), (4, 3)), 0),
    (((2, 3, 4), (2, 1, 4), (2, 2, 4)), 1),
    (((2, 3, 4), (2, 3, 1)), -1),
    (((2, 3, 4), (2, 5, 4)), -2),
    (((3,), (2,)), -1),
], ["float32", "float64", "int32"]))
def test_concatenate(shapes, axis, dtype):
    arrays = [rand(*s, dtype=dtype) for s in shapes]
    check(lambda *ts: K.concatenate(list(ts), axis=axis),
          lambda *ts: np.concatenate(ts, axis=axis), *arrays)


def test_concatenate_none_dims():
    a, b = rand(2, 3), rand(2, 4)
    t = K.concatenate([K.placeholder((None, 3)), K.placeholder((None, 4))])
    assert t.shape == (None, 7)
    # Unknown batch against a known one: the known size wins statically.
    t = K.concatenate([K.placeholder((None, 3)), K.variable(b)], axis=1)
    assert t.shape == (2, 7)
    check(lambda x, y: K.concatenate([x, y], axis=1),
          lambda x, y: np.concatenate([x, y], 1), a, b, none=["batch", None])
    p = K.placeholder((None, 3))
    f = K.function([p], [K.concatenate([p, K.variable(b)], axis=1)])
    with pytest.raises(ValueError, match=r"concatenate: input shapes differ"):
        f([rand(5, 3)])


def test_concatenate_shape_vectors_feed_reshape():
    x = rand(2, 3, 4)

    def fn(t):
        target = K.concatenate([K.shape(t)[:1], np.array([-1], dtype="int32")])
        return K.reshape(t, target)

    check(fn, lambda t: t.reshape(2, -1), x)
    target = K.concatenate([K.shape(K.placeholder((None, 3))), [5]])
    assert target.dtype == np.int32
    # Python floats next to integers promote rather than truncate.
    mixed = K.concatenate([np.array([1], "int32"), [1.5]])
    np.testing.assert_array_equal(mixed, [1.0, 1.5])


def test_concatenate_sparse():
    a = jsparse.BCOO.fromdense(jnp.asarray(np.eye(3, dtype="float32")))
    out = K.concatenate([a, a], axis=0)
    assert K.is_sparse(out)
    np.testing.assert_array_equal(out.todense(), np.concatenate([np.eye(3)] * 2, 0))
    mixed = K.concatenate([a, np.ones((3, 2), "float32")], axis=-1)
    assert not K.is_sparse(mixed)
    np.testing.assert_array_equal(mixed, np.concatenate([np.eye(3), np.ones((3, 2))], 1))


def test_concatenate_errors():
    with pytest.raises(ValueError, match=r"concatenate: all inputs must have the same rank"):
        K.concatenate([rand(2, 3), rand(2, 3, 1)])
    with pytest.raises(ValueError, match=r"concatenate: inputs must have all dims except "
                                         r"the concatenation axis.*\[\(2, 3\), \(4, 3\)\]"):
        K.concatenate([rand(2, 3), rand(4, 3)], axis=1)
    with pytest.raises(ValueError, match=r"concatenate: axis=2 is out of range"):
        K.concatenate([rand(2, 3), rand(2, 3)], axis=2)
    with pytest.raises(ValueError, match=r"concatenate: expected a non-empty list"):
        K.concatenate([])
    with pytest.raises(ValueError, match=r"concatenate: cannot concatenate scalars"):
        K.concatenate([np.float32(1), np.float32(2)])


# ----------------------------------------------------------------------------- stack


@pytest.mark.parametrize("shape,axis,dtype", cycle(
    [((2, 3), 0), ((3,), 1), ((2, 1, 3), -1), ((2, 3), 1), ((3,), -1), ((2, 1, 3), 2)], FI))
def test_stack(shape, axis, dtype):
    arrays = [rand(*shape, dtype=dtype) for _ in range(3)]
    check(lambda *ts: K.stack(list(ts), axis=axis),
          lambda *ts: np.stack(ts, axis=axis), *arrays)


def test_stack_default_axis_and_errors():
    a, b = rand(2, 3), rand(2, 3)
    np.testing.assert_array_equal(K.stack([a, b]), np.stack([a, b]))
    with pytest.raises(ValueError, match=r"stack: inputs must have the same shape.*"
                                         r"\[\(2, 3\), \(2, 4\)\]"):
        K.stack([a, rand(2, 4)])
    with pytest.raises(ValueError, match=r"stack: axis=3 is out of range for a tensor of "
                                         r"rank 2"):
        K.stack([a, b], axis=3)
    # Scalars from K.shape and Python ints stack into a static shape vector.
    p = K.placeholder((None, 3, 4))
    v = K.stack([K.shape(p)[0], -1])
    assert v.dtype == np.int32
    _, out = run(lambda t: K.reshape(t, K.stack([K.shape(t)[0], -1])), [rand(2, 3, 4)],
                 [(None, 3, 4)])
    assert out.shape == (2, 12)


# ----------------------------------------------------------------------------- reshape


@pytest.mark.parametrize("target,dtype", cycle([(6, 4), (-1,), (2, -1), (4, 3, 2), (2, 3, 2, 2),
                                                (24,)], FFI, one=True))
def test_reshape(target, dtype):
    x = rand(2, 3, 4, dtype=dtype)
    check(lambda t: K.reshape(t, target), lambda t: t.reshape(target), x)


@pytest.mark.parametrize("xs", [(2, 3, 4), (5, 1, 2), (1, 6)])
def test_reshape_with_symbolic_batch(xs):
    x = rand(*xs)
    fn = lambda t: K.reshape(t, (K.shape(t)[0], -1))  # noqa: E731
    check(fn, lambda t: t.reshape(t.shape[0], -1), x)
    t = fn(K.placeholder((None,) + xs[1:]))
    assert t.shape == (None, int(np.prod(xs[1:])))
    # numpy ints and 0-d arrays in the target
    check(lambda t: K.reshape(t, [np.int64(xs[0]), np.array(-1)]),
          lambda t: t.reshape(xs[0], -1), x, none=None)


def test_reshape_target_from_other_tensor():
    x, y = rand(2, 12), rand(2, 3, 4)
    check(lambda a, b: K.reshape(a, K.shape(b)), lambda a, b: a.reshape(b.shape), x, y)


def test_reshape_none_everywhere():
    # (None, None) -> (-1, 3): trial sizes need not divide; the -1 becomes None.
    t = K.reshape(K.placeholder((None, None)), (-1, 3))
    assert t.shape == (None, 3)
    t = K.reshape(K.placeholder((None, None)), (2, 3))
    assert t.shape == (2, 3)
    check(lambda a: K.reshape(a, (-1, 3)), lambda a: a.reshape(-1, 3), rand(4, 6), none="all")


def test_reshape_errors():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape "
                                         r"\(2, 3\) \(6 elements\) to \(4, 2\)"):
        K.reshape(rand(2, 3), (4, 2))
    with pytest.raises(ValueError, match=r"reshape: the target shape may contain one -1"):
        K.reshape(rand(2, 3), (-1, -1))
    with pytest.raises(ValueError, match=r"reshape: .*\(5, 2\)"):
        K.reshape(K.variable(rand(2, 3)), (5, 2))
    p = K.placeholder((None, 3))
    f = K.function([p], [K.reshape(p, (4, 3))])
    assert f([rand(4, 3)])[0].shape == (4, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape "
                                         r"\(2, 3\)"):
        f([rand(2, 3)])
    with pytest.raises(ValueError, match=r"reshape: the target shape must be known when "
                                         r"the graph is built"):
        K.reshape(K.placeholder((None, 3)), K.placeholder((2,), dtype="int32"))


# ----------------------------------------------------------------------------- permute etc.


@pytest.mark.parametrize("shape,pattern,dtype", cycle([((2, 3), (1, 0)), ((2, 3, 4), (0, 2, 1)),
                                           ((2, 3, 4), [2, 0, 1]), ((2, 3, 4), (0, 1, 2))], FI))
def test_permute_dimensions(shape, pattern, dtype):
    check(lambda t: K.permute_dimensions(t, pattern), lambda t: np.transpose(t, pattern),
          rand(*shape, dtype=dtype))


def test_permute_dimensions_errors():
    with pytest.raises(ValueError, match=r"permute_dimensions: pattern must be a permutation"
                                         r" of \(0, 1, 2\). Received: pattern=\(0, 1\)"):
        K.permute_dimensions(rand(2, 3, 4), (0, 1))
    with pytest.raises(ValueError, match=r"permute_dimensions: .*pattern=\(0, 0\)"):
        K.permute_dimensions(rand(2, 3), (0, 0))


@pytest.mark.parametrize("shape,rep,axis,dtype", cycle(
    [((2, 3), 2, 1), ((2, 3), 3, -1), ((2, 3), 2, 0), ((2, 3, 4), 1, 1), ((2, 1, 4), 4, -2)], FI))
def test_repeat_elements(shape, rep, axis, dtype):
    check(lambda t: K.repeat_elements(t, rep, axis), lambda t: np.repeat(t, rep, axis),
          rand(*shape, dtype=dtype))


def test_repeat_elements_unknown_axis():
    t = K.repeat_elements(K.placeholder((None, 3)), 2, 0)
    assert t.shape == (None, 3)
    with pytest.raises(ValueError, match=r"repeat_elements: axis=2 is out of range"):
        K.repeat_elements(rand(2, 3), 2, 2)


@pytest.mark.parametrize("n,dtype", cycle([1, 3], ["float32", "float64", "int32"]))
def test_repeat(n, dtype):
    check(lambda t: K.repeat(t, n), lambda t: np.repeat(t[:, None, :], n, axis=1),
          rand(2, 3, dtype=dtype))


def test_repeat_errors():
    with pytest.raises(ValueError, match=r"repeat: x must have rank 2.*\(2, 3, 4\)"):
        K.repeat(rand(2, 3, 4), 2)


# ----------------------------------------------------------------------------- arange


@pytest.mark.parametrize("args,kwargs", [
    ((5,), {}), ((-3,), {}), ((0,), {}), ((2, 8), {}), ((2, 8, 2), {}), ((8, 2, -2), {}),
    ((5,), {"step": 2}), ((0, 1, 0.25), {"dtype": "float32"}), ((3,), {"dtype": "int64"}),
    ((1, 4), {"dtype": "float64"}), ((0.5, 3), {}),
])
def test_arange(args, kwargs):
    out = K.arange(*args, **kwargs)
    # TF's range: float arguments give float32, cast only when a dtype other than int32
    # is asked.
    floats = any(isinstance(a, float) for a in args + tuple(kwargs.values()))
    dtype = kwargs.get("dtype", "int32")
    dtype = "float32" if dtype == "int32" and floats else dtype
    start, stop = (0, max(args[0], 0)) if len(args) == 1 else args[:2]
    step = args[2] if len(args) > 2 else kwargs.get("step", 1)
    want = np.arange(start, stop, step).astype(dtype)
    assert isinstance(out, jax.Array)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, want)


def test_arange_from_shape():
    x = rand(4, 3)
    check(lambda t: K.arange(K.shape(t)[0]), lambda t: np.arange(t.shape[0], dtype="int32"),
          x)
    check(lambda t: K.arange(1, K.shape(t)[1], dtype="float32"),
          lambda t: np.arange(1, t.shape[1], dtype="float32"), x)


def test_arange_errors():
    with pytest.raises(ValueError, match=r"arange: step must not be 0"):
        K.arange(0, 5, 0)
    with pytest.raises(ValueError, match=r"arange: start must be known when the graph is "
                                         r"built"):
        K.arange(K.placeholder((), dtype="int32"))


# ----------------------------------------------------------------------------- tile


@pytest.mark.parametrize("shape,n,reps,dtype", cycle([
    ((2, 3), (2, 3), (2, 3)), ((2, 3), [1, 2], (1, 2)), ((2, 3), 2, (1, 2)),
    ((2, 3, 4), (2, 1), (1, 2, 1)), ((3,), 3, (3,)), ((2, 3), np.array([2, 1]), (2, 1)),
], ["float32", "int32"]))
def test_tile(shape, n, reps, dtype):
    check(lambda t: K.tile(t, n), lambda t: np.tile(t, reps), rand(*shape, dtype=dtype))


def test_tile_tensor_n():
    x = rand(2, 3)
    # n from K.shape: tile each axis by its own length.
    check(lambda t: K.tile(t, K.shape(t)), lambda t: np.tile(t, t.shape), x, none=None)
    t = K.tile(K.placeholder((None, 3)), (2, 1))
    assert t.shape == (None, 3)


def test_tile_errors():
    with pytest.raises(NotImplementedError, match=r"tile: n has 3 entries but x has rank 2"):
        K.tile(rand(2, 3), (1, 2, 3))
    with pytest.raises(ValueError, match=r"tile: n has 3 entries"):
        K.tile(K.placeholder((None, 3)), [1, 2, 3])
    with pytest.raises(ValueError, match=r"tile: repetition counts must be >= 0"):
        K.tile(rand(2, 3), (1, -1))


# ----------------------------------------------------------------------------- flatten


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (2, 1, 1)])
def test_flatten(shape):
    check(K.flatten, lambda t: t.reshape(-1), rand(*shape))


@pytest.mark.parametrize("shape,dtype",
                         cycle([(3,), (2, 3), (2, 3, 4), (4, 1, 2, 1)], FI, one=True))
def test_batch_flatten(shape, dtype):
    check(K.batch_flatten, lambda t: t.reshape(t.shape[0], -1), rand(*shape, dtype=dtype))


def test_batch_flatten_unknown_batch():
    assert K.batch_flatten(K.placeholder((None, 3, 4))).shape == (None, 12)
    with pytest.raises(ValueError, match=r"batch_flatten: x needs rank >= 1"):
        K.batch_flatten(np.float32(1.0))


# ----------------------------------------------------------------------------- expand/squeeze


@pytest.mark.parametrize("shape,axis", [((2, 3), -1), ((2, 3), 0), ((2, 3), 1), ((2, 3), 2),
                                        ((2, 3), -2), ((2, 3), -3), ((), 0), ((4,), -1)])
def test_expand_dims(shape, axis):
    check(lambda t: K.expand_dims(t, axis), lambda t: np.expand_dims(t, axis), rand(*shape))


def test_expand_dims_default_and_errors():
    x = rand(2, 3)
    assert K.expand_dims(x).shape == (2, 3, 1)
    with pytest.raises(ValueError, match=r"expand_dims: axis=3 is out of range for a tensor "
                                         r"of rank 2"):
        K.expand_dims(x, 3)
    with pytest.raises(ValueError, match=r"expand_dims: axis=-4"):
        K.expand_dims(x, -4)


@pytest.mark.parametrize("shape,axis", [((2, 1, 3), 1), ((2, 3, 1), -1), ((1,), 0),
                                        ((1, 2), 0), ((2, 1, 1), -2)])
@pytest.mark.parametrize("none", ["batch", "all"])
def test_squeeze(shape, axis, none):
    check(lambda t: K.squeeze(t, axis), lambda t: np.squeeze(t, axis), rand(*shape),
          none=none)


def test_squeeze_errors():
    with pytest.raises(ValueError, match=r"squeeze: axis 1 has size 3, expected 1. "
                                         r"Received: x.shape=\(2, 3\)"):
        K.squeeze(rand(2, 3), 1)
    with pytest.raises(ValueError, match=r"squeeze: axis=2 is out of range"):
        K.squeeze(rand(2, 1), 2)
    # Unknown size at build time (Keras' sparse targets): checked when it runs.
    p = K.placeholder((None, None))
    t = K.squeeze(p, -1)
    assert t.shape == (None,)
    f = K.function([p], [t])
    np.testing.assert_array_equal(f([np.arange(3.0).reshape(3, 1)])[0], np.arange(3.0))
    with pytest.raises(ValueError, match=r"squeeze: axis 1 has size 2, expected 1"):
        f([rand(3, 2)])


# ----------------------------------------------------------------------------- one_hot


def np_one_hot(idx, n):
    idx = np.asarray(idx)
    return (idx[..., None] == np.arange(n)).astype("float32")


@pytest.mark.parametrize("shape,dtype", cycle([(5,), (2, 3), ()], ["int32", "int64"], one=True))
def test_one_hot(shape, dtype):
    idx = RNG.integers(-2, 7, size=shape).astype(dtype)  # includes out-of-range values
    check(lambda t: K.one_hot(t, 5), lambda t: np_one_hot(t, 5), idx)


def test_one_hot_out_of_range_rows_are_zero_and_float32():
    K.set_floatx("float64")
    out = K.one_hot(np.array([0, 3, -1, 4]), 4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.sum(-1), [1, 1, 0, 0])
    with pytest.raises(TypeError, match=r"one_hot: indices must be integers, got dtype "
                                        r"float32"):
        K.one_hot(np.array([0.0, 1.0], "float32"), 3)
    with pytest.raises(TypeError, match=r"one_hot: indices must be integers"):
        K.one_hot(K.placeholder((None,)), 3)


# ----------------------------------------------------------------------------- reverse


@pytest.mark.parametrize("shape,axes,dtype", cycle([((2, 3), 0), ((2, 3), -1), ((2, 3, 4), [0, 2]),
                                        ((2, 3, 4), (-1, 1)), ((3,), [0])], ["float32", "int32"]))
def test_reverse(shape, axes, dtype):
    ax = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    check(lambda t: K.reverse(t, axes), lambda t: np.flip(t, ax), rand(*shape, dtype=dtype))


def test_reverse_errors():
    with pytest.raises(ValueError, match=r"reverse: axes \(0, -2\) name the same axis twice"):
        K.reverse(rand(2, 3), (0, -2))
    with pytest.raises(ValueError, match=r"reverse: axes entry=2 is out of range"):
        K.reverse(rand(2, 3), 2)


# ----------------------------------------------------------------------------- slice


@pytest.mark.parametrize("shape,start,size,dtype", cycle([
    ((4, 5), [1, 2], [2, 3]), ((4, 5), [0, 0], [-1, 2]), ((4, 5), (2, 1), (-1, -1)),
    ((3, 4, 5), [0, 1, 2], [3, 2, 3]), ((3,), [1], [0]), ((4, 5), np.array([1, 0]), [1, 5]),
], ["float32", "int32"]))
def test_slice(shape, start, size, dtype):
    def ref(t):
        idx = tuple(slice(int(s), None if int(z) == -1 else int(s) + int(z))
                    for s, z in zip(start, size))
        return t[idx]

    check(lambda t: K.slice(t, start, size), ref, rand(*shape, dtype=dtype))


def test_slice_runtime_start():
    x = rand(5, 4)
    f = jax.jit(lambda t, s: K.slice(t, [s, 1], [2, 3]))
    np.testing.assert_array_equal(f(x, 2), x[2:4, 1:4])
    np.testing.assert_array_equal(f(x, 0), x[0:2, 1:4])
    # Symbolic starts from a placeholder (a run-time value).
    p = K.placeholder((2,), dtype="int32")
    t = K.slice(K.variable(x), p, [2, 2])
    assert t.shape == (2, 2)
    np.testing.assert_array_equal(K.function([p], [t])([np.array([1, 2])])[0], x[1:3, 2:4])
    with pytest.raises(ValueError, match=r"slice: size -1 needs static starts"):
        f2 = jax.jit(lambda t, s: K.slice(t, [s, 1], [-1, 3]))
        f2(x, 1)


def test_slice_errors():
    with pytest.raises(ValueError, match=r"slice: start and size need one entry per axis of "
                                         r"x \(rank 2\)"):
        K.slice(rand(4, 5), [0], [1])
    with pytest.raises(ValueError, match=r"slice: start and size need one entry per axis"):
        K.slice(K.placeholder((None, 5)), [0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match=r"slice: start=\(3, 0\), size=\(2, 1\) does not fit "
                                         r"inside x.shape=\(4, 5\)"):
        K.slice(rand(4, 5), [3, 0], [2, 1])
    with pytest.raises(ValueError, match=r"slice: .*does not fit"):
        K.slice(rand(4, 5), [-1, 0], [1, 1])
    p = K.placeholder((None, 5))
    f = K.function([p], [K.slice(p, [0, 0], [3, 5])])
    assert f([rand(4, 5)])[0].shape == (3, 5)
    with pytest.raises(ValueError, match=r"slice: .*does not fit inside x.shape=\(2, 5\)"):
        f([rand(2, 5)])


# ----------------------------------------------------------------------------- gather


@pytest.mark.parametrize("ref_shape", [(5,), (5, 3), (5, 2, 3)])
@pytest.mark.parametrize("idx_shape", [(4,), (2, 3), ()])
@pytest.mark.parametrize("idx_dtype", ["int32", "int64"])
def test_gather(ref_shape, idx_shape, idx_dtype):
    ref = rand(*ref_shape)
    idx = RNG.integers(0, 5, size=idx_shape).astype(idx_dtype)
    check(K.gather, lambda r, i: np.take(r, i, axis=0), ref, idx, none=[None, "batch"])


def test_gather_grads():
    ref = rand(5, 3, dtype="float64")
    idx = np.array([0, 2, 2, 4])
    # linear in ref: second order is identically zero
    check_grads(jax.jit(lambda r: K.gather(r, idx)), (ref,), order=1, modes=["rev"])


def test_gather_out_of_range():
    ref = rand(4, 3)
    with pytest.raises(ValueError, match=r"gather: indices \[-1, 4\] are out of range for "
                                         r"reference.shape=\(4, 3\) \(valid: 0 to 3\)"):
        K.gather(ref, np.array([0, 4, -1]))
    with pytest.raises(ValueError, match=r"gather: indices \[7\]"):
        K.gather(K.variable(ref), [1, 7])
    # Run-time indices cannot raise: documented zero rows.
    p = K.placeholder((None,), dtype="int32")
    f = K.function([p], [K.gather(K.variable(ref), p)])
    out = f([np.array([1, 4, -1, 3])])[0]
    np.testing.assert_allclose(out[[0, 3]], ref[[1, 3]])
    np.testing.assert_array_equal(out[[1, 2]], 0)
    out = jax.jit(K.gather)(ref, jnp.array([9, 0]))
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_allclose(out[1], ref[0])


def test_gather_errors():
    with pytest.raises(TypeError, match=r"gather: indices must be integers, got dtype "
                                        r"float32"):
        K.gather(rand(4, 3), np.array([0.0, 1.0], "float32"))
    with pytest.raises(ValueError, match=r"gather: reference must have rank >= 1"):
        K.gather(np.float32(1), [0])


# ----------------------------------------------------------------------------- pattern_broadcast


def test_pattern_broadcast():
    x = rand(2, 1, 3)
    check(lambda t: K.pattern_broadcast(t, (False, True, False)), lambda t: t, x)
    v = K.variable(x)
    out = K.pattern_broadcast(v, [False, True, False])
    assert out is not v
    with pytest.raises(ValueError, match=r"pattern_broadcast: broadcastable needs one flag "
                                         r"per axis of x \(rank 3\)"):
        K.pattern_broadcast(x, (True, False))
    with pytest.raises(ValueError, match=r"pattern_broadcast: axes \[2\] are marked "
                                         r"broadcastable but their size is not 1"):
        K.pattern_broadcast(x, (False, True, True))


# ----------------------------------------------------------------------------- padding


@pytest.mark.parametrize("padding,dtype", cycle([(1, 1), (0, 2), (3, 0), (0, 0)], FI, one=True))
def test_temporal_padding(padding, dtype):
    check(lambda t: K.temporal_padding(t, padding),
          lambda t: np.pad(t, ((0, 0), padding, (0, 0))), rand(2, 3, 4, dtype=dtype))


def test_temporal_padding_default_and_errors():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(K.temporal_padding(x), np.pad(x, ((0, 0), (1, 1), (0, 0))))
    with pytest.raises(ValueError, match=r"temporal_padding: x must have rank 3"):
        K.temporal_padding(rand(2, 3), (1, 1))
    with pytest.raises(ValueError, match=r"temporal_padding: padding must be a \(left, "
                                         r"right\) pair.*\(1, 2, 3\)"):
        K.temporal_padding(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"temporal_padding: padding must be"):
        K.temporal_padding(x, (-1, 2))


@pytest.mark.parametrize("padding,dtype", cycle([((1, 1), (1, 1)), ((0, 2), (3, 1)),
                                                 ((0, 0), (0, 1))], FF, one=True))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_2d_padding(padding, data_format, dtype):
    def ref(t):
        pads = ((0, 0),) + padding + ((0, 0),) if data_format == "channels_last" \
            else ((0, 0), (0, 0)) + padding
        return np.pad(t, pads)

    check(lambda t: K.spatial_2d_padding(t, padding, data_format), ref,
          rand(2, 3, 4, 5, dtype=dtype))


@pytest.mark.parametrize("padding", [((1, 1), (1, 1), (1, 1)), ((0, 2), (1, 0), (2, 3))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_3d_padding(padding, data_format):
    def ref(t):
        pads = ((0, 0),) + padding + ((0, 0),) if data_format == "channels_last" \
            else ((0, 0), (0, 0)) + padding
        return np.pad(t, pads)

    check(lambda t: K.spatial_3d_padding(t, padding, data_format), ref,
          rand(2, 3, 2, 4, 3), none="all")


def test_spatial_padding_default_format_and_errors():
    x = rand(1, 2, 3, 4)
    K.set_image_data_format("channels_first")
    np.testing.assert_array_equal(K.spatial_2d_padding(x),
                                  np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))))
    K.set_image_data_format("channels_last")
    np.testing.assert_array_equal(K.spatial_2d_padding(x),
                                  np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    y = rand(1, 2, 3, 4, 2)
    np.testing.assert_array_equal(K.spatial_3d_padding(y),
                                  np.pad(y, ((0, 0), (1, 1), (1, 1), (1, 1), (0, 0))))
    with pytest.raises(ValueError, match=r"spatial_2d_padding: padding must be 2 \(before, "
                                         r"after\) pairs"):
        K.spatial_2d_padding(x, ((1, 1),))
    with pytest.raises(ValueError, match=r"spatial_3d_padding: padding must be 3"):
        K.spatial_3d_padding(y, ((1, 1), (1, 1), (1, 1, 1)))
    with pytest.raises(ValueError, match=r"spatial_2d_padding: x must have rank 4"):
        K.spatial_2d_padding(rand(2, 3, 4))
    with pytest.raises(ValueError, match=r"data_format"):
        K.spatial_2d_padding(x, data_format="channels_middle")


# ----------------------------------------------------------------------------- resizing


def np_bilinear_tf1(x, fh, fw, data_format):
    """TF1 resize_bilinear (align_corners=False, no half-pixel centres), per pixel.

    Output pixel i samples input position i * in / out: rows floor and min(ceil, n - 1)
    with weight frac; width is interpolated first, then height.
    """
    if data_format == "channels_first":
        x = np.transpose(x, (0, 2, 3, 1))
    x = x.astype(np.float64)
    b, h, w, c = x.shape
    oh, ow = h * fh, w * fw
    out = np.zeros((b, oh, ow, c))

    def taps(i, n_in, n_out):
        pos = i * n_in / n_out
        lo = int(np.floor(pos))
        return lo, min(int(np.ceil(pos)), n_in - 1), pos - lo

    for i in range(oh):
        y0, y1, wy = taps(i, h, oh)
        for j in range(ow):
            x0, x1, wx = taps(j, w, ow)
            top = x[:, y0, x0] + (x[:, y0, x1] - x[:, y0, x0]) * wx
            bottom = x[:, y1, x0] + (x[:, y1, x1] - x[:, y1, x0]) * wx
            out[:, i, j] = top + (bottom - top) * wy
    if data_format == "channels_first":
        out = np.transpose(out, (0, 3, 1, 2))
    return out


def np_nearest(x, factors, first):
    for i, f in enumerate(factors):
        x = np.repeat(x, f, axis=first + i)
    return x


@pytest.mark.parametrize("fh,fw,dtype", cycle([(2, 2), (1, 3), (3, 2)], ["float32", "int32"]))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_resize_images_nearest(fh, fw, data_format, dtype):
    first = 1 if data_format == "channels_last" else 2
    check(lambda t: K.resize_images(t, fh, fw, data_format),
          lambda t: np_nearest(t, (fh, fw), first), rand(2, 3, 4, 2, dtype=dtype))


@pytest.mark.parametrize("fh,fw,dtype", cycle([(2, 2), (1, 3), (4, 1)],
                                               ["float32", "float64"]))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_resize_images_bilinear(fh, fw, data_format, dtype):
    x = rand(2, 3, 4, 2, dtype=dtype)
    check(lambda t: K.resize_images(t, fh, fw, data_format, interpolation="bilinear"),
          lambda t: np_bilinear_tf1(t, fh, fw, data_format).astype(dtype), x, rtol=1e-5,
          atol=1e-5)


def test_resize_images_bilinear_reference_formula():
    # The reference itself: a 1x2 image upsampled by 2 keeps the left pixel, then its
    # midpoint with the right one, then the right pixel twice (edge repeat).
    row = np.array([[[[0.0], [4.0]]]])
    np.testing.assert_allclose(np_bilinear_tf1(row, 1, 2, "channels_last")[0, 0, :, 0],
                               [0.0, 2.0, 4.0, 4.0])
    out = K.resize_images(row.astype("float32"), 1, 2, "channels_last", "bilinear")
    np.testing.assert_allclose(np.asarray(out)[0, 0, :, 0], [0.0, 2.0, 4.0, 4.0])


def test_resize_images_bilinear_dtypes_and_none_dims():
    xi = rand(1, 2, 3, 1, dtype="int32")
    out = K.resize_images(xi, 2, 2, "channels_last", "bilinear")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np_bilinear_tf1(xi, 2, 2, "channels_last"), rtol=1e-6)
    xh = rand(1, 2, 3, 1, dtype="float16")
    assert K.resize_images(xh, 2, 2, "channels_last", "bilinear").dtype == np.float16
    t = K.resize_images(K.placeholder((None, 3, None, 2)), 2, 3, "channels_last", "bilinear")
    assert t.shape == (None, 6, None, 2)
    check(lambda a: K.resize_images(a, 2, 3, "channels_first", "bilinear"),
          lambda a: np_bilinear_tf1(a, 2, 3, "channels_first").astype("float32"),
          rand(2, 2, 3, 4), none="all", atol=1e-5)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_resize_images_bilinear_grads(fmt):
    # linear in x: second order is identically zero
    x = rand(1, 2, 3, 2, dtype="float64")
    check_grads(jax.jit(lambda t: K.resize_images(t, 2, 3, fmt, "bilinear")), (x,),
                order=1, modes=["rev"])


def test_resize_images_errors():
    x = rand(1, 2, 3, 1)
    with pytest.raises(ValueError, match=r"resize_images: interpolation must be 'nearest' or"
                                         r" 'bilinear', got 'bicubic'"):
        K.resize_images(x, 2, 2, "channels_last", "bicubic")
    with pytest.raises(ValueError, match=r"data_format"):
        K.resize_images(x, 2, 2, "channels_middle")
    with pytest.raises(ValueError, match=r"resize_images: x must have rank 4"):
        K.resize_images(rand(2, 3, 4), 2, 2, "channels_last")
    with pytest.raises(ValueError, match=r"resize_images: height_factor must be a positive "
                                         r"integer, got 0"):
        K.resize_images(x, 0, 2, "channels_last")
    with pytest.raises(TypeError, match=r"resize_images: width_factor must be an integer"):
        K.resize_images(x, 2, 1.5, "channels_last")


@pytest.mark.parametrize("factors,dtype", cycle([(2, 2, 2), (1, 2, 3)], FI, one=True))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_resize_volumes(factors, data_format, dtype):
    first = 1 if data_format == "channels_last" else 2
    check(lambda t: K.resize_volumes(t, *factors, data_format),
          lambda t: np_nearest(t, factors, first), rand(2, 2, 3, 2, 3, dtype=dtype))


def test_resize_volumes_errors():
    with pytest.raises(ValueError, match=r"data_format"):
        K.resize_volumes(rand(1, 2, 2, 2, 1), 2, 2, 2, "bogus")
    with pytest.raises(ValueError, match=r"resize_volumes: x must have rank 5"):
        K.resize_volumes(rand(1, 2, 2, 1), 2, 2, 2, "channels_last")
    with pytest.raises(ValueError, match=r"resize_volumes: depth_factor must be a positive"):
        K.resize_volumes(rand(1, 2, 2, 2, 1), -1, 2, 2, "channels_last")
    t = K.resize_volumes(K.placeholder((None, 2, None, 3, 1)), 2, 2, 2, "channels_last")
    assert t.shape == (None, 4, None, 6, 1)


@pytest.mark.parametrize("setting, expect", [("highest", "HIGHEST"), ("default", "DEFAULT")])
def test_matmul_precision_follows_jax_setting(setting, expect):
    # jkb hard-codes no precision: dot, batch_dot and the convolutions run at whatever
    # jax_default_matmul_precision says (TF32/bf16 passes by default on GPUs and TPUs).
    x = np.ones((2, 3, 4), np.float32)
    k = np.ones((3, 4, 5), np.float32)
    ops = [lambda a: K.dot(a, np.ones((4, 5), np.float32)),
           lambda a: K.batch_dot(a, np.ones((2, 4, 3), np.float32), axes=(2, 1)),
           lambda a: K.conv1d(a, k, padding="same")]
    with jax.default_matmul_precision(setting):
        for fn in ops:
            text = jax.jit(fn).lower(x).as_text()
            found = re.findall(r"precision (\w+)>|precision = \[(\w+),", text)
            assert found and {a or b for a, b in found} == {expect}, text
