"""Explicit state: an immutable ``State`` pytree, pure updates, and the live session.

A :class:`~jkb.core.Variable` is only a handle; its value lives in a ``State`` under the
variable's uid. ``State`` also carries the PRNG seed key and a step counter that every
evaluation advances (see :mod:`jkb.random`). Updates are pure: they return a new ``State``
and never mutate their input, so they can run inside ``jax.jit``.

The :class:`Session` holds the live ``State``. Compiled functions donate the buffers of the
variables they update, so arrays leave the session only as NumPy copies (``get_value``) or
explicit copies (``Session.state``): nothing handed out is deleted by a later donation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .core import Tensor, Variable, _Tracer, host_array, reset_uids

__all__ = [
    "State", "Session", "update", "update_add", "update_sub", "moving_average_update",
    "get_session", "set_session", "clear_session", "get_value", "set_value",
    "batch_get_value", "batch_set_value",
]


@jax.tree_util.register_pytree_node_class
class State:
    """Immutable mapping ``uid -> array`` plus the random seed key and step counter."""

    __slots__ = ("values", "key", "step")

    def __init__(self, values: Mapping[int, jax.Array], key, step):
        self.values = dict(values)
        self.key = key
        self.step = step

    def __getitem__(self, var) -> jax.Array:
        return self.values[_uid(var)]

    def __contains__(self, var) -> bool:
        return _uid(var) in self.values

    def __len__(self):
        return len(self.values)

    def replace(self, new: Mapping[int, jax.Array], step=None) -> State:
        values = dict(self.values)
        values.update(new)
        return State(values, self.key, self.step if step is None else step)

    def tree_flatten(self):
        uids = tuple(sorted(self.values))
        return (tuple(self.values[u] for u in uids), self.key, self.step), uids

    @classmethod
    def tree_unflatten(cls, uids, children):
        values, key, step = children
        return cls(dict(zip(uids, values)), key, step)

    def __repr__(self):
        return f"State({len(self.values)} variables, step={self.step})"


def _uid(var) -> int:
    return var.uid if isinstance(var, Variable) else int(var)


def _checked(var: Variable, value, op: str) -> jax.Array:
    """``value`` as an array of ``var``'s dtype, after checking its shape."""
    value = jnp.asarray(value)
    if value.shape != tuple(var.shape):
        raise ValueError(f"{op}: cannot write a value of shape {value.shape} into variable "
                         f"{var.name} of shape {tuple(var.shape)}.")
    if value.dtype != var.dtype:
        if not (jnp.can_cast(value.dtype, var.dtype, casting="same_kind")
                or value.weak_type):
            raise TypeError(f"{op}: cannot write a {value.dtype} value into variable "
                            f"{var.name} of dtype {var.dtype.name}.")
        value = value.astype(var.dtype)
    return value


def update(state: State, x: Variable, new_x) -> State:
    """New state with ``x`` set to ``new_x`` (same shape; dtype cast within its kind)."""
    return state.replace({x.uid: _checked(x, new_x, "update")})


def update_add(state: State, x: Variable, increment) -> State:
    """New state with ``x`` set to ``x + increment``."""
    return update(state, x, state[x] + increment)


def update_sub(state: State, x: Variable, decrement) -> State:
    """New state with ``x`` set to ``x - decrement``."""
    return update(state, x, state[x] - decrement)


def moving_average_update(state: State, x: Variable, value, momentum) -> State:
    """New state with ``x`` set to ``x * momentum + value * (1 - momentum)`` (no debiasing)."""
    value = jnp.asarray(value).astype(x.dtype)
    return update(state, x, state[x] * momentum + value * (1 - momentum))


