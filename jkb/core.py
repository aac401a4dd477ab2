"""The tensor model and the single lifting mechanism shared by every op.

Every op is a plain function over ``jax.numpy``/``lax`` wrapped by :func:`op`. Called on
concrete values (NumPy, ``jax.Array``, tracers of a user's ``jit``) the wrapper calls the
function at once. Called with any symbolic input (:class:`Placeholder`, :class:`Variable`,
:class:`Constant` or a node built from them) it returns a :class:`Node`: the function, its
flattened arguments (tensor leaves, array leaves that become arguments of compiled code,
and static leaves such as axes) and the inferred shape and dtype.

Shape inference runs the op under ``jax.eval_shape``. Unknown (``None``) dims are filled
with one trial size, and when any input has unknown dims a second trial with another size
tells which output dims follow them (those become ``None``). Values that depend only on
static shapes (``K.shape(x)[0] * 2``) are *foldable*: they are computed concretely, in
inference and under ``jit`` alike, so ``K.reshape(x, (K.shape(x)[0], -1))`` compiles.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import core as _jcore

from . import config

__all__ = [
    "Tensor", "Node", "Placeholder", "Variable", "Constant", "op", "is_symbolic_input",
    "is_tensor", "name_scope", "get_uid", "reset_uids", "inferring", "py_array",
    "static_value", "host_array", "operands",
]

_FILLS = (97, 101)  # trial sizes for unknown dims; primes unlikely to equal a real dim
_array_types = (np.ndarray, jax.Array)
_Tracer = _jcore.Tracer


class _Values:
    """``eval``, ``get_value`` and ``set_value`` for the tensor methods below. Evaluation
    needs the session and the compiler, which import this module; :mod:`jkb.values`
    installs its functions here when it loads (``import jkb`` loads it)."""

    eval = get_value = set_value = None


_values = _Values()


def install_values(eval_fn, get_value_fn, set_value_fn) -> None:
    """Gives the tensor methods (``eval``, ``np.asarray``, ``assign``, ``numpy``) their
    evaluation (called by :mod:`jkb.values`)."""
    _values.eval, _values.get_value, _values.set_value = eval_fn, get_value_fn, set_value_fn


class Shape(tuple):
    """A static shape: a tuple of ints and ``None``; ``as_list()`` as in TF1."""

    def as_list(self):
        return list(self)

    @property
    def ndims(self):
        return len(self)

    rank = ndims


# ----------------------------------------------------------------------------- names/uids

_uids: dict[str, int] = {}
_scopes: list[str] = []


def get_uid(prefix: str = "") -> int:
    """Increments and returns the counter of ``prefix`` (1 on first use)."""
    _uids[prefix] = _uids.get(prefix, 0) + 1
    return _uids[prefix]


def reset_uids() -> None:
    """Resets every ``get_uid`` counter."""
    _uids.clear()


@contextlib.contextmanager
def name_scope(name: str):
    """Prefixes the names of variables created inside with ``name/``."""
    _scopes.append(str(name))
    try:
        yield name
    finally:
        _scopes.pop()


def _scoped(name: str) -> str:
    return "/".join(_scopes + [name])


_node_ids = itertools.count(1)


# ----------------------------------------------------------------------------- tensors


class Tensor:
    """A symbolic value: a node of the graph, with a static shape and dtype.

    Behaves like a TF1 graph tensor: operators build new nodes, ``bool()`` raises, and
    ``eval()`` / ``np.asarray()`` evaluate it against the live session state. Equality and
    hashing are by identity (use ``K.equal`` for elementwise equality).
    """

    __array_ufunc__ = None  # NumPy defers to our reflected operators
    __array_priority__ = 1000
    foldable = False  # True when the value depends only on static shapes
    inputs: tuple = ()

    def __init__(self, shape, dtype, name: str | None = None):
        self._shape = Shape(None if d is None else int(d) for d in shape)
        self._dtype = np.dtype(dtype)
        self.id = next(_node_ids)
        self._name = name

    # -- TF1-like introspection
    @property
    def shape(self) -> Shape:
        return self._shape

    def get_shape(self) -> Shape:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = f"{type(self).__name__.lower()}_{self.id}:0"
        return self._name

    @name.setter
    def name(self, value):
        self._name = value

    def __repr__(self):
        return f"<jkb.{type(self).__name__} {self.name!r} shape={tuple(self._shape)} " \
               f"dtype={self._dtype.name}>"

    def __bool__(self):
        raise TypeError(
            f"Using a symbolic jkb tensor ({self.name}, shape={tuple(self._shape)}) as a "
            "Python bool is not allowed: its value is only known when a K.function runs. "
            "Use K.switch / K.greater etc. instead.")

    def __len__(self):
        if not self._shape or self._shape[0] is None:
            raise TypeError(f"len() of tensor {self.name} with shape {tuple(self._shape)} "
                            "is unknown; use K.shape(x)[0].")
        return self._shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        value = _values.eval(self)
        return value if dtype is None else value.astype(dtype)

    def eval(self, session=None, feed_dict=None):
        """The value (NumPy) of this tensor; ``feed_dict`` maps placeholders to values."""
        return _values.eval(self, feed_dict=feed_dict)

    # -- operators build nodes
    def __getitem__(self, idx):
        return _getitem(self, _freeze_index(idx))

    def __neg__(self):
        return _neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _abs(self)

    def __invert__(self):
        return _invert(self)

    __hash__ = object.__hash__


class Node(Tensor):
    """The result of an op applied to at least one symbolic input."""

    merge_axis = None  # see ``op(merge=...)``

    def __init__(self, fn, treedef, leaves, name: str):
        self._name = None
        self.fn = fn
        self.treedef = treedef
        self.leaves = leaves
        self.inputs = tuple(x for x in leaves if isinstance(x, Tensor))
        self.foldable = getattr(fn, "_shape_only", False) or (
            bool(self.inputs) and all(t.foldable for t in self.inputs))
        self._static_cache: dict[int, Any] = {}
        self._specs: dict[int, Any] = {}
        self.multi = None  # the output structure of an op with several results
        self.opname = name
        shape, dtype = _infer(self)
        super().__init__(shape, dtype)
        # Only set when true: Keras' TimeDistributed treats the attribute's mere presence
        # as "uses the learning phase" (TF op outputs do not carry it).
        if any(getattr(t, "_uses_learning_phase", False) for t in self.inputs):
            self._uses_learning_phase = True

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = f"{self.opname}_{self.id}:0"
        return self._name

    @name.setter
    def name(self, value):
        self._name = value

    def compute(self, values):
        """Applies the op; ``values`` maps each leaf position to its value."""
        args, kwargs = jax.tree_util.tree_unflatten(self.treedef, values)
        return self.fn(*args, **kwargs)

    def static_value(self, fill: int):
        """Concrete value of a foldable node, with unknown dims set to ``fill``."""
        if fill not in self._static_cache:
            vals = [_trial_value(x, fill) if isinstance(x, Tensor) else x for x in self.leaves]
            with jax.ensure_compile_time_eval():
                _inferring[0] += 1
                try:
                    self._static_cache[fill] = self.compute(vals)
                finally:
                    _inferring[0] -= 1
        return self._static_cache[fill]


class Placeholder(Tensor):
    """A symbolic input, fed with a concrete value when a compiled function runs."""

    def __init__(self, shape, dtype, name=None, sparse=False):
        super().__init__(shape, dtype, name)
        self.sparse = bool(sparse)
        self._keras_shape = tuple(self.shape)
        self._uses_learning_phase = False

    @property
    def name(self) -> str:
        return self._name or f"placeholder_{self.id}:0"

    @name.setter
    def name(self, value):
        self._name = value


class Variable(Tensor):
    """A handle to mutable state: the value lives in the session's ``State`` under ``uid``.

    Usable wherever a tensor is; also the target of ``update*``, ``get_value`` and
    ``set_value``. ``constraint`` is applied by optimizers to proposed new values.
    """

    def __init__(self, shape, dtype, name, constraint=None, trainable=True):
        super().__init__(shape, dtype, name)
        self.constraint = constraint
        self.trainable = trainable
        self._keras_shape = tuple(self.shape)
        self._uses_learning_phase = False

    @property
    def uid(self):
        return self.id

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value):
        self._name = value

    def assign(self, value):
        _values.set_value(self, value)
        return self

    def numpy(self):
        return _values.get_value(self)


class Constant(Tensor):
    """An immutable value; compiled functions receive it as an argument, never inline."""

    def __init__(self, value, name=None):
        self.value = value
        super().__init__(value.shape, value.dtype, name)
        self._keras_shape = tuple(self.shape)

    @property
    def name(self) -> str:
        return self._name or f"const_{self.id}:0"

    @name.setter
    def name(self, value):
        self._name = value


# ----------------------------------------------------------------------------- lifting


def _has_tensor(x) -> bool:
    if isinstance(x, Tensor):
        return True
    t = type(x)
    if t is tuple or t is list or isinstance(x, (list, tuple)):
        for v in x:
            if _has_tensor(v):
                return True
        return False
    if isinstance(x, dict):
        return any(_has_tensor(v) for v in x.values())
    return False


def _has_tracer(x) -> bool:
    if isinstance(x, _Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_tracer(v) for v in x)
    if isinstance(x, dict):
        return any(_has_tracer(v) for v in x.values())
    return False


def is_symbolic_input(*args) -> bool:
    """True when any argument (or list element) is a symbolic jkb tensor."""
    return any(_has_tensor(a) for a in args)


class MixedTraceError(TypeError):
    """An op got both a symbolic jkb tensor and a tracer of a user's transformation."""


