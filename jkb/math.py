"""Elementwise math, comparisons and reductions.

Dtype rules shared by this module (all results have an explicit dtype, never JAX's 64-bit
defaults by accident):

* A Python number or list given as the main input becomes an array first: floats as
  ``floatx()``, ints as int32, bools as bool (what TensorFlow does with Python values).
* Transcendental ops (``sqrt``, ``exp``, ``log``, ``sin``, ``cos``, ``logsumexp``, ``var``,
  ``std``) compute integer and bool inputs in ``floatx()``.
* ``sum``, ``prod``, ``cumsum``, ``cumprod`` and ``mean`` keep integer dtypes (no widening to
  int64); bool inputs are summed / multiplied as int32.
* In ``maximum``, ``minimum`` and ``pow``, a Python float against an integer tensor
  computes in ``floatx()``; Python scalars otherwise take the dtype of the tensor operand.
"""

from __future__ import annotations

import builtins as _builtins
import operator

import jax.numpy as jnp
import numpy as np
from jax import lax

from . import config
from .core import Tensor, asarray, op, owned_array, py_array, static_value

__all__ = [
    "cast", "square", "abs", "sqrt", "exp", "log", "round", "sign", "pow", "clip",
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "maximum",
    "minimum", "sin", "cos", "max", "min", "sum", "prod", "mean", "var", "std", "any", "all",
    "argmax", "argmin", "logsumexp", "cumsum", "cumprod",
]


# ----------------------------------------------------------------------------- helpers


def _is_pyscalar(v) -> bool:
    return isinstance(v, (bool, int, float)) and not isinstance(v, np.generic)


def _scalar_dtype(values) -> np.dtype:
    if _builtins.any(isinstance(v, float) for v in values):
        return np.dtype(config.floatx())
    if _builtins.all(isinstance(v, bool) for v in values):
        return np.dtype(bool)
    return np.dtype("int32")


def _flat_pyscalars(x):
    """The scalars of a nested list/tuple of Python numbers, or None if it holds others."""
    out = []
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif _is_pyscalar(v):
            out.append(v)
        else:
            return None
    return out


@op(name="pack")
def _pack(items):
    return jnp.stack([asarray(v) for v in items])


def _arg(x, name):
    """Turns Python numbers and lists into arrays with TF-like dtypes; keeps the rest."""
    if _is_pyscalar(x):
        return np.asarray(x, dtype=_scalar_dtype([x]))
    if isinstance(x, (list, tuple)):
        scalars = _flat_pyscalars(x)
        if scalars is not None:
            try:
                return np.asarray(x, dtype=_scalar_dtype(scalars) if scalars
                                  else config.floatx())
            except ValueError:
                return py_array(x, name)  # ragged: a ValueError naming the op
        if not _builtins.all(isinstance(v, Tensor) or hasattr(v, "dtype") or _is_pyscalar(v)
                   for v in x):
            return py_array(x, name)  # None, strings, objects: an error naming the op
        # A list of scalar tensors (K.prod([K.shape(x)[0], ...])): stacked into a vector.
        return _pack(list(x))
    if x is None:
        raise TypeError(f"{name}: expected a tensor or array, received None.")
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        raise TypeError(f"{name}: expected a tensor or array, received {type(x).__name__} "
                        f"{x!r:.60}.")
    if isinstance(x, np.ndarray) and x.dtype.kind == "O":
        return py_array(x, name)
    return x


def _shape_of(x):
    return tuple(x.shape)


def _int_axis(a, name):
    a = static_value(a)
    if isinstance(a, Tensor) and not a.foldable:
        raise TypeError(f"{name}: axis must be a static int, received the symbolic tensor "
                        f"{a.name}.")
    try:
        return operator.index(a)
    except TypeError:
        pass
    arr = np.asarray(a)
    if arr.ndim != 0 or arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: axis must be an int or a list/tuple of ints, received "
                        f"{a!r}.")
    return int(arr)


def _axes(x, axis, name):
    """Normalizes ``axis`` (None, int, list/tuple of ints) and checks it against x's rank."""
    if axis is None:
        return None
    single = not isinstance(axis, (list, tuple))
    axes = [_int_axis(a, name) for a in ([axis] if single else axis)]
    nd = len(_shape_of(x))
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"{name}: axis {a} is out of range for an input of rank {nd} "
                             f"(x.shape={_shape_of(x)}); expected -{nd} <= axis < {nd}.")
    if len({a % nd for a in axes}) != len(axes):
        raise ValueError(f"{name}: repeated axis in axis={tuple(axes)} for x.shape="
                         f"{_shape_of(x)}.")
    return axes[0] if single else tuple(axes)


def _is_int_or_bool(dt) -> bool:
    return np.dtype(dt).kind in "iub"


