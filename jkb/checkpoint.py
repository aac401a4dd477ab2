"""Sharded checkpoints of the session's variables and random state (orbax-checkpoint).

``save`` writes each value shard by shard from the devices that hold it (every process
writes its own shards; nothing is gathered onto one host). ``restore`` reads each value
straight onto the variable's *current* sharding, so a checkpoint saved from one mesh
restores onto any other (8 devices -> 1, (2, 4) -> (8,)). Values are keyed by variable
name; every process must call both functions (orbax coordinates the writes).

Needs ``orbax-checkpoint`` (``pip install 'jkb[checkpoint]'``).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from .state import get_session

__all__ = ["save", "restore"]


def _ocp():
    try:
        import orbax.checkpoint as ocp
    except ImportError as e:
        raise ImportError("jkb.checkpoint needs orbax-checkpoint: pip install "
                          "'jkb[checkpoint]' (or orbax-checkpoint).") from e
    return ocp


def _variables(variables, op):
    sess = get_session()
    vs = list(sess.variables.values()) if variables is None else list(variables)
    seen = {}
    for v in vs:
        sess.read(v)  # a clear error for a variable of another session
        if v.name in seen:
            raise ValueError(f"jkb.checkpoint.{op}: two variables are named {v.name}; "
                             "checkpoints key values by name.")
        seen[v.name] = v
    return seen


def save(directory, variables=None) -> None:
    """Writes ``variables`` (default: every variable of the session) and the random state
    (key, step, the seeded ops' draw counters) to ``directory`` (created; it must not
    exist yet)."""
    ocp = _ocp()
    named = _variables(variables, "save")
    st = get_session()._state
    names = sorted(named)
    draw_ids = sorted(st.draws)
    tree = {"variables": [st.values[named[n].uid] for n in names],
            "key": st.key, "step": st.step, "draws": [st.draws[d] for d in draw_ids]}
    meta = {"names": names, "draw_ids": draw_ids,
            "shapes": [list(named[n].shape) for n in names],
            "dtypes": [np.dtype(named[n].dtype).name for n in names]}
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
        ckptr.save(os.path.abspath(directory), args=ocp.args.Composite(
            state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)))


def restore(directory, variables=None) -> None:
    """Reads ``variables`` (default: every variable of the session) and the random state
    from ``directory``, each onto the current sharding of what it replaces.

    Names, shapes and dtypes are checked first; on any mismatch a ``ValueError`` lists
    all of them and nothing is changed. Values the checkpoint holds for other variables
    are ignored.
    """
    ocp = _ocp()
    path = os.path.abspath(directory)
    named = _variables(variables, "restore")
    sess = get_session()
    st = sess._state
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
        meta = ckptr.restore(path, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        meta = meta["meta"]
        saved = {n: (tuple(s), d) for n, s, d in
                 zip(meta["names"], meta["shapes"], meta["dtypes"])}
        problems = []
        for name, v in sorted(named.items()):
            if name not in saved:
                problems.append(f"{name}: not in the checkpoint")
                continue
            shape, dtype = saved[name]
            want = (tuple(v.shape), np.dtype(v.dtype).name)
            if (shape, dtype) != want:
                problems.append(f"{name}: checkpoint has {dtype}{list(shape)}, the "
                                f"variable is {want[1]}{list(want[0])}")
        if problems:
            raise ValueError(f"jkb.checkpoint.restore({directory!r}): the checkpoint does "
                             "not match the variables; nothing was restored:\n  "
                             + "\n  ".join(problems))
        anywhere = jax.sharding.NamedSharding(
            jax.sharding.Mesh(np.asarray(jax.devices(), dtype=object), ("all",)),
            jax.sharding.PartitionSpec())

        def target(name):
            v = named.get(name)
            shape, dtype = saved[name]
            sharding = st.values[v.uid].sharding if v is not None else anywhere
            return jax.ShapeDtypeStruct(shape, np.dtype(dtype), sharding=sharding)

        abstract = {"variables": [target(n) for n in meta["names"]],
                    "key": jax.ShapeDtypeStruct(np.shape(st.key), st.key.dtype,
                                                sharding=st.key.sharding),
                    "step": jax.ShapeDtypeStruct((), st.step.dtype,
                                                 sharding=st.step.sharding),
                    "draws": [jax.ShapeDtypeStruct((), np.uint32, sharding=st.step.sharding)
                              for _ in meta["draw_ids"]]}
        tree = ckptr.restore(path, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))["state"]
    values = dict(zip(meta["names"], tree["variables"]))
    st.values.update({v.uid: values[name] for name, v in named.items()})
    st.key, st.step = tree["key"], tree["step"]
    # Draw counters are keyed by the ops' per-session ids: a model rebuilt in the same
    # order in a new session has the same ids.
    st.draws = dict(zip(meta["draw_ids"], tree["draws"]))