def _is_leaf(x):
    return isinstance(x, Tensor) or x is None


def op(fn=None, *, name: str | None = None, shape_only: bool = False, merge=None):
    """Lifts a plain ``jnp``/``lax`` function into a jkb op usable in both modes.

    ``shape_only=True`` marks ops whose result depends only on the static shapes of their
    inputs (``K.shape``): their results are foldable.

    ``merge(*args, **kwargs)`` (optional) returns the output axis along which the op is
    linear in the last axis of its second argument (a kernel), or None: nodes of the op that
    differ only in that kernel may then run as one op on the kernels concatenated along
    their last axis, the result split along that output axis (``graph.merge_groups``).
    """
    if fn is None:
        return functools.partial(op, name=name, shape_only=shape_only, merge=merge)
    if shape_only:
        fn._shape_only = True
    opname = name or getattr(fn, "__name__", "op").strip("_") or "op"

    @functools.wraps(fn)
    def lifted(*args, **kwargs):
        if _has_tensor(args) or (kwargs and _has_tensor(kwargs)):
            leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_leaf)
            if any(isinstance(x, _Tracer) for x in leaves):
                raise MixedTraceError(
                    f"{opname}: cannot mix symbolic jkb tensors with traced arrays (from "
                    "jax.jit/grad/vmap): a graph node outlives the trace. Inside "
                    "transformations use plain arrays only, or K.function(...).pure.")
            node = Node(fn, treedef, leaves, opname)
            if merge is not None and node.multi is None:
                node.merge_axis = merge(*args, **kwargs)
            if node.multi is None:
                return node
            # An op with several results: one pick-node per result, same structure.
            outs = [Node(_pick, _PICK_TREE, [node, i], f"{opname}_out")
                    for i in range(node.multi.num_leaves)]
            return jax.tree_util.tree_unflatten(node.multi, outs)
        try:
            if not _jcore.trace_state_clean() and not (_has_tracer(args)
                                                       or _has_tracer(kwargs)):
                # Inside a user's jit with only static inputs (shape arithmetic): fold it.
                with jax.ensure_compile_time_eval():
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)
        except (TypeError, ValueError) as e:
            # Plain TypeError/ValueError raised by JAX/NumPy on bad operands (None, objects,
            # strings) get the op's name; jkb's own messages already start with it.
            if type(e) not in (TypeError, ValueError) or str(e).startswith(opname):
                raise
            raise type(e)(f"{opname}: {e} (received: {_describe_args(args)})") from e

    lifted.raw = fn
    return lifted


