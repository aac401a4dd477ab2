"""Neural-network ops: activations, crossentropies, normalization, bias_add, in_top_k.

Decisions that differ between Keras 2.3.1 backends or TensorFlow versions:

* ``from_logits``: as Keras 2.3.1's TF backend does, a crossentropy whose ``output`` is
  directly the symbolic result of ``K.softmax`` (``categorical_crossentropy``,
  ``sparse_categorical_crossentropy``) or ``K.sigmoid`` (``binary_crossentropy``) is
  computed from that op's input, the logits, even with ``from_logits=False``: the loss of a
  confidently wrong prediction is then exact (not clipped at ``-log(epsilon())``) and its
  gradient does not vanish. jkb's graph records the op of every node, so the check is
  ``output.fn is _softmax.raw`` (see :func:`_logits_of`); the softmax must be taken over
  the crossentropy's ``axis``. Any other ``output`` (plain arrays, which carry no graph,
  and tensors made by other ops) is treated as probabilities and clipped to
  ``[epsilon(), 1 - epsilon()]``. ``epsilon()`` is read when the op is applied (graph
  build time for symbolic inputs), so ``K.set_epsilon`` affects every later call.
* ``l2_normalize`` uses TF's fuzz 1e-12 (not Theano's ``epsilon()``), since Keras 2.3.1's
  default backend is TF: ``x / sqrt(max(sum(x**2), 1e-12))``.
* Activations of integer or bool inputs compute in ``floatx()`` (TF refuses them), except
  the plain ``relu`` (no alpha, max_value or threshold), which keeps integer dtypes as TF's
  ``Relu`` does; float arrays keep their dtype. Python numbers are converted as TF converts
  them (ints -> int32, floats -> ``floatx()``).
* Crossentropies return the dtype of ``output`` (``floatx()`` when it is not float); the
  target is cast to it (dense) or truncated to integers (sparse). A sparse label outside
  ``[0, classes)`` gives NaN (TF on GPU does the same; TF on CPU raises, which a compiled
  program cannot do).
"""

from __future__ import annotations

import functools
import math as _math

import jax
import jax.numpy as jnp
import numpy as np

from . import config
from .core import Node, Tensor, asarray, inferring, op, operands, static_value

__all__ = [
    "relu", "elu", "softmax", "softplus", "softsign", "sigmoid", "hard_sigmoid", "tanh",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "l2_normalize", "in_top_k", "batch_normalization", "normalize_batch_in_training",
    "bias_add",
]

# TF's tf.nn.l2_normalize default; see the module docstring.
_L2_EPSILON = 1e-12


# ----------------------------------------------------------------------------- helpers


def _static_shape(x) -> tuple:
    """Static shape of any input, with ``None`` for unknown dims."""
    if isinstance(x, Tensor):
        return tuple(x.shape)
    if hasattr(x, "shape"):
        return tuple(x.shape)
    return np.shape(x)


def _static_dtype(x) -> np.dtype:
    if hasattr(x, "dtype"):
        return np.dtype(x.dtype)
    return np.asarray(x).dtype


def _check_axis(axis, ndim: int, opname: str, shape) -> int:
    """``axis`` as a non-negative int, or a ValueError naming the op and the shape."""
    try:
        if type(axis) is int:  # the common case, kept cheap (eager calls)
            a = axis
        else:
            v = static_value(axis)
            if isinstance(v, Tensor) or v is None or np.ndim(v) != 0:
                raise TypeError
            a = int(v)
    except (TypeError, ValueError):
        raise TypeError(f"{opname}: axis must be an int known when the graph is built. "
                        f"Received: axis={axis!r}") from None
    if not -ndim <= a < ndim:
        raise ValueError(f"{opname}: axis {a} is out of range for an input of rank {ndim}. "
                         f"Received: shape={tuple(shape)}")
    return a % ndim


def _float(x, fx: str):
    """x as an array; non-float inputs and Python numbers become ``fx`` (``floatx()``)."""
    x = asarray(x)
    # Python numbers (weakly typed) follow floatx too, as TF's scalar conversion does.
    if not jnp.issubdtype(x.dtype, jnp.floating) or getattr(x, "weak_type", False):
        x = x.astype(fx)
    return x


