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

import collections
import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import DictKey, GetAttrKey

from . import _threefry
from . import phase as _phase
from .core import Variable, _Tracer, owned_array, reset_uids

__all__ = [
    "State", "Session", "update", "update_add", "update_sub", "moving_average_update",
    "check_values", "get_session", "set_session", "clear_session",
]


class State:
    """Immutable mapping ``variable -> array`` plus the random state; a pytree.

    Fields (all pytree leaves, in this order when flattened):

    - ``values``: ``{uid: array}``, one entry per variable;
    - ``key``: raw PRNG key data (``uint32``) of the session's unseeded random stream;
    - ``step``: ``uint32`` counter of the unseeded stream (advanced by every call of a
      program with unseeded random ops);
    - ``draws``: ``{draw_id: uint32}``, how many times each *seeded* random op has drawn
      (see :mod:`jkb.random`); a missing entry counts as 0.

    Index it with a variable, its uid or its label (``state[w]``, ``state["dense/kernel:0"]``).
    A variable's *label* is its name when no other variable of the state has that name,
    else ``"name#uid"``; labels key :meth:`trainable`, :meth:`replace` and the pytree key
    paths (``jax.tree_util.tree_flatten_with_path(state)`` shows ``['dense/kernel:0']``,
    ``.key``, ``.step``, ``['draws/3']``), so checkpoint tools see names.

    For gradients with respect to variables (the pure form with ``jax.grad`` and optax)::

        params = state.trainable()                  # {label: float array}, trainable only
        loss = lambda p: f.pure(state.replace(p), inputs)[0]
        state = state.replace(new_params)           # checked, cast to each variable's dtype
    """

    __slots__ = ("values", "key", "step", "draws")

    def __init__(self, values: Mapping, key, step, draws: Mapping | None = None):
        self.values = {_uid(k): v for k, v in values.items()}
        self.key = key
        self.step = step
        self.draws = dict(draws or {})

    # -- mapping
    def __getitem__(self, var) -> jax.Array:
        return self.values[self._resolve(var, "State")]

    def __contains__(self, var) -> bool:
        try:
            return self._resolve(var, "State") in self.values
        except (KeyError, ValueError):
            return False

    def __len__(self):
        return len(self.values)

    def variable(self, uid: int) -> Variable | None:
        """The variable handle of ``uid`` (names, shapes, dtypes, ``trainable``), from the
        live session's registry; ``None`` when no live variable has that uid."""
        return None if _session is None else _session.variables.get(uid)

    def labels(self) -> dict[int, str]:
        """``{uid: label}``: the variable's name where unique in this state, else
        ``name#uid`` (``#uid`` alone for a variable no session knows)."""
        names = {}
        for u in self.values:
            v = self.variable(u)
            names[u] = v.name if v is not None else None
        count = collections.Counter(names.values())
        return {u: (n if n is not None and count[n] == 1 else f"{n or ''}#{u}")
                for u, n in names.items()}

    def _resolve(self, var, op: str, by_label: dict | None = None) -> int:
        """The uid of a variable, uid or label; ``by_label`` (``{label: uid}``) saves
        rebuilding the labels when resolving many keys."""
        if isinstance(var, Variable):
            return var.uid
        if isinstance(var, str):
            if by_label is None:
                by_label = {lab: u for u, lab in self.labels().items()}
            for name in (var, var + ":0"):  # TF-style names end in ":0"; either works
                if name in by_label:
                    return by_label[name]
            raise KeyError(f"{op}: no variable labelled {var!r} in this state (labels: "
                           f"{sorted(by_label)[:20]}).")
        return int(var)

    # -- the documented API
    def trainable(self) -> dict[str, jax.Array]:
        """``{label: value}`` of the trainable float variables (what ``jax.grad`` and
        optax take as parameters). Non-trainable, integer and bool variables are left out;
        give the result (or an update of it) back to :meth:`replace`."""
        out = {}
        labels = self.labels()
        for u, value in self.values.items():
            v = self.variable(u)
            if v is None or not getattr(v, "trainable", True):
                continue
            if not jnp.issubdtype(jnp.result_type(value), jnp.floating):
                continue
            out[labels[u]] = value
        return out

    def replace(self, new: Mapping | None = None, *, key=None, step=None,
                draws: Mapping | None = None) -> State:
        """A new State with the given variable values (keyed by label, variable or uid),
        and optionally a new ``key``/``step``/``draws``; ``self`` is unchanged.

        Each value must have its variable's shape; it is cast to the variable's dtype
        (within its kind: float to float, int to int), so a float64 value from the user's
        own code never widens what the variable computes. Traceable.
        """
        values = dict(self.values)
        new = dict(new or {})
        by_label = ({lab: u for u, lab in self.labels().items()}
                    if any(isinstance(k, str) for k in new) else {})
        for k, value in new.items():
            u = self._resolve(k, "State.replace", by_label)
            if u not in values:
                raise KeyError(f"State.replace: variable {_describe(self, u)} is not in "
                               "this state.")
            var = self.variable(u)
            values[u] = _checked(var, value, "State.replace") if var is not None else value
        d = dict(self.draws)
        if draws:
            d.update(draws)
        return State(values, self.key if key is None else key,
                     self.step if step is None else step, d)

    # -- pytree
    def tree_flatten(self):
        uids = tuple(sorted(self.values))
        dids = tuple(sorted(self.draws))
        children = (*(self.values[u] for u in uids), self.key, self.step,
                    *(self.draws[d] for d in dids))
        return children, (uids, dids)

    def tree_flatten_with_keys(self):
        children, aux = self.tree_flatten()
        uids, dids = aux
        labels = self.labels()
        keys = ([DictKey(labels[u]) for u in uids] + [GetAttrKey("key"), GetAttrKey("step")]
                + [DictKey(f"draws/{d}") for d in dids])
        return tuple(zip(keys, children)), aux

    @classmethod
    def tree_unflatten(cls, aux, children):
        uids, dids = aux
        st = object.__new__(cls)  # leaves may be anything here (sentinels, specs)
        n = len(uids)
        st.values = dict(zip(uids, children[:n]))
        st.key, st.step = children[n], children[n + 1]
        st.draws = dict(zip(dids, children[n + 2:]))
        return st

    def __repr__(self):
        return (f"State({len(self.values)} variables, {len(self.draws)} seeded random ops, "
                f"step={self.step})")