class Session:
    """Holds the live ``State`` and the per-session caches.

    The live ``State`` is the session's own and is never shared: ``state`` returns a copy
    (safe to keep: later donations cannot delete it) and assigning ``state`` stores a copy
    (the assigned arrays stay valid too).
    That lets a ``K.function`` call write its new values into it in place (no per-call
    copy of the whole mapping); ``State`` objects anyone else holds stay immutable.
    """

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.seed = seed
        self._state = State({}, jax.random.key_data(jax.random.key(seed)),
                            jnp.zeros((), jnp.uint32))
        self.variables: dict[int, Variable] = {}
        self.eval_cache: dict = {}
        self._salts = 0

    def next_salt(self) -> int:
        """A per-session counter that names random nodes reproducibly."""
        self._salts += 1
        return self._salts

    @property
    def state(self) -> State:
        return jax.tree_util.tree_map(jnp.copy, self._state)

    @state.setter
    def state(self, new: State):
        if set(new.values) - set(self.variables):
            raise ValueError("Session.state: the new state holds variables this session "
                             "does not know.")
        # A copy: the caller keeps ``new``, whose buffers later calls would otherwise donate.
        self._state = jax.tree_util.tree_map(jnp.copy, new)

    def add(self, var: Variable, value: jax.Array) -> None:
        self.variables[var.uid] = var
        self._state = self._state.replace({var.uid: value})

    def read(self, var: Variable) -> jax.Array:
        try:
            return self._state.values[var.uid]
        except KeyError:
            raise ValueError(f"Variable {var.name} does not belong to the current session "
                             "(was K.clear_session() called after it was created?).") from None

    def advance(self) -> jax.Array:
        """The current step (for eager random draws); moves the counter on by one."""
        step = self._state.step
        self._state = State(self._state.values, self._state.key, step + 1)
        return step

    def run(self, *args, **kwargs):
        raise NotImplementedError(
            "jkb sessions do not run graphs; use K.function or K.eval instead.")


_session: Session | None = None


def get_session() -> Session:
    """The live session (created on first use, seeded from NumPy's global RNG)."""
    global _session
    if _session is None:
        _session = Session()
    return _session


def set_session(session: Session) -> None:
    """Installs ``session`` as the live session."""
    global _session
    if not isinstance(session, Session):
        raise TypeError(f"set_session expects a jkb Session, got {type(session).__name__}.")
    _session = session


def clear_session() -> None:
    """Drops every variable, the compile caches, the uid counters and the learning phase."""
    global _session
    from .function import _reset_learning_phase
    _session = None
    reset_uids()
    _reset_learning_phase()


def get_value(x) -> np.ndarray:
    """The value of a variable (or any tensor) as a NumPy array (a copy)."""
    if x is None:
        raise ValueError("get_value: received None; expected a variable or a tensor.")
    if isinstance(x, Variable):
        v = get_session().read(x)
        return np.array(v.todense() if hasattr(v, "todense") else v)
    if isinstance(x, Tensor):
        from .function import eval as _eval
        return _eval(x)
    return np.array(host_array(x, "get_value"))


def batch_get_value(ops: Iterable) -> list[np.ndarray]:
    """``get_value`` of each element."""
    return [get_value(x) for x in ops]


def _host_value(x: Variable, value) -> jax.Array:
    if isinstance(value, Tensor):
        from .function import eval as _eval
        value = _eval(value)
    if isinstance(value, _Tracer):
        raise TypeError(f"set_value: got a traced value for {x.name} (inside jax.jit/grad/"
                        "vmap); the session only stores concrete arrays. Use "
                        "jkb.state.update on an explicit State inside transformations.")
    value = np.asarray(host_array(value, "set_value", f"value for {x.name}"))  # None raises
    if value.shape != tuple(x.shape):
        if value.size == 1 or value.ndim == 0:
            value = np.broadcast_to(value.reshape(()), x.shape)
        else:
            raise ValueError(f"set_value: value of shape {value.shape} does not fit variable "
                             f"{x.name} of shape {tuple(x.shape)}.")
    return jnp.array(value, dtype=x.dtype)  # a fresh buffer owned by the session


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
        sess.read(x)
        new[x.uid] = _host_value(x, value)
    if new:
        sess._state = sess._state.replace(new)
