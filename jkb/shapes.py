"""Linear algebra, shape manipulation, and image padding/resizing.

Shape-like arguments (reshape targets, tile counts, slice starts/sizes, factors) must be
known when a program is built: Python ints, NumPy ints, or foldable tensors such as
``K.shape(x)[0]``. They reach the op functions as concrete values and become Python ints
there.

Unknown (``None``) dims are inferred by running each op on trial sizes (see
:mod:`jkb.core`). A trial size can disagree with a known size that it must match at run
time: ``K.dot`` of a ``(None, None)`` placeholder with a ``(4, 5)`` weight, or
``K.squeeze`` of an unknown axis. TF accepts such graphs and checks the sizes when they
run, so the ops here do the same. While a node is being built, a size mismatch caused
by a trial size is tolerated while ``jkb.core.inferring()`` (the op returns zeros of the
shape it would have if the sizes matched); when the node runs it raises ``ValueError``.
"""

from __future__ import annotations

import math as _math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import config
from .core import Tensor, _Tracer, asarray, inferring, op, operands, py_array, static_value

__all__ = [
    "dot", "batch_dot", "transpose", "concatenate", "reshape", "permute_dimensions",
    "repeat_elements", "repeat", "arange", "tile", "flatten", "batch_flatten",
    "expand_dims", "squeeze", "stack", "one_hot", "reverse", "slice", "gather",
    "pattern_broadcast", "temporal_padding", "spatial_2d_padding", "spatial_3d_padding",
    "resize_images", "resize_volumes",
]


# ----------------------------------------------------------------------------- helpers

def _shape(x) -> tuple:
    """Static shape (ints and None) of a tensor, array, BCOO, scalar or nested list."""
    if isinstance(x, Tensor):
        return tuple(x.shape)
    s = getattr(x, "shape", None)
    if s is None:
        return tuple(np.shape(x))
    return tuple(None if d is None else int(d) for d in s)


def _dtype(x) -> np.dtype:
    dt = getattr(x, "dtype", None)
    if dt is None:
        return np.asarray(x).dtype
    return np.dtype(dt)


def _is_bcoo(x) -> bool:
    return hasattr(x, "nse") and hasattr(x, "todense")


def _dense(x):
    return x.todense() if _is_bcoo(x) else asarray(x)


def _zeros_shaped(x, shape):
    """Stand-in of the right shape and dtype, used only while shapes are inferred."""
    return jnp.zeros(tuple(shape), _dtype(x))


def _resized(x, axis, n):
    shape = list(_shape(x))
    shape[axis] = n
    return _zeros_shaped(x, shape)


def _static_arg(v):
    """A shape-like argument as plain Python (ints, floats, tuples); tensors stay leaves.

    Concrete arrays must not reach an op as arrays: compiled functions would receive
    them as run-time arguments and their values would no longer be known. A
    ``K.constant`` is a value known when the graph is built: it is taken as its value.
    """
    v = static_value(v)
    if isinstance(v, Tensor) or isinstance(v, _Tracer) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return tuple(_static_arg(e) for e in v)
    if isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, (np.ndarray, np.generic, jax.Array)):
        return np.asarray(v).tolist() if np.ndim(v) == 0 else tuple(np.asarray(v).tolist())
    return v


def _scalar(v, opname: str, what: str, integer: bool = True):
    """A Python number from a value known when the program is built."""
    if isinstance(v, _Tracer):
        raise ValueError(
            f"{opname}: {what} must be known when the graph is built (a Python number or "
            f"a value derived from K.shape), but it is only known at run time.")
    a = np.asarray(v)
    if a.ndim != 0:
        raise ValueError(f"{opname}: {what} must be a scalar, got shape {a.shape}.")
    if integer:
        if a.dtype.kind not in "iub":
            raise TypeError(f"{opname}: {what} must be an integer, got {a.item()!r} "
                            f"({a.dtype.name}).")
        return int(a)
    return a.item()


def _ints(v, opname: str, what: str) -> tuple:
    """A tuple of Python ints from a list (of scalars or 1-D pieces) or a 1-D value."""
    if isinstance(v, (list, tuple)):
        out = []
        for e in v:
            if not isinstance(e, _Tracer) and np.ndim(e) == 1:
                out.extend(_scalar(i, opname, what) for i in np.asarray(e))
            else:
                out.append(_scalar(e, opname, what))
        return tuple(out)
    if isinstance(v, _Tracer):
        raise ValueError(
            f"{opname}: {what} must be known when the graph is built (Python ints or "
            f"values derived from K.shape), but it is only known at run time.")
    a = np.asarray(v)
    if a.ndim == 0:
        return (_scalar(a, opname, what),)
    if a.ndim != 1:
        raise ValueError(f"{opname}: {what} must be 1-D, got shape {a.shape}.")
    return tuple(_scalar(i, opname, what) for i in a)


def _length(v):
    """Number of entries of a list / 1-D tensor argument (None when unknown)."""
    if isinstance(v, (list, tuple)):
        return len(v)
    s = _shape(v)
    if len(s) == 0:
        return 1
    return s[0]


