"""The graph's special nodes and their evaluation, shared by ``K.function``, ``K.eval``
and the control-flow ops.

Nodes beyond ``core``'s: the learning-phase input, symbolic updates, lazy ``Select``,
gradients (one ``_GradGroup`` per ``K.gradients`` call). ``_Eval`` evaluates a graph lazily,
from the roots back, with a memo: gradients of one group share one ``jax.vjp``, inside
which a child evaluator recomputes only the nodes depending on the targets and reads the
others from its parent (higher-order gradients and inner-tensor targets work the same
way). ``Subgraph`` records a Python body (an RNN step) on placeholders for ``lax`` loops.

Nothing here compiles or touches the session: ``jkb.function`` does that.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import core as _jcore

from . import platform as _platform
from .core import Constant, Node, Placeholder, Tensor, Variable, host_array, op

_MISSING = object()
_Tracer = _jcore.Tracer


# ----------------------------------------------------------------------------- graph nodes


class LearningPhase(Placeholder):
    """The learning-phase input: fed 0/1, a *static* value of every compiled program."""

    def __init__(self):
        super().__init__((), "bool", name="keras_learning_phase")


class Update(Tensor):
    """Symbolic ``variable <- value``: its value is the new value of the variable."""

    def __init__(self, variable, value, opname="update"):
        if not isinstance(variable, Variable):
            raise TypeError(f"{opname}: the target must be a jkb variable, got "
                            f"{type(variable).__name__}.")
        if not isinstance(value, Tensor):
            value = Constant(jnp.asarray(host_array(value, opname)))  # None/objects raise
        vshape = tuple(value.shape)
        if len(vshape) > variable.ndim or any(
                a is not None and a != 1 and a != b
                for a, b in zip(vshape[::-1], tuple(variable.shape)[::-1])):
            raise ValueError(f"{opname}: a value of shape {vshape} cannot be written into "
                             f"variable {variable.name} of shape {tuple(variable.shape)}.")
        super().__init__(variable.shape, variable.dtype)
        self.variable, self.value, self.inputs, self.opname = variable, value, (value,), opname

    def compute(self, values):
        return jnp.broadcast_to(jnp.asarray(values[0]).astype(self.dtype), self.shape)


class Select(Tensor):
    """``then`` or ``else`` by a condition; a static condition evaluates one branch only."""

    def __init__(self, cond, then, other, fn):
        self.cond, self.branches, self.fn = cond, (then, other), fn
        probe = op(fn, name="switch")(cond, then, other)
        self.inputs = tuple(x for x in (cond, then, other) if isinstance(x, Tensor))
        super().__init__(probe.shape, probe.dtype)
        if getattr(probe, "_uses_learning_phase", False):
            self._uses_learning_phase = True
        self.opname = "switch"


class _GradGroup:
    """The gradients of one ``loss`` with respect to a list of tensors: one ``vjp``."""

    def __init__(self, loss: Tensor, wrt: list):
        self.loss, self.wrt = loss, wrt
        self._fresh = None

    def fresh(self) -> frozenset:
        """Ancestors of ``loss`` that depend on some ``wrt`` (recomputed inside the vjp)."""
        if self._fresh is None:
            wrt_ids = {id(w) for w in self.wrt}
            fresh = set()
            for n in _topo([self.loss]):
                if id(n) in wrt_ids or any(d in fresh for d in _walk_deps(n)):
                    fresh.add(n)
            self._fresh = frozenset(fresh | set(self.wrt))
        return self._fresh


class Gradient(Tensor):
    """The gradient of a group's loss with respect to its ``index``-th target."""

    def __init__(self, group: _GradGroup, index: int):
        target = group.wrt[index]
        super().__init__(target.shape, target.dtype)
        self.group, self.index, self.inputs = group, index, tuple(group.wrt)
        self.opname = "gradient"


def _walk_deps(n):
    if isinstance(n, Gradient):
        return (n.group.loss, *n.group.wrt)
    return n.inputs


