"""Reading and writing values: ``K.eval``, ``K.get_value``, ``K.set_value`` and their
batch forms.

Evaluating a tensor compiles (from its second evaluation on) a :class:`~jkb.function.Function`
against the live session; writing replaces whole buffers in the session's state, all or
nothing. This module sits above :mod:`jkb.function` and :mod:`jkb.state`, and gives
:mod:`jkb.core` the evaluation behind ``Tensor.eval``, ``np.asarray(tensor)`` and
``Variable.assign`` at import.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import numpy as np
from jax._src import core as _jcore
from jax.experimental import multihost_utils

from . import core as _core
from .core import Constant, Tensor, Variable, _Tracer, host_array, owned_array
from .function import Function
from .graph import Update
from .state import get_session

__all__ = ["eval", "get_value", "set_value", "batch_get_value", "batch_set_value"]


def eval(x, feed_dict=None):
    """The value of ``x`` (NumPy) against the live state; update ops are committed.

    A graph is evaluated eagerly the first time and compiled (and cached) from the second
    evaluation on, so one-off evaluations (initializers) cost no compilation.
    """
    if isinstance(x, Variable):
        v = get_session().read(x)
        return np.array(v.todense() if hasattr(v, "todense") else v)
    if isinstance(x, Constant):
        return np.array(x.value)
    if not isinstance(x, Tensor):
        if hasattr(x, "todense"):
            return np.asarray(x.todense())
        return np.asarray(host_array(x, "eval"))  # None/objects raise
    feed_dict = dict(feed_dict or {})
    if not _jcore.trace_state_clean():
        # Inside a user's trace: K.eval gives a concrete NumPy value now (as outside), so
        # everything it computes and stores is concrete; traced feeds cannot be.
        if any(isinstance(v, _Tracer) for v in feed_dict.values()):
            raise TypeError("K.eval: got a traced feed value (inside jax.jit/grad/vmap); "
                            "K.eval returns concrete NumPy values. Use K.function(...).pure "
                            "inside transformations.")
        with jax.ensure_compile_time_eval():
            return _eval_now(x, feed_dict)
    return _eval_now(x, feed_dict)


def _eval_now(x, feed_dict):
    cache = get_session().eval_cache
    key = (x, tuple(feed_dict))
    fn = cache.get(key)
    if fn is None:
        fn = cache[key] = Function(list(feed_dict), [x], compiled=False,
                                   updates=[x] if isinstance(x, Update) else None)
    else:
        fn._compiled = True  # evaluated again: worth compiling (same plan)
    out = fn([feed_dict[p] for p in fn.inputs])[0]
    if hasattr(out, "todense"):
        out = np.asarray(out.todense())
    return out


def get_value(x) -> np.ndarray:
    """The value of a variable (or any tensor) as a NumPy array (a copy)."""
    if x is None:
        raise ValueError("get_value: received None; expected a variable or a tensor.")
    if isinstance(x, Variable):
        v = get_session().read(x)
        return np.array(v.todense()) if hasattr(v, "todense") else to_host(v)
    if isinstance(x, Tensor):
        return eval(x)
    return np.array(host_array(x, "get_value"))


def to_host(a) -> np.ndarray:
    """A NumPy copy of the whole of ``a`` on every process (an all-gather that every
    process must take part in when ``a`` is split over other processes' devices)."""
    if isinstance(a, jax.Array) and not a.is_fully_addressable and \
            not a.is_fully_replicated:
        return np.array(multihost_utils.process_allgather(a, tiled=True))
    return np.array(a)


def batch_get_value(ops: Iterable) -> list[np.ndarray]:
    """``get_value`` of each element."""
    return [get_value(x) for x in ops]


def concrete(value, what: str, instead: str):
    """``value`` with tensors evaluated; a traced value (inside the user's jit/grad/vmap)
    raises, since the session stores concrete arrays only. ``what`` names the op and the
    value in the error, ``instead`` says what to do inside transformations."""
    if isinstance(value, Tensor):
        value = eval(value)
    if isinstance(value, _Tracer):
        raise TypeError(f"{what}: got a traced value (inside jax.jit/grad/vmap); the session "
                        f"only stores concrete arrays. {instead}")
    return value


def _host_value(x: Variable, value) -> jax.Array:
    value = concrete(value, f"set_value of {x.name}",
                     "Use jkb.state.update on an explicit State inside transformations.")
    value = np.asarray(host_array(value, "set_value", f"value for {x.name}"))  # None raises
    if value.shape != tuple(x.shape):
        if value.size == 1 or value.ndim == 0:
            value = np.broadcast_to(value.reshape(()), x.shape)
        else:
            raise ValueError(f"set_value: value of shape {value.shape} does not fit variable "
                             f"{x.name} of shape {tuple(x.shape)}.")
    return np.asarray(value, dtype=x.dtype)


def _placed_like(old, value: np.ndarray) -> jax.Array:
    """A fresh buffer owned by the session, with ``old``'s sharding when it is split or
    replicated over several devices (set_value never moves a variable off its mesh)."""
    sharding = getattr(old, "sharding", None)
    if sharding is not None and len(sharding.device_set) > 1:
        with jax.ensure_compile_time_eval():  # concrete, as owned_array, inside a trace too
            return jax.device_put(value, sharding)
    return owned_array(value)  # concrete even when called inside a trace


def set_value(x: Variable, value) -> None:
    """Writes ``value`` (converted to the variable's dtype) into ``x`` at once."""
    batch_set_value([(x, value)])


def batch_set_value(tuples) -> None:
    """Writes many ``(variable, value)`` pairs at once; all or nothing."""
    sess = get_session()
    new = {}
    for x, value in tuples:
        if not isinstance(x, Variable):
            raise TypeError(f"set_value: {x!r} is not a jkb variable.")
        new[x.uid] = _placed_like(sess.read(x), _host_value(x, value))
    if new:
        sess._state.values.update(new)  # the live state is the session's own


_core.install_values(eval, get_value, set_value)