def _norm_axis(axis, rank: int, opname: str, extra: int = 0, what: str = "axis") -> int:
    """``axis`` in ``[0, rank + extra)``; ``extra=1`` for ops that insert an axis."""
    a = _scalar(_static_arg(axis), opname, what)
    n = rank + extra
    if not -n <= a < n:
        raise ValueError(f"{opname}: {what}={a} is out of range for a tensor of rank {rank} "
                         f"(valid: {-n} to {n - 1}).")
    return a % n if n else 0


def _merge(*dims):
    """The first known dim among ``dims`` (None if all are unknown)."""
    for d in dims:
        if d is not None:
            return d
    return None


def _conflict(a, b) -> bool:
    return a is not None and b is not None and a != b


# ----------------------------------------------------------------------------- linear algebra


def dot(x, y):
    """Tensor product with NumPy's ``dot`` rule.

    Ranks <= 2: the ordinary matrix (or vector) product. Otherwise the last axis of ``x``
    is contracted with the second-to-last axis of ``y`` (its only axis if ``y`` is 1-D):
    ``(2, 3) . (4, 3, 5) -> (2, 4, 5)``; ``(2, 3, 4) . (5, 4, 6) -> (2, 3, 5, 6)``. This is
    not a batched matmul. A sparse (BCOO) ``x`` gives a sparse-dense product.
    """
    # Python data converted as TF does (inline, not @operands: the eager dot is hot).
    if type(x) is list or type(x) is tuple:
        x = py_array(x, "dot")
    if type(y) is list or type(y) is tuple:
        y = py_array(y, "dot")
    if not isinstance(x, Tensor) and not isinstance(y, Tensor) and not _is_bcoo(x):
        return _dot_eager(x, y, None)  # one compiled dispatch; checks run when it traces
    xs, ys = _shape(x), _shape(y)
    if xs and ys:
        yc = max(len(ys) - 2, 0)
        if _conflict(xs[-1], ys[yc]):
            raise ValueError(
                f"dot: the last axis of x ({xs[-1]}) must match axis {yc - len(ys)} of y "
                f"({ys[yc]}). Received: x.shape={xs}, y.shape={ys}.")
        target = _merge(xs[-1], ys[yc])
    else:
        target = None
    return _dot(x, y, target)


@op(name="dot")
def _dot(x, y, target):
    if not _is_bcoo(x):
        x = asarray(x)
    y = _dense(y)
    if x.ndim == 0 or y.ndim == 0:
        return _dense(x) * y
    yc = max(y.ndim - 2, 0)
    if x.shape[-1] != y.shape[yc]:
        if not inferring():
            raise ValueError(
                f"dot: the last axis of x ({x.shape[-1]}) must match axis {yc - y.ndim} of "
                f"y ({y.shape[yc]}). Received: x.shape={tuple(x.shape)}, "
                f"y.shape={tuple(y.shape)}.")
        n = y.shape[yc] if target is None else target
        x, y = _resized(x, x.ndim - 1, n), _resized(y, yc, n)
    if _is_bcoo(x):
        from jax.experimental import sparse as jsparse
        return jsparse.bcoo_dot_general(
            x, y, dimension_numbers=(((x.ndim - 1,), (yc,)), ((), ())))
    return jnp.dot(x, y)


# Used only on concrete values, never during shape inference, so no stand-in produced
# while inferring can be cached by this jit.
_dot_eager = jax.jit(_dot.raw, static_argnames=("target",))


def _batch_dot_axes(xs, ys, axes):
    xn, yn = len(xs), len(ys)
    if isinstance(axes, (int, np.integer)):
        axes = (int(axes), int(axes))
    elif axes is None:
        axes = (xn - 1, yn - 1) if yn == 2 else (xn - 1, yn - 2)
    else:
        axes = tuple(axes)
        if any(isinstance(a, (list, tuple)) for a in axes):
            raise ValueError(f"batch_dot: contracting several axes is not supported; axes "
                             f"must be None, an int or a pair of ints, got {axes}.")
        if len(axes) != 2:
            raise ValueError(f"batch_dot: axes must be None, an int or a pair of ints, got "
                             f"{axes}.")
    a0, a1 = (_scalar(_static_arg(a), "batch_dot", "each axis") for a in axes)
    a0 = a0 + xn if a0 < 0 else a0
    a1 = a1 + yn if a1 < 0 else a1
    if not (0 <= a0 < xn and 0 <= a1 < yn):
        raise ValueError(f"batch_dot: axes {tuple(axes)} are out of range for inputs of "
                         f"shapes x.shape={xs}, y.shape={ys}.")
    if a0 == 0 or a1 == 0:
        raise ValueError(f"batch_dot: cannot contract axis 0, the batch axis (axes={(a0, a1)}"
                         f"). Add a batch axis with K.expand_dims(x, 0) if the inputs are "
                         f"not batched. Received: x.shape={xs}, y.shape={ys}.")
    return a0, a1