jax.tree_util.register_pytree_with_keys(
    State, State.tree_flatten_with_keys, State.tree_unflatten, State.tree_flatten)


def _uid(var) -> int:
    return var.uid if isinstance(var, Variable) else int(var)


def _describe(state: State, uid: int) -> str:
    v = state.variable(uid)
    return f"{v.name} (uid {uid})" if v is not None else f"uid {uid}"


@functools.cache
def _key_shape() -> tuple:
    return tuple(jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))).shape)


def _check_rng(key, step, where: str):
    """``(key, step)`` as ``uint32`` arrays of the right shapes, or a clear error."""
    if key is not None and jnp.issubdtype(getattr(key, "dtype", np.float32),
                                          jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    kshape = _key_shape()
    if key is None or tuple(np.shape(key)) != tuple(kshape):
        raise ValueError(f"{where}: the state's key must be raw PRNG key data of shape "
                         f"{tuple(kshape)}, got {None if key is None else np.shape(key)}.")
    if np.shape(step) != ():
        raise ValueError(f"{where}: the state's step must be a scalar, got shape "
                         f"{np.shape(step)}.")
    return jnp.asarray(key).astype(jnp.uint32), jnp.asarray(step).astype(jnp.uint32)


def check_values(state: State, variables, where: str) -> tuple:
    """The values of ``variables`` in ``state``, each checked against its variable: every
    one present (the missing ones named), shapes equal, dtypes cast within their kind."""
    if not isinstance(state, State):
        raise TypeError(f"{where}: expected a jkb State (e.g. K.get_session().state), got "
                        f"{type(state).__name__}.")
    missing = [v.name for v in variables if v.uid not in state.values]
    if missing:
        raise ValueError(f"{where}: the state lacks variables {missing} (take the state "
                         "from K.get_session().state after creating them).")
    return tuple(_checked(v, state.values[v.uid], where) for v in variables)


def _checked(var: Variable, value, op: str) -> jax.Array:
    """``value`` as an array of ``var``'s dtype, after checking its shape."""
    if hasattr(value, "todense") and not isinstance(value, jax.Array):  # sparse: shape only
        if tuple(value.shape) != tuple(var.shape):
            raise ValueError(f"{op}: a sparse value of shape {tuple(value.shape)} does not "
                             f"fit variable {var.name} of shape {tuple(var.shape)}.")
        return value
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
    if x.uid not in state.values:
        raise ValueError(f"update: variable {x.name} is not in this state.")
    values = dict(state.values)
    values[x.uid] = _checked(x, new_x, "update")
    return State(values, state.key, state.step, state.draws)


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
    Nothing running under a user's JAX trace writes into it: every array stored here is
    concrete (creation and assignment happen under ``jax.ensure_compile_time_eval``, and
    traced values are refused with a clear error).
    """

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.seed = seed
        self.variables: dict[int, Variable] = {}
        key = _threefry.seed_key(seed) if _threefry.usable() else None
        if key is None:
            with jax.ensure_compile_time_eval():  # concrete even when made inside a trace
                key = jax.random.key_data(jax.random.key(seed))
        # device_put, not jnp: nothing to compile when a script starts
        self._state = State({}, owned_array(key), owned_array(np.zeros((), np.uint32)), {})
        self.eval_cache: dict = {}
        self._salts = 0

    def next_salt(self) -> int:
        """A per-session counter that names random nodes reproducibly."""
        self._salts += 1
        return self._salts

    def new_draw_counter(self, draw_id: int) -> int:
        """Starts the draw counter of a seeded random op at 0 (``State.draws``)."""
        self._state.draws[draw_id] = np.zeros((), np.uint32)
        return draw_id

    @property
    def state(self) -> State:
        return jax.tree_util.tree_map(jnp.copy, self._state)

    @state.setter
    def state(self, new: State):
        if not isinstance(new, State):
            raise TypeError(f"Session.state: expected a jkb State, got {type(new).__name__}.")
        if any(isinstance(a, _Tracer) for a in jax.tree_util.tree_leaves(new)):
            raise TypeError("Session.state: got traced values (inside jax.jit/grad/vmap); "
                            "the session only stores concrete arrays. Assign the state "
                            "returned by your jitted function, outside it.")
        unknown = [_describe(new, u) for u in new.values if u not in self.variables]
        if unknown:
            raise ValueError(f"Session.state: the new state holds variables this session "
                             f"does not know: {unknown}.")
        missing = [v.name for u, v in self.variables.items() if u not in new.values]
        if missing:
            raise ValueError(f"Session.state: the new state lacks variables {missing}.")
        with jax.ensure_compile_time_eval():
            # Checked and copied: the caller keeps ``new``, whose buffers later calls would
            # otherwise donate; a value of the wrong shape or kind is refused here, not at
            # the next call.
            values = {u: _copy(_checked(self.variables[u], a, "Session.state"))
                      for u, a in new.values.items()}
            key, step = _check_rng(new.key, new.step, "Session.state")
            draws = {d: jnp.asarray(c).astype(jnp.uint32) for d, c in new.draws.items()}
            for d, c in self._state.draws.items():  # ops made after ``new`` was taken
                draws.setdefault(d, c)
            self._state = State(values, jnp.copy(key), jnp.copy(step), draws)

    def add(self, var: Variable, value: jax.Array) -> None:
        if isinstance(value, _Tracer):
            raise TypeError(f"variable {var.name}: got a traced value; the session only "
                            "stores concrete arrays.")
        self.variables[var.uid] = var
        self._state.values[var.uid] = value  # the live state is the session's own

    def read(self, var: Variable) -> jax.Array:
        try:
            return self._state.values[var.uid]
        except KeyError:
            raise ValueError(f"Variable {var.name} does not belong to the current session "
                             "(was K.clear_session() called after it was created?).") from None

    def advance(self) -> jax.Array:
        """The current step (for eager random draws); moves the counter on by one.

        Only for draws made outside any trace: the new step must be concrete.
        """
        step = self._state.step
        self._state.step = step + np.uint32(1)
        return step

    def run(self, *args, **kwargs):
        raise NotImplementedError(
            "jkb sessions do not run graphs; use K.function or K.eval instead.")


def _copy(a):
    return a if hasattr(a, "todense") and not isinstance(a, jax.Array) else jnp.copy(a)


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
    _session = None
    reset_uids()
    _phase.reset()
