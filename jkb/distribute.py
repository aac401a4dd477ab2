"""Placement policy: device meshes and shardings for variables, feeds and programs.

A *distribution* says where arrays live; it never changes what is computed. ``K.function``
and variable creation ask the current one (``get_distribution()``, or the one given to
``K.function``) for shardings and hand them to ``jax.device_put`` and ``jax.jit``; XLA
partitions the one SPMD program, so batch statistics are over the global batch and the
numbers are those of one device. With no distribution set (the default), nothing here runs.

- :class:`DataParallel`: a 1-D mesh ``("batch",)``; variables replicated, every fed array
  split along its first dim.
- :class:`ModelParallel`: any mesh; variables sharded by a regex layout on their names,
  fed arrays split over ``batch_axis``.

A fed array whose first dim does not divide the batch axis (the last batch of an epoch)
is fed replicated instead: jit compiles a second program for that input sharding, and the
rows are computed exactly, none dropped or padded.

Several processes (``initialize``): meshes span every process's devices; each process feeds
its own rows of the global batch (``jax.make_array_from_process_local_data``) and gets the
outputs of the whole global batch back.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .random import set_random_seed
from .state import get_session

__all__ = [
    "Distribution", "DataParallel", "ModelParallel", "set_distribution", "get_distribution",
    "initialize", "is_chief",
]

_current: Distribution | None = None


class Distribution:
    """A mesh, the mesh axis that splits the batch, and a sharding for each variable."""

    def __init__(self, mesh: Mesh, batch_axis: str = "batch"):
        if batch_axis not in mesh.axis_names:
            raise ValueError(f"{type(self).__name__}: batch_axis {batch_axis!r} is not an "
                             f"axis of the mesh (axes {mesh.axis_names}).")
        self.mesh = mesh
        self.batch_axis = batch_axis
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self._batch = {}  # ndim -> sharding that splits dim 0
        self._multiprocess = jax.process_count() > 1

    @property
    def batch_size(self) -> int:
        """How many devices the batch is split over (a fed first dim must divide it)."""
        return self.mesh.shape[self.batch_axis]

    def variable_spec(self, name: str, shape: tuple) -> PartitionSpec:
        """How the variable named ``name`` of ``shape`` is split (``P()``: replicated)."""
        return PartitionSpec()

    def variable_sharding(self, var) -> NamedSharding:
        """The sharding of a jkb variable (sparse variables are replicated)."""
        if getattr(var, "sparse", False):
            return self.replicated
        return NamedSharding(self.mesh, self.variable_spec(var.name, tuple(var.shape)))

    def batch_sharding(self, ndim: int) -> NamedSharding:
        """Dim 0 split over the batch axis, the other ``ndim - 1`` dims whole."""
        s = self._batch.get(ndim)
        if s is None:
            s = self._batch[ndim] = NamedSharding(
                self.mesh, PartitionSpec(self.batch_axis, *([None] * (ndim - 1))))
        return s

    def feed_sharding(self, value) -> NamedSharding:
        """Split over the batch axis when dim 0 divides it, else replicated (sparse
        feeds too: their index arrays do not follow the dense rows)."""
        shape = np.shape(value)
        if (len(shape) and shape[0] and shape[0] % self.batch_size == 0
                and not hasattr(value, "nse")):
            return self.batch_sharding(len(shape))
        return self.replicated

    def put_feeds(self, feeds: Sequence, names: Sequence[str]) -> list:
        """The fed arrays on the mesh: a process's rows of the global batch, or whole."""
        if not self._multiprocess:
            return jax.device_put(list(feeds), [self.feed_sharding(f) for f in feeds])
        out = []
        for f, name in zip(feeds, names):
            f = np.asarray(f)
            if f.ndim == 0:
                out.append(jax.device_put(f, self.replicated))
                continue
            local = self.batch_size // jax.process_count()
            if local == 0 or f.shape[0] % local:
                raise ValueError(
                    f"placeholder {name}: with {jax.process_count()} processes each "
                    f"process feeds its own rows of the batch, and {f.shape[0]} rows do not "
                    f"divide over this process's {local} devices of the batch axis.")
            out.append(jax.make_array_from_process_local_data(
                self.batch_sharding(f.ndim), f))
        return out

    @contextlib.contextmanager
    def scope(self):
        """``with dist.scope():`` sets this distribution for the block, then restores."""
        before = get_distribution()
        set_distribution(self)
        try:
            yield self
        finally:
            set_distribution(before)

    def __repr__(self):
        return (f"{type(self).__name__}(mesh={dict(self.mesh.shape)}, "
                f"batch_axis={self.batch_axis!r})")


class DataParallel(Distribution):
    """Data parallelism: a 1-D mesh ``("batch",)`` over ``devices`` (default: every
    device of every process), variables replicated, fed arrays split along dim 0."""

    def __init__(self, devices=None):
        devices = jax.devices() if devices is None else list(devices)
        if not devices:
            raise ValueError("DataParallel: no devices given.")
        super().__init__(Mesh(np.asarray(devices, dtype=object), ("batch",)), "batch")


