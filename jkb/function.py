"""Compiling graphs: ``K.function``; the graph-building API (gradients, symbolic updates).
Evaluating nodes lives in :mod:`jkb.graph`, ``K.eval`` and ``get_value``/``set_value`` in
:mod:`jkb.values`, the learning phase and ``select`` in :mod:`jkb.phase`.

A :class:`Function` walks the graph once, at construction, and plans a pure function

    pure_flat(read, written, feeds, consts, rng, training) -> (outputs, new_written, new_step)

over flat tuples of arrays: ``read`` are the variables only read, ``written`` the update
targets (their buffers are donated), ``consts`` every concrete array captured by the graph
(arguments, never baked into the program), ``rng`` the PRNG ``(key, step)`` (``None`` for
programs without random ops, which then leave the step alone), and
``training`` the static learning phase. It is compiled once per input shapes with
``jax.jit``; a call only gathers arrays, runs it and writes the new arrays back.

``_is_metric`` outputs are evaluated on the post-update state by a child evaluator
(:class:`jkb.graph._Eval`).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import distribute
from . import phase as _phase
from . import platform as _platform
from .core import (
    Constant,
    Node,
    Placeholder,
    Tensor,
    Variable,
    host_array,
    op,
    owned_array,
    py_array,
)
from .graph import (
    Gradient,
    LearningPhase,
    Subgraph,
    Update,
    _Ctx,
    _Eval,
    _GradGroup,
    _topo,
    _Tracer,
    _walk_deps,
)
from .math import cast
from .sparse import to_bcoo
from .state import State, _check_rng, check_values, get_session

__all__ = [
    "Function", "function", "gradients", "stop_gradient", "update", "update_add",
    "update_sub", "moving_average_update", "Subgraph",
]


# ----------------------------------------------------------------------------- Function


def _updates_of(updates):
    """(variable, Update) pairs, last write to a variable wins."""
    out = {}
    for u in updates or ():
        if isinstance(u, Update):
            pair = (u.variable, u)
        elif isinstance(u, (tuple, list)) and len(u) == 2:
            pair = (u[0], Update(u[0], u[1]))
        else:
            raise TypeError(f"K.function: an update must be a K.update(...) op or a "
                            f"(variable, new_value) pair, got {u!r}.")
        out.pop(pair[0], None)
        out[pair[0]] = pair[1]
    return list(out.items())


class Function:
    """A compiled ``inputs -> outputs`` program that also applies ``updates``.

    Call it with a list of values (one per input, NumPy arrays, Python scalars or
    ``jax.Array``) or a dict keyed by placeholder. Returns a list of NumPy arrays.
    ``pure(state, inputs, training=0) -> (outputs, new_state)`` is the same program as a
    pure function, for use inside the user's own ``jit``/``grad``/``vmap``.
    """

    def __init__(self, inputs, outputs, updates=None, name=None, *, compiled=True,
                 distribution=None):
        self.name = name
        self.inputs = list(inputs or [])
        for x in self.inputs:
            if not isinstance(x, Placeholder):
                raise TypeError(f"K.function: inputs must be placeholders (K.placeholder or "
                                f"K.learning_phase()), got {x!r}.")
        self._single = not isinstance(outputs, (list, tuple))
        outs = [outputs] if self._single else list(outputs)
        self.outputs = [o if isinstance(o, Tensor) else Constant(jnp.asarray(o)) for o in outs]
        self.updates = _updates_of(updates)
        self._metric = [bool(getattr(o, "_is_metric", False)) for o in self.outputs]
        self._plan()
        self.trace_count = 0
        self._compiled = compiled
        self._early_copy = _platform.platform() != "cpu"  # see __call__
        # The compiled entry point takes and returns flat arrays: flattening nested
        # argument trees costs jit's dispatch a few microseconds per call, measurable on
        # small graphs. ``training`` is static; the written variables are donated.
        nr, nw = len(self._read), len(self._written)
        donate = tuple(range(1 + nr, 1 + nr + nw))
        dist = self._dist = distribution or distribute.get_distribution()
        if dist is None:
            self._jitted = jax.jit(self._flat_program, static_argnums=(0,),
                                   donate_argnums=donate)
            return
        # On a mesh: the state goes onto the distribution's shardings once, here (feeds on
        # each call); outputs come back whole on every process, new values keep their
        # variables' shardings (so donation reuses the buffers in place).
        distribute.place_state(get_session(), dist, self._read + self._written)
        self._consts = tuple(jax.device_put(self._consts, dist.replicated))
        self._fed_names = [p.name for p in self._fed]
        outs = ((dist.replicated,) * self._n_out
                + tuple(dist.variable_sharding(v) for v in self._written)
                + ((dist.replicated,) if self._uses_rng else ())
                + (dist.replicated,) * len(self._draw_ids))
        self._jitted = jax.jit(self._flat_program, static_argnums=(0,),
                               donate_argnums=donate, out_shardings=outs)

    # -- planning (once)
    def _plan(self):
        roots = self.outputs + [u for _, u in self.updates]
        nodes = _topo(roots)
        fed = set(self.inputs)
        missing = [n for n in nodes if isinstance(n, Placeholder) and n not in fed
                   and not isinstance(n, LearningPhase)]
        if missing:
            names = ", ".join(f"{p.name} {tuple(p.shape)}" for p in missing)
            raise ValueError(f"K.function: the outputs depend on placeholders that are not "
                             f"among the inputs: {names}.")
        variables = [n for n in nodes if isinstance(n, Variable)]
        self._written = [v for v, _ in self.updates]
        self._written_uids = tuple(v.uid for v in self._written)
        written = set(self._written)
        self._read = [v for v in variables if v not in written]
        consts = {}
        for n in nodes:
            if isinstance(n, Constant):
                consts[id(n)] = n.value
            elif isinstance(n, Node) and not n.foldable:  # folded values stay static
                for leaf in n.leaves:
                    if isinstance(leaf, (np.ndarray, jax.Array)):
                        consts[id(leaf)] = leaf
        self._const_ids = tuple(consts)
        with jax.ensure_compile_time_eval():  # concrete even if built inside a user's trace
            self._consts = tuple(jnp.asarray(v) for v in consts.values())
        self._feed_specs = [(p, p.dtype) for p in self.inputs]
        # The fed placeholders (the learning phase is a static argument, not a feed).
        self._fed = [p for p in self.inputs if not isinstance(p, LearningPhase)]
        # Random leaves: unseeded ones read the session's (key, step), which the call
        # advances; seeded ones each read and advance their own counter in State.draws.
        rng = [n for n in nodes if hasattr(n, "leaf_value")]
        self._uses_rng = any(getattr(n, "draw_id", None) is None for n in rng)
        self._draw_ids = tuple(n.draw_id for n in rng if getattr(n, "draw_id", None) is not None)
        self._get_draws = _getter(self._draw_ids)
        self._get_state = _getter(tuple(v.uid for v in self._read) + self._written_uids)
        self._n_out = len(self.outputs)
        # How each output leaves: a writable copy, and 0-d outputs as NumPy scalars
        # (np.float32, as a TF session returned them: Keras' logs and `round()` need that).
        self._to_host = tuple(_np_scalar if tuple(o.shape) == () else np.array
                              for o in self.outputs)
        self._step_at = self._n_out + len(self._written)  # where the new step is returned
        self._draws_at = self._step_at + (1 if self._uses_rng else 0)
        self._stateful = bool(self._written) or self._uses_rng or bool(self._draw_ids)
        # For the fast path of __call__: the dtypes of the fed inputs, in order; no fast
        # path with a sparse input or with the learning phase anywhere but last. Shapes
        # are left to jit's signature check (``_check_fed_shapes`` runs when it traces).
        lp_at = [i for i, p in enumerate(self.inputs) if isinstance(p, LearningPhase)]
        self._n_in = len(self.inputs)
        self._lp_last = lp_at == [self._n_in - 1]
        fast = not any(p.sparse for p in self.inputs) and (not lp_at or self._lp_last)
        self._fast_dtypes = tuple(np.dtype(p.dtype) for p in self._fed) if fast else None
        post = [v for v, _ in self.updates]
        self._post_fresh = None
        if any(self._metric) and post:
            ids = set(post)
            fresh = set()
            for n in nodes:
                if n in ids or any(d in fresh for d in _walk_deps(n)):
                    fresh.add(n)
            self._post_fresh = frozenset(fresh)

    # -- the pure program
    def _pure_flat(self, read, written, feeds, consts, rng, training=0, draws=()):
        self.trace_count += 1
        key, step = rng if rng is not None else (None, None)
        ctx = _Ctx(dict(zip(self._const_ids, consts)), key, step, training,
                   dict(zip(self._draw_ids, draws)))
        memo = dict(zip(self._read, read))
        memo.update(zip(self._written, written))
        memo.update(zip(self._fed, feeds))
        lp = _phase.learning_phase_node()
        memo[lp] = training
        ev = _Eval(memo, ctx)
        new = tuple(ev(u) for _, u in self.updates)  # updates first: grads reuse the forward
        outs = []
        post = None
        for o, is_metric in zip(self.outputs, self._metric):
            if is_metric and self._post_fresh is not None:
                if post is None:
                    post = _Eval(dict(zip(self._written, new)), ctx, parent=ev,
                                 fresh=self._post_fresh)
                outs.append(post(o))
            else:
                outs.append(ev(o))
        outs = tuple(jnp.asarray(o.todense() if hasattr(o, "todense") else o) for o in outs)
        new_draws = tuple(_plus_one(c) for c in draws)
        return outs, new, (None if step is None else _plus_one(step)), new_draws

    def _flat_program(self, training, *arrays):
        """``_pure_flat`` over one flat argument list, returning one flat tuple:
        ``(training, *read, *written, *feeds, *consts[, key, step], *draws)`` ->
        ``(*outputs, *new_written[, step], *new_draws)``; ``draws`` are the counters of
        the seeded random ops (``self._draw_ids``)."""
        nr, nw, nf, nc = (len(self._read), len(self._written), len(self._fed),
                          len(self._consts))
        read, written = arrays[:nr], arrays[nr:nr + nw]
        feeds = arrays[nr + nw:nr + nw + nf]
        self._check_fed_shapes(feeds)
        consts = arrays[nr + nw + nf:nr + nw + nf + nc]
        base = nr + nw + nf + nc
        rng = arrays[base:base + 2] if self._uses_rng else None
        draws = arrays[base + (2 if self._uses_rng else 0):]
        outs, new, step, new_draws = self._pure_flat(read, written, feeds, consts, rng,
                                                     training, draws)
        return (*outs, *new, *(() if step is None else (step,)), *new_draws)

    def _check_fed_shapes(self, feeds):
        # Runs when jit traces a new input signature (the fast path of __call__ leaves
        # shapes to jit's signature check), so a wrong shape fails before anything runs.
        for p, v in zip(self._fed, feeds):
            _check_feed_shape(p, tuple(np.shape(v)))

    def _feeds(self, values, host: bool):
        if isinstance(values, Mapping):
            values = [values[p] for p in self.inputs]
        elif values is None:
            values = []
        elif not isinstance(values, (list, tuple)):
            values = [values]
        if len(values) != len(self.inputs):
            raise ValueError(f"K.function{'' if not self.name else ' ' + self.name}: expected "
                             f"{len(self.inputs)} input values, got {len(values)}.")
        feeds, training = [], None
        for (p, dtype), v in zip(self._feed_specs, values):
            if host and isinstance(v, _Tracer):
                raise _traced_call_error(self)
            if isinstance(p, LearningPhase):
                training = int(v)
                continue
            feeds.append(_convert_feed(p, dtype, v, host))
        if training is None:
            lp = _phase.fixed
            training = lp if isinstance(lp, int) else 0
        return tuple(feeds), training

    def _fast_feeds(self, values):
        """``(feeds, training)`` when every value already is an ndarray of its
        placeholder's dtype and the phase, if it is the last input, a plain int (what
        Keras' loops pass); else None. Only identity checks: this work sits on the
        critical path between two dispatches (a ``zip`` here measured 0.1 us slower).
        """
        dtypes = self._fast_dtypes
        if (dtypes is None or (type(values) is not list and type(values) is not tuple)
                or len(values) != self._n_in):
            return None
        i = 0
        for dt in dtypes:
            v = values[i]
            if type(v) is not np.ndarray or v.dtype is not dt:
                return None
            i += 1
        if self._lp_last:
            training = values[-1]
            return (values[:-1], training) if type(training) is int else None
        lp = _phase.fixed
        return values, (lp if isinstance(lp, int) else 0)

    def __call__(self, inputs=None):
        fast = self._fast_feeds(inputs)
        feeds, training = fast if fast is not None else self._feeds(inputs, host=True)
        if self._dist is not None:
            feeds = self._dist.put_feeds(feeds, self._fed_names)
        st = get_session()._state
        try:
            arrays = self._get_state(st.values)
        except KeyError:
            gone = [v.name for v in self._read + self._written if v.uid not in st.values]
            raise ValueError(f"K.function: variables {gone} do not belong to the current "
                             "session (K.clear_session() was called after they were made)."
                             ) from None
        run = self._jitted if self._compiled else self._flat_program
        if self._draw_ids:
            rng = (st.key, st.step) if self._uses_rng else ()
            res = run(training, *arrays, *feeds, *self._consts, *rng, *_draws(self, st))
        elif self._uses_rng:
            res = run(training, *arrays, *feeds, *self._consts, st.key, st.step)
        else:
            res = run(training, *arrays, *feeds, *self._consts)
        if res and isinstance(res[0], _Tracer):  # called inside a user's trace
            raise _traced_call_error(self)
        no = self._n_out
        outs = res[:no]
        # Off the CPU, start the device-to-host copies at once, so they overlap the
        # bookkeeping below (leaving the wait to np.array measured 10-25% slower on small
        # graphs on a GPU). On the CPU the outputs already are in host memory: the early
        # copy is an extra copy plus Python, 10-20% of a small graph's call.
        if self._early_copy:
            for o in outs:
                o.copy_to_host_async()
        if self._stateful:  # the session's State is its own: advanced in place
            st.values.update(zip(self._written_uids, res[no:]))
            if self._uses_rng:
                st.step = res[self._step_at]
            if self._draw_ids:
                st.draws.update(zip(self._draw_ids, res[self._draws_at:]))
        # Copies, never views: an output may share its buffer with a variable that a
        # later call donates, and Keras-2 code may write into what it gets back.
        if self._single:
            return self._to_host[0](outs[0])
        return [f(o) for f, o in zip(self._to_host, outs)]

    def lower(self, inputs=None):
        """The program a call with ``inputs`` would run, lowered by ``jax.jit`` (nothing
        runs): ``.as_text()`` for its StableHLO, ``.compile().as_text()`` for the
        optimized (on a mesh: partitioned) HLO, ``.compile().cost_analysis()``."""
        feeds, training = self._feeds(inputs, host=True)
        if self._dist is not None:
            feeds = self._dist.put_feeds(feeds, self._fed_names)
        st = get_session()._state
        rng = (st.key, st.step) if self._uses_rng else ()
        return self._jitted.lower(training, *self._get_state(st.values), *feeds,
                                  *self._consts, *rng, *_draws(self, st))

    def pure(self, state: State, inputs=(), training: int = 0):
        """The same program as a pure function: ``(outputs, new_state)``.

        Reads nothing from the session and writes nothing to it, so it can run under
        ``jax.jit``, ``grad``, ``vmap``, ``lax.scan``... ``state`` is a :class:`State`
        (``K.get_session().state``, or one returned by an earlier ``pure`` call); every
        variable the program reads or updates must be in it with its shape, and values are
        cast to each variable's dtype within its kind (a float64 value never widens the
        outputs). ``inputs`` as for ``__call__``. ``training`` (the learning phase, 0 or 1)
        is static: it selects the program, so jit it as
        ``jax.jit(f.pure, static_argnames="training")``. ``new_state`` carries the updated
        variables and the advanced random state (unseeded step, seeded ops' counters).
        """
        if isinstance(training, _Tracer) or not isinstance(training, (int, np.integer)):
            raise TypeError("Function.pure: training must be a Python int (0 or 1): it is "
                            "static, since it selects the compiled program. Use "
                            "jax.jit(f.pure, static_argnames='training'); got "
                            f"{type(training).__name__}.")
        feeds, _ = self._feeds(inputs, host=False)
        read = check_values(state, self._read, "Function.pure")
        written = check_values(state, self._written, "Function.pure")
        rng = _check_rng(state.key, state.step, "Function.pure") if self._uses_rng else None
        draws = tuple(jnp.asarray(state.draws.get(d, 0)).astype(jnp.uint32)
                      for d in self._draw_ids)
        outs, new, step, new_draws = self._pure_flat(read, written, feeds, self._consts, rng,
                                                     int(training), draws)
        values = dict(state.values)
        values.update(zip(self._written_uids, new))
        all_draws = dict(state.draws)
        all_draws.update(zip(self._draw_ids, new_draws))
        new_state = State(values, state.key, state.step if step is None else step, all_draws)
        return (outs[0] if self._single else list(outs)), new_state


def _np_scalar(a) -> np.generic:
    return np.asarray(a)[()]


def _draws(fn, st):
    """The current counters of ``fn``'s seeded random ops (0 for ops the state lacks)."""
    try:
        return fn._get_draws(st.draws)
    except KeyError:
        return tuple(st.draws.get(d, np.zeros((), np.uint32)) for d in fn._draw_ids)


def _traced_call_error(fn) -> TypeError:
    name = f" {fn.name}" if fn.name else ""
    return TypeError(
        f"K.function{name} was called inside a JAX transformation (jax.jit, grad, vmap, "
        "scan...): a Function reads and writes the session's state, which cannot hold "
        "traced values. Use its pure form instead: outputs, new_state = "
        "f.pure(state, inputs, training) with state = K.get_session().state, e.g. "
        "jax.jit(f.pure, static_argnames='training').")


def _getter(uids):
    """``values -> (values[uid], ...)`` for a fixed tuple of uids, without a Python loop."""
    if not uids:
        return lambda values: ()
    if len(uids) == 1:
        (uid,) = uids
        return lambda values: (values[uid],)
    return operator.itemgetter(*uids)


def _convert_feed(p, dtype, v, host):
    if p.sparse:
        return to_bcoo(v, dtype)
    if isinstance(v, Tensor):
        raise TypeError(f"placeholder {p.name}: cannot feed a symbolic tensor ({v.name}); "
                        "feed a concrete value.")
    if host and not isinstance(v, jax.Array):
        a = v if type(v) is np.ndarray and v.dtype.kind in "biufc" else \
            host_array(v, f"placeholder {p.name}", "fed value")  # None/objects/ragged raise
        a = np.asarray(a)
        if a.dtype != dtype:
            a = a.astype(dtype)
    else:
        a = jnp.asarray(host_array(v, f"placeholder {p.name}", "fed value"))
        if a.dtype != dtype:
            a = a.astype(dtype)
    _check_feed_shape(p, tuple(a.shape))
    return a


def _check_feed_shape(p, got: tuple) -> None:
    """Raises unless ``got`` has ``p``'s rank and its known dims."""
    if len(got) != p.ndim or any(d is not None and d != s for d, s in zip(p.shape, got)):
        raise ValueError(f"placeholder {p.name}: expected a value of shape "
                         f"{tuple(p.shape)}, got {got}.")


def function(inputs, outputs, updates=None, name=None, distribution=None, **kwargs):
    """Compiles ``inputs -> outputs`` (plus ``updates``) into a callable ``Function``.

    ``distribution`` (a :mod:`jkb.distribute` policy; None: the current one, see
    ``jkb.distribute.set_distribution``) places the program on a device mesh.
    """
    if kwargs:
        raise ValueError(f"K.function: unexpected keyword arguments {sorted(kwargs)}; "
                         "jkb takes inputs, outputs, updates, name and distribution.")
    if distribution is not None and not isinstance(distribution, distribute.Distribution):
        raise TypeError(f"K.function: distribution must be a jkb.distribute.Distribution, "
                        f"got {type(distribution).__name__}.")
    for o in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if not isinstance(o, Tensor):
            host_array(o, "K.function", "output")  # None/objects raise
    return Function(inputs, outputs, updates=updates, name=name, distribution=distribution)


def _plus_one(count):
    """A uint32 counter + 1; a concrete one (an uncompiled ``K.eval``) on the host, so that
    nothing is compiled for it."""
    if isinstance(count, _Tracer):
        return jnp.asarray(count, jnp.uint32) + jnp.uint32(1)
    return owned_array((np.asarray(count, np.uint32).reshape(1) + np.uint32(1)).reshape(()))


# ----------------------------------------------------------------------------- gradients


def gradients(loss, variables):
    """Symbolic gradients of ``loss`` (summed if not scalar) with respect to each target.

    Targets may be variables, placeholders or inner tensors; all gradients of one call are
    computed by a single ``jax.vjp``. A target the loss does not depend on gets zeros.
    """
    single = not isinstance(variables, (list, tuple))
    wrt = [variables] if single else list(variables)
    if not isinstance(loss, Tensor):
        raise TypeError("K.gradients: the loss must be a symbolic jkb tensor; on concrete "
                        "arrays use jax.grad.")
    for w in wrt:
        if not isinstance(w, Tensor):
            raise TypeError(f"K.gradients: cannot differentiate with respect to {w!r}; "
                            "targets must be jkb tensors or variables.")
    group = _GradGroup(loss, wrt)
    grads = [Gradient(group, i) for i in range(len(wrt))]
    return grads[0] if single else grads


@op(name="stop_gradient")
def _stop_gradient(x):
    if isinstance(x, (list, tuple)) or x is None:
        x = py_array(x, "stop_gradient")  # Python data: TF's dtypes; None raises
    return jax.lax.stop_gradient(x)


def stop_gradient(variables):
    """``lax.stop_gradient`` of a tensor, or of each tensor of a list (returns a list)."""
    if isinstance(variables, (list, tuple)):
        return [_stop_gradient(v) for v in variables]
    return _stop_gradient(variables)


# ----------------------------------------------------------------------------- updates


def update(x, new_x):
    """Symbolic ``x <- new_x``: applied when a K.function holding it runs (or K.eval)."""
    return Update(x, new_x, "update")


def update_add(x, increment):
    """Symbolic ``x <- x + increment``."""
    return Update(x, x + increment, "update_add")


def update_sub(x, decrement):
    """Symbolic ``x <- x - decrement``."""
    return Update(x, x - decrement, "update_sub")


def moving_average_update(x, value, momentum):
    """Symbolic ``x <- x * momentum + value * (1 - momentum)`` (``value`` cast to x's dtype)."""
    return Update(x, x * momentum + cast(value, x.dtype) * (1 - momentum),
                  "moving_average_update")