def _topo(roots):
    """Every tensor reachable from ``roots`` (gradient losses included), inputs first."""
    order, seen, stack = [], set(), [(r, False) for r in reversed(roots)]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        stack.append((n, True))
        stack.extend((d, False) for d in reversed(_walk_deps(n)) if d not in seen)
    return order


def merge_groups(nodes) -> dict:
    """``{node: group}`` for the groups (two or more) of ``nodes`` that apply one mergeable
    op (``core.op(merge=...)``) to the same inputs but their kernels (the op's second
    argument), kernels of one shape but the last dim and of one dtype: the evaluator
    computes each group as one op on the kernels side by side. XLA CPU does not merge
    matmuls that share an operand: a ConvLSTM2D step's four gate convolutions of one input
    ran its forward and backward pass 1.4x faster as one convolution. A node whose kernel
    depends on another of its group is left out of it."""
    buckets = {}
    for n in nodes:
        if not isinstance(n, Node) or n.merge_axis is None or len(n.leaves) < 2:
            continue
        k = n.leaves[1]
        shape = tuple(getattr(k, "shape", ()))
        if not shape or None in shape:
            continue
        key = [n.fn, n.treedef, n.merge_axis, shape[:-1], np.dtype(k.dtype)]
        key += [("tensor", id(x)) if isinstance(x, Tensor) else (type(x), x)
                for i, x in enumerate(n.leaves) if i != 1]
        key = tuple(key)
        try:
            hash(key)
        except TypeError:  # an array argument: no merging
            continue
        buckets.setdefault(key, []).append(n)
    scope = set(nodes)
    groups = {}
    for members in buckets.values():
        if len(members) > 1:
            members = [m for m in members if not _reads_any(m.leaves[1], members, scope)]
        if len(members) > 1:
            group = tuple(members)
            groups.update((m, group) for m in group)
    return groups


def _reads_any(kernel, members, scope) -> bool:
    """Whether ``kernel`` depends on one of ``members`` (searched within ``scope``)."""
    targets, seen, stack = set(members), set(), [kernel]
    while stack:
        t = stack.pop()
        if not isinstance(t, Tensor) or t in seen or t not in scope and t not in targets:
            continue
        if t in targets:
            return True
        seen.add(t)
        stack.extend(_walk_deps(t))
    return False


# ----------------------------------------------------------------------------- evaluation


class _Ctx:
    """What leaves evaluate to during one call."""

    __slots__ = ("consts", "key", "step", "training", "draws")

    def __init__(self, consts, key, step, training, draws=None):
        self.consts, self.key, self.step, self.training = consts, key, step, training
        self.draws = draws  # {draw_id: count} of the seeded random ops (jkb.random)


def _shapes_of(n) -> str:
    return ", ".join(str(tuple(t.shape)) for t in n.inputs)


def _is_static(v) -> bool:
    return not isinstance(v, _Tracer)


