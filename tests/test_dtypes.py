"""One table: for each of the 170 names, the output dtype for bool, int32, int64, float16,
float32 and float64 inputs, as Keras 2.3.1's TensorFlow backend gives it; every name is
checked against it, on plain arrays and on symbolic tensors (variables evaluated with
``K.eval``, placeholders by their static dtype).

How a row reads
---------------
``TF[name]`` holds six entries, one per input dtype of ``DTYPES``:

* a dtype name: what Keras 2.3.1 on TF (1.14/1.15, the versions it was released against)
  returns; the TF backend's code is the reference (many functions delegate to
  ``tf.keras.backend``), with TF's op type constraints (``Relu`` takes integers,
  ``Sqrt`` only floats, ``ArgMax`` returns int64, ...);
* ``"error"``: TF refuses that input dtype when the op is built (TypeError/ValueError);
* ``"none"``: TF returns ``None`` (``tf.gradients`` with respect to integers).

What the input is, per kind of name (``CALLS[name] = (kind, call)``):

* ``tensor``: the column is the dtype of the tensor argument(s) (same dtype for every
  tensor argument; integer class indices / indices / lengths stay int32);
* ``numpy``: the column is the dtype of a NumPy value (``constant``, ``variable``,
  ``cast_to_floatx`` take host values);
* ``variable``: the column is a variable's dtype (``update``, ``set_value``...);
* ``dtype``: names that take no tensor but a ``dtype`` argument (``zeros``, ``eye``,
  ``placeholder``, the random ops): the column is the requested dtype;
* ``none``: names that take neither (configuration, session, introspection): no output
  dtype exists. The rule for them: they return a Python value whose type is fixed by the
  name (``floatx() -> str``, ``ndim -> int``, ``is_* -> bool``, ``set_* -> None``...);
  the row gives that type, identical in every column.

Where jkb deliberately differs from TF, ``JKB[name]`` gives jkb's row and ``WHY[name]`` the
row of the README's "Where jkb differs" table that explains it (checked to exist there).
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
import pytest

import jkb as K
from jkb.core import Tensor

DTYPES = ("bool", "int32", "int64", "float16", "float32", "float64")
E, N = "error", "none"
SAME = DTYPES
NUM = (E,) + DTYPES[1:]              # numeric ops: TF refuses bool
FLT = (E, E, E) + DTYPES[3:]         # float-only ops (TF's float kernels / float constants)
FX = ("float32",) * 6                # floatx() (the suite runs with float32)
BOOL = ("bool",) * 6
CMP = (E,) + ("bool",) * 5           # ordered comparisons: TF refuses bool


def _row(value):
    return (value,) * 6


# ----------------------------------------------------------------------------- inputs


def data(dt, shape=(2, 3), lo=1):
    """Small positive values of ``dt`` (bool: alternating)."""
    n = int(np.prod(shape)) if shape else 1
    a = (np.arange(n) % 3 + lo).reshape(shape)
    if dt == "bool":
        return (np.arange(n) % 2 == 0).reshape(shape)
    return a.astype(dt)


class Mode:
    """How an input of dtype ``dt`` is made: plain array, variable, placeholder."""

    def __init__(self, name):
        self.name = name

    def __call__(self, dt, shape=(2, 3), lo=1):
        v = data(dt, shape, lo)
        if self.name == "plain":
            return jnp.asarray(v)
        if self.name == "variable":
            return K.variable(v, dtype=dt)
        return K.placeholder(shape=shape, dtype=dt)

    def const(self, dt, value):
        """A value known when the graph is built (for ``arange``)."""
        v = np.asarray(value, dtype=dt)
        return jnp.asarray(v) if self.name == "plain" else K.constant(v, dtype=dt)


def _ident(*a):
    return a[-1]


# ----------------------------------------------------------------------------- the calls
# Each call gets (m, dt): the mode (an input factory) and the column's dtype. It returns
# the value whose dtype is checked.

I32 = "int32"


def _labels(m):
    return m(I32, (2,), lo=0)


CALLS = {
    # --- elementwise math and comparisons
    "abs": ("tensor", lambda m, dt: K.abs(m(dt))),
    "square": ("tensor", lambda m, dt: K.square(m(dt))),
    "sqrt": ("tensor", lambda m, dt: K.sqrt(m(dt))),
    "exp": ("tensor", lambda m, dt: K.exp(m(dt))),
    "log": ("tensor", lambda m, dt: K.log(m(dt))),
    "round": ("tensor", lambda m, dt: K.round(m(dt))),
    "sign": ("tensor", lambda m, dt: K.sign(m(dt))),
    "pow": ("tensor", lambda m, dt: K.pow(m(dt), 2)),
    "clip": ("tensor", lambda m, dt: K.clip(m(dt), 0, 1)),
    "sin": ("tensor", lambda m, dt: K.sin(m(dt))),
    "cos": ("tensor", lambda m, dt: K.cos(m(dt))),
    "maximum": ("tensor", lambda m, dt: K.maximum(m(dt), m(dt))),
    "minimum": ("tensor", lambda m, dt: K.minimum(m(dt), m(dt))),
    "equal": ("tensor", lambda m, dt: K.equal(m(dt), m(dt))),
    "not_equal": ("tensor", lambda m, dt: K.not_equal(m(dt), m(dt))),
    "greater": ("tensor", lambda m, dt: K.greater(m(dt), m(dt))),
    "greater_equal": ("tensor", lambda m, dt: K.greater_equal(m(dt), m(dt))),
    "less": ("tensor", lambda m, dt: K.less(m(dt), m(dt))),
    "less_equal": ("tensor", lambda m, dt: K.less_equal(m(dt), m(dt))),
    "cast": ("tensor", lambda m, dt: K.cast(m(dt), "int64")),
    # --- reductions
    "max": ("tensor", lambda m, dt: K.max(m(dt), axis=1)),
    "min": ("tensor", lambda m, dt: K.min(m(dt), axis=1)),
    "sum": ("tensor", lambda m, dt: K.sum(m(dt), axis=1)),
    "prod": ("tensor", lambda m, dt: K.prod(m(dt), axis=1)),
    "mean": ("tensor", lambda m, dt: K.mean(m(dt), axis=1)),
    "var": ("tensor", lambda m, dt: K.var(m(dt), axis=1)),
    "std": ("tensor", lambda m, dt: K.std(m(dt), axis=1)),
    "any": ("tensor", lambda m, dt: K.any(m(dt), axis=1)),
    "all": ("tensor", lambda m, dt: K.all(m(dt), axis=1)),
    "argmax": ("tensor", lambda m, dt: K.argmax(m(dt))),
    "argmin": ("tensor", lambda m, dt: K.argmin(m(dt))),
    "logsumexp": ("tensor", lambda m, dt: K.logsumexp(m(dt), axis=1)),
    "cumsum": ("tensor", lambda m, dt: K.cumsum(m(dt), axis=1)),
    "cumprod": ("tensor", lambda m, dt: K.cumprod(m(dt), axis=1)),
    # --- activations and losses
    "relu": ("tensor", lambda m, dt: K.relu(m(dt))),
    "elu": ("tensor", lambda m, dt: K.elu(m(dt))),
    "softmax": ("tensor", lambda m, dt: K.softmax(m(dt))),
    "softplus": ("tensor", lambda m, dt: K.softplus(m(dt))),
    "softsign": ("tensor", lambda m, dt: K.softsign(m(dt))),
    "sigmoid": ("tensor", lambda m, dt: K.sigmoid(m(dt))),
    "hard_sigmoid": ("tensor", lambda m, dt: K.hard_sigmoid(m(dt))),
    "tanh": ("tensor", lambda m, dt: K.tanh(m(dt))),
    "categorical_crossentropy": (
        "tensor", lambda m, dt: K.categorical_crossentropy(m(dt), m(dt))),
    "sparse_categorical_crossentropy": (
        "tensor", lambda m, dt: K.sparse_categorical_crossentropy(_labels(m), m(dt))),
    "binary_crossentropy": ("tensor", lambda m, dt: K.binary_crossentropy(m(dt), m(dt))),
    "l2_normalize": ("tensor", lambda m, dt: K.l2_normalize(m(dt), axis=1)),
    "in_top_k": ("tensor", lambda m, dt: K.in_top_k(m(dt), _labels(m), 1)),
    "batch_normalization": ("tensor", lambda m, dt: K.batch_normalization(
        m(dt), m(dt, (3,)), m(dt, (3,)), m(dt, (3,)), m(dt, (3,)))),
    "normalize_batch_in_training": ("tensor", lambda m, dt: K.normalize_batch_in_training(
        m(dt, (4, 3)), m(dt, (3,)), m(dt, (3,)), [0])[0]),
    "bias_add": ("tensor", lambda m, dt: K.bias_add(m(dt), m(dt, (3,)))),
    "dropout": ("tensor", lambda m, dt: K.dropout(m(dt), 0.5, seed=1)),
    # --- linear algebra and shapes
    "dot": ("tensor", lambda m, dt: K.dot(m(dt), m(dt, (3, 2)))),
    "batch_dot": ("tensor", lambda m, dt: K.batch_dot(m(dt), m(dt), axes=1)),
    "transpose": ("tensor", lambda m, dt: K.transpose(m(dt))),
    "concatenate": ("tensor", lambda m, dt: K.concatenate([m(dt), m(dt)])),
    "stack": ("tensor", lambda m, dt: K.stack([m(dt), m(dt)])),
    "reshape": ("tensor", lambda m, dt: K.reshape(m(dt), (3, 2))),
    "permute_dimensions": ("tensor", lambda m, dt: K.permute_dimensions(m(dt), (1, 0))),
    "repeat_elements": ("tensor", lambda m, dt: K.repeat_elements(m(dt), 2, 1)),
    "repeat": ("tensor", lambda m, dt: K.repeat(m(dt), 2)),
    "arange": ("tensor", lambda m, dt: K.arange(m.const(dt, 3))),
    "tile": ("tensor", lambda m, dt: K.tile(m(dt), (1, 2))),
    "flatten": ("tensor", lambda m, dt: K.flatten(m(dt))),
    "batch_flatten": ("tensor", lambda m, dt: K.batch_flatten(m(dt, (2, 3, 2)))),
    "expand_dims": ("tensor", lambda m, dt: K.expand_dims(m(dt))),
    "squeeze": ("tensor", lambda m, dt: K.squeeze(m(dt, (2, 1)), 1)),
    "one_hot": ("tensor", lambda m, dt: K.one_hot(m(dt, (2,), lo=0), 3)),
    "reverse": ("tensor", lambda m, dt: K.reverse(m(dt), 1)),
    "slice": ("tensor", lambda m, dt: K.slice(m(dt), (0, 1), (2, 2))),
    "gather": ("tensor", lambda m, dt: K.gather(m(dt), _labels(m))),
    "pattern_broadcast": ("tensor", lambda m, dt: K.pattern_broadcast(m(dt), (False, False))),
    "temporal_padding": ("tensor", lambda m, dt: K.temporal_padding(m(dt, (1, 2, 3)))),
    "spatial_2d_padding": ("tensor", lambda m, dt: K.spatial_2d_padding(m(dt, (1, 2, 2, 1)))),
    "spatial_3d_padding": (
        "tensor", lambda m, dt: K.spatial_3d_padding(m(dt, (1, 2, 2, 2, 1)))),
    "resize_images": (
        "tensor", lambda m, dt: K.resize_images(m(dt, (1, 2, 2, 1)), 2, 2, "channels_last")),
    "resize_volumes": ("tensor", lambda m, dt: K.resize_volumes(
        m(dt, (1, 2, 2, 2, 1)), 2, 2, 2, "channels_last")),
    "identity": ("tensor", lambda m, dt: K.identity(m(dt))),
    "zeros_like": ("tensor", lambda m, dt: K.zeros_like(m(dt))),
    "ones_like": ("tensor", lambda m, dt: K.ones_like(m(dt))),
    "to_dense": ("tensor", lambda m, dt: K.to_dense(m(dt))),
    "stop_gradient": ("tensor", lambda m, dt: K.stop_gradient(m(dt))),
    "print_tensor": ("tensor", lambda m, dt: K.print_tensor(m(dt))),
    "shape": ("tensor", lambda m, dt: K.shape(m(dt))),
    "size": ("tensor", lambda m, dt: K.size(m(dt))),
    "dtype": ("tensor", lambda m, dt: K.dtype(m(dt))),
    "eval": ("tensor", lambda m, dt: K.eval(m(dt))),
    # --- convolutions and pooling
    "conv1d": ("tensor", lambda m, dt: K.conv1d(m(dt, (1, 4, 2)), m(dt, (2, 2, 3)))),
    "conv2d": ("tensor", lambda m, dt: K.conv2d(m(dt, (1, 3, 3, 2)), m(dt, (2, 2, 2, 3)))),
    "conv3d": (
        "tensor", lambda m, dt: K.conv3d(m(dt, (1, 3, 3, 3, 1)), m(dt, (2, 2, 2, 1, 2)))),
    "conv2d_transpose": ("tensor", lambda m, dt: K.conv2d_transpose(
        m(dt, (1, 3, 3, 2)), m(dt, (2, 2, 3, 2)), (1, 4, 4, 3))),
    "conv3d_transpose": ("tensor", lambda m, dt: K.conv3d_transpose(
        m(dt, (1, 2, 2, 2, 2)), m(dt, (2, 2, 2, 3, 2)), (1, 3, 3, 3, 3))),
    "separable_conv1d": ("tensor", lambda m, dt: K.separable_conv1d(
        m(dt, (1, 4, 2)), m(dt, (2, 2, 1)), m(dt, (1, 2, 3)))),
    "separable_conv2d": ("tensor", lambda m, dt: K.separable_conv2d(
        m(dt, (1, 3, 3, 2)), m(dt, (2, 2, 2, 1)), m(dt, (1, 1, 2, 3)))),
    "depthwise_conv2d": (
        "tensor", lambda m, dt: K.depthwise_conv2d(m(dt, (1, 3, 3, 2)), m(dt, (2, 2, 2, 1)))),
    "pool2d": ("tensor", lambda m, dt: K.pool2d(m(dt, (1, 2, 2, 1)), (2, 2))),
    "pool3d": ("tensor", lambda m, dt: K.pool3d(m(dt, (1, 2, 2, 2, 1)), (2, 2, 2))),
    "local_conv1d": ("tensor", lambda m, dt: K.local_conv1d(
        m(dt, (1, 3, 2)), m(dt, (2, 4, 3)), (2,), (1,))),
    "local_conv2d": ("tensor", lambda m, dt: K.local_conv2d(
        m(dt, (1, 2, 2, 1)), m(dt, (1, 4, 2)), (2, 2), (1, 1), (1, 1))),
    # --- control flow
    "switch": ("tensor", lambda m, dt: K.switch(m("bool"), m(dt), m(dt))),
    "in_train_phase": ("tensor", lambda m, dt: K.in_train_phase(m(dt), m(dt))),
    "in_test_phase": ("tensor", lambda m, dt: K.in_test_phase(m(dt), m(dt))),
    "rnn": ("tensor", lambda m, dt: K.rnn(lambda x, s: (x, s), m(dt, (2, 3, 2)),
                                          [m(dt, (2, 2))])[1]),
    "map_fn": ("tensor", lambda m, dt: K.map_fn(_ident, m(dt))),
    "foldl": ("tensor", lambda m, dt: K.foldl(_ident, m(dt))),
    "foldr": ("tensor", lambda m, dt: K.foldr(_ident, m(dt))),
    "gradients": ("symbolic", lambda m, dt: _gradient(m(dt))),
    # --- CTC (y_pred in the column's dtype; labels and lengths int32)
    "ctc_batch_cost": ("tensor", lambda m, dt: K.ctc_batch_cost(
        m(I32, (1, 2), lo=0), m(dt, (1, 4, 3)), m(I32, (1, 1), lo=4), m(I32, (1, 1), lo=2))),
    "ctc_decode": ("tensor", lambda m, dt: K.ctc_decode(
        m(dt, (1, 4, 3)), m(I32, (1,), lo=4))[0][0]),
    "ctc_label_dense_to_sparse": ("tensor", lambda m, dt: K.to_dense(
        K.ctc_label_dense_to_sparse(m(dt, (2, 3), lo=0), m(I32, (2,), lo=1)))),
    # Theano-only helpers (no TF counterpart): labels in the column's dtype, except the
    # probability inputs of ctc_path_probs / ctc_cost / ctc_update_log_p.
    "ctc_interleave_blanks": ("tensor", lambda m, dt: K.ctc_interleave_blanks(
        m(dt, (3,), lo=0))),
    "ctc_create_skip_idxs": ("tensor", lambda m, dt: K.ctc_create_skip_idxs(
        m(dt, (7,), lo=0))),
    "ctc_path_probs": ("tensor", lambda m, dt: K.ctc_path_probs(
        m(dt, (4, 3)), m(I32, (3,), lo=-1))[0]),
    "ctc_cost": ("tensor", lambda m, dt: K.ctc_cost(m(dt, (4, 3)), m(I32, (1,), lo=0))),
    "ctc_update_log_p": ("tensor", lambda m, dt: K.ctc_update_log_p(
        m(I32, (1,), lo=1), m(dt, (3,)), m(I32, (), lo=2), m(dt, (3,)), m(dt, (3,)))),
    # --- host values
    "constant": ("numpy", lambda m, dt: K.constant(data(dt))),
    "variable": ("numpy", lambda m, dt: K.variable(data(dt))),
    "cast_to_floatx": ("numpy", lambda m, dt: K.cast_to_floatx(data(dt))),
    "count_params": ("numpy", lambda m, dt: K.count_params(K.variable(data(dt), dtype=dt))),
    # --- variables
    "get_value": ("variable", lambda m, dt: K.get_value(m(dt))),
    "batch_get_value": ("variable", lambda m, dt: K.batch_get_value([m(dt)])[0]),
    "set_value": ("variable", lambda m, dt: _after(m(dt), lambda v: K.set_value(v, data(dt)))),
    "batch_set_value": (
        "variable", lambda m, dt: _after(m(dt), lambda v: K.batch_set_value([(v, data(dt))]))),
    "update": ("variable", lambda m, dt: K.update(m(dt), m(dt))),
    "update_add": ("variable", lambda m, dt: K.update_add(m(dt), m(dt))),
    "update_sub": ("variable", lambda m, dt: K.update_sub(m(dt), m(dt))),
    "moving_average_update": (
        "variable", lambda m, dt: K.moving_average_update(m(dt), m(dt), 0.9)),
    "function": ("symbolic", lambda m, dt: _function_out(dt)),
    # --- names taking a dtype instead of a tensor
    "zeros": ("dtype", lambda m, dt: K.zeros((2,), dtype=dt)),
    "ones": ("dtype", lambda m, dt: K.ones((2,), dtype=dt)),
    "eye": ("dtype", lambda m, dt: K.eye(2, dtype=dt)),
    "placeholder": ("dtype", lambda m, dt: K.placeholder((2,), dtype=dt)),
    "random_normal": ("dtype", lambda m, dt: K.random_normal((2,), dtype=dt)),
    "random_uniform": ("dtype", lambda m, dt: K.random_uniform((2,), 0, 5, dtype=dt)),
    "random_binomial": ("dtype", lambda m, dt: K.random_binomial((2,), 0.5, dtype=dt)),
    "truncated_normal": ("dtype", lambda m, dt: K.truncated_normal((2,), dtype=dt)),
    "random_normal_variable": (
        "dtype", lambda m, dt: K.random_normal_variable((2,), 0, 1, dtype=dt)),
    "random_uniform_variable": (
        "dtype", lambda m, dt: K.random_uniform_variable((2,), 0, 5, dtype=dt)),
}


def _gradient(x):
    return K.gradients(K.sum(x), [x])[0]


def _after(v, action):
    action(v)
    return K.get_value(v)


def _function_out(dt):
    p = K.placeholder((2, 3), dtype=dt)
    return K.function([p], [p])([data(dt)])[0]


# Names that take no tensor and no dtype: the Python type of what they return (the rule
# documented in the module docstring), called with a float32 variable where one is needed.
NO_TENSOR = {
    "backend": (lambda v: K.backend(), str),
    "floatx": (lambda v: K.floatx(), str),
    "epsilon": (lambda v: K.epsilon(), float),
    "image_data_format": (lambda v: K.image_data_format(), str),
    "image_dim_ordering": (lambda v: K.image_dim_ordering(), str),
    "normalize_data_format": (lambda v: K.normalize_data_format(None), str),
    "set_epsilon": (lambda v: K.set_epsilon(1e-7), type(None)),
    "set_floatx": (lambda v: K.set_floatx("float32"), type(None)),
    "set_image_data_format": (lambda v: K.set_image_data_format("channels_last"), type(None)),
    "set_image_dim_ordering": (lambda v: K.set_image_dim_ordering("tf"), type(None)),
    "set_learning_phase": (lambda v: None, type(None)),  # global state: not changed here
    "learning_phase": (lambda v: K.learning_phase().dtype.name, str),
    "get_uid": (lambda v: K.get_uid("dtype_table"), int),
    "reset_uids": (lambda v: None, type(None)),  # resetting would disturb other checks
    "clear_session": (lambda v: None, type(None)),  # likewise
    "manual_variable_initialization": (
        lambda v: K.manual_variable_initialization(False), type(None)),
    "v1_variable_initialization": (lambda v: K.v1_variable_initialization(), type(None)),
    "get_session": (lambda v: K.get_session(), K.Session),
    "set_session": (lambda v: K.set_session(K.get_session()), type(None)),
    "get_graph": (lambda v: K.get_graph(), K.Session),
    "name_scope": (lambda v: K.name_scope("s").__enter__(), str),
    "control_dependencies": (lambda v: None, type(None)),  # a context manager, no value
    "symbolic": (lambda v: K.symbolic(len), type(len)),
    "eager": (lambda v: K.eager(len), type(len)),
    "int_shape": (lambda v: K.int_shape(v), tuple),
    "get_variable_shape": (lambda v: K.get_variable_shape(v), tuple),
    "ndim": (lambda v: K.ndim(v), int),
    "is_keras_tensor": (lambda v: K.is_keras_tensor(v), bool),
    "is_placeholder": (lambda v: K.is_placeholder(v), bool),
    "is_sparse": (lambda v: K.is_sparse(v), bool),
    "is_symbolic": (lambda v: K.is_symbolic(v), bool),
    "is_tensor": (lambda v: K.is_tensor(v), bool),
    "is_variable": (lambda v: K.is_variable(v), bool),
}


# ----------------------------------------------------------------------------- the table

INT32, INT64 = _row("int32"), _row("int64")
TF = {
    # elementwise math: TF's kernels (Abs/Square/Pow/Sign/Maximum... take numbers but not
    # bool; Sqrt/Exp/Log/Sin/Cos only floats; comparisons Greater... not bool)
    "abs": NUM, "square": NUM, "sqrt": FLT, "exp": FLT, "log": FLT, "round": NUM,
    "sign": NUM, "pow": NUM, "clip": NUM, "sin": FLT, "cos": FLT, "maximum": NUM,
    "minimum": NUM, "equal": BOOL, "not_equal": BOOL, "greater": CMP, "greater_equal": CMP,
    "less": CMP, "less_equal": CMP, "cast": INT64,
    # reductions: K.mean/K.var cast bool to floatx first and keep integers (reduce_mean of
    # ints); K.std is sqrt(var), and Sqrt refuses integers; ArgMax gives int64
    "max": NUM, "min": NUM, "sum": NUM, "prod": NUM,
    "mean": ("float32", "int32", "int64", "float16", "float32", "float64"),
    "var": ("float32", "int32", "int64", "float16", "float32", "float64"),
    "std": ("float32", E, E, "float16", "float32", "float64"),
    "any": BOOL, "all": BOOL, "argmax": (E,) + INT64[1:], "argmin": (E,) + INT64[1:],
    "logsumexp": FLT, "cumsum": NUM, "cumprod": NUM,
    # activations and losses (the losses build float constants of output's dtype, and
    # InTopK takes float32 predictions only)
    "relu": NUM, "elu": FLT, "softmax": FLT, "softplus": FLT, "softsign": FLT,
    "sigmoid": FLT, "hard_sigmoid": FLT, "tanh": FLT, "categorical_crossentropy": FLT,
    "sparse_categorical_crossentropy": FLT, "binary_crossentropy": FLT,
    "l2_normalize": FLT, "in_top_k": (E, E, E, E, "bool", E), "batch_normalization": FLT,
    "normalize_batch_in_training": FLT, "bias_add": NUM, "dropout": FLT,
    # linear algebra, shapes (MatMul takes int32/int64; Pad, Tile, Reshape... any dtype)
    "dot": NUM, "batch_dot": NUM, "transpose": SAME, "concatenate": SAME, "stack": SAME,
    "reshape": SAME, "permute_dimensions": SAME, "repeat_elements": SAME, "repeat": SAME,
    "arange": (E, "int32", "int64", E, "float32", "float64"),  # tf.range's hierarchy
    "tile": SAME, "flatten": SAME, "batch_flatten": SAME, "expand_dims": SAME,
    "squeeze": SAME, "one_hot": (E, "float32", "float32", E, E, E), "reverse": SAME,
    "slice": SAME, "gather": SAME, "pattern_broadcast": SAME, "temporal_padding": SAME,
    "spatial_2d_padding": SAME, "spatial_3d_padding": SAME,
    "resize_images": NUM,  # ResizeNearestNeighbor: numbers, not bool
    "resize_volumes": SAME,  # repeat_elements (split/concat)
    "identity": SAME, "zeros_like": FX, "ones_like": FX,  # Keras 2.3.1: dtype=floatx()
    "to_dense": SAME, "stop_gradient": SAME, "print_tensor": SAME, "shape": INT32,
    "size": INT32, "dtype": SAME, "eval": SAME,
    # convolutions: float kernels only; MaxPool takes numbers, MaxPool3D half/float only;
    # the locally connected ops are reshape + batch_dot (matmul)
    "conv1d": FLT, "conv2d": FLT, "conv3d": FLT, "conv2d_transpose": FLT,
    "conv3d_transpose": FLT, "separable_conv1d": FLT, "separable_conv2d": FLT,
    "depthwise_conv2d": FLT, "pool2d": NUM, "pool3d": (E, E, E, "float16", "float32", E),
    "local_conv1d": NUM, "local_conv2d": NUM,
    # control flow keeps the branches' / body's dtype
    "switch": SAME, "in_train_phase": SAME, "in_test_phase": SAME, "rnn": SAME,
    "map_fn": SAME, "foldl": SAME, "foldr": SAME,
    "gradients": (E, N, N, "float16", "float32", "float64"),  # tf.gradients: None for ints
    # CTC: CTCLoss / CTCGreedyDecoder take float and double; gather_nd any dtype
    "ctc_batch_cost": (E, E, E, E, "float32", "float64"),
    "ctc_decode": (E, E, E, E, "int64", "int64"),
    "ctc_label_dense_to_sparse": SAME,
    # host values and variables
    "constant": FX, "variable": FX, "cast_to_floatx": FX, "count_params": INT64,
    "get_value": SAME, "batch_get_value": SAME, "set_value": SAME, "batch_set_value": SAME,
    "update": SAME, "update_add": NUM, "update_sub": NUM, "moving_average_update": NUM,
    "function": SAME,
    # names taking a dtype: the requested one (random_normal & co: floats only;
    # random_uniform with integer dtypes draws integers when maxval is given)
    "zeros": SAME, "ones": SAME, "eye": SAME, "placeholder": SAME,
    "random_normal": FLT, "random_uniform": (E,) + SAME[1:], "random_binomial": FLT,
    "truncated_normal": FLT, "random_normal_variable": FLT,
    "random_uniform_variable": (E,) + SAME[1:],
}

# Theano-only helpers: no TF counterpart, so the rule is the Theano backend's (labels keep
# their integer dtype and bool labels are refused, since the blank is -1; integer
# probabilities compute in float64, as Theano upcasts them; ctc_update_log_p's first
# output is the int32 count of active states).
THEANO = {
    "ctc_interleave_blanks": (E, "int32", "int64", "float16", "float32", "float64"),
    "ctc_create_skip_idxs": (E,) + INT64[1:],
    "ctc_path_probs": ("float64", "float64", "float64", "float16", "float32", "float64"),
    "ctc_cost": ("float64", "float64", "float64", "float16", "float32", "float64"),
    "ctc_update_log_p": INT32,
}

# Where jkb deliberately differs: jkb's entries (by input dtype) and the reason, a row of
# the README's "Where jkb differs" table. A tuple of values means any of them.
FLOATX_FOR_INTS = {"bool": "float32", "int32": "float32", "int64": "float32"}
JKB = {
    **{n: FLOATX_FOR_INTS for n in (
        "sqrt", "exp", "log", "sin", "cos", "logsumexp", "elu", "softmax", "softplus",
        "softsign", "sigmoid", "hard_sigmoid", "tanh", "categorical_crossentropy",
        "sparse_categorical_crossentropy", "binary_crossentropy", "l2_normalize",
        "batch_normalization", "normalize_batch_in_training")},
    "std": {"int32": "float32", "int64": "float32"},
    "var": {"int32": "float32", "int64": "float32"},
    "relu": {"bool": "float32"},
    # dropout lives in jkb/random.py: integers become a float (which one is its choice)
    "dropout": {"bool": ("float32",), "int32": ("float32", "float64"),
                "int64": ("float32", "float64")},
    **{n: {"bool": "bool"} for n in (
        "abs", "clip", "maximum", "minimum", "max", "min", "dot", "batch_dot", "bias_add",
        "resize_images", "update_add", "moving_average_update")},
    **{n: {"bool": "int32"} for n in ("square", "pow", "sum", "prod", "cumsum", "cumprod")},
    **{n: {"bool": "int64"} for n in ("argmax", "argmin")},
    **{n: {"bool": "bool"} for n in ("greater", "greater_equal", "less", "less_equal")},
    "in_top_k": {d: "bool" for d in ("bool", "int32", "int64", "float16", "float64")},
    "pool3d": {"int32": "int32", "int64": "int64", "float64": "float64"},
    "ctc_batch_cost": {"bool": "float32", "int32": "float32", "int64": "float32",
                       "float16": "float16"},
    "ctc_decode": {d: "int64" for d in ("bool", "int32", "int64", "float16")},
    "ctc_label_dense_to_sparse": {},
    "zeros_like": dict(zip(DTYPES, SAME)),
    "ones_like": dict(zip(DTYPES, SAME)),
    "gradients": {"bool": "bool", "int32": "int32", "int64": "int64"},
    "random_binomial": {"bool": "bool", "int32": "int32", "int64": "int64"},
}
WHY = {
    **{n: "dtypes TF refuses" for n in JKB},
    "in_top_k": "kernel coverage", "pool3d": "kernel coverage", "ctc_decode": "kernel coverage",
    "ctc_batch_cost": "kernel coverage",
    "zeros_like": "`zeros_like`", "ones_like": "`zeros_like`",
    "gradients": "`gradients`", "random_binomial": "`random_binomial`",
    "var": "`mean` of integers", "std": "`mean` of integers",
}
del JKB["ctc_label_dense_to_sparse"], WHY["ctc_label_dense_to_sparse"]

def expected(name, dt):
    """(acceptable values, source) of one cell."""
    if name in THEANO:
        return (THEANO[name][DTYPES.index(dt)],), "theano"
    tf = TF[name][DTYPES.index(dt)]
    jkb = JKB.get(name, {}).get(dt)
    if jkb is not None:
        return (jkb if isinstance(jkb, tuple) else (jkb,)), "jkb"
    return (tf,), "tf"


# ----------------------------------------------------------------------------- the checks

with open(os.path.join(os.path.dirname(__file__), "keras2_backend_names.txt")) as _fh:
    NAMES = [line.strip() for line in _fh if line.strip()]

MODES = {"tensor": ("plain", "variable", "placeholder"), "numpy": ("plain",),
         "variable": ("variable",), "dtype": ("plain",),
         "symbolic": ("variable", "placeholder")}
MODE_OVERRIDES = {"eval": ("plain", "variable"), "function": ("placeholder",)}
# Python lists in place of arrays: TF converts bool/int/float lists to bool/int32/float32
# (jkb: floatx), so those columns must match the array columns.
LIST_DTYPES = ("bool", "int32", "float32")
# K.dtype / K.eval / K.to_dense do not convert lists on TF either (x.dtype / x.eval();
# to_dense returns a non-sparse value unchanged); arange needs a value known when the
# graph is built, so it has no "mixed" form.
NO_LISTS = {"dtype", "eval", "to_dense"} | set(THEANO)  # (Theano helpers: Theano tensors)
# jkb/random.py (owned by another part of issue 10) converts lists with NumPy's dtypes.
NO_LISTS |= {"dropout"}
NO_MIXED = NO_LISTS | {"arange"}


class ListMode(Mode):
    """'list': Python lists of numbers in place of every array; 'mixed': the first operand
    is a placeholder and the others are lists (a Lambda layer's restored arguments)."""

    def __init__(self, name):
        super().__init__(name)
        self.calls = 0

    def __call__(self, dt, shape=(2, 3), lo=1):
        self.calls += 1
        if self.name == "mixed" and self.calls == 1:
            return K.placeholder(shape=shape, dtype=dt)
        return data(dt, shape, lo).tolist()

    def const(self, dt, value):
        return np.asarray(value, dtype=dt).tolist()


def _first(r):
    while isinstance(r, (list, tuple)) and r and not isinstance(r, str):
        r = r[0]
    return r


def _dtype_name(r):
    r = _first(r)
    if isinstance(r, str):
        return r
    if r is None:
        return N
    return np.dtype(r.dtype).name


def _outcome(call, m, dt):
    """(dtype name or 'error', result)."""
    try:
        r = call(m, dt)
    except (TypeError, ValueError):
        return E, None
    return _dtype_name(r), r


def _check_cell(name, call, m, dt, want, src):
    got, r = _outcome(call, m, dt)
    assert got in want, (f"K.{name} on {dt} ({m.name}): got {got}, expected {want} "
                         f"({src})")
    r = _first(r)
    if isinstance(r, Tensor) and not K.is_placeholder(r) and m.name not in ("placeholder",
                                                                        "mixed"):
        value = K.eval(r)  # the run-time dtype is the static one
        assert np.asarray(value).dtype == r.dtype, (name, dt, m.name, value.dtype, r.dtype)


def test_table_covers_every_name_once():
    assert len(NAMES) == 170
    covered = set(CALLS) | set(NO_TENSOR)
    assert covered == set(NAMES), (set(NAMES) - covered, covered - set(NAMES))
    assert not set(CALLS) & set(NO_TENSOR)
    assert set(TF) | set(THEANO) == set(CALLS) and not set(TF) & set(THEANO)
    for name, row in list(TF.items()) + list(THEANO.items()):
        assert len(row) == 6, name
    assert set(JKB) <= set(TF) and set(WHY) == set(JKB)


def test_deliberate_differences_are_in_the_readme():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    table = readme[readme.index("## Where jkb differs"):]
    table = table[:table.index("\n## ", 5)] if "\n## " in table[5:] else table
    for name, why in WHY.items():
        assert why in table, (name, why)
        assert f"`{name}`" in table, f"K.{name} is not named in the README's table"


@pytest.mark.parametrize("name", NAMES)
def test_output_dtype(name):
    if name in NO_TENSOR:
        call, kind = NO_TENSOR[name]
        v = K.variable(np.zeros((2, 3)))
        assert isinstance(call(v), kind), name
        return
    kind, call = CALLS[name]
    for mode in MODE_OVERRIDES.get(name, MODES[kind]):
        for dt in DTYPES:
            K.clear_session()
            want, src = expected(name, dt)
            _check_cell(name, call, Mode(mode), dt, want, src)


@pytest.mark.parametrize("name", sorted(n for n, (kind, _) in CALLS.items()
                                        if kind == "tensor" and n not in NO_LISTS))
def test_output_dtype_with_python_lists(name):
    call = CALLS[name][1]
    for mode in ("list",) if name in NO_MIXED else ("list", "mixed"):
        for dt in LIST_DTYPES:
            K.clear_session()
            want, src = expected(name, dt)
            _check_cell(name, call, ListMode(mode), dt, want, src)
