"""Creating variables, placeholders and constants; shape and dtype introspection."""

from __future__ import annotations

import contextlib
import math as _math
import operator

import jax
import jax.numpy as jnp
import numpy as np

from . import config, distribute
from .core import (
    Constant,
    Placeholder,
    Tensor,
    Variable,
    _scoped,
    _Tracer,
    host_array,
    op,
    operands,
    owned_array,
)
from .core import is_tensor as is_tensor
from .core import py_array as core_py_array
from .graph import LearningPhase
from .random import _dt, random_normal, random_uniform
from .sparse import holds_sparse, to_bcoo
from .state import get_session
from .values import concrete
from .values import eval as eval_value

__all__ = [
    "variable", "placeholder", "constant", "zeros", "ones", "eye", "zeros_like",
    "ones_like", "identity", "is_variable", "is_placeholder", "is_tensor", "is_keras_tensor",
    "is_sparse", "int_shape", "ndim", "dtype", "count_params", "get_variable_shape", "size",
    "shape", "is_symbolic", "manual_variable_initialization", "get_graph",
    "v1_variable_initialization", "control_dependencies", "random_normal_variable",
    "random_uniform_variable",
]


def _dtype(dtype, op_name) -> np.dtype:
    return config.check_dtype(config.floatx() if dtype is None else dtype, op_name)


def _concrete(value, dtype, op_name):
    """A fresh device array of ``dtype`` from any placeholder-free value."""
    value = concrete(value, op_name, "Create variables outside transformations, or use "
                     "Function.pure with an explicit State.")
    if hasattr(value, "todense") and not isinstance(value, jax.Array):
        return to_bcoo(value, dtype)
    value = host_array(value, op_name, "initial value")  # None/objects/ragged raise
    try:
        return owned_array(value, dtype)  # concrete even when called inside a trace
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op_name}: cannot make a {dtype} value from {value!r}: {e}") from e


_var_names = {}


def variable(value, dtype=None, name=None, constraint=None, trainable=True):
    """A mutable variable initialized from ``value`` (array, scalar, list or tensor).

    ``dtype=None`` means ``floatx()``, even for integer values. ``None``, objects,
    strings and ragged lists raise (TypeError / ValueError) and create nothing.
    """
    dt = _dtype(dtype, "variable")
    array = _concrete(value, dt, "variable")
    if name is None:
        n = _var_names.setdefault("variable", 0) + 1
        _var_names["variable"] = n
        name = "variable" if n == 1 else f"variable_{n - 1}"
    var = Variable(array.shape, dt, _scoped(str(name)) + ":0", constraint=constraint,
                   trainable=trainable)
    var.sparse = hasattr(array, "nse")
    dist = distribute.get_distribution()
    if dist is not None:  # born on its sharding: no single-device copy to move later
        array = distribute._put(array, dist.variable_sharding(var), dist)
    get_session().add(var, array)
    return var


def placeholder(shape=None, ndim=None, dtype=None, sparse=False, name=None):
    """A symbolic input; ``shape`` may hold ``None`` dims, or give only ``ndim``."""
    if shape is None:
        if ndim is None:
            raise ValueError("placeholder: give a shape or an ndim (jkb needs the rank).")
        shape = (None,) * int(ndim)
    dt = _dtype(dtype, "placeholder")
    p = Placeholder(tuple(shape), dt, name=None if name is None else str(name), sparse=sparse)
    p._uses_learning_phase = False
    return p


def constant(value, dtype=None, shape=None, name=None):
    """An immutable tensor; a scalar is broadcast to ``shape``, an array reshaped to it.

    ``dtype=None`` means ``floatx()``. ``None``, objects, strings and ragged lists raise.
    """
    dt = _dtype(dtype, "constant")
    if isinstance(value, Tensor):
        value = eval_value(value)
    array = np.asarray(host_array(value, "constant"), dtype=dt)
    if shape is not None:
        shape = tuple(shape)
        if array.size == 1:
            array = np.broadcast_to(array.reshape(()), shape)
        elif array.size == _math.prod(shape):
            array = array.reshape(shape)
        else:
            raise ValueError(f"constant: cannot reshape a value of {array.size} elements "
                             f"to shape {shape}.")
    return Constant(owned_array(array), name=name)  # concrete, even in a trace


def _shape_tuple(shape, op_name: str) -> tuple:
    """An int or a sequence of ints (NumPy ints, folded shape values) as a tuple."""
    if isinstance(shape, Tensor):
        shape = eval_value(shape)
    a = np.asarray(host_array(shape, op_name, "shape"))
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{op_name}: expected a shape of ints, received {shape!r:.60}.")
    return tuple(int(d) for d in a.reshape(-1))


def zeros(shape, dtype=None, name=None):
    """A zero-filled *variable* (updatable, as optimizers' slots need)."""
    dt = _dtype(dtype, "zeros")
    return variable(np.zeros(_shape_tuple(shape, "zeros"), dt), dtype=dt, name=name)


def ones(shape, dtype=None, name=None):
    """A one-filled *variable*."""
    dt = _dtype(dtype, "ones")
    return variable(np.ones(_shape_tuple(shape, "ones"), dt), dtype=dt, name=name)


def eye(size, dtype=None, name=None):
    """An identity-matrix variable; ``size`` is n or a pair (n, m)."""
    dt = _dtype(dtype, "eye")
    n, m = (size, size) if np.ndim(size) == 0 else tuple(size)
    try:
        n, m = operator.index(n), operator.index(m)
    except TypeError:
        raise TypeError(f"eye: size must be an int or a pair of ints, received "
                        f"{size!r:.60}.") from None
    return variable(np.eye(n, m, dtype=dt), dtype=dt, name=name)


