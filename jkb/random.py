"""Random ops: the PRNG key lives in the session ``State`` and advances on every call.

Each random op reads a :class:`RngKey` leaf. When a program runs (``K.function`` or
``K.eval``) the key of a leaf is ``fold_in(fold_in(seed_key, step), salt)``: ``seed_key``
is the session's (from ``set_random_seed``, else drawn from NumPy's global RNG when the
session starts), ``step`` the state's counter, which every call advances, and ``salt`` the
node's id. So every call draws fresh numbers and one global seed reproduces a whole run.
An op given an explicit ``seed`` uses ``key(seed)`` in place of the session's key, so its
draws depend only on that seed and the step.

Random ops always build a graph node, even when every argument is static (as in
``K.random_normal((2, 3))``): a value drawn once would repeat on every call. ``K.eval`` or
``K.variable`` of such a node draws (and advances the step) at once, as initializers need.
``dropout`` on concrete arrays draws at once from the session key; inside a user's own
``jax.jit`` that draw happens at trace time, so pass new masks in, or use ``K.function``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import core as _jcore

from . import config
from .core import Tensor, _Tracer, is_symbolic_input, op
from .state import Session, get_session

__all__ = [
    "random_normal", "random_uniform", "random_binomial", "truncated_normal",
    "random_normal_variable", "random_uniform_variable", "dropout", "set_random_seed",
]

# Abstractly: importing jkb must start no JAX backend (jax.distributed.initialize first).
_KEY_SHAPE = jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))).shape


class RngKey(Tensor):
    """A leaf that evaluates to the raw key data of one random node for one call."""

    def __init__(self, seed=None):
        super().__init__(_KEY_SHAPE, np.uint32)
        self.seed = None if seed is None else int(seed)
        self.salt = get_session().next_salt()  # per session, so a seed replays a run

    def leaf_value(self, ctx):
        return _derive(ctx.key, ctx.step, self.salt, self.seed)


def _derive(key_data, step, salt, seed):
    base = jax.random.wrap_key_data(key_data) if seed is None else jax.random.key(seed)
    key = jax.random.fold_in(jax.random.fold_in(base, step), 0 if seed is not None else salt)
    return jax.random.key_data(key)


def set_random_seed(seed: int) -> None:
    """Restarts the session's random stream from ``seed`` (variables are kept)."""
    sess = get_session()
    fresh = Session(seed)
    st = sess._state
    sess._state = type(st)(st.values, fresh._state.key, fresh._state.step)
    sess.seed = seed


def _shape(shape):
    return tuple(int(d) for d in np.asarray(shape).reshape(-1)) if not isinstance(
        shape, (tuple, list)) else tuple(int(d) for d in shape)


def _key(k):
    return jax.random.wrap_key_data(k)


def _host(k):
    """A NumPy generator for a draw made eagerly (outside any trace), else None.

    Eager draws are what initializers make, once per weight: drawing them on the host with
    PCG64 seeded by the node's JAX key keeps them reproducible and costs no XLA
    compilation per weight shape (0.2-0.5 s each on CPU); inside compiled programs the
    JAX generators are used.
    """
    if isinstance(k, _Tracer) or not _jcore.trace_state_clean():
        return None
    return np.random.Generator(np.random.PCG64(np.asarray(k, np.uint32).tolist()))


def _out(a, dt):
    return jnp.asarray(np.asarray(a).astype(dt))


@op(name="random_normal")
def _normal(k, shape, mean, stddev, dt):
    rng = _host(k)
    if rng is not None:
        return _out(rng.standard_normal(_shape(shape)) * stddev + mean, dt)
    return (jax.random.normal(_key(k), _shape(shape), dt) * stddev + mean).astype(dt)


@op(name="random_uniform")
def _uniform(k, shape, minval, maxval, dt):
    rng = _host(k)
    if rng is not None:
        return _out(rng.uniform(np.asarray(minval), np.asarray(maxval), _shape(shape)), dt)
    return jax.random.uniform(_key(k), _shape(shape), dt, minval, maxval)


@op(name="random_binomial")
def _binomial(k, shape, p, dt):
    rng = _host(k)
    if rng is not None:
        return _out(rng.random(_shape(shape)) < np.asarray(p), dt)
    return jax.random.bernoulli(_key(k), p, _shape(shape)).astype(dt)


@op(name="truncated_normal")
def _truncated(k, shape, mean, stddev, dt):
    # Truncated at two standard deviations, as Keras' initializers expect.
    rng = _host(k)
    if rng is not None:
        z = rng.standard_normal(_shape(shape))
        bad = np.abs(z) > 2.0
        while bad.any():  # redraw the rejected entries
            z[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(z) > 2.0
        return _out(z * stddev + mean, dt)
    z = jax.random.truncated_normal(_key(k), -2.0, 2.0, _shape(shape), dt)
    return (z * stddev + mean).astype(dt)


def _dt(dtype, name):
    return config.check_dtype(config.floatx() if dtype is None else dtype, name)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of N(mean, stddev**2) with the given shape (new ones on every call)."""
    return _normal(RngKey(seed), shape, mean, stddev, _dt(dtype, "random_normal"))


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples of U[minval, maxval) with the given shape."""
    return _uniform(RngKey(seed), shape, minval, maxval, _dt(dtype, "random_uniform"))


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    """Bernoulli samples: 1 with probability ``p``, else 0."""
    return _binomial(RngKey(seed), shape, p, _dt(dtype, "random_binomial"))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """N(mean, stddev**2) samples redrawn beyond two standard deviations."""
    return _truncated(RngKey(seed), shape, mean, stddev, _dt(dtype, "truncated_normal"))


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    """A variable initialized with N(mean, scale**2) samples."""
    from .variables import variable
    dt = _dt(dtype, "random_normal_variable")
    return variable(random_normal(shape, mean, scale, dt, seed), dtype=dt, name=name)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    """A variable initialized with U[low, high) samples."""
    from .variables import variable
    dt = _dt(dtype, "random_uniform_variable")
    return variable(random_uniform(shape, low, high, dt, seed), dtype=dt, name=name)


@op(name="dropout")
def _dropout(k, x, level, noise_shape):
    x = jnp.asarray(x)
    keep = 1.0 - level
    shape = x.shape if noise_shape is None else tuple(
        x.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    mask = jax.random.bernoulli(_key(k), keep, shape)
    return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros((), x.dtype))


def dropout(x, level, noise_shape=None, seed=None):
    """Zeros each entry with probability ``level`` and scales the rest by 1/(1-level).

    ``noise_shape`` (broadcastable to x's shape, ``None`` entries meaning x's dim) shares
    one draw along its size-1 axes. The learning phase is not consulted.
    """
    if not 0.0 <= float(level) < 1.0:
        raise ValueError(f"dropout: level must be in [0, 1), got {level}.")
    if noise_shape is not None:
        noise_shape = tuple(noise_shape)
    if is_symbolic_input(x, noise_shape):
        return _dropout(RngKey(seed), x, float(level), noise_shape)
    sess = get_session()
    k = _derive(sess._state.key, sess.advance(), 0, seed)
    return _dropout(k, x, float(level), noise_shape)
