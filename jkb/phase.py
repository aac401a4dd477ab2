"""The learning phase (train or test) and the selections that depend on it.

``learning_phase()`` is one graph input, made once per session, or the 0/1 that
``set_learning_phase`` fixed for everything built afterwards; ``K.function`` feeds the input
(0 unless given), so one graph serves both phases. ``select`` and ``in_train_phase`` pick
between two values by a condition or by the phase; a static condition picks one branch
while building, so test-mode programs contain no dropout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .core import Tensor, _Tracer, is_symbolic_input, operands
from .graph import LearningPhase, Select

__all__ = ["learning_phase", "set_learning_phase", "in_train_phase", "in_test_phase", "select"]


_node: LearningPhase | None = None
fixed: int | None = None  # what set_learning_phase fixed (read by K.function on each call)


def learning_phase_node() -> LearningPhase:
    """The learning-phase input of every graph built until the session is cleared."""
    global _node
    if _node is None:
        _node = LearningPhase()
    return _node


def reset() -> None:
    """Forgets the phase input and the fixed phase (``K.clear_session``)."""
    global _node, fixed
    _node, fixed = None, None


def learning_phase():
    """The learning-phase input (the same object every time), or the int set globally."""
    if fixed is not None:
        return fixed
    return learning_phase_node()


def set_learning_phase(value):
    """Fixes the learning phase to 0 (test) or 1 (train) for everything built afterwards."""
    global fixed
    if isinstance(value, _Tracer):
        raise TypeError("set_learning_phase: got a traced value; the learning phase is a "
                        "global Python setting (0 or 1). Pass training= to in_train_phase, "
                        "or Function.pure(..., training=...), inside transformations.")
    if value not in (0, 1):
        raise ValueError(f"set_learning_phase: expected 0 or 1, got {value!r}.")
    fixed = int(value)


def _select_fn(c, a, b):
    if not isinstance(c, _Tracer) and np.ndim(c) == 0:
        return a if bool(c) else b
    a, b = jnp.asarray(a), jnp.asarray(b)
    c = jnp.asarray(c).astype(bool)
    c = c.reshape(c.shape + (1,) * (max(a.ndim, b.ndim) - c.ndim))
    return jnp.where(c, a, b)


def select(cond, then, other):
    """``then`` where ``cond`` else ``other``; a static scalar condition picks one branch
    and only that branch is evaluated (so test-mode programs contain no dropout)."""
    if isinstance(cond, Tensor) or isinstance(then, Tensor) or isinstance(other, Tensor):
        return Select(cond, then, other, _select_fn)
    return _select_fn(cond, then, other)


@operands("x", "alt")
def in_train_phase(x, alt, training=None):
    """``x`` in the training phase, ``alt`` otherwise; callables are called first.

    ``training``: ``None`` uses the learning phase (a graph input, or the value fixed by
    ``set_learning_phase``); a symbolic tensor gives a graph node; a plain value (Python
    bool/int, NumPy or concrete JAX scalar) picks one branch at once and returns it as
    given, so plain arrays give an array. A *traced* scalar (inside the user's ``jit``)
    becomes ``lax.cond`` when both branches are callables (only the chosen one runs), else
    an elementwise select of the two values; both branches must then have the same shape
    and dtype.
    """
    uses_lp = training is None
    if uses_lp:
        training = learning_phase()
    if isinstance(training, _Tracer) and not is_symbolic_input(x, alt):
        if np.ndim(training) != 0:
            raise ValueError(f"in_train_phase: a traced training flag must be a scalar, got "
                             f"shape {np.shape(training)}.")
        flag = jnp.asarray(training) != 0
        if callable(x) and callable(alt):
            return jax.lax.cond(flag, lambda: jnp.asarray(x()), lambda: jnp.asarray(alt()))
        x = x() if callable(x) else x
        alt = alt() if callable(alt) else alt
        return _select_fn(flag, x, alt)
    if not isinstance(training, Tensor):
        if training in (1, True):
            return x() if callable(x) else x
        if training in (0, False):
            return alt() if callable(alt) else alt
    x = x() if callable(x) else x
    alt = alt() if callable(alt) else alt
    out = select(training, x, alt)
    if uses_lp and isinstance(out, Tensor):
        out._uses_learning_phase = True
    return out


@operands("x", "alt")
def in_test_phase(x, alt, training=None):
    """``x`` in the test phase, ``alt`` otherwise."""
    return in_train_phase(alt, x, training=training)