def _to_float(x, fx):
    x = asarray(x)
    return x.astype(fx) if _is_int_or_bool(x.dtype) else x


def _count_dtype(x):
    """Accumulation dtype of sum-like ops: the input's, except bool -> int32."""
    return jnp.int32 if x.dtype == jnp.bool_ else x.dtype


def _mixed(x, y, fx):
    """A Python float against an integer array: compute in floatx rather than float64."""
    if isinstance(y, float) and not _is_pyscalar(x) and _is_int_or_bool(jnp.result_type(x)):
        x = asarray(x).astype(fx)
    if isinstance(x, float) and not _is_pyscalar(y) and _is_int_or_bool(jnp.result_type(y)):
        y = asarray(y).astype(fx)
    return x, y


def _binary_args(x, y, name):
    # One Python scalar stays weakly typed (it follows the other operand's dtype); two
    # Python scalars get the TF-like dtypes of _arg.
    both = _is_pyscalar(x) and _is_pyscalar(y)
    if both or isinstance(x, (list, tuple)):
        x = _arg(x, name)
    if both or isinstance(y, (list, tuple)):
        y = _arg(y, name)
    return x, y


# ----------------------------------------------------------------------------- cast


def cast(x, dtype):
    """x converted to ``dtype`` (a name or dtype object); float -> int truncates."""
    dt = config.check_dtype(dtype, "cast")
    return _cast(x, dt)


@op(name="cast")
def _cast(x, dt):
    if isinstance(x, (np.ndarray, np.generic)) and (
            x.dtype.kind in "biu" or x.dtype.kind == "f" and np.dtype(dt).kind in "bfc"):
        # Host data (e.g. K.size folded while a graph is built): NumPy rounds and wraps as
        # XLA does for these kinds, and device_put compiles nothing. Float -> int (NumPy and
        # XLA differ on NaN and overflow) and complex sources take XLA's path.
        with np.errstate(over="ignore"):  # float64 -> float32 overflow is inf, as in XLA
            return owned_array(x, dt)
    return asarray(x).astype(dt)


# ----------------------------------------------------------------------------- elementwise


@op(name="square")
def _square(x):
    return jnp.square(x)


def square(x):
    """Elementwise x * x, same dtype as x."""
    return _square(_arg(x, "square"))


@op(name="abs")
def _abs(x):
    return jnp.abs(x)


def abs(x):
    """Elementwise absolute value, same dtype as x."""
    return _abs(_arg(x, "abs"))


@op(name="sqrt")
def _sqrt(x, fx):
    x = _to_float(x, fx)
    # Negative inputs (round-off in variance accumulators) give 0, not NaN. A select (not
    # maximum) so their gradient is exactly 0 rather than 0 * inf = nan; NaN passes through.
    return jnp.sqrt(jnp.where(x < 0, jnp.zeros((), x.dtype), x))


def sqrt(x):
    """Elementwise square root; negative entries are clamped to 0 first (sqrt(-1) == 0)."""
    return _sqrt(_arg(x, "sqrt"), config.floatx())


@op(name="exp")
def _exp(x, fx):
    return jnp.exp(_to_float(x, fx))


def exp(x):
    """Elementwise e ** x (integer inputs computed in floatx)."""
    return _exp(_arg(x, "exp"), config.floatx())


@op(name="log")
def _log(x, fx):
    return jnp.log(_to_float(x, fx))


def log(x):
    """Elementwise natural log, unclipped: log(0) = -inf, log(<0) = nan."""
    return _log(_arg(x, "log"), config.floatx())


@op(name="round")
def _round(x):
    return jnp.round(x)


def round(x):
    """Elementwise rounding to the nearest integer, halves to even; keeps x's dtype."""
    return _round(_arg(x, "round"))


@op(name="sign")
def _sign(x):
    return jnp.sign(x)


def sign(x):
    """Elementwise sign: -1, 0 or 1 in x's dtype."""
    return _sign(_arg(x, "sign"))


@op(name="pow")
def _pow(x, a, fx):
    x, a = _mixed(x, a, fx)
    return jnp.power(x, a)


def pow(x, a):
    """Elementwise x ** a; ``a`` is a Python number or a tensor broadcastable to x."""
    x, a = _binary_args(x, a, "pow")
    return _pow(x, a, config.floatx())


@op(name="clip")
def _clip(x, lo, hi):
    x = asarray(x)
    # min applied last, so min wins when min > max (as in TF's clip_by_value).
    if hi is not None:
        x = jnp.minimum(x, asarray(hi).astype(x.dtype))
    if lo is not None:
        x = jnp.maximum(x, asarray(lo).astype(x.dtype))
    return x