class _Eval:
    """Lazy evaluation with a memo; a child recomputes only its ``fresh`` nodes."""

    __slots__ = ("memo", "parent", "fresh", "ctx", "offsets", "merges")

    def __init__(self, memo, ctx, parent=None, fresh=frozenset(), offsets=None, merges=None):
        self.memo, self.ctx, self.parent, self.fresh = memo, ctx, parent, fresh
        self.offsets = offsets  # inner gradient targets: value + offset (offset = 0)
        # {node: its group} from merge_groups: nodes computed as one op
        self.merges = merges if merges is not None else (parent.merges if parent else {})

    def lookup(self, n):
        e = self
        while e is not None:
            v = e.memo.get(n, _MISSING)
            if v is not _MISSING or n in e.fresh:
                return v
            e = e.parent
        return _MISSING

    def __call__(self, root):
        stack = [root]
        while stack:
            n = stack[-1]
            if self.lookup(n) is not _MISSING:
                stack.pop()
                continue
            deps = self._deps(n)
            missing = [d for d in deps if self.lookup(d) is _MISSING]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            value = self._compute(n)
            if self.offsets is not None and n in self.offsets:
                value = value + self.offsets[n]
            self.memo[n] = value
        return self.lookup(root)

    def _deps(self, n):
        if isinstance(n, Select):
            c = self.lookup(n.cond) if isinstance(n.cond, Tensor) else n.cond
            if c is _MISSING:
                return (n.cond,)
            if _is_static(c) and np.ndim(c) == 0:
                branch = n.branches[0 if bool(c) else 1]
                return (branch,) if isinstance(branch, Tensor) else ()
            return n.inputs
        group = self.merges.get(n)
        if group is not None:
            return tuple({d: None for m in group for d in m.inputs})
        return n.inputs

    def _value(self, x):
        return self.lookup(x) if isinstance(x, Tensor) else self.ctx.consts.get(id(x), x)

    def _compute(self, n):
        if isinstance(n, Node):
            vals = [self._value(x) for x in n.leaves]
            group = self.merges.get(n)
            try:
                if group is not None:
                    return self._compute_group(n, group, vals)
                if all(_is_static(v) for v in vals) and not _jcore.trace_state_clean():
                    with jax.ensure_compile_time_eval():
                        return n.compute(vals)
                return n.compute(vals)
            except Exception as e:  # name the op and what it received at run time
                got = ", ".join(f"{tuple(np.shape(v))}:{getattr(v, 'dtype', type(v).__name__)}"
                                for v in vals if hasattr(v, "shape"))
                raise ValueError(f"{n.opname} failed on inputs of shapes [{got}] (built for "
                                 f"{_shapes_of(n)}): {type(e).__name__}: {e}") from e
        if isinstance(n, Update):
            return n.compute([self.lookup(n.value)])
        if isinstance(n, Select):
            c = self.lookup(n.cond) if isinstance(n.cond, Tensor) else n.cond
            vals = [self.lookup(x) if isinstance(x, Tensor) else x for x in (n.cond, *n.branches)]
            if _is_static(c) and np.ndim(c) == 0:
                chosen = vals[1 if bool(c) else 2]
                return chosen if chosen is not _MISSING else None
            return n.fn(*vals)
        if isinstance(n, Gradient):
            return self._gradients(n.group)[n.index]
        if isinstance(n, Constant):
            return self.ctx.consts[id(n)]
        if hasattr(n, "leaf_value"):
            return n.leaf_value(self.ctx)
        if isinstance(n, Placeholder):
            raise ValueError(f"Placeholder {n.name} (shape {tuple(n.shape)}) is needed but "
                             "was not fed: list it in the inputs of K.function.")
        raise TypeError(f"cannot evaluate {n!r}")

    def _compute_group(self, n, group, vals):
        """n's value, computing its whole merge group as one op (the others go to memo)."""
        kernels = [jnp.asarray(self._value(m.leaves[1])) for m in group]
        vals[1] = jnp.concatenate(kernels, axis=-1)
        parts = jnp.split(n.compute(vals), np.cumsum([k.shape[-1] for k in kernels])[:-1],
                          axis=n.merge_axis)
        mine = None
        for m, part in zip(group, parts):
            if m is n:
                mine = part
                continue
            if self.offsets is not None and m in self.offsets:
                part = part + self.offsets[m]
            self.memo[m] = part
        return mine

    def _gradients(self, group):
        grads = self.memo.get(group)
        if grads is not None:
            return grads
        wrt_vals = [self.lookup(w) for w in group.wrt]
        fresh = group.fresh()

        # Leaf targets are replaced by the traced values; an inner target is recomputed
        # from its inputs plus a zero offset, so the loss still depends on the leaves
        # through it and the offset's cotangent is the gradient at that tensor.
        inner = [not isinstance(w, Tensor) or bool(_walk_deps(w)) for w in group.wrt]
        wrt_vals = [jnp.zeros_like(v) if i else v for v, i in zip(wrt_vals, inner)]

        def loss_of(*ws):
            memo = {w: v for w, v, i in zip(group.wrt, ws, inner) if not i}
            offsets = {w: v for w, v, i in zip(group.wrt, ws, inner) if i} or None
            child = _Eval(memo, self.ctx, parent=self, fresh=fresh, offsets=offsets)
            return child(group.loss)

        diff = [i for i, w in enumerate(wrt_vals)
                if jnp.issubdtype(jnp.result_type(w), jnp.inexact)]

        def loss_of_diff(*ws):
            full = list(wrt_vals)
            for i, w in zip(diff, ws):
                full[i] = w
            return loss_of(*full)

        loss, vjp = jax.vjp(loss_of_diff, *[wrt_vals[i] for i in diff])
        cot = vjp(jnp.ones_like(loss))
        grads = [jnp.zeros_like(w) for w in wrt_vals]
        for i, g in zip(diff, cot):
            grads[i] = g
        self.memo[group] = grads
        if self.lookup(group.loss) is _MISSING:
            self.memo[group.loss] = loss
        return grads