class ModelParallel(Distribution):
    """Variables sharded over a mesh by name, fed arrays split over ``batch_axis``.

    ``layout`` is a list of ``(regex, spec)`` pairs; ``spec`` has one entry per dim of the
    variable: a mesh axis name (or a tuple of names) to split that dim over, or ``None``.
    A variable whose name (e.g. ``dense_1/kernel:0``) ``re.fullmatch``es one regex gets
    that spec; none: replicated; two: an error naming both.
    """

    def __init__(self, mesh: Mesh, layout, batch_axis: str = "batch"):
        super().__init__(mesh, batch_axis)
        self.layout = []
        for rule in layout:
            try:
                regex, spec = rule
            except (TypeError, ValueError):
                raise ValueError(f"ModelParallel: layout entries are (regex, spec) pairs, "
                                 f"got {rule!r}.") from None
            spec = tuple(spec) if spec is not None else ()
            for axis in spec:
                for a in (axis if isinstance(axis, tuple) else (axis,)):
                    if a is not None and a not in mesh.axis_names:
                        raise ValueError(f"ModelParallel: layout {regex!r} names mesh axis "
                                         f"{a!r}; the mesh has {mesh.axis_names}.")
            self.layout.append((regex, re.compile(regex), spec))

    def variable_spec(self, name: str, shape: tuple) -> PartitionSpec:
        hits = [(r, spec) for r, rx, spec in self.layout if rx.fullmatch(name)]
        if not hits:
            return PartitionSpec()
        if len(hits) > 1:
            raise ValueError(f"ModelParallel: variable {name} matches two layout rules, "
                             f"{hits[0][0]!r} and {hits[1][0]!r}.")
        regex, spec = hits[0]
        if len(spec) != len(shape):
            raise ValueError(f"ModelParallel: layout {regex!r} gives {len(spec)} dims "
                             f"{spec} to variable {name} of shape {shape} (rank "
                             f"{len(shape)}).")
        for dim, axis in zip(shape, spec):
            if axis is None:
                continue
            n = int(np.prod([self.mesh.shape[a] for a in
                             (axis if isinstance(axis, tuple) else (axis,))]))
            if dim % n:
                raise ValueError(f"ModelParallel: layout {regex!r} splits a dim of size "
                                 f"{dim} of variable {name} {shape} over {axis!r} ({n} "
                                 "devices), which does not divide it.")
        return PartitionSpec(*spec)


def get_distribution() -> Distribution | None:
    """The distribution that new variables and ``K.function``s use (None: one device)."""
    return _current


def set_distribution(dist: Distribution | None) -> None:
    """Makes ``dist`` current and moves the session's variables onto its shardings.

    Every sharding is computed before anything moves, so a layout error changes nothing.
    """
    global _current
    if dist is not None and not isinstance(dist, Distribution):
        raise TypeError(f"set_distribution expects a jkb.distribute.Distribution or None, "
                        f"got {type(dist).__name__}.")
    if dist is not None:
        sess = get_session()
        place_state(sess, dist, sess.variables.values())
    _current = dist


def place_state(sess, dist: Distribution, variables) -> None:
    """Moves the values of ``variables`` (and the random state) in the live state
    of ``sess`` onto ``dist``'s shardings; arrays already there are left as they are."""
    st = sess._state
    # Every sharding first: a layout error (naming the variable) then moves nothing.
    targets = [(v.uid, dist.variable_sharding(v)) for v in variables if v.uid in st.values]
    st.values.update({u: _put(st.values[u], t, dist) for u, t in targets
                      if not _placed(st.values[u], t)})
    if not _placed(st.key, dist.replicated):
        st.key = _put(st.key, dist.replicated, dist)
    if not _placed(st.step, dist.replicated):
        st.step = _put(st.step, dist.replicated, dist)
    st.draws.update({d: _put(c, dist.replicated, dist) for d, c in st.draws.items()
                     if not _placed(c, dist.replicated)})


def _placed(a, sharding) -> bool:
    s = getattr(a, "sharding", None)
    if s is None or s.device_set != sharding.device_set:
        return False
    return s.is_equivalent_to(sharding, np.ndim(a))


def _put(a, sharding, dist):
    # Several processes: every process holds the same host value, and device_put of a
    # host value onto a global sharding takes each process's own part of it.
    if dist._multiprocess and isinstance(a, jax.Array):
        a = np.asarray(a) if a.is_fully_addressable else a
    return jax.device_put(a, sharding)


def initialize(coordinator_address=None, num_processes=None, process_id=None, **kwargs):
    """Starts multi-process JAX (``jax.distributed.initialize``, arguments passed on; none:
    JAX's auto-detection), then gives every process's session the chief's random seed, so
    initializers and dropout draw the same numbers on every process.

    Call it before anything starts a JAX backend (importing jkb starts none).
    """
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id, **kwargs)
    seed = int(multihost_utils.broadcast_one_to_all(np.int64(get_session().seed)))
    set_random_seed(seed)


def is_chief() -> bool:
    """True on process 0 (the one that writes files)."""
    return jax.process_index() == 0