# ----------------------------------------------------------------------------- inference


def _trial_value(t: Tensor, fill: int):
    """What ``t`` stands for while inferring: a concrete value or an abstract array."""
    if t.foldable:
        return t.static_value(fill)
    specs = getattr(t, "_specs", None)
    if specs and (t.multi is not None
                  or not isinstance(next(iter(specs.values())), jax.ShapeDtypeStruct)):
        # Several results, or a sparse (BCOO) one: what the op itself produced.
        spec = specs.get(fill)
        return spec if spec is not None else next(iter(specs.values()))
    shape = tuple(fill if d is None else d for d in t.shape)
    if isinstance(t, (Placeholder, Variable)) and getattr(t, "sparse", False):
        from jax.experimental import sparse as jsparse
        return jax.eval_shape(lambda: jsparse.BCOO.fromdense(jnp.zeros(shape, t.dtype), nse=1))
    return jax.ShapeDtypeStruct(shape, t.dtype)


def _depends_on_unknown(t: Tensor) -> bool:
    cached = getattr(t, "_unknown", None)
    if cached is None:
        cached = None in t.shape or any(_depends_on_unknown(i) for i in t.inputs)
        if isinstance(t, Node):
            t._unknown = cached
    return cached


def _describe_args(args) -> str:
    parts = []
    for x in args:
        if isinstance(x, _array_types) or isinstance(x, _Tracer):
            parts.append(f"array shape={tuple(x.shape)} dtype={x.dtype}")
        else:
            parts.append(_short(x, 40))
    return ", ".join(parts)