# ----------------------------------------------------------------------------- subgraphs


class Subgraph:
    """A Python function traced once on placeholders, for bodies of ``lax`` control flow.

    ``K.rnn``'s step function (and ``map_fn``/``foldl`` bodies) may close over symbolic
    tensors: a layer's kernel variable, a dropout mask, constants. Calling it on
    placeholders records a small graph; ``captures`` are the outer tensors it reads (the
    maximal sub-expressions that do not depend on the arguments). An op that runs the body
    takes the captures as inputs, so the outer program evaluates them once, and
    :meth:`evaluate` replays the graph on concrete or traced values inside ``scan``.
    """

    def __init__(self, fn, *arg_specs):
        self.args = jax.tree_util.tree_map(
            lambda s: Placeholder(tuple(s.shape), s.dtype), list(arg_specs),
            is_leaf=lambda s: isinstance(s, (jax.ShapeDtypeStruct, Tensor)))
        flat_args = jax.tree_util.tree_leaves(self.args, is_leaf=_is_tensor)
        out = fn(*self.args)
        self.out_tree = jax.tree_util.tree_structure(out, is_leaf=_is_tensor)
        self.outputs = jax.tree_util.tree_leaves(out, is_leaf=_is_tensor)
        self.flat_args = flat_args
        arg_set = set(flat_args)
        dep, captures = {}, {}  # dicts as ordered sets: the graph's order, every time
        for n in _topo([o for o in self.outputs if isinstance(o, Tensor)]):
            if n in arg_set or any(d in dep for d in _walk_deps(n)):
                dep[n] = None
                for d in _walk_deps(n):
                    if d not in dep:
                        captures[d] = None
        for o in self.outputs:
            if isinstance(o, Tensor) and o not in dep:
                captures[o] = None
        self.captures = list(captures)
        # Measured on the CPU only; elsewhere the ops stay apart until measured there.
        self.merges = merge_groups(list(dep)) if _platform.platform() == "cpu" else {}
        self._uses_learning_phase = any(
            getattr(o, "_uses_learning_phase", False) for o in self.outputs)

    def evaluate(self, capture_values, *arg_values):
        """The outputs (same structure as ``fn``'s) for these captures and arguments."""
        memo = dict(zip(self.captures, capture_values))
        memo.update(zip(self.flat_args, jax.tree_util.tree_leaves(list(arg_values))))
        ev = _Eval(memo, _Ctx({}, None, None, None), merges=self.merges)
        flat = [ev(o) if isinstance(o, Tensor) else o for o in self.outputs]
        return jax.tree_util.tree_unflatten(self.out_tree, flat)


def _is_tensor(x):
    return isinstance(x, Tensor)