@operands("x", "y")
def batch_dot(x, y, axes=None):
    """Per-sample dot product: contracts ``x``'s axis ``axes[0]`` with ``y``'s ``axes[1]``.

    Axis 0 is the batch axis shared by both (never contracted). ``axes`` is an int (same
    axis for both), a pair, or None: the last axis of ``x`` with the last axis of a rank-2
    ``y`` or the second-to-last axis of a higher-rank ``y``. Negative axes count from the
    end. The result holds ``x``'s remaining axes (batch first) then ``y``'s remaining
    non-batch axes; two rank-2 inputs give shape ``(batch, 1)``.
    Examples: ``(B, 4, 3) . (B, 3, 5)`` with axes (2, 1) -> ``(B, 4, 5)``;
    ``(B, 3, 4, 5) . (B, 2, 3, 4)`` with axes (2, 3) -> ``(B, 3, 5, 2, 3)``.
    """
    xs, ys = _shape(x), _shape(y)
    if len(xs) < 2 or len(ys) < 2:
        raise ValueError(f"batch_dot: both inputs need rank >= 2 (a batch axis and at least "
                         f"one more). Received: x.shape={xs}, y.shape={ys}.")
    if _conflict(xs[0], ys[0]):
        raise ValueError(f"batch_dot: the batch sizes differ ({xs[0]} != {ys[0]}). "
                         f"Received: x.shape={xs}, y.shape={ys}.")
    a0, a1 = _batch_dot_axes(xs, ys, axes)
    if _conflict(xs[a0], ys[a1]):
        raise ValueError(f"batch_dot: x.shape[{a0}] != y.shape[{a1}] ({xs[a0]} != {ys[a1]}) "
                         f"with axes={(a0, a1)}. Received: x.shape={xs}, y.shape={ys}.")
    return _batch_dot(x, y, a0, a1, _merge(xs[0], ys[0]), _merge(xs[a0], ys[a1]))


@op(name="batch_dot")
def _batch_dot(x, y, a0, a1, batch, depth):
    x, y = asarray(x), asarray(y)
    for ax_x, ax_y, n, what in ((0, 0, batch, "batch sizes"), (a0, a1, depth, "contracted dims")):
        if x.shape[ax_x] != y.shape[ax_y]:
            if not inferring():
                raise ValueError(
                    f"batch_dot: the {what} differ ({x.shape[ax_x]} != {y.shape[ax_y]}) with "
                    f"axes={(a0, a1)}. Received: x.shape={x.shape}, y.shape={y.shape}.")
            n = y.shape[ax_y] if n is None else n
            x, y = _resized(x, ax_x, n), _resized(y, ax_y, n)
    dt = jnp.result_type(x, y)
    out = lax.dot_general(x.astype(dt), y.astype(dt), (((a0,), (a1,)), ((0,), (0,))))
    if out.ndim == 1:
        out = out[:, None]
    return out


@op(name="transpose")
def _transpose(x):
    return jnp.transpose(asarray(x))


@operands("x")
def transpose(x):
    """Reverses the order of all axes (the matrix transpose for rank 2)."""
    return _transpose(x)


# ----------------------------------------------------------------------------- joining


def _joined_shape(shapes, skip, opname):
    """The merged static shape of equally-ranked inputs (``skip``: an axis not compared)."""
    rank = len(shapes[0])
    merged = list(shapes[0])
    for s in shapes[1:]:
        if len(s) != rank:
            raise ValueError(f"{opname}: all inputs must have the same rank. "
                             f"Received shapes: {list(shapes)}.")
        for d in range(rank):
            if d == skip:
                continue
            if _conflict(merged[d], s[d]):
                what = "all dims except the concatenation axis" if skip is not None \
                    else "the same shape"
                raise ValueError(f"{opname}: inputs must have {what}; they differ at axis "
                                 f"{d}. Received shapes: {list(shapes)}.")
            merged[d] = _merge(merged[d], s[d])
    return tuple(merged)


def _fit_all(arrays, merged, skip, opname):
    """Checks sizes at run time; while building, conforms trial sizes to ``merged``."""
    first = arrays[0].shape
    rank = len(first)
    if all(a.shape[d] == first[d] for a in arrays[1:] for d in range(rank) if d != skip):
        return arrays
    if not inferring():
        raise ValueError(f"{opname}: input shapes differ outside the joining axis. "
                         f"Received shapes: {[tuple(a.shape) for a in arrays]}.")

    def target(a):
        return tuple(a.shape[d] if d == skip else _merge(merged[d], first[d])
                     for d in range(rank))

    return [a if tuple(a.shape) == target(a) else _zeros_shaped(a, target(a)) for a in arrays]


def _as_arrays(items):
    """Arrays from a list of values; Python numbers/lists take the other inputs' dtype.

    As in TF, ``K.concatenate([K.shape(x)[:1], [-1]])`` stays int32 (not int64); Python
    floats next to integer tensors promote instead of being truncated.
    """
    def is_py(t):
        return isinstance(t, (list, tuple, int, float, bool))

    typed = [_dtype(t) for t in items if not is_py(t)]
    dt = np.result_type(*typed) if typed else None

    def convert(t):
        a = py_array(t, "concatenate")  # TF's dtypes for Python data
        if dt is None or (a.dtype.kind == "f" and dt.kind in "iub"):
            return asarray(a)
        return asarray(a, dtype=dt)

    return [convert(t) if is_py(t) else _dense(t) for t in items]