def _describe(leaves) -> str:
    parts = []
    for x in leaves:
        if isinstance(x, Tensor):
            parts.append(f"{x.name} shape={tuple(x.shape)} dtype={x.dtype.name}")
        elif isinstance(x, _array_types):
            parts.append(f"array shape={tuple(x.shape)} dtype={x.dtype}")
        elif x is None or not isinstance(x, (bool, int, float, str, np.generic)):
            parts.append(_short(x, 40))
    return "; ".join(parts)


def _infer(node: Node):
    if node.foldable:
        value = node.static_value(_FILLS[0])
        return _shape_dtype_of(value, node, node.static_value(_FILLS[1]))
    if not any(_depends_on_unknown(t) for t in node.inputs):
        (out,) = _trials(node, _FILLS[:1])
        return _shape_dtype_of(out, node, out)
    # Unknown dims meant to broadcast against known ones (a target placeholder of ndim=2
    # against (None, 10) predictions) fail with a trial size; then each unknown dim takes
    # the known size of another input at the same (right-aligned) position, and as a last
    # resort 1, which broadcasts with anything (then no output dim of size 1 is trusted).
    first_error = None
    for strategy in ("fill", "unify", "ones"):
        try:
            fills = (1,) if strategy == "ones" else _FILLS
            outs = _trials(node, fills, strategy)
            break
        except ValueError as e:
            first_error = first_error or e
    else:
        raise first_error
    shape, dtype = _shape_dtype_of(outs[0], node, outs[-1])
    if strategy == "ones" and node.multi is None:
        shape = tuple(None if d == 1 else d for d in shape)
    return shape, dtype


def _unified_shape(t: Tensor, others, fill: int):
    dims = list(t.shape)
    for k in range(1, len(dims) + 1):
        if dims[-k] is None:
            known = [o.shape[-k] for o in others
                     if len(o.shape) >= k and o.shape[-k] not in (None, 1)]
            dims[-k] = known[0] if known else fill
    return tuple(dims)


_inferring = [0]


def inferring() -> bool:
    """True while shape inference runs an op on trial values.

    An op that checks sizes may then tolerate a mismatch caused by a trial size (a ``None``
    dim that must equal a known one) and return a stand-in of the right shape; the same
    mismatch raises when the node really runs.
    """
    return _inferring[0] > 0


# Inferred output specs by (op function, argument structure, input shapes and dtypes,
# static arguments, config, trial sizes, strategy). Keras builds the same ops on the same
# shapes again and again: an optimizer's update ops for every weight of a shape, every
# model of a grid search. Bounded; emptied when full.
_INFER_CACHE: dict = {}
_INFER_CACHE_MAX = 4096


def _infer_key(node: Node, fills, strategy):
    """The cache key of a trial run, or None when its result may depend on more than the
    key says: a foldable input (its value matters), one with op-given specs (several
    results, sparse), a sparse input, or an unhashable static argument."""
    parts = [node.fn, node.treedef, fills, strategy, config.floatx(),
             config.image_data_format(), jax.config.jax_enable_x64]
    for x in node.leaves:
        if isinstance(x, Tensor):
            specs = getattr(x, "_specs", None)
            if x.foldable or getattr(x, "sparse", False) or specs and (
                    x.multi is not None
                    or not isinstance(next(iter(specs.values())), jax.ShapeDtypeStruct)):
                return None
            parts.append((x.shape, x.dtype))
        else:
            parts.append((type(x), x))
    key = tuple(parts)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _trials(node: Node, fills, strategy="fill"):
    key = _infer_key(node, fills, strategy)
    if key is not None:
        outs = _INFER_CACHE.get(key)
        if outs is not None:
            node._specs.update(zip(fills, outs))
            return outs
    outs = _run_trials(node, fills, strategy)
    if key is not None:
        if len(_INFER_CACHE) >= _INFER_CACHE_MAX:
            _INFER_CACHE.clear()
        _INFER_CACHE[key] = outs
    return outs