def clip(x, min_value, max_value):
    """Elementwise clip of x into [min_value, max_value], keeping x's dtype.

    Bounds may be numbers, tensors (broadcast against x) or None (no bound on that side).
    When max_value < min_value every entry becomes min_value.
    """
    if _is_pyscalar(min_value) and _is_pyscalar(max_value) and max_value < min_value:
        max_value = min_value
    return _clip(_arg(x, "clip"), min_value, max_value)


def _comparison(jfn, name):
    lifted = op(jfn, name=name)

    def compare(x, y):
        x, y = _binary_args(x, y, name)
        return lifted(x, y)

    compare.__name__ = name
    return compare


_equal = _comparison(jnp.equal, "equal")
_not_equal = _comparison(jnp.not_equal, "not_equal")
_greater = _comparison(jnp.greater, "greater")
_greater_equal = _comparison(jnp.greater_equal, "greater_equal")
_less = _comparison(jnp.less, "less")
_less_equal = _comparison(jnp.less_equal, "less_equal")


def equal(x, y):
    """Elementwise x == y with broadcasting; bool result."""
    return _equal(x, y)


def not_equal(x, y):
    """Elementwise x != y with broadcasting; bool result."""
    return _not_equal(x, y)


def greater(x, y):
    """Elementwise x > y with broadcasting; bool result."""
    return _greater(x, y)


def greater_equal(x, y):
    """Elementwise x >= y with broadcasting; bool result."""
    return _greater_equal(x, y)


def less(x, y):
    """Elementwise x < y with broadcasting; bool result."""
    return _less(x, y)


def less_equal(x, y):
    """Elementwise x <= y with broadcasting; bool result."""
    return _less_equal(x, y)


@op(name="maximum")
def _maximum(x, y, fx):
    return jnp.maximum(*_mixed(x, y, fx))


@op(name="minimum")
def _minimum(x, y, fx):
    return jnp.minimum(*_mixed(x, y, fx))


def maximum(x, y):
    """Elementwise larger of x and y, with broadcasting."""
    x, y = _binary_args(x, y, "maximum")
    return _maximum(x, y, config.floatx())


def minimum(x, y):
    """Elementwise smaller of x and y, with broadcasting."""
    x, y = _binary_args(x, y, "minimum")
    return _minimum(x, y, config.floatx())


@op(name="sin")
def _sin(x, fx):
    return jnp.sin(_to_float(x, fx))


@op(name="cos")
def _cos(x, fx):
    return jnp.cos(_to_float(x, fx))


def sin(x):
    """Elementwise sine (radians)."""
    return _sin(_arg(x, "sin"), config.floatx())


def cos(x):
    """Elementwise cosine (radians)."""
    return _cos(_arg(x, "cos"), config.floatx())


# ----------------------------------------------------------------------------- reductions
#
# axis: None (every axis), an int (negative counts from the end) or a list/tuple of ints;
# keepdims=True keeps each reduced axis with size 1.


@op(name="max")
def _max(x, axis, keepdims):
    return jnp.max(x, axis=axis, keepdims=keepdims)