def concatenate(tensors, axis=-1):
    """Joins tensors along an existing axis.

    A negative axis is taken modulo the rank of the first tensor (rank 0 -> axis 0). All
    sparse (BCOO) inputs give a sparse result; a mix of sparse and dense is densified.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: expected a non-empty list of tensors.")
    shapes = [_shape(t) for t in tensors]
    rank = len(shapes[0])
    axis = _scalar(_static_arg(axis), "concatenate", "axis")
    if axis < 0:
        axis = axis % rank if rank else 0
    if rank == 0:
        raise ValueError(f"concatenate: cannot concatenate scalars (rank 0). Received "
                         f"shapes: {shapes}.")
    if axis >= rank:
        raise ValueError(f"concatenate: axis={axis} is out of range for inputs of rank {rank}."
                         f" Received shapes: {shapes}.")
    merged = _joined_shape(shapes, axis, "concatenate")
    tensors = tuple(tensors)
    return _concatenate(tensors, axis, merged)


@op(name="concatenate")
def _concatenate(tensors, axis, merged):
    if all(_is_bcoo(t) for t in tensors):
        from jax.experimental import sparse as jsparse
        return jsparse.bcoo_concatenate(list(tensors), dimension=axis)
    arrays = _fit_all(_as_arrays(tensors), merged, axis, "concatenate")
    return jnp.concatenate(arrays, axis=axis)


def stack(x, axis=0):
    """Stacks equally-shaped tensors along a new axis ``axis`` (default 0)."""
    tensors = list(x)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors.")
    shapes = [_shape(t) for t in tensors]
    merged = _joined_shape(shapes, None, "stack")
    axis = _norm_axis(axis, len(merged), "stack", extra=1)
    tensors = tuple(tensors)
    return _stack(tensors, axis, merged)


@op(name="stack")
def _stack(tensors, axis, merged):
    arrays = _fit_all(_as_arrays(tensors), merged, None, "stack")
    return jnp.stack(arrays, axis=axis)


# ----------------------------------------------------------------------------- reshaping


@operands("x")
def reshape(x, shape):
    """x with a new shape; ``shape`` may hold one -1 and values taken from ``K.shape``.

    ``shape`` is a list/tuple (of ints and scalar tensors such as ``K.shape(x)[0]``) or a
    1-D tensor whose value is known when the graph is built (e.g. ``K.shape(y)``).
    """
    shape = _static_arg(shape)
    if isinstance(shape, (int, float)):
        shape = (shape,)
    if isinstance(shape, tuple) and all(isinstance(d, int) for d in shape):
        _reshape_target(_shape(x), shape, lenient=False)
    return _reshape(x, shape)


def _reshape_target(xs, target, lenient):
    """Validates ``target`` for a tensor of static shape ``xs``.

    Returns None when it fits (or ``xs`` has unknown dims), else, with ``lenient``, the
    shape of the stand-in result used while shapes are inferred.
    """
    if sum(d == -1 for d in target) > 1 or any(d < -1 for d in target):
        raise ValueError(f"reshape: the target shape may contain one -1 and otherwise "
                         f"non-negative sizes. Received: x.shape={xs}, shape={target}.")
    if None in xs:
        return None
    size = _math.prod(xs)
    known = _math.prod(d for d in target if d != -1)
    if -1 in target:
        fits = size % known == 0 if known else size == 0
    else:
        fits = size == known
    if fits:
        return None
    if lenient:
        fill = max(1, -(-size // known)) if known else 1
        return tuple(fill if d == -1 else d for d in target)
    raise ValueError(f"reshape: cannot reshape a tensor of shape {xs} ({size} elements) to "
                     f"{target}.")


@op(name="reshape")
def _reshape(x, shape):
    x = asarray(x)
    target = _ints(shape, "reshape", "the target shape")
    stand_in = _reshape_target(tuple(x.shape), target, lenient=inferring())
    if stand_in is not None:
        return _zeros_shaped(x, stand_in)
    return jnp.reshape(x, target)


@operands("x")
def permute_dimensions(x, pattern):
    """Transposes x to the axis order ``pattern`` (a permutation of all axes)."""
    xs = _shape(x)
    pattern = _ints(_static_arg(pattern), "permute_dimensions", "pattern")
    if sorted(pattern) != list(range(len(xs))):
        raise ValueError(f"permute_dimensions: pattern must be a permutation of "
                         f"{tuple(range(len(xs)))}. Received: pattern={pattern}, "
                         f"x.shape={xs}.")
    return _permute(x, pattern)


@op(name="permute_dimensions")
def _permute(x, pattern):
    return jnp.transpose(asarray(x), pattern)


@operands("x")
def repeat_elements(x, rep, axis):
    """Repeats each slice of x along ``axis`` ``rep`` times, like ``np.repeat``.

    A symbolic result carries ``_keras_shape`` (``None`` where the dim is unknown), as on
    Keras 2.3.1's TF backend."""
    xs = _shape(x)
    axis = _norm_axis(axis, len(xs), "repeat_elements")
    rep = _scalar(_static_arg(rep), "repeat_elements", "rep")
    if rep < 0:
        raise ValueError(f"repeat_elements: rep must be >= 0, got {rep}.")
    return _with_keras_shape(_repeat_elements(x, rep, axis))