def _run_trials(node: Node, fills, strategy):
    outs = []
    for fill in fills:
        tensor_pos, specs, vals = [], [], []
        for i, x in enumerate(node.leaves):
            if isinstance(x, Tensor):
                tv = _trial_value(x, fill)
                if strategy == "unify" and isinstance(tv, jax.ShapeDtypeStruct):
                    others = [o for o in node.inputs if o is not x and not o.foldable]
                    tv = jax.ShapeDtypeStruct(_unified_shape(x, others, fill), x.dtype)
                if _abstract(tv):
                    tensor_pos.append(i)
                    specs.append(tv)
                    vals.append(None)
                    continue
                vals.append(tv)
            else:
                vals.append(x)

        def run(*dyn, vals=vals, tensor_pos=tensor_pos):
            vals = list(vals)
            for i, d in zip(tensor_pos, dyn):
                vals[i] = d
            return node.compute(vals)

        _inferring[0] += 1
        try:
            outs.append(jax.eval_shape(run, *specs))
            node._specs[fill] = outs[-1]
        except Exception as e:  # re-raised with the op and its inputs named
            raise ValueError(f"{node.opname}: cannot apply to inputs ({_describe(node.leaves)})"
                             f": {type(e).__name__}: {e}") from e
        finally:
            _inferring[0] -= 1
    return outs