def _full_like(x, value, dtype, op_name):
    if not isinstance(x, (Tensor, _Tracer, np.ndarray, jax.Array)):
        x = core_py_array(x, op_name)  # Python data: TF's dtypes; None/objects raise
    dt = None if dtype is None else config.check_dtype(dtype, op_name)
    return op(lambda x: jnp.full(jnp.shape(x), value, dt or jnp.result_type(x)),
              name=op_name)(x)


def zeros_like(x, dtype=None, name=None):
    """Zeros of x's shape, of x's dtype unless ``dtype`` is given.

    Keras 2.3.1 documents "None uses the dtype of x" (as ``tf.zeros_like`` does); its own
    code gave ``floatx()`` (see the README's "Where jkb differs").
    """
    return _full_like(x, 0, dtype, "zeros_like")


def ones_like(x, dtype=None, name=None):
    """Ones of x's shape, of x's dtype unless ``dtype`` is given (see ``zeros_like``)."""
    return _full_like(x, 1, dtype, "ones_like")


@op(name="identity")
def _identity(x):
    return jnp.asarray(x)


@operands("x")
def identity(x, name=None):
    """A new tensor (a distinct object) with x's value."""
    return _identity(x)


def is_variable(x) -> bool:
    """True for jkb variables (not for tensors computed from them)."""
    return isinstance(x, Variable)


def is_placeholder(x) -> bool:
    """True for objects made by ``K.placeholder``; never raises."""
    return isinstance(x, Placeholder) and not isinstance(x, LearningPhase)


def is_keras_tensor(x) -> bool:
    """True for tensors that came out of a Keras layer; raises ValueError for non-tensors."""
    if not isinstance(x, Tensor):
        raise ValueError(f"Unexpectedly found an instance of type `{type(x)}`. "
                         "Expected a symbolic tensor instance.")
    return hasattr(x, "_keras_history")


def is_sparse(x) -> bool:
    """True for sparse placeholders, variables and BCOO arrays."""
    return holds_sparse(x)


def int_shape(x):
    """Static shape (ints and None); ``_keras_shape`` wins when Keras set one.

    Values without a shape (None, Python numbers and lists, other objects) raise a
    TypeError, as TF's ``x.shape`` does."""
    ks = getattr(x, "_keras_shape", None)
    if ks is not None and isinstance(x, Tensor):
        return tuple(ks)
    shape = getattr(x, "shape", None)
    if shape is None:
        raise TypeError(f"int_shape: expected a tensor or an array, received "
                        f"{type(x).__name__} {x!r:.60}.")
    return tuple(None if d is None else int(d) for d in shape)


def ndim(x):
    """The rank as a Python int."""
    s = int_shape(x)
    return None if s is None else len(s)


def dtype(x) -> str:
    """The dtype name, e.g. 'float32'."""
    if getattr(x, "dtype", None) is None:
        raise TypeError(f"dtype: expected a tensor or an array, received "
                        f"{type(x).__name__} {x!r:.60}.")
    return np.dtype(x.dtype).name


def count_params(x):
    """Static number of elements of x (a NumPy int, as in Keras 2.3.1)."""
    return np.prod(int_shape(x), dtype=np.int64)


get_variable_shape = int_shape


@op(name="shape", shape_only=True)
def _shape(x):
    return np.asarray(jnp.shape(x), dtype=np.int32)


def _data(x, op_name):
    """Tensors and arrays as they are; Python data checked and converted (TF's dtypes)."""
    if isinstance(x, (Tensor, _Tracer, jax.Array)) or hasattr(x, "todense"):
        return x
    if isinstance(x, np.ndarray):
        return host_array(x, op_name, "x")  # object arrays raise
    return core_py_array(x, op_name)


def shape(x):
    """The shape of x as a 1-D int32 vector; static under jit, so it can feed reshape."""
    return _shape(_data(x, "shape"))


@op(name="size", shape_only=True)
def _size(x):
    return np.asarray(_math.prod(jnp.shape(x)), np.int32)


def size(x, name=None):
    """Number of elements of x, as an int32 scalar."""
    return _size(_data(x, "size"))


def is_symbolic(x) -> bool:
    """True for symbolic jkb tensors (graph values)."""
    return isinstance(x, Tensor)


def manual_variable_initialization(value):
    """No-op: jkb variables hold their value from creation (kept for compatibility)."""
    return None


def get_graph():
    """jkb has no global graph object; returns the live session (the closest thing)."""
    return get_session()


@contextlib.contextmanager
def control_dependencies(control_inputs):
    """Context manager kept for TF-style code; jkb programs are pure dataflow.

    A jkb program computes every value from its inputs and the pre-call state, and
    ``K.function`` applies all updates together after the outputs, so there is no
    execution order to constrain. The inputs are checked to be tensors (or None).
    """
    for c in control_inputs or ():
        if c is not None and not isinstance(c, Tensor) and not hasattr(c, "shape"):
            raise TypeError(f"control_dependencies: expected tensors, got {c!r}.")
    yield


def v1_variable_initialization():
    """No-op: jkb variables are initialized at creation."""
    return None


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    """A variable initialized with N(mean, scale**2) samples."""
    dt = _dt(dtype, "random_normal_variable")
    return variable(random_normal(shape, mean, scale, dt, seed), dtype=dt, name=name)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    """A variable initialized with U[low, high) samples."""
    dt = _dt(dtype, "random_uniform_variable", "fiu")
    return variable(random_uniform(shape, low, high, dt, seed), dtype=dt, name=name)