def _with_keras_shape(out):
    """Sets ``_keras_shape`` (None where a dim is unknown) on a symbolic result, as Keras
    2.3.1's TF ``repeat_elements`` does (and so ``resize_volumes``, built from it)."""
    if isinstance(out, Tensor):
        out._keras_shape = tuple(out.shape)
    return out


@op(name="repeat_elements")
def _repeat_elements(x, rep, axis):
    return jnp.repeat(asarray(x), rep, axis=axis)


@operands("x")
def repeat(x, n):
    """Turns a ``(batch, dim)`` tensor into ``(batch, n, dim)`` by copying each row."""
    xs = _shape(x)
    if len(xs) != 2:
        raise ValueError(f"repeat: x must have rank 2 (batch, dim). Received: x.shape={xs}.")
    return _repeat(x, _static_arg(n))


@op(name="repeat")
def _repeat(x, n):
    n = _scalar(n, "repeat", "n")
    if n < 0:
        raise ValueError(f"repeat: n must be >= 0, got {n}.")
    x = asarray(x)
    return jnp.broadcast_to(x[:, None, :], (x.shape[0], n, x.shape[1]))


_RANGE_DTYPES = ("int32", "int64", "float32", "float64")  # tf.range's dtype hierarchy


def _range_dtype(v):
    """The dtype TF's ``range`` gives an argument: Python ints int32 (int64 beyond its
    range), Python floats float32, arrays and tensors their own dtype."""
    v = static_value(v)
    if isinstance(v, (np.generic, np.ndarray, jax.Array, Tensor)):
        return np.dtype(v.dtype)
    if isinstance(v, bool):
        return np.dtype(bool)
    if isinstance(v, int):
        return np.dtype("int32" if -2**31 <= v < 2**31 else "int64")
    if isinstance(v, float):
        return np.dtype("float32")
    dt = getattr(v, "dtype", None)
    return np.dtype(dt) if dt is not None else np.asarray(v).dtype


def arange(start, stop=None, step=1, dtype="int32"):
    """A 1-D range like ``np.arange``; arguments must be known when the graph is built.

    Dtypes follow Keras 2.3.1 on TF (``tf.range`` then a cast): the range takes the widest
    dtype of its arguments in the order int32 < int64 < float32 < float64 (Python ints
    count as int32, Python floats as float32), and is cast to ``dtype`` only when
    ``dtype`` is not 'int32' (the default). So ``arange(2.5)`` and
    ``arange(K.constant(3))`` are float32, ``arange(np.int64(4))`` is int64. Other
    argument dtypes (bool, float16, ...) raise a TypeError, as TF does.

    With a single argument it is the stop; a negative single argument gives an empty
    result. Scalar tensors whose value is known when the graph is built (``K.constant``,
    values derived from ``K.shape``) are accepted.
    """
    dt = config.check_dtype(dtype, "arange")
    args = [start] if stop is None else [start, stop]
    args.append(step)
    kinds = [_range_dtype(a) for a in args]
    bad = [k.name for k in kinds if k.name not in _RANGE_DTYPES]
    if bad:
        raise TypeError(f"arange: start, stop and step must be int32, int64, float32 or "
                        f"float64 (as for TF's range); received dtypes {bad}.")
    inferred = max(kinds, key=lambda k: _RANGE_DTYPES.index(k.name))
    out = inferred if dt == np.dtype("int32") else dt
    return _arange(_static_arg(start), _static_arg(stop), _static_arg(step), inferred, out)


@op(name="arange")
def _arange(start, stop, step, inferred, dt):
    start = _scalar(start, "arange", "start", integer=False)
    step = _scalar(step, "arange", "step", integer=False)
    if stop is None:
        start, stop = 0, max(start, 0)
    else:
        stop = _scalar(stop, "arange", "stop", integer=False)
    if step == 0:
        raise ValueError("arange: step must not be 0.")
    values = np.arange(*(np.asarray(v).astype(inferred) for v in (start, stop, step)),
                       dtype=inferred)
    return asarray(values.astype(dt))


class _TileRankError(ValueError, NotImplementedError):
    """Keras 2.3.1 raises NotImplementedError here; ValueError is jkb's convention."""


@operands("x")
def tile(x, n):
    """x repeated ``n[i]`` times along each axis ``i``.

    ``n`` is an int, a list/tuple, or a 1-D tensor known when the graph is built. A
    shorter ``n`` is left-padded with 1s (so ``tile(x, 2)`` tiles the last axis); a longer
    one raises a ValueError that is also of the not-implemented type Keras 2.3.1 raised.
    """
    n = _static_arg(n)
    if isinstance(n, int):
        n = (n,)
    length = _length(n)
    rank = len(_shape(x))
    if length is not None and length > rank:
        raise _TileRankError(f"tile: n has {length} entries but x has rank {rank}. "
                             f"Received: x.shape={_shape(x)}, n={n}.")
    return _tile(x, n)