def _is_value(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _abstract(x) -> bool:
    leaves = jax.tree_util.tree_leaves(x)
    return bool(leaves) and all(isinstance(v, jax.ShapeDtypeStruct) for v in leaves)


def _pick(tree, i):
    return jax.tree_util.tree_leaves(tree, is_leaf=_is_value)[i]


_PICK_TREE = jax.tree_util.tree_structure(((0, 0), {}))


def _shape_dtype_of(a, node, b):
    if not _is_value(a):
        leaves = jax.tree_util.tree_leaves(a, is_leaf=_is_value)
        if isinstance(a, (tuple, list, dict)) and leaves and all(map(_is_value, leaves)):
            node.multi = jax.tree_util.tree_structure(a, is_leaf=_is_value)
            return (), np.float32
        a = jnp.asarray(a)
        b = jnp.asarray(b)
    shape = tuple(None if da != db else da for da, db in zip(a.shape, b.shape))
    return shape, a.dtype


# ----------------------------------------------------------------------------- helpers


def _freeze_index(idx):
    """Makes an index static-friendly: slices become tuples so they flatten as leaves."""
    if isinstance(idx, tuple):
        return tuple(_freeze_index(i) for i in idx)
    if isinstance(idx, slice):
        return _Slice(idx.start, idx.stop, idx.step)
    return idx


class _Slice(tuple):
    """A slice whose bounds may be tensors (``x[:, :K.shape(y)[1]]``)."""

    def __new__(cls, start, stop, step):
        return super().__new__(cls, (start, stop, step))


jax.tree_util.register_pytree_node(
    _Slice, lambda s: (tuple(s), None), lambda _, c: _Slice(*c))


def _thaw_index(idx):
    if isinstance(idx, _Slice):
        return slice(*(_index_int(v) for v in idx))
    if isinstance(idx, tuple):
        return tuple(_thaw_index(i) for i in idx)
    return idx


def _index_int(v):
    if v is None or isinstance(v, int):
        return v
    try:
        return operator.index(v)
    except TypeError:
        return int(v) if not isinstance(v, _Tracer) else v


def _getitem_fn(x, idx):
    idx = _thaw_index(idx)
    if isinstance(x, np.ndarray):  # static shape vectors stay NumPy (folded)
        return x[idx]
    return jnp.asarray(x)[idx]


_getitem = op(_getitem_fn, name="getitem")
_neg = op(jnp.negative, name="neg")
_abs = op(jnp.abs, name="abs")
_invert = op(jnp.invert, name="invert")


def asarray(x, dtype=None):
    """``jnp.asarray`` without its per-call cost (~15 us) for values that already are
    arrays of the wanted dtype: plain-array calls of ops stay one dispatch.

    Python lists/tuples of numbers become arrays with TF's dtypes (see :func:`py_array`),
    not NumPy's 64-bit ones.
    """
    if isinstance(x, jax.Array) and (dtype is None or x.dtype == dtype):
        return x
    if dtype is None and isinstance(x, (list, tuple)):
        x = py_array(x)
    return jnp.asarray(x, dtype)


def _py_scalars(x, out):
    """Appends the scalars of a nested list/tuple; False when it holds anything else."""
    if isinstance(x, (list, tuple)):
        return all(_py_scalars(v, out) for v in x)
    if isinstance(x, (bool, int, float, np.bool_, np.number)):
        out.append(x)
        return True
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        out.extend(x.reshape(-1).tolist() or [x.dtype.type(0)])
        return True
    return False


def py_array(x, op_name: str = "jkb"):
    """A NumPy array from Python data (a number or a nested list/tuple of numbers), with
    the dtypes TF gives Python values: bools -> bool, ints -> int32 (int64 beyond its
    range), any float -> ``floatx()``; an empty list -> ``floatx()``.

    None and ragged lists raise a ValueError, objects that are not numbers (strings...) a
    TypeError, naming ``op_name``.
    """
    if x is None:
        raise ValueError(f"{op_name}: received None; expected a number or a (nested) list "
                         "of numbers.")
    scalars = []
    if not _py_scalars(x, scalars):
        raise TypeError(f"{op_name}: expected a number or a (nested) list of numbers, "
                        f"received {_short(x)}.")
    try:
        a = np.asarray(x)
    except ValueError as e:  # ragged
        raise ValueError(f"{op_name}: a nested list must be rectangular (not ragged), "
                         f"received {_short(x)}.") from e
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{op_name}: expected a number or a (nested) list of numbers, "
                        f"received {_short(x)}.")
    if a.dtype.kind == "b":
        return a
    if a.dtype.kind == "f" or a.size == 0:
        if a.dtype == np.float64 or a.size == 0:
            return a.astype(config.floatx())
        return a
    if a.dtype == np.int64 and (a.size == 0 or (a.min() >= -2**31 and a.max() < 2**31)):
        return a.astype(np.int32)
    return a


def _pure_numbers(x) -> bool:
    """True for a (nested) list/tuple holding only Python numbers."""
    if type(x) is list or type(x) is tuple:
        return all(_pure_numbers(v) for v in x)
    return type(x) in (bool, int, float)


def operands(*names):
    """Decorator for public ops: the named parameters, when given as Python data (nested
    lists/tuples of numbers), become arrays with TF's dtypes (:func:`py_array`) before
    the op looks at them, as TF converts every operand. Lists holding tensors or arrays,
    and every other value, pass unchanged."""
    def deco(f):
        params = list(inspect.signature(f).parameters)
        pos = tuple((params.index(n), n) for n in names)
        opname = f.__name__

        def convert(v):
            if (type(v) is list or type(v) is tuple) and v and _pure_numbers(v):
                return py_array(v, opname)
            return v

        idx = tuple(i for i, _ in pos)

        # Kept to a few type checks: it runs on every eager call of the op.
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            for i in idx:
                if i < len(args):
                    t = type(args[i])
                    if t is list or t is tuple:
                        args = tuple(convert(a) if j in idx else a
                                     for j, a in enumerate(args))
                        break
            if kwargs:
                for _, name in pos:
                    if name in kwargs:
                        kwargs[name] = convert(kwargs[name])
            return f(*args, **kwargs)

        return wrapper
    return deco


def cast_to_floatx(x) -> np.ndarray:
    """A NumPy array (host side) of dtype floatx(); scalars give 0-d arrays.

    ``None``, strings, objects and ragged lists raise (NumPy would make NaN of them).
    """
    return np.asarray(host_array(x, "cast_to_floatx"), dtype=config.floatx())