def _same_float(v, x):
    """A Python number or array operand converted to x's float dtype."""
    return asarray(v, dtype=x.dtype)


def _nn_op(name: str, static=()):
    """``op`` over a jitted body: an eager call then runs as one compiled program (cached
    per shapes, dtypes and static arguments) instead of one dispatch per primitive.

    Everything the body reads from global state must come in as a static argument, or the
    cache would keep a stale value: floatx as ``fx``, and for bodies with an ``infer``
    parameter, ``core.inferring()`` (a size mismatch caused by a trial size for a ``None``
    dim is then tolerated with a stand-in; the same sizes at run time still raise).
    """
    def deco(fn):
        if "infer" not in fn.__code__.co_varnames[:fn.__code__.co_argcount]:
            return op(jax.jit(fn, static_argnames=static), name=name)
        jitted = jax.jit(fn, static_argnames=tuple(static) + ("infer",))

        @functools.wraps(fn)
        def body(*args):
            return jitted(*args, infer=inferring())

        return op(body, name=name)
    return deco


def _compatible(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        da is None or db is None or da == db for da, db in zip(a, b))


# ----------------------------------------------------------------------------- activations


@_nn_op("relu", static=("fx",))
def _relu(x, alpha, max_value, threshold, fx):
    x = _float(x, fx)
    thr = _same_float(threshold, x)
    # x passes through unshifted above the threshold (negative values included); NaN
    # passes through too, as in the plain relu.
    out = jnp.where(x <= thr, jnp.zeros_like(x), x)
    if max_value is not None:
        # K.clip raises an upper bound below the lower one up to it.
        hi = jnp.maximum(_same_float(max_value, x), jnp.zeros((), x.dtype))
        out = jnp.clip(out, jnp.zeros((), x.dtype), hi)
    if alpha is not None:
        out = out + _same_float(alpha, x) * jnp.minimum(x - thr, jnp.zeros((), x.dtype))
    return out


@_nn_op("relu", static=("fx",))
def _relu_plain(x, fx):
    x = asarray(x)
    if x.dtype.kind in "iu":  # TF's Relu keeps integers (a Python int becomes int32)
        x = x.astype(jnp.int32) if getattr(x, "weak_type", False) else x
        return jnp.maximum(x, jnp.zeros((), x.dtype))
    # max(x, 0) with a zero gradient at 0: the form XLA fuses into a preceding conv or
    # matmul (a select-based relu measured 1.9x slower on a CNN forward on CPU).
    return jax.nn.relu(_float(x, fx))


@operands("x")
def relu(x, alpha=0., max_value=None, threshold=0.):
    """Rectified linear unit with optional leak, cap and threshold.

    The plain form (no alpha, max_value or threshold) keeps integer dtypes, as TF's
    ``Relu`` does; every other form, and bool inputs, compute in ``floatx()``.
    Above ``threshold`` the output is x itself (not ``x - threshold``), clipped to
    ``[0, max_value]`` when ``max_value`` is given; at or below it the output is
    ``alpha * (x - threshold)``. So with a negative threshold and no cap, values in
    ``(threshold, 0)`` pass through negative; with a cap they are clipped to 0.
    """
    for what, v in (("alpha", alpha), ("threshold", threshold)):
        dt = getattr(v, "dtype", None) if v is not None else np.dtype(object)
        dt = np.asarray(v).dtype if dt is None else np.dtype(dt)
        if dt.kind not in "biuf":
            raise TypeError(f"relu: {what} must be a number or a tensor. Received: "
                            f"{what}={v!r:.60}")
    if not isinstance(alpha, Tensor) and np.ndim(alpha) == 0 and float(alpha) == 0.0:
        alpha = None
    if (alpha is None and max_value is None and not isinstance(threshold, Tensor)
            and np.ndim(threshold) == 0 and float(threshold) == 0.0):
        return _relu_plain(x, config.floatx())
    return _relu(x, alpha, max_value, threshold, config.floatx())