@op(name="tile")
def _tile(x, n):
    x = asarray(x)
    reps = _ints(n, "tile", "n")
    if len(reps) > x.ndim:
        raise _TileRankError(f"tile: n has {len(reps)} entries but x has rank {x.ndim}. "
                             f"Received: x.shape={tuple(x.shape)}, n={reps}.")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repetition counts must be >= 0, got {reps}.")
    reps = (1,) * (x.ndim - len(reps)) + reps
    return jnp.tile(x, reps)


@op(name="flatten")
def _flatten(x):
    return jnp.reshape(asarray(x), (-1,))


@operands("x")
def flatten(x):
    """x reshaped to 1-D."""
    return _flatten(x)


@operands("x")
def batch_flatten(x):
    """Keeps axis 0 and flattens the others: ``(batch, prod(rest))``."""
    if len(_shape(x)) < 1:
        raise ValueError(f"batch_flatten: x needs rank >= 1. Received: x.shape={_shape(x)}.")
    return _batch_flatten(x)


@op(name="batch_flatten")
def _batch_flatten(x):
    x = asarray(x)
    return jnp.reshape(x, (x.shape[0], _math.prod(x.shape[1:])))


@operands("x")
def expand_dims(x, axis=-1):
    """Inserts a size-1 axis at ``axis``; -1 appends a new last axis."""
    axis = _norm_axis(axis, len(_shape(x)), "expand_dims", extra=1)
    return _expand_dims(x, axis)


@op(name="expand_dims")
def _expand_dims(x, axis):
    return jnp.expand_dims(asarray(x), axis)


@operands("x")
def squeeze(x, axis):
    """Removes the size-1 axis ``axis``; an error if that axis is not of size 1."""
    xs = _shape(x)
    axis = _norm_axis(axis, len(xs), "squeeze")
    if xs[axis] is not None and xs[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} has size {xs[axis]}, expected 1. "
                         f"Received: x.shape={xs}.")
    return _squeeze(x, axis)


@op(name="squeeze")
def _squeeze(x, axis):
    x = asarray(x)
    if x.shape[axis] != 1:
        if not inferring():
            raise ValueError(f"squeeze: axis {axis} has size {x.shape[axis]}, expected 1. "
                             f"Received: x.shape={tuple(x.shape)}.")
        return jnp.take(x, 0, axis=axis)
    return jnp.squeeze(x, axis)


def one_hot(indices, num_classes):
    """One-hot encoding: integer indices of shape S -> float32 of shape S + (num_classes,).

    Indices outside ``[0, num_classes)`` (negative ones included) give all-zero rows.
    """
    if isinstance(indices, (list, tuple)):
        indices = py_array(indices, "one_hot")
    dt = _dtype(indices)
    if dt.kind not in "iu":  # TF's OneHot takes integer indices only (not bool)
        raise TypeError(f"one_hot: indices must be integers, got dtype {dt.name}; use "
                        f"K.cast(indices, 'int32') first.")
    n = _scalar(_static_arg(num_classes), "one_hot", "num_classes")
    if n < 0:
        raise ValueError(f"one_hot: num_classes must be >= 0, got {n}.")
    return _one_hot(indices, n)


@op(name="one_hot")
def _one_hot(indices, n):
    return jax.nn.one_hot(asarray(indices), n, dtype=jnp.float32)


@operands("x")
def reverse(x, axes):
    """x flipped along ``axes`` (an int or a list of ints; negative values allowed)."""
    xs = _shape(x)
    axes = _static_arg(axes)
    axes = axes if isinstance(axes, tuple) else (axes,)
    norm = tuple(_norm_axis(a, len(xs), "reverse", what="axes entry") for a in axes)
    if len(set(norm)) != len(norm):
        raise ValueError(f"reverse: axes {axes} name the same axis twice (x.shape={xs}).")
    return _reverse(x, norm)


@op(name="reverse")
def _reverse(x, axes):
    return jnp.flip(asarray(x), axes)


@operands("x")
def slice(x, start, size):
    """The block of x starting at ``start`` with extent ``size`` (one entry per axis).

    A size of -1 means "to the end of that axis". Sizes must be known when the graph is
    built. Starts may be run-time values (a tensor); those are clamped into range as
    ``lax.dynamic_slice`` does, whereas static starts out of range raise a ValueError.
    """
    xs = _shape(x)
    start, size = _static_arg(start), _static_arg(size)
    n_start, n_size = _length(start), _length(size)
    if (n_start is not None and n_start != len(xs)) or (n_size is not None
                                                        and n_size != len(xs)):
        raise ValueError(f"slice: start and size need one entry per axis of x (rank "
                         f"{len(xs)}). Received: x.shape={xs}, start={start}, size={size}.")
    static = [isinstance(v, tuple) and all(isinstance(e, int) for e in v) for v in (start, size)]
    if all(static):
        for d, (s, z) in enumerate(zip(start, size)):
            end = (xs[d] if z == -1 else s + z) if xs[d] is not None else None
            if s < 0 or z < -1 or (end is not None and (end > xs[d] or end < s)):
                raise ValueError(f"slice: start={start}, size={size} does not fit inside "
                                 f"x.shape={xs} (axis {d}).")
    return _slice(x, start, size)