def host_array(value, op_name: str, what: str = "value"):
    """``value`` (host data) as an array, refusing what TF refuses to convert.

    ``None``, strings, objects, object arrays and ragged lists raise a ValueError (None,
    ragged) or TypeError (the rest) naming ``op_name``; NumPy would turn them into NaN or
    0-d object arrays. Arrays (``jax.Array`` and tracers included) pass through; lists keep
    NumPy's dtypes (the caller casts to the dtype it wants).
    """
    if isinstance(value, (jax.Array, _Tracer)) or hasattr(value, "todense"):
        return value
    if value is None:
        raise ValueError(f"{op_name}: received None as the {what}; expected an array, a "
                         "number or a (nested) list of numbers.")
    if isinstance(value, (list, tuple)):
        if not _py_scalars(value, []):
            raise TypeError(f"{op_name}: expected a (nested) list of numbers as the {what}, "
                            f"received {_short(value)}.")
        try:
            return np.asarray(value)
        except ValueError:
            raise ValueError(f"{op_name}: a nested list must be rectangular (not ragged); "
                             f"received {_short(value)} as the {what}.") from None
    a = np.asarray(value)
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{op_name}: expected numbers as the {what}, received "
                        f"{_short(value)} (dtype {a.dtype.name}).")
    return a


def owned_array(value, dtype=None) -> jax.Array:
    """A new device buffer holding ``value`` (NumPy/host data or a concrete ``jax.Array``)
    as ``dtype`` (default: its own, canonicalized), that nothing else references.

    Casts happen on the host and the copy is a ``device_put``, so no XLA program is compiled
    per shape (``jnp.array`` compiles one or two, 5-10 ms each on the CPU: the set-up of a
    model, whose weights all differ in shape, paid them once per weight).
    """
    dt = jax.dtypes.canonicalize_dtype(value.dtype if dtype is None else dtype)
    if not isinstance(value, jax.Array) or value.dtype != dt:
        value = np.asarray(value).astype(dt, copy=False)
    # Concrete even when called inside a trace (device_put would give a tracer there).
    with jax.ensure_compile_time_eval():
        return jax.device_put(value, may_alias=False)


def _short(x, limit=80) -> str:
    r = repr(x)
    return r if len(r) <= limit else r[:limit] + "..."


def static_value(v):
    """``v`` with values known when the graph is built made concrete: a ``K.constant``
    becomes its NumPy value; anything else is returned as it is."""
    if isinstance(v, Constant):
        return np.asarray(v.value)
    return v


def is_tensor(x) -> bool:
    """True for jkb symbolic tensors (placeholders, variables, nodes); False for data."""
    return isinstance(x, Tensor)


def _operand(other, tensor):
    """A Python list/tuple operand as an array, converted as TF converts it: to the
    tensor's dtype when its numbers fit that kind (ints into any numeric dtype, floats
    into float dtypes), else with :func:`py_array`'s dtypes."""
    if not isinstance(other, (list, tuple)) or _has_tensor(other):
        return other
    a = py_array(other, "operator")
    dt = tensor.dtype
    if a.dtype.kind in "biu" and dt.kind in "iuf" or a.dtype.kind == "f" and dt.kind == "f":
        if not (a.dtype.kind == "b" and dt.kind != "b"):
            a = a.astype(dt)
    return a


def _binary(fn, name):
    lifted = op(fn, name=name)

    def forward(self, other):
        return lifted(self, _operand(other, self))

    def reflected(self, other):
        return lifted(_operand(other, self), self)

    return forward, reflected


for _name, _fn in [("add", jnp.add), ("sub", jnp.subtract), ("mul", jnp.multiply),
                   ("truediv", jnp.true_divide), ("floordiv", jnp.floor_divide),
                   ("mod", jnp.mod), ("pow", jnp.power), ("matmul", jnp.matmul),
                   ("and", jnp.logical_and), ("or", jnp.logical_or),
                   ("xor", jnp.logical_xor)]:
    _f, _r = _binary(_fn, _name)
    setattr(Tensor, f"__{_name}__", _f)
    setattr(Tensor, f"__r{_name}__", _r)
for _name, _fn in [("lt", jnp.less), ("le", jnp.less_equal), ("gt", jnp.greater),
                   ("ge", jnp.greater_equal)]:
    setattr(Tensor, f"__{_name}__", _binary(_fn, _name)[0])
