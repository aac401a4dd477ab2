"""Random ops: three ways to get randomness, each with its own state.

**Keras-style, unseeded** (``seed=None``): each random op is a graph node reading an
:class:`RngKey` leaf. When a program runs (``K.function`` or ``K.eval``) the key of a leaf
is ``fold_in(fold_in(session_key, step), salt)``: ``session_key`` comes from
``set_random_seed`` (else from NumPy's global RNG when the session starts), ``step`` is the
State's counter, which every call of a program with unseeded random ops advances, and
``salt`` names the node within the session. So every call draws fresh numbers and one
global seed reproduces a whole run.

**Keras-style, seeded** (``seed=<int>``): as on TF1 and Theano, the draws of a seeded op
depend only on the seed, the kind of op and how many times *that op* has drawn: its ``n``-th
draw uses ``fold_in(key(seed), n)``. Two ops made with the same seed and shape draw the same
values (``random_uniform_variable(shape, 0, 1, seed=3)`` twice gives equal variables), a
seeded op's values do not depend on what else ran before, and each further run of one op
draws the next values of its own sequence. The per-op counters are state: they live in
``State.draws`` (keyed by the op's salt), advance inside compiled calls and are saved with
the State. An op on plain arrays (``K.dropout(x, 0.5, seed=3)`` with ``x`` an array) is a
new op each call, so it draws its first values: the same mask every time.

**Explicit JAX key** (``seed=jax.random.key(0)``, raw key data such as
``jax.random.PRNGKey(0)``, or a traced integer): the JAX way. The call returns a
``jax.Array`` drawn with JAX's generators from that key, reads nothing from the session and
writes nothing to it, so it is safe under ``jit``/``grad``/``vmap``/``scan``. Split or fold
the key yourself for fresh values.

Under a user's trace (``jax.jit`` and friends), an unkeyed Keras-style call on plain values
(``K.random_normal((2,))``, ``K.dropout(x, 0.5)`` with ``x`` a tracer) raises a
``TypeError`` that asks for ``seed=key``: drawing from the session there would either write
a traced step into the session or silently reuse one draw on every call of the compiled
function. (``K.dropout(x, level, seed=<int>)`` on plain values is allowed anywhere: it reads
no state.)

Unseeded draws made eagerly, outside any trace (what initializers do once per weight), use
NumPy's PCG64 seeded by the node's JAX key: reproducible, and no XLA compilation per weight
shape. Compiled programs, seeded ops (so that an op's ``n``-th draw is the same whether it
is evaluated eagerly or compiled) and keyed calls use JAX's generators. Inside a trace, an
int seed on plain values (concrete or traced) makes the op's first draw and returns an
array, as on plain arrays outside a trace.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import core as _jcore

from . import _threefry, config
from .core import Tensor, _Tracer, is_symbolic_input, op, owned_array
from .state import Session, get_session

__all__ = [
    "random_normal", "random_uniform", "random_binomial", "truncated_normal", "dropout",
    "set_random_seed",
]

# Abstractly: importing jkb must start no JAX backend (jax.distributed.initialize first).
_KEY_SHAPE = jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))).shape


class RngKey(Tensor):
    """A leaf that evaluates to the raw key data of one random node for one call.

    ``draw_id`` is ``None`` for unseeded nodes (they use the session key and step);
    seeded nodes count their draws in ``State.draws[draw_id]``.
    """

    def __init__(self, seed=None):
        super().__init__(_KEY_SHAPE, np.uint32)
        self.seed = None if seed is None else int(seed)
        sess = get_session()
        self.salt = sess.next_salt()  # per session, so a seed replays a run
        self.draw_id = None if self.seed is None else sess.new_draw_counter(self.salt)

    def leaf_value(self, ctx):
        if self.seed is None:
            return _derive(ctx.key, ctx.step, self.salt)
        return _seeded(self.seed, ctx.draws[self.draw_id])


def _derive(key_data, step, salt):
    if _threefry.usable() and not isinstance(key_data, _Tracer) and not isinstance(
            step, _Tracer):  # an eager draw: the same bits, computed without compiling
        return _threefry.fold_in(_threefry.fold_in(key_data, step), salt)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(key_data), step),
                             salt)
    return jax.random.key_data(key)


def _seeded(seed, count):
    """Key data of the ``count``-th draw of an op seeded with ``seed``."""
    return jax.random.key_data(jax.random.fold_in(jax.random.key(seed), count))


def _first_draw_key(seed):
    """The key of the first draw of an op seeded with ``seed`` (an int or traced int): a
    seeded call on plain values is a new op each time, so it makes exactly that draw."""
    return jax.random.fold_in(jax.random.key(seed), 0)


def set_random_seed(seed: int) -> None:
    """Restarts the session's unseeded random stream from ``seed`` (variables are kept;
    seeded ops keep their own sequences)."""
    if isinstance(seed, _Tracer):
        raise TypeError("set_random_seed: got a traced seed (inside jax.jit/grad/vmap); the "
                        "session only stores concrete values. Pass a JAX key as seed= to "
                        "the random ops instead.")
    sess = get_session()
    fresh = Session(int(seed))
    sess._state.key, sess._state.step = fresh._state.key, fresh._state.step
    sess.seed = int(seed)


# ----------------------------------------------------------------------------- seeds


def _is_key_dtype(dt) -> bool:
    return jnp.issubdtype(dt, jax.dtypes.prng_key)


def _as_key(seed, name):
    """A JAX key for ``seed`` when it is one (typed key, raw uint32 key data, traced
    integer), else ``None`` (``None`` or a concrete integer: a Keras-style seed)."""
    if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return None
    dt = getattr(seed, "dtype", None)
    if dt is not None and _is_key_dtype(dt):
        if np.shape(seed) != ():
            raise TypeError(f"{name}: seed= must be a single JAX key, got a key array of "
                            f"shape {np.shape(seed)} (use jax.vmap over the keys).")
        return seed
    if dt is not None and np.shape(seed) == tuple(_KEY_SHAPE) and np.dtype(dt) == np.uint32:
        return jax.random.wrap_key_data(seed)
    if dt is not None and np.shape(seed) == () and jnp.issubdtype(dt, jnp.integer):
        if isinstance(seed, _Tracer):  # traced: the first draw of an op with that seed
            return _first_draw_key(seed)
        return None
    raise TypeError(f"{name}: seed= must be None, an integer, or a JAX PRNG key "
                    f"(jax.random.key(...), or raw uint32 key data of shape "
                    f"{tuple(_KEY_SHAPE)}); got {type(seed).__name__} "
                    f"{getattr(seed, 'dtype', '')} {np.shape(seed)}.")


def _no_session_in_trace(name):
    if not _jcore.trace_state_clean():
        raise TypeError(
            f"{name} without an explicit key inside a JAX transformation (jax.jit, grad, "
            f"vmap, scan, cond, checkpoint): pass a JAX key, e.g. "
            f"{name}(..., seed=jax.random.key(0)), and split it for fresh values. (A "
            f"Keras-style draw from the session would happen once, at trace time, and would "
            f"write a traced value into the session.) Keras-style graphs run through "
            f"K.function; Function.pure takes the random state explicitly.")


# ----------------------------------------------------------------------------- samplers


def _shape(shape):
    return tuple(int(d) for d in np.asarray(shape).reshape(-1)) if not isinstance(
        shape, (tuple, list)) else tuple(int(d) for d in shape)


def _key(k):
    return k if _is_key_dtype(k.dtype) else jax.random.wrap_key_data(k)


def _host(k, host):
    """A NumPy generator for a draw made eagerly (outside any trace), else None.

    Eager draws are what initializers make, once per weight: drawing them on the host with
    PCG64 seeded by the node's JAX key keeps them reproducible and costs no XLA
    compilation per weight shape (0.2-0.5 s each on CPU); inside compiled programs, and
    for explicit keys, the JAX generators are used.
    """
    if not host or isinstance(k, _Tracer) or not _jcore.trace_state_clean():
        return None
    return np.random.Generator(np.random.PCG64(np.asarray(k, np.uint32).tolist()))


def _out(a, dt):
    return owned_array(a, dt)


@op(name="random_normal")
def _normal(k, shape, mean, stddev, dt, host=True):
    rng = _host(k, host)
    if rng is not None:
        return _out(rng.standard_normal(_shape(shape)) * stddev + mean, dt)
    return (jax.random.normal(_key(k), _shape(shape), dt) * stddev + mean).astype(dt)


@op(name="random_uniform")
def _uniform(k, shape, minval, maxval, dt, host=True):
    rng = _host(k, host)
    integer = np.dtype(dt).kind in "iu"
    if rng is not None:
        if integer:
            return _out(rng.integers(np.asarray(minval), np.asarray(maxval), _shape(shape)),
                        dt)
        return _out(rng.uniform(np.asarray(minval), np.asarray(maxval), _shape(shape)), dt)
    if integer:
        return jax.random.randint(_key(k), _shape(shape), minval, maxval, dt)
    return jax.random.uniform(_key(k), _shape(shape), dt, minval, maxval)


@op(name="random_binomial")
def _binomial(k, shape, p, dt, host=True):
    rng = _host(k, host)
    if rng is not None:
        return _out(rng.random(_shape(shape)) < np.asarray(p), dt)
    return jax.random.bernoulli(_key(k), p, _shape(shape)).astype(dt)


@op(name="truncated_normal")
def _truncated(k, shape, mean, stddev, dt, host=True):
    # Truncated at two standard deviations, as Keras' initializers expect.
    rng = _host(k, host)
    if rng is not None:
        z = rng.standard_normal(_shape(shape))
        bad = np.abs(z) > 2.0
        while bad.any():  # redraw the rejected entries
            z[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(z) > 2.0
        return _out(z * stddev + mean, dt)
    z = jax.random.truncated_normal(_key(k), -2.0, 2.0, _shape(shape), dt)
    return (z * stddev + mean).astype(dt)


def _dt(dtype, name, kinds="f"):
    dt = config.check_dtype(config.floatx() if dtype is None else dtype, name)
    if dt.kind not in kinds:
        want = "a float dtype" if kinds == "f" else "a float or integer dtype"
        raise TypeError(f"{name}: dtype must be {want}, got {dt.name}.")
    return dt


def _draw(sampler, name, seed, shape, *args):
    """The three paths of a random op (see the module docstring)."""
    key = _as_key(seed, name)
    symbolic = is_symbolic_input(shape, *args)
    if key is None and seed is not None and not symbolic and not _jcore.trace_state_clean():
        # Inside a trace an int-seeded op cannot be a graph node: it makes its first draw.
        key = _first_draw_key(int(seed))
    if key is not None:
        if symbolic and (isinstance(key, _Tracer) or not _jcore.trace_state_clean()):
            raise TypeError(f"{name}: a traced key cannot enter a symbolic graph; pass a "
                            "concrete key or concrete arguments.")
        return sampler(key, shape, *args, False)
    if not symbolic:
        _no_session_in_trace(name)
    # Seeded ops always use JAX's generators, so an op's n-th draw is the same in eager
    # evaluation and in compiled programs; unseeded eager draws may use the host's.
    return sampler(RngKey(seed), shape, *args, seed is None)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of N(mean, stddev**2) with the given shape.

    ``seed``: ``None`` (fresh draws on every run, from the session), an int (the op's own
    reproducible sequence) or a JAX key (returns a ``jax.Array``; see the module docstring).
    """
    return _draw(_normal, "random_normal", seed, shape, mean, stddev,
                 _dt(dtype, "random_normal"))


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples of U[minval, maxval) with the given shape.

    An integer ``dtype`` draws integers uniformly in ``[minval, maxval)``, as TF does.
    ``seed`` as in :func:`random_normal`.
    """
    return _draw(_uniform, "random_uniform", seed, shape, minval, maxval,
                 _dt(dtype, "random_uniform", "fiu"))


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    """Bernoulli samples: 1 with probability ``p``, else 0. ``seed`` as in random_normal."""
    return _draw(_binomial, "random_binomial", seed, shape, p,
                 _dt(dtype, "random_binomial", "fiub"))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """N(mean, stddev**2) samples redrawn beyond two standard deviations."""
    return _draw(_truncated, "truncated_normal", seed, shape, mean, stddev,
                 _dt(dtype, "truncated_normal"))


# ----------------------------------------------------------------------------- dropout


@functools.partial(jax.jit, static_argnums=(2, 3))
def _dropout_jit(key, x, level, noise_shape):
    keep = 1.0 - level
    shape = x.shape if noise_shape is None else tuple(
        x.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    mask = jax.random.bernoulli(key, keep, shape)
    return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros((), x.dtype))


@op(name="dropout")
def _dropout(k, x, level, noise_shape):
    return _dropout_jit(_key(k), jnp.asarray(x), level, noise_shape)


def dropout(x, level, noise_shape=None, seed=None):
    """Zeros each entry with probability ``level`` and scales the rest by 1/(1-level).

    ``noise_shape`` (broadcastable to x's shape, ``None`` entries meaning x's dim) shares
    one draw along its size-1 axes. The learning phase is not consulted.

    ``seed``: with a JAX key, the mask comes from that key (traceable, no session state).
    On a symbolic ``x``, ``None`` draws a fresh mask on every run and an int follows the
    op's own sequence. On a plain array, an int gives the same mask on every call (each
    call is a new op drawing once); ``None`` draws from the session and advances its step,
    which is refused inside a JAX transformation (pass a key there).
    """
    if not 0.0 <= float(level) < 1.0:
        raise ValueError(f"dropout: level must be in [0, 1), got {level}.")
    if noise_shape is not None:
        noise_shape = tuple(noise_shape)
    key = _as_key(seed, "dropout")
    symbolic = is_symbolic_input(x, noise_shape)
    if key is not None:
        if symbolic and (isinstance(key, _Tracer) or not _jcore.trace_state_clean()):
            raise TypeError("dropout: a traced key cannot enter a symbolic graph.")
        return _dropout(key, x, float(level), noise_shape)
    if symbolic:
        return _dropout(RngKey(seed), x, float(level), noise_shape)
    if seed is not None:
        return _dropout(_first_draw_key(int(seed)), x, float(level), noise_shape)
    _no_session_in_trace("dropout")
    sess = get_session()
    k = _derive(sess._state.key, sess.advance(), 0)
    return _dropout(k, x, float(level), noise_shape)