def _maybe_ints(v):
    try:
        return _ints(v, "slice", "start")
    except ValueError:
        return None


@op(name="slice")
def _slice(x, start, size):
    x = asarray(x)
    sizes = _ints(size, "slice", "size")
    starts = _maybe_ints(start)
    if starts is None:  # run-time starts
        if any(s == -1 for s in sizes):
            raise ValueError(f"slice: size -1 needs static starts; got run-time starts and "
                             f"size={sizes}.")
        if isinstance(start, (list, tuple)):
            idx = [asarray(s).reshape(()) for s in start]
        else:
            idx = [asarray(start)[i] for i in range(x.ndim)]
        return lax.dynamic_slice(x, idx, sizes)
    ends, bad = [], False
    for d, (s, z) in enumerate(zip(starts, sizes)):
        z = x.shape[d] - s if z == -1 else z
        ends.append(s + z)
        bad = bad or s < 0 or z < 0 or s + z > x.shape[d]
    if bad:
        if not inferring():
            raise ValueError(f"slice: start={starts}, size={sizes} does not fit inside "
                             f"x.shape={tuple(x.shape)}.")
        return _zeros_shaped(x, [max(e - s, 0) for s, e in zip(starts, ends)])
    return lax.slice(x, starts, ends)


@operands("reference", "indices")
def gather(reference, indices):
    """Rows of ``reference`` (along axis 0) picked by integer ``indices``.

    The result has shape ``indices.shape + reference.shape[1:]``.

    Out-of-range indices (negative ones included): when ``indices`` is concrete data at
    call time (NumPy, a list, a concrete ``jax.Array``) and ``reference.shape[0]`` is
    known, they raise a ValueError, as TF does on CPU. Indices only known at run time
    (placeholders, variables, values traced under ``jit``) cannot raise; their
    out-of-range entries give rows of zeros (TF's GPU behaviour), and those rows get a
    zero gradient.
    """
    rs = _shape(reference)
    if not rs:
        raise ValueError("gather: reference must have rank >= 1, got a scalar.")
    dt = _dtype(indices)
    if dt.kind not in "iu":
        raise TypeError(f"gather: indices must be integers, got dtype {dt.name}.")
    if not isinstance(indices, (Tensor, _Tracer)) and rs[0] is not None:
        idx = np.asarray(indices)
        bad = idx[(idx < 0) | (idx >= rs[0])]
        if bad.size:
            raise ValueError(f"gather: indices {sorted(set(bad.tolist()))[:10]} are out of "
                             f"range for reference.shape={rs} (valid: 0 to {rs[0] - 1}).")
    return _gather(reference, indices)


@op(name="gather")
def _gather(reference, indices):
    ref, idx = asarray(reference), asarray(indices)
    n = ref.shape[0]
    valid = (idx >= 0) & (idx < n)
    rows = jnp.take(ref, jnp.clip(idx, 0, max(n - 1, 0)), axis=0)
    mask = valid.reshape(valid.shape + (1,) * (ref.ndim - 1))
    return jnp.where(mask, rows, jnp.zeros((), rows.dtype))


@operands("x")
def pattern_broadcast(x, broadcastable):
    """Theano's broadcast marking; here a validated identity.

    ``broadcastable`` has one bool per axis; axes marked True must have size 1 (checked
    when the size is known).
    """
    xs = _shape(x)
    flags = tuple(bool(b) for b in broadcastable)
    if len(flags) != len(xs):
        raise ValueError(f"pattern_broadcast: broadcastable needs one flag per axis of x "
                         f"(rank {len(xs)}). Received: broadcastable={flags}, x.shape={xs}.")
    wrong = [i for i, (f, d) in enumerate(zip(flags, xs)) if f and d is not None and d != 1]
    if wrong:
        raise ValueError(f"pattern_broadcast: axes {wrong} are marked broadcastable but "
                         f"their size is not 1. Received: x.shape={xs}, "
                         f"broadcastable={flags}.")
    return _pattern_broadcast(x)


@op(name="pattern_broadcast")
def _pattern_broadcast(x):
    return asarray(x)


# ----------------------------------------------------------------------------- padding


def _pairs(padding, count, opname):
    """``count`` (before, after) pairs of non-negative ints."""
    try:
        pairs = tuple(tuple(p) for p in padding)
    except TypeError:
        pairs = ()
    if len(pairs) != count or any(len(p) != 2 for p in pairs):
        raise ValueError(f"{opname}: padding must be {count} (before, after) pairs, got "
                         f"{padding!r}.")
    out = tuple(tuple(_scalar(_static_arg(v), opname, "padding") for v in p) for p in pairs)
    if any(v < 0 for p in out for v in p):
        raise ValueError(f"{opname}: padding must be non-negative, got {out}.")
    return out


def _check_rank(x, rank, opname):
    xs = _shape(x)
    if len(xs) != rank:
        raise ValueError(f"{opname}: x must have rank {rank}. Received: x.shape={xs}.")
    return xs


@op(name="pad")
def _pad(x, pads):
    return jnp.pad(asarray(x), pads)