@_nn_op("elu", static=("fx",))
def _elu(x, alpha, fx):
    x = _float(x, fx)
    # expm1 of min(x, 0) keeps the unused branch finite, so gradients stay finite too.
    neg = jnp.expm1(jnp.minimum(x, jnp.zeros((), x.dtype)))
    return jnp.where(x > 0, x, _same_float(alpha, x) * neg)


@operands("x")
def elu(x, alpha=1.):
    """Exponential linear unit: x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    return _elu(x, alpha, config.floatx())


@_nn_op("softmax", static=("axis", "fx"))
def _softmax(x, axis, fx):
    return jax.nn.softmax(_float(x, fx), axis=axis)


@operands("x")
def softmax(x, axis=-1):
    """Max-shifted normalized exponentials along ``axis`` (default: the last one)."""
    shape = _static_shape(x)
    if len(shape) == 0:
        raise ValueError(f"softmax: the input must have rank >= 1. Received: shape={shape}")
    return _softmax(x, _check_axis(axis, len(shape), "softmax", shape), config.floatx())


@_nn_op("softplus", static=("fx",))
def _softplus(x, fx):
    return jax.nn.softplus(_float(x, fx))


@operands("x")
def softplus(x):
    """``log(1 + exp(x))``, computed without overflow for large x."""
    return _softplus(x, config.floatx())


@_nn_op("softsign", static=("fx",))
def _softsign(x, fx):
    x = _float(x, fx)
    return x / (jnp.ones((), x.dtype) + jnp.abs(x))


@operands("x")
def softsign(x):
    """``x / (1 + |x|)``."""
    return _softsign(x, config.floatx())


@_nn_op("sigmoid", static=("fx",))
def _sigmoid(x, fx):
    return jax.nn.sigmoid(_float(x, fx))


@operands("x")
def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))``."""
    return _sigmoid(x, config.floatx())


@_nn_op("hard_sigmoid", static=("fx",))
def _hard_sigmoid(x, fx):
    x = _float(x, fx)
    y = x * _same_float(0.2, x) + _same_float(0.5, x)
    return jnp.clip(y, jnp.zeros((), x.dtype), jnp.ones((), x.dtype))


@operands("x")
def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    return _hard_sigmoid(x, config.floatx())


@_nn_op("tanh", static=("fx",))
def _tanh(x, fx):
    return jnp.tanh(_float(x, fx))


@operands("x")
def tanh(x):
    """Hyperbolic tangent."""
    return _tanh(x, config.floatx())


# ----------------------------------------------------------------------------- crossentropies


def _logits_of(output, lifted, axis=None):
    """The input (logits) of ``output`` when ``output`` is directly the symbolic result of
    the jkb op ``lifted`` (``_softmax`` over ``axis``, or ``_sigmoid``); else None.

    Every graph node records the function it applies and its arguments, so this is what
    TF's ``output.op.type == 'Softmax'`` check is in jkb. Plain arrays carry no graph.
    """
    if not isinstance(output, Node) or output.fn is not lifted.raw:
        return None
    args, _ = jax.tree_util.tree_unflatten(output.treedef, output.leaves)
    if axis is not None and args[1] != axis:
        return None
    return args[0]



@_nn_op("categorical_crossentropy", static=("from_logits", "axis", "fx"))
def _categorical_crossentropy(target, output, from_logits, axis, eps, fx):
    output = _float(output, fx)
    target = asarray(target).astype(output.dtype)
    if from_logits:
        return -jnp.sum(target * jax.nn.log_softmax(output, axis=axis), axis=axis)
    output = output / jnp.sum(output, axis=axis, keepdims=True)
    e = _same_float(eps, output)
    output = jnp.clip(output, e, jnp.ones((), output.dtype) - e)
    return -jnp.sum(target * jnp.log(output), axis=axis)