@op(name="min")
def _min(x, axis, keepdims):
    return jnp.min(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    """Largest entry over ``axis``."""
    x = _arg(x, "max")
    return _max(x, _axes(x, axis, "max"), bool(keepdims))


def min(x, axis=None, keepdims=False):
    """Smallest entry over ``axis``."""
    x = _arg(x, "min")
    return _min(x, _axes(x, axis, "min"), bool(keepdims))


@op(name="sum")
def _sum(x, axis, keepdims):
    x = asarray(x)
    return jnp.sum(x, axis=axis, keepdims=keepdims, dtype=_count_dtype(x))


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis``; integer dtypes are kept, bool is counted as int32."""
    x = _arg(x, "sum")
    return _sum(x, _axes(x, axis, "sum"), bool(keepdims))


@op(name="prod")
def _prod(x, axis, keepdims):
    x = asarray(x)
    return jnp.prod(x, axis=axis, keepdims=keepdims, dtype=_count_dtype(x))


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; integer dtypes are kept.

    x may also be a Python list of scalar tensors and ints (e.g. ``K.shape(x)[i]`` values),
    which is stacked into a vector first.
    """
    x = _arg(x, "prod")
    return _prod(x, _axes(x, axis, "prod"), bool(keepdims))


def _reduced_count(shape, axis):
    if axis is None:
        axis = tuple(range(len(shape)))
    elif isinstance(axis, int):
        axis = (axis,)
    n = 1
    for a in axis:
        n *= shape[a]
    return n


@op(name="mean")
def _mean(x, axis, keepdims, fx):
    x = asarray(x)
    if x.dtype == jnp.bool_:
        x = x.astype(fx)
    if not _is_int_or_bool(x.dtype):
        return jnp.mean(x, axis=axis, keepdims=keepdims)
    total = jnp.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
    # lax.div truncates toward zero, like TF's integer reduce_mean.
    return lax.div(total, asarray(_reduced_count(x.shape, axis), x.dtype))


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``.

    Bool input is cast to floatx first. Integer input follows TensorFlow (Keras 2.3.1's
    default backend), not Theano: the result keeps the integer dtype, the integer sum
    divided by the count with truncation toward zero (mean([1, 2]) == 1).
    """
    x = _arg(x, "mean")
    return _mean(x, _axes(x, axis, "mean"), bool(keepdims), config.floatx())


def _variance(x, axis, keepdims, fx):
    x = _to_float(x, fx)
    centered = x - jnp.mean(x, axis=axis, keepdims=True)
    return jnp.mean(jnp.square(centered), axis=axis, keepdims=keepdims)


@op(name="var")
def _var(x, axis, keepdims, fx):
    return _variance(x, axis, keepdims, fx)


@op(name="std")
def _std(x, axis, keepdims, fx):
    return jnp.sqrt(_variance(x, axis, keepdims, fx))


def var(x, axis=None, keepdims=False):
    """Population variance (divides by N) over ``axis``; bool/int inputs use floatx."""
    x = _arg(x, "var")
    return _var(x, _axes(x, axis, "var"), bool(keepdims), config.floatx())


def std(x, axis=None, keepdims=False):
    """Population standard deviation, sqrt(var(x)); bool/int inputs use floatx."""
    x = _arg(x, "std")
    return _std(x, _axes(x, axis, "std"), bool(keepdims), config.floatx())


@op(name="any")
def _any(x, axis, keepdims):
    return jnp.any(asarray(x).astype(bool), axis=axis, keepdims=keepdims)


@op(name="all")
def _all(x, axis, keepdims):
    return jnp.all(asarray(x).astype(bool), axis=axis, keepdims=keepdims)


def any(x, axis=None, keepdims=False):
    """Logical OR over ``axis`` of x != 0; bool result."""
    x = _arg(x, "any")
    return _any(x, _axes(x, axis, "any"), bool(keepdims))


def all(x, axis=None, keepdims=False):
    """Logical AND over ``axis`` of x != 0; bool result."""
    x = _arg(x, "all")
    return _all(x, _axes(x, axis, "all"), bool(keepdims))


def _single_axis(x, axis, name):
    if axis is None or isinstance(axis, (list, tuple)):
        raise TypeError(f"{name}: axis must be a single int, received axis={axis!r} "
                        f"(x.shape={_shape_of(x)}).")
    return _axes(x, axis, name)


@op(name="argmax")
def _argmax(x, axis):
    return jnp.argmax(x, axis=axis).astype(config.index_dtype())


@op(name="argmin")
def _argmin(x, axis):
    return jnp.argmin(x, axis=axis).astype(config.index_dtype())


def argmax(x, axis=-1):
    """int64 index of the largest entry along one axis; ties give the first index."""
    x = _arg(x, "argmax")
    return _argmax(x, _single_axis(x, axis, "argmax"))


def argmin(x, axis=-1):
    """int64 index of the smallest entry along one axis; ties give the first index."""
    x = _arg(x, "argmin")
    return _argmin(x, _single_axis(x, axis, "argmin"))


@op(name="logsumexp")
def _logsumexp(x, axis, keepdims, fx):
    x = _to_float(x, fx)
    peak = jnp.max(x, axis=axis, keepdims=True)
    # Shift by the max so exp cannot overflow; an all -inf (or inf) slice has no finite max,
    # so it is shifted by 0 and yields -inf (or inf) rather than nan.
    peak = lax.stop_gradient(jnp.where(jnp.isfinite(peak), peak, jnp.zeros((), x.dtype)))
    total = jnp.sum(jnp.exp(x - peak), axis=axis, keepdims=True)
    out = jnp.log(total) + peak
    if keepdims:
        return out
    return out.reshape(()) if axis is None else jnp.squeeze(out, axis=axis)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed stably (shifted by the max)."""
    x = _arg(x, "logsumexp")
    return _logsumexp(x, _axes(x, axis, "logsumexp"), bool(keepdims), config.floatx())


@op(name="cumsum")
def _cumsum(x, axis):
    x = asarray(x)
    return jnp.cumsum(x, axis=axis, dtype=_count_dtype(x))


@op(name="cumprod")
def _cumprod(x, axis):
    x = asarray(x)
    return jnp.cumprod(x, axis=axis, dtype=_count_dtype(x))


def cumsum(x, axis=0):
    """Running sum along one axis (default the first), same shape as x."""
    x = _arg(x, "cumsum")
    return _cumsum(x, _single_axis(x, axis, "cumsum"))


def cumprod(x, axis=0):
    """Running product along one axis (default the first), same shape as x."""
    x = _arg(x, "cumprod")
    return _cumprod(x, _single_axis(x, axis, "cumprod"))