@operands("x")
def temporal_padding(x, padding=(1, 1)):
    """Zero-pads axis 1 of a 3-D tensor by ``(left, right)``."""
    _check_rank(x, 3, "temporal_padding")
    try:
        (p,) = _pairs((tuple(padding),), 1, "temporal_padding")
    except (TypeError, ValueError):
        raise ValueError(f"temporal_padding: padding must be a (left, right) pair of "
                         f"non-negative ints, got {padding!r}.") from None
    return _pad(x, ((0, 0), p, (0, 0)))


def _spatial_padding(x, padding, data_format, n, opname):
    _check_rank(x, n + 2, opname)
    pairs = _pairs(padding, n, opname)
    fmt = config.normalize_data_format(data_format)
    if fmt == "channels_first":
        pads = ((0, 0), (0, 0)) + pairs
    else:
        pads = ((0, 0),) + pairs + ((0, 0),)
    return _pad(x, pads)


@operands("x")
def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    """Zero-pads the two spatial axes of a 4-D tensor by ``((top, bottom), (left, right))``.

    The spatial axes are 1, 2 (channels_last) or 2, 3 (channels_first); ``data_format``
    None means the global default.
    """
    return _spatial_padding(x, padding, data_format, 2, "spatial_2d_padding")


@operands("x")
def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Zero-pads the three spatial axes of a 5-D tensor by three (before, after) pairs."""
    return _spatial_padding(x, padding, data_format, 3, "spatial_3d_padding")


# ----------------------------------------------------------------------------- resizing


def _factors(values, names, opname):
    out = []
    for v, name in zip(values, names):
        f = _scalar(_static_arg(v), opname, name)
        if f < 1:
            raise ValueError(f"{opname}: {name} must be a positive integer, got {f}.")
        out.append(f)
    return tuple(out)


def _legacy_bilinear_taps(n_in: int, n_out: int):
    """Source rows and weights of TF1's bilinear resize without half-pixel centres.

    Output position ``i`` samples input position ``i * (n_in / n_out)``, computed in
    float32 as TF1 does; it mixes rows ``floor`` and ``min(ceil, n_in - 1)``.
    """
    scale = np.float32(n_in) / np.float32(n_out)
    pos = np.arange(n_out, dtype=np.float32) * scale
    lo_f = np.floor(pos)
    lo = np.maximum(lo_f.astype(np.int64), 0)
    hi = np.minimum(np.ceil(pos).astype(np.int64), n_in - 1)
    return lo, hi, (pos - lo_f).astype(np.float32)


def _lerp_axis(x, axis, factor):
    lo, hi, w = _legacy_bilinear_taps(x.shape[axis], x.shape[axis] * factor)
    a = jnp.take(x, lo, axis=axis)
    b = jnp.take(x, hi, axis=axis)
    w = asarray(w, x.dtype).reshape((-1,) + (1,) * (x.ndim - 1 - axis))
    return a + (b - a) * w


@operands("x")
def resize_images(x, height_factor, width_factor, data_format, interpolation="nearest"):
    """Upsamples a 4-D tensor by integer height/width factors.

    'nearest' repeats pixels. 'bilinear' matches TF1's ``resize_bilinear`` with
    ``align_corners=False`` and no half-pixel centres (what Keras 2.3.1 used): output
    pixel ``i`` samples input position ``i / factor``, the last rows/columns repeat the
    edge. Float inputs keep their dtype (TF1 returns float32 for every input dtype);
    integer inputs give float32. ``data_format`` None means the global default.
    """
    _check_rank(x, 4, "resize_images")
    fmt = config.normalize_data_format(data_format)
    hf, wf = _factors((height_factor, width_factor), ("height_factor", "width_factor"),
                      "resize_images")
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"resize_images: interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}.")
    axes = (2, 3) if fmt == "channels_first" else (1, 2)
    return _resize_images(x, hf, wf, axes, interpolation)


@op(name="resize_images")
def _resize_images(x, hf, wf, axes, interpolation):
    x = asarray(x)
    if interpolation == "nearest":
        return jnp.repeat(jnp.repeat(x, hf, axis=axes[0]), wf, axis=axes[1])
    out_dt = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.dtype("float32")
    work = jnp.promote_types(out_dt, jnp.float32)  # half precision computes in float32
    y = x.astype(work)
    y = _lerp_axis(y, axes[1], wf)  # along the width first, as TF1 does
    y = _lerp_axis(y, axes[0], hf)
    return y.astype(out_dt)


@operands("x")
def resize_volumes(x, depth_factor, height_factor, width_factor, data_format):
    """Upsamples a 5-D tensor by integer depth/height/width factors (repetition)."""
    _check_rank(x, 5, "resize_volumes")
    fmt = config.normalize_data_format(data_format)
    factors = _factors((depth_factor, height_factor, width_factor),
                       ("depth_factor", "height_factor", "width_factor"), "resize_volumes")
    first = 2 if fmt == "channels_first" else 1
    return _with_keras_shape(_resize_volumes(x, factors, first))


@op(name="resize_volumes")
def _resize_volumes(x, factors, first):
    x = asarray(x)
    for i, f in enumerate(factors):
        x = jnp.repeat(x, f, axis=first + i)
    return x
