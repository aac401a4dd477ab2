"""Control flow: ``switch``, ``rnn``, ``map_fn``, the folds and ``print_tensor``.

Loops run as ``lax.scan``. Their bodies are user functions written with K ops, which in
Keras close over symbolic tensors (a layer's kernel, dropout masks, constants). On
concrete values a body is called directly inside the scan; as soon as anything involved
is symbolic, the body is recorded once as a :class:`~jkb.function.Subgraph` and the whole
loop becomes one graph node whose inputs are the loop's operands plus the subgraph's
captures, so ``K.function`` evaluates those once and ``K.gradients`` reaches them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import config
from . import platform as _platform
from .core import (
    MixedTraceError,
    Tensor,
    _Tracer,
    asarray,
    is_symbolic_input,
    op,
    operands,
    py_array,
)
from .graph import Subgraph
from .phase import select

__all__ = ["switch", "rnn", "map_fn", "foldl", "foldr", "print_tensor"]


class _Spec:
    """Shape (``None`` dims allowed) and dtype of a subgraph argument."""

    def __init__(self, shape, dtype):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)


class _NeedsGraph(Exception):
    """A body called on concrete values returned symbolic tensors (it captured some)."""


def _is_tensor(x):
    return isinstance(x, Tensor)


def _has_tensor_leaf(tree) -> bool:
    return any(isinstance(v, Tensor)
               for v in jax.tree_util.tree_leaves(tree, is_leaf=_is_tensor))


def _shape_of(x):
    """Static shape of a tensor or array-like (``None`` for unknown dims)."""
    if isinstance(x, Tensor):
        return tuple(x.shape)
    return tuple(np.shape(x))


def _dtype_of(x) -> np.dtype:
    if isinstance(x, Tensor):
        return x.dtype
    return np.dtype(jnp.result_type(x))


def _as_value(x):
    """Tensors and arrays as they are; Python data (lists, numbers) as NumPy arrays."""
    if isinstance(x, (Tensor, _Tracer, np.ndarray, jax.Array, np.generic)):
        return x
    return np.asarray(x)


def _spec_of(x, drop_first=False):
    shape = _shape_of(x)
    return _Spec(shape[1:] if drop_first else shape, _dtype_of(x))


class _Body:
    """A loop body as a static op argument: a plain function or a recorded subgraph.

    ``call(captures, *args)`` runs it on arrays. A plain function that hands back symbolic
    tensors raises :class:`_NeedsGraph` so the caller can record it as a subgraph.
    """

    def __init__(self, fn=None, graph: Subgraph | None = None):
        self.fn, self.graph = fn, graph

    def call(self, captures, *args):
        with _platform.loop_body():
            if self.graph is not None:
                return self.graph.evaluate(captures, *args)
            out = self.fn(*args)
        if _has_tensor_leaf(out):
            raise _NeedsGraph()
        return out


# ----------------------------------------------------------------------------- switch


def _ndim(x) -> int:
    return len(_shape_of(x))


@op(name="switch")
def _identity(x):
    return jnp.array(x, copy=True)


@op(name="switch")
def _switch_elementwise(c, a, b):
    c = asarray(c).astype(bool)
    rank = max(np.ndim(a), np.ndim(b))
    c = c.reshape(c.shape + (1,) * (rank - c.ndim))  # trailing axes: row selection
    return jnp.where(c, a, b)


def _thunk(e):
    return (lambda: asarray(e())) if callable(e) else (lambda: asarray(e))


@operands("condition", "then_expression", "else_expression")
def switch(condition, then_expression, else_expression):
    """``then_expression`` where ``condition`` holds, else ``else_expression``.

    Callable branches are called first. A scalar condition picks a whole branch (a
    symbolic one picks at run time; a concrete one returns only that branch). A tensor
    condition selects elementwise; when its rank is lower than the branches' it gets
    trailing size-1 axes, so a ``(batch,)`` condition selects whole rows.
    """
    if not isinstance(condition, (Tensor, _Tracer, np.ndarray, jax.Array, np.generic)):
        condition = py_array(condition, "switch")  # None/objects raise; bools, lists ok
    cond_ndim = _ndim(condition)
    if cond_ndim == 0:
        if isinstance(condition, Tensor):
            a = then_expression() if callable(then_expression) else then_expression
            b = else_expression() if callable(else_expression) else else_expression
            return select(condition, a, b)
        if isinstance(condition, _Tracer):
            # Inside a user's jit: lax.cond runs only the taken callable branch.
            c = asarray(condition).astype(bool)
            fa, fb = _thunk(then_expression), _thunk(else_expression)
            try:
                return lax.cond(c, lambda _: fa(), lambda _: fb(), None)
            except TypeError:  # branches of different shapes: broadcast them
                return jnp.where(c, fa(), fb())
        chosen = then_expression if bool(np.asarray(condition)) else else_expression
        chosen = chosen() if callable(chosen) else chosen
        return _identity(chosen)
    a = then_expression() if callable(then_expression) else then_expression
    b = else_expression() if callable(else_expression) else else_expression
    expr_ndim = max(_ndim(a), _ndim(b))
    if cond_ndim > expr_ndim:
        raise ValueError(
            f"switch: the rank of `condition` must not exceed the rank of the branches. "
            f"Received: condition.shape={_shape_of(condition)}, "
            f"then_expression.shape={_shape_of(a)}, else_expression.shape={_shape_of(b)}.")
    return _switch_elementwise(condition, a, b)


# ----------------------------------------------------------------------------- rnn


def _expand_to(m, target_ndim):
    return m.reshape(m.shape + (1,) * (target_ndim - m.ndim))


def _check_states(new_states, states):
    if len(new_states) != len(states):
        raise ValueError(f"rnn: the step function returned {len(new_states)} states but "
                         f"{len(states)} initial states were given.")
    for i, (n, s) in enumerate(zip(new_states, states)):
        if tuple(jnp.shape(n)) != tuple(jnp.shape(s)):
            raise ValueError(f"rnn: state {i} changes shape in the step function. Received: "
                             f"initial shape={tuple(jnp.shape(s))}, new shape="
                             f"{tuple(jnp.shape(n))}.")


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _scan_rnn(captures, inputs, states, mask, constants, body, go_backwards):
    inputs = asarray(inputs)
    states = [asarray(s) for s in states]
    constants = [asarray(c) for c in constants]
    xs = jnp.swapaxes(inputs, 0, 1)  # time-major for scan
    ms = None
    if mask is not None:
        ms = jnp.swapaxes(asarray(mask).astype(bool), 0, 1)
    if go_backwards:
        xs = xs[::-1]
        ms = None if ms is None else ms[::-1]

    def call(x_t, st):
        out, new = body.call(captures, x_t, list(st), list(constants))
        new = _as_list(new)
        _check_states(new, st)
        return asarray(out), [asarray(n) for n in new]

    # One abstract step gives the output's shape (for the zeros that masked steps repeat
    # before the first kept step) and the states' dtypes: the carry takes the step's dtypes
    # so a step that widens a state (float32 -> float64) keeps a stable loop carry.
    out_spec, new_specs = jax.eval_shape(call, xs[0], states)
    states = [s.astype(n.dtype) for s, n in zip(states, new_specs)]

    def step(x_t, st):
        out, new = call(x_t, st)
        return out, [n.astype(s.dtype) for n, s in zip(new, st)]

    if ms is None:
        def scan_body(st, x_t):
            out, new = step(x_t, st)
            return new, out

        final, ys = lax.scan(scan_body, states, xs)
    else:
        prev0 = jnp.zeros(out_spec.shape, out_spec.dtype)

        def scan_body(carry, xm):
            prev, st = carry
            x_t, m_t = xm
            out, new = step(x_t, st)
            out = jnp.where(_expand_to(m_t, out.ndim), out, prev)
            new = [jnp.where(_expand_to(m_t, n.ndim), n, s) for n, s in zip(new, st)]
            return (out, new), out

        (_, final), ys = lax.scan(scan_body, (prev0, states), (xs, ms))
    outputs = jnp.swapaxes(ys, 0, 1)
    return ys[-1], outputs, list(final)


_rnn_op = op(_scan_rnn, name="rnn")


@op(name="rnn_time_slice")
def _time_slice(x, t):
    return asarray(x)[:, t]


@op(name="rnn_mask_where")
def _mask_where(m, new, old):
    new = asarray(new)
    return jnp.where(_expand_to(asarray(m).astype(bool), new.ndim), new, old)


@op(name="rnn_zeros_like")
def _zeros_like(x):
    return jnp.zeros_like(x)


@op(name="rnn_stack")
def _stack_time(xs):
    return jnp.stack([asarray(x) for x in xs], axis=1)


def _unrolled_rnn(step_function, inputs, states, mask, constants, go_backwards, time_steps):
    order = range(time_steps - 1, -1, -1) if go_backwards else range(time_steps)
    outputs, prev, uses_lp = [], None, False
    for t in order:
        out, new = step_function(_time_slice(inputs, t), list(states) + list(constants))
        new = _as_list(new)
        if len(new) != len(states):
            raise ValueError(f"rnn: the step function returned {len(new)} states but "
                             f"{len(states)} initial states were given.")
        uses_lp = uses_lp or getattr(out, "_uses_learning_phase", False)
        if mask is not None:
            m_t = _time_slice(mask, t)
            prev = _zeros_like(out) if prev is None else prev
            out = _mask_where(m_t, out, prev)
            new = [_mask_where(m_t, n, s) for n, s in zip(new, states)]
        outputs.append(out)
        prev, states = out, new
    return outputs[-1], _stack_time(outputs), list(states), uses_lp


@operands("inputs", "mask")
def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None,
        constants=None, unroll=False, input_length=None):
    """Runs ``step_function`` over the time axis (axis 1) of ``inputs``.

    ``step_function(x_t, states) -> (output_t, new_states)`` gets the states followed by
    ``constants``. Returns ``(last_output, outputs, new_states)`` with ``outputs`` of shape
    ``(batch, time, ...)`` in processing order (reversed when ``go_backwards``). Where a
    ``(batch, time)`` ``mask`` is false the step's output is replaced by the previous one
    (zeros before the first kept step) and the states are left unchanged. ``unroll=True``
    runs a Python loop over a static number of steps (``input_length`` when the time
    dimension is unknown); otherwise the loop is a ``lax.scan``.
    """
    inputs = _as_value(inputs)
    in_shape = _shape_of(inputs)
    if len(in_shape) < 3:
        raise ValueError(f"rnn: inputs must be at least 3-D (batch, time, ...). Received: "
                         f"inputs.shape={in_shape}.")
    states = [_as_value(s) for s in _as_list(initial_states)]
    constants = [_as_value(c) for c in _as_list(constants)]
    if mask is not None:
        m_shape = _shape_of(mask)
        if len(m_shape) < 2:
            raise ValueError(f"rnn: mask must be at least 2-D (batch, time). Received: "
                             f"mask.shape={m_shape}, inputs.shape={in_shape}.")
        mask = _as_value(mask)
    time_steps = in_shape[1]
    if time_steps == 0:
        raise ValueError(f"rnn: inputs have no time steps. Received: inputs.shape={in_shape}.")

    if unroll:
        if time_steps is None:
            time_steps = input_length
        if time_steps is None:
            raise ValueError(f"rnn: unroll=True needs a static number of time steps; give "
                             f"input_length. Received: inputs.shape={in_shape}.")
        last, outputs, new_states, uses_lp = _unrolled_rnn(
            step_function, inputs, states, mask, constants, bool(go_backwards),
            int(time_steps))
        if uses_lp and isinstance(last, Tensor):
            last._uses_learning_phase = True
        return last, outputs, new_states

    go_backwards = bool(go_backwards)
    if not is_symbolic_input(inputs, states, mask, constants):
        try:
            return _scan_rnn(None, inputs, states, mask, constants,
                             _Body(fn=lambda x, s, c: step_function(x, s + c)), go_backwards)
        except (_NeedsGraph, MixedTraceError):
            pass  # the step captured symbolic tensors: record it as a subgraph

    with _platform.loop_body():
        graph = Subgraph(lambda x, s, c: step_function(x, list(s) + list(c)),
                         _Spec(in_shape[:1] + in_shape[2:], _dtype_of(inputs)),
                         [_spec_of(s) for s in states], [_spec_of(c) for c in constants])
    last, outputs, new_states = _rnn_op(graph.captures, inputs, states, mask, constants,
                                        _Body(graph=graph), go_backwards)
    if graph._uses_learning_phase:
        last._uses_learning_phase = True
    return last, outputs, list(new_states)


# ----------------------------------------------------------------------------- map / folds


def _elem_spec(elems):
    return jax.tree_util.tree_map(lambda e: _spec_of(e, drop_first=True), elems,
                                  is_leaf=_is_tensor)


def _map_impl(captures, elems, body, dtype):
    def f(e):
        out = body.call(captures, e)
        if dtype is not None:
            out = jax.tree_util.tree_map(lambda o: asarray(o).astype(dtype), out)
        return out

    return lax.map(f, elems)


_map_op = op(_map_impl, name="map_fn")


def _elems_tree(elems):
    if isinstance(elems, (list, tuple)):
        return type(elems)(_as_value(e) for e in elems)
    return _as_value(elems)


@operands("elems")
def map_fn(fn, elems, name=None, dtype=None):
    """``fn`` applied to each slice of ``elems`` along axis 0, results stacked on axis 0.

    ``elems`` may be a tensor or a tuple/list of tensors (then ``fn`` gets a tuple/list of
    slices). ``dtype`` casts the results when given.
    """
    dt = None if dtype is None else config.check_dtype(dtype, "map_fn")
    elems = _elems_tree(elems)
    for e in jax.tree_util.tree_leaves(elems, is_leaf=_is_tensor):
        if len(_shape_of(e)) == 0:
            raise ValueError(f"map_fn: elems must have at least one axis to map over. "
                             f"Received: elems.shape={_shape_of(e)}.")
    if not is_symbolic_input(elems):
        try:
            return _map_impl(None, elems, _Body(fn=fn), dt)
        except (_NeedsGraph, MixedTraceError):
            pass
    with _platform.loop_body():
        graph = Subgraph(fn, _elem_spec(elems))
    return _map_op(graph.captures, elems, _Body(graph=graph), dt)


def _fold_impl(captures, elems, init, body, reverse):
    elems = asarray(elems)
    if init is None:
        init = elems[-1] if reverse else elems[0]
        elems = elems[:-1] if reverse else elems[1:]
    init = asarray(init)

    def call(acc, x):
        new = body.call(captures, acc, x)
        if not hasattr(new, "shape"):
            new = asarray(new)
        if tuple(new.shape) != tuple(acc.shape):
            raise ValueError(f"{'foldr' if reverse else 'foldl'}: fn must keep the "
                             f"accumulator's shape. Received: "
                             f"accumulator shape={tuple(acc.shape)}, fn result shape="
                             f"{tuple(new.shape)}.")
        return new

    # The carry takes the dtype fn produces (a float32 fold over float64 elements widens).
    spec = jax.eval_shape(call, init, jax.ShapeDtypeStruct(elems.shape[1:], elems.dtype))
    init = init.astype(spec.dtype)
    acc, _ = lax.scan(lambda acc, x: (call(acc, x).astype(spec.dtype), None), init, elems,
                      reverse=reverse)
    return acc


_fold_op = op(_fold_impl, name="fold")


def _fold(opname, fn, elems, initializer, reverse):
    elems = _as_value(elems)
    e_shape = _shape_of(elems)
    if len(e_shape) == 0:
        raise ValueError(f"{opname}: elems must have at least one axis to fold over. "
                         f"Received: elems.shape={e_shape}.")
    if initializer is None and e_shape[0] == 0:
        raise ValueError(f"{opname}: elems is empty and no initializer was given. "
                         f"Received: elems.shape={e_shape}.")
    if initializer is None:
        acc_spec = _Spec(e_shape[1:], _dtype_of(elems))
    else:
        if isinstance(initializer, (bool, int, float, complex)):
            # A Python scalar takes the elements' dtype when that can hold it (as in TF).
            initializer = np.asarray(initializer,
                                     jnp.result_type(_dtype_of(elems), initializer))
        initializer = _as_value(initializer)
        acc_spec = _spec_of(initializer)
    if not is_symbolic_input(elems, initializer):
        try:
            return _fold_impl(None, elems, initializer, _Body(fn=fn), reverse)
        except (_NeedsGraph, MixedTraceError):
            pass
    with _platform.loop_body():
        graph = Subgraph(fn, acc_spec, _Spec(e_shape[1:], _dtype_of(elems)))
    if len(graph.outputs) != 1:
        raise ValueError(f"{opname}: fn must return one tensor (the new accumulator), got "
                         f"{len(graph.outputs)} values.")
    return _fold_op(graph.captures, elems, initializer, _Body(graph=graph), reverse)


@operands("elems", "initializer")
def foldl(fn, elems, initializer=None, name=None):
    """Left fold: ``acc = fn(acc, x)`` over the slices of ``elems`` along axis 0.

    Without ``initializer`` the first slice is the starting accumulator. Returns the final
    accumulator (its shape must not change from step to step).
    """
    return _fold("foldl", fn, elems, initializer, False)


@operands("elems", "initializer")
def foldr(fn, elems, initializer=None, name=None):
    """Right fold: like :func:`foldl` but from the last slice towards the first; without
    ``initializer`` the last slice is the starting accumulator."""
    return _fold("foldr", fn, elems, initializer, True)


# ----------------------------------------------------------------------------- print


def _print_impl(x, message):
    x = asarray(x)
    # The message goes in as an argument, never into the format string, so braces in it
    # print literally.
    jax.debug.print("{message}{value}", message=message + " " if message else "", value=x)
    return jnp.array(x, copy=True)


_print_op = op(_print_impl, name="print_tensor")


@operands("x")
def print_tensor(x, message=""):
    """x's value, as a new tensor that prints ``message`` and the value (to stdout) each
    time it is evaluated, also inside compiled ``K.function`` calls."""
    return _print_op(x, str(message))