@operands("target", "output")
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy between target distributions and predictions along ``axis``.

    ``axis`` is reduced away. With ``from_logits=True`` a log-softmax of the logits is
    used. With ``from_logits=False``, as on Keras 2.3.1's TF backend, an ``output`` that is
    directly the symbolic result of ``K.softmax`` over ``axis`` is computed from that
    softmax's input (the logits: exact loss and gradient for saturated predictions); any
    other output (plain arrays included: they carry no graph) is rescaled to sum to 1
    along ``axis`` and clipped to ``[epsilon(), 1 - epsilon()]``. ``target`` and
    ``output`` must have the same shape.
    """
    ts, os_ = _static_shape(target), _static_shape(output)
    if len(os_) == 0:
        raise ValueError("categorical_crossentropy: output must have rank >= 1. "
                         f"Received: target.shape={ts}, output.shape={os_}")
    if not _compatible(ts, os_):
        raise ValueError("categorical_crossentropy: target and output shapes are "
                         f"incompatible. Received: target.shape={ts}, output.shape={os_}")
    ax = _check_axis(axis, len(os_), "categorical_crossentropy", os_)
    if not from_logits:
        logits = _logits_of(output, _softmax, ax)
        if logits is not None:
            output, from_logits = logits, True
    return _categorical_crossentropy(target, output, bool(from_logits), ax,
                                     float(config.epsilon()), config.floatx())


@_nn_op("sparse_categorical_crossentropy", static=("from_logits", "axis", "fx"))
def _sparse_categorical_crossentropy(target, output, from_logits, axis, eps, fx, infer=False):
    output = _float(output, fx)
    target = asarray(target)
    if not from_logits:
        e = _same_float(eps, output)
        # The log of clipped probabilities acts as logits, so the softmax below
        # renormalizes them.
        output = jnp.log(jnp.clip(output, e, jnp.ones((), output.dtype) - e))
    rank = output.ndim
    if axis != rank - 1:
        output = jnp.moveaxis(output, axis, -1)
    out_shape = output.shape
    classes = out_shape[-1]
    reshape = target.ndim != rank - 1
    if reshape:
        given = target.shape
        target = target.reshape(-1)
        rows = _math.prod(out_shape[:-1])
        if target.shape[0] != rows and infer:
            target = jnp.zeros((rows,), target.dtype)
        elif target.shape[0] != rows:
            raise ValueError(
                "sparse_categorical_crossentropy: target holds "
                f"{target.shape[0]} labels but output has {rows} rows of {classes} classes. "
                f"Received: target.shape={given}, "
                f"output.shape={out_shape}")
        output = output.reshape(rows, classes)
    elif target.shape != out_shape[:-1] and infer:
        target = jnp.zeros(out_shape[:-1], target.dtype)
    elif target.shape != out_shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: target shape must equal output shape without "
            f"the class axis. Received: target.shape={target.shape}, "
            f"output.shape={out_shape} (class axis last)")
    if jnp.issubdtype(target.dtype, jnp.floating):
        target = jnp.trunc(target)
    labels = target.astype(config.index_dtype())
    valid = (labels >= 0) & (labels < classes)
    safe = jnp.where(valid, labels, 0)
    logp = jax.nn.log_softmax(output, axis=-1)
    picked = jnp.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    loss = jnp.where(valid, -picked, jnp.full((), jnp.nan, output.dtype))
    if reshape and rank >= 3:
        loss = loss.reshape(out_shape[:-1])
    return loss


@operands("target", "output")
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy with integer class indices as the target (class axis ``axis``).

    ``target`` (int or float, truncated to int) has the shape of ``output`` without the
    class axis. Any other rank (typically a trailing 1, as in ``(batch, 1)``) is flattened
    and the loss computed on ``(N, classes)``; the result is reshaped back to the output
    shape without its class axis only when ``output`` has rank >= 3, so a ``(B, 1)``
    target with a ``(B, C)`` output gives ``(B,)``. With ``from_logits=False`` an
    ``output`` that is directly the symbolic result of ``K.softmax`` over ``axis`` is
    computed from its logits (as on Keras 2.3.1's TF backend); any other output (plain
    arrays included) is clipped to ``[epsilon(), 1 - epsilon()]`` and the logs of the
    clipped probabilities are renormalized by the softmax.
    """
    ts, os_ = _static_shape(target), _static_shape(output)
    if len(os_) == 0:
        raise ValueError("sparse_categorical_crossentropy: output must have rank >= 1. "
                         f"Received: target.shape={ts}, output.shape={os_}")
    dt = _static_dtype(target)
    if not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise TypeError("sparse_categorical_crossentropy: target must hold integer class "
                        f"indices (int or float). Received: target.dtype={dt}")
    ax = _check_axis(axis, len(os_), "sparse_categorical_crossentropy", os_)
    # Sizes known statically are checked here, so that a stand-in during inference can
    # only hide a mismatch involving None dims.
    lead = os_[:ax] + os_[ax + 1:]
    if len(ts) == len(os_) - 1:
        bad = not _compatible(ts, lead)
    else:
        bad = None not in ts + lead and _math.prod(ts) != _math.prod(lead)
    if bad:
        raise ValueError("sparse_categorical_crossentropy: target does not match the output "
                         f"without its class axis {ax}. Received: target.shape={ts}, "
                         f"output.shape={os_}")
    if not from_logits:
        logits = _logits_of(output, _softmax, ax)
        if logits is not None:
            output, from_logits = logits, True
    return _sparse_categorical_crossentropy(target, output, bool(from_logits), ax,
                                            float(config.epsilon()), config.floatx())


@jax.custom_jvp
def _sigmoid_xent(x, t):
    # max(x, 0) - x*t + log1p(exp(-|x|)) keeps full precision where the loss is tiny
    # (softplus(x) - x*t cancels to 0 for x = t * large), but its pieces have kinks at 0.
    return jnp.maximum(x, 0) - x * t + jnp.log1p(jnp.exp(-jnp.abs(x)))


@_sigmoid_xent.defjvp
def _sigmoid_xent_jvp(primals, tangents):
    # The derivative written with the smooth sigmoid: correct at 0 and to every order.
    x, t = primals
    dx, dt = tangents
    return _sigmoid_xent(x, t), (jax.nn.sigmoid(x) - t) * dx - x * dt


@_nn_op("binary_crossentropy", static=("from_logits", "fx"))
def _binary_crossentropy(target, output, from_logits, eps, fx):
    output = _float(output, fx)
    target = asarray(target).astype(output.dtype)
    if from_logits:
        return _sigmoid_xent(*jnp.broadcast_arrays(output, target))
    e = _same_float(eps, output)
    one = jnp.ones((), output.dtype)
    p = jnp.clip(output, e, one - e)
    return -(target * jnp.log(p) + (one - target) * jnp.log(one - p))


@operands("target", "output")
def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary crossentropy (no reduction).

    With ``from_logits=True`` the stable sigmoid-crossentropy of the logits is used. With
    ``from_logits=False``, as on Keras 2.3.1's TF backend, an ``output`` that is directly
    the symbolic result of ``K.sigmoid`` is computed from that sigmoid's input (the
    logits); any other output (plain arrays included: they carry no graph) is clipped to
    ``[epsilon(), 1 - epsilon()]``. Shapes broadcast.
    """
    if not from_logits:
        logits = _logits_of(output, _sigmoid)
        if logits is not None:
            output, from_logits = logits, True
    return _binary_crossentropy(target, output, bool(from_logits), float(config.epsilon()),
                                config.floatx())


# ----------------------------------------------------------------------------- normalization


@_nn_op("l2_normalize", static=("axis", "fx"))
def _l2_normalize(x, axis, fx):
    x = _float(x, fx)
    sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(sq, _same_float(_L2_EPSILON, x)))


@operands("x")
def l2_normalize(x, axis=None):
    """x divided by its L2 norm over ``axis`` (an int, a list of ints, or None for all).

    The squared norm is floored at 1e-12 (TF's value), so a zero vector stays zero.
    """
    shape = _static_shape(x)
    if axis is not None:
        axes = axis if isinstance(axis, (list, tuple)) else (axis,)
        axis = tuple(_check_axis(a, len(shape), "l2_normalize", shape) for a in axes)
    return _l2_normalize(x, axis, config.floatx())


@_nn_op("in_top_k", static=())
def _in_top_k(predictions, targets, k, infer=False):
    predictions = asarray(predictions)
    targets = asarray(targets)
    batch, classes = predictions.shape
    if targets.shape[0] != batch and infer:
        targets = jnp.zeros((batch,), targets.dtype)
    elif targets.shape[0] != batch:
        raise ValueError("in_top_k: predictions and targets must have the same batch size. "
                         f"Received: predictions.shape={predictions.shape}, "
                         f"targets.shape={targets.shape}")
    valid = (targets >= 0) & (targets < classes)
    safe = jnp.where(valid, targets, 0)
    score = jnp.take_along_axis(predictions, safe[:, None], axis=1)
    # Counting strictly larger scores makes ties with the target count as hits.
    larger = jnp.sum(predictions > score, axis=1)
    finite = jnp.all(jnp.isfinite(predictions), axis=1)
    return valid & finite & (larger < k)


@operands("predictions", "targets")
def in_top_k(predictions, targets, k):
    """Per sample, whether ``targets[i]`` is among the ``k`` largest ``predictions[i]``.

    ``predictions`` is ``(batch, classes)``, ``targets`` ``(batch,)`` integers; the result
    is ``(batch,)`` bool. Ties count as hits: the target is in when fewer than ``k`` scores
    are strictly larger than its own. Rows with a non-finite score, and out-of-range
    targets, give False; ``k < 1`` gives all False.
    """
    ps, ts = _static_shape(predictions), _static_shape(targets)
    if len(ps) != 2 or len(ts) != 1:
        raise ValueError("in_top_k: expected predictions of rank 2 and targets of rank 1. "
                         f"Received: predictions.shape={ps}, targets.shape={ts}")
    tdt = _static_dtype(targets)
    if not np.issubdtype(tdt, np.integer):
        raise TypeError(f"in_top_k: targets must be integers. Received: targets.dtype={tdt}")
    if ps[0] is not None and ts[0] is not None and ps[0] != ts[0]:
        raise ValueError("in_top_k: predictions and targets must have the same batch size. "
                         f"Received: predictions.shape={ps}, targets.shape={ts}")
    if not isinstance(k, Tensor):
        k = int(k)
    return _in_top_k(predictions, targets, k)


def _param(p, x):
    """A normalization parameter as an array; integer ones take x's float dtype."""
    p = asarray(p)
    return p if jnp.issubdtype(p.dtype, jnp.floating) else p.astype(x.dtype)


def _along(p, x, axis: int):
    """A 1-D parameter laid along ``axis`` of x; other shapes are left to broadcast."""
    if p is None:
        return None
    p = _param(p, x)
    ndim = x.ndim
    if p.ndim == 1 and ndim > 1:
        shape = [1] * ndim
        shape[axis] = p.shape[0]
        p = p.reshape(shape)
    return p


def _normalize(x, mean, var, beta, gamma, epsilon):
    inv = jax.lax.rsqrt(var + _same_float(epsilon, var))
    if gamma is not None:
        inv = inv * gamma
    out = (x - mean) * inv
    return out if beta is None else out + beta


@_nn_op("batch_normalization", static=("axis", "fx"))
def _batch_normalization(x, mean, var, beta, gamma, axis, epsilon, fx):
    x = _float(x, fx)
    mean, var, beta, gamma = (_along(p, x, axis) for p in (mean, var, beta, gamma))
    return _normalize(x, mean, var, beta, gamma, epsilon)


@operands("x", "mean", "var", "beta", "gamma")
def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta``.

    Each parameter is either broadcastable to x or 1-D along ``axis``; ``beta`` and
    ``gamma`` may be None (0 and 1).
    """
    shape = _static_shape(x)
    ax = _check_axis(axis, len(shape), "batch_normalization", shape) if shape else 0
    return _batch_normalization(x, mean, var, beta, gamma, ax, epsilon, config.floatx())


def _fit(p, x, target_shape, infer):
    """gamma/beta shaped to broadcast against x when the kept axes are not just the last."""
    if p is None:
        return None
    p = _param(p, x)
    if p.ndim != len(target_shape):
        if p.size == _math.prod(target_shape):
            p = p.reshape(target_shape)
        elif infer and p.ndim:  # the kept sizes are trial values
            p = jnp.ones(target_shape, p.dtype)
    return p


@_nn_op("normalize_batch_in_training", static=("axes", "fx"))
def _normalize_batch_in_training(x, gamma, beta, axes, epsilon, fx, infer=False):
    x = _float(x, fx)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    target_shape = tuple(1 if a in axes else d for a, d in enumerate(x.shape))
    normed = _normalize(x, mean, var, _fit(beta, x, target_shape, infer),
                        _fit(gamma, x, target_shape, infer), epsilon)
    return normed, jnp.squeeze(mean, axis=axes), jnp.squeeze(var, axis=axes)


@operands("x", "gamma", "beta")
def normalize_batch_in_training(x, gamma, beta, reduction_axes, epsilon=1e-3):
    """Normalizes x with its own mean and (biased) variance over ``reduction_axes``.

    Returns ``(normed, mean, variance)``, the statistics with the reduced axes removed
    (e.g. ``(C,)`` for axes ``[0, 2, 3]``). ``gamma``/``beta`` may be None; when the kept
    axes are not just the last one, parameters holding one value per kept position are
    reshaped to broadcast along the kept axes.
    """
    shape = _static_shape(x)
    try:
        raw = list(reduction_axes)
    except TypeError:
        raw = [reduction_axes]
    axes = tuple(sorted({_check_axis(a, len(shape), "normalize_batch_in_training", shape)
                         for a in raw}))
    return _normalize_batch_in_training(x, gamma, beta, axes, epsilon, config.floatx())


# ----------------------------------------------------------------------------- bias_add


@_nn_op("bias_add", static=("data_format",))
def _bias_add(x, bias, data_format):
    x = asarray(x)
    bias = asarray(bias)
    nd = x.ndim
    if nd in (3, 4, 5):
        if bias.ndim == 1:
            shape = [1] * nd
            shape[1 if data_format == "channels_first" else -1] = bias.shape[0]
            bias = bias.reshape(shape)
        elif data_format == "channels_first":
            # A full bias is stored channels-last and reshaped (not transposed).
            bias = bias.reshape((1, bias.shape[-1]) + bias.shape[:-1])
        else:
            bias = bias.reshape((1,) + bias.shape)
    return x + bias


@operands("x", "bias")
def bias_add(x, bias, data_format=None):
    """Adds ``bias`` along the channel axis of x.

    For x of rank 3 to 5 a 1-D bias ``(C,)`` goes on the channel axis (last or axis 1 per
    ``data_format``), and a bias of rank ``ndim(x) - 1`` is a per-position bias stored
    channels-last ``(..., C)``: for channels_first it is *reshaped* (not transposed) to
    ``(1, C, ...)``. For other ranks the bias must be 1-D and is added on the last axis.
    """
    data_format = config.normalize_data_format(data_format)
    xs, bs = _static_shape(x), _static_shape(bias)
    nd = len(xs)
    if len(bs) != 1 and len(bs) != nd - 1:
        raise ValueError(f"bias_add: unexpected bias dimensions {len(bs)}, expected 1 or "
                         f"{nd - 1} (x has rank {nd}). Received: x.shape={xs}, "
                         f"bias.shape={bs}")
    if nd in (3, 4, 5):
        if len(bs) == 1:
            want = (xs[1] if data_format == "channels_first" else xs[-1],)
        elif data_format == "channels_first":
            want = xs[2:] + (xs[1],)
        else:
            want = xs[1:]
    elif nd >= 2 and len(bs) == 1:
        want = (xs[-1],)
    else:
        raise ValueError(f"bias_add: for an input of rank {nd} the bias must be 1-D and x of "
                         f"rank >= 2. Received: x.shape={xs}, bias.shape={bs}")
    if not _compatible(tuple(bs), tuple(want)):
        raise ValueError(f"bias_add: bias shape does not match the channels of x "
                         f"({data_format}); expected {want}. Received: x.shape={xs}, "
                         f"bias.shape={bs}")
    return _bias_add(x, bias, data_format)
