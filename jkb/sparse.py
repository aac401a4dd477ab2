"""Sparse tensors: ``jax.experimental.sparse.BCOO`` values behind sparse placeholders/variables.

A sparse placeholder (``K.placeholder(..., sparse=True)``) is fed with a scipy.sparse
matrix (or a BCOO / dense array), which :func:`to_bcoo` turns into a BCOO; ``K.variable``
of a scipy matrix stores a BCOO too. Ops that accept sparse operands (``K.dot``,
``K.concatenate`` in shapes.py, :func:`to_dense`) check for BCOO *values* inside their op
function; every other op sees a sparse tensor only after :func:`to_dense`.

The number of stored elements of a fed matrix is padded up to a power of two (padding
entries hold 0 at an out-of-range index, jax's own convention), so batches whose non-zero
counts differ share one compiled program instead of recompiling for every batch.

scipy is imported lazily: it is only needed by callers that hand us scipy matrices.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.experimental.sparse import BCOO

from .core import Tensor, _Tracer, op

__all__ = ["to_dense"]


def holds_sparse(x) -> bool:
    """True when ``x`` (a jkb tensor or a value) is, or evaluates to, a BCOO."""
    if isinstance(x, Tensor):
        if getattr(x, "sparse", False):
            return True
        # A node's inferred output (kept by core) is a BCOO exactly when the op returns one.
        return any(isinstance(s, BCOO) for s in getattr(x, "_specs", {}).values())
    return isinstance(x, BCOO)


def _bucket(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _is_scipy_sparse(value) -> bool:
    mod = type(value).__module__ or ""
    return mod.startswith("scipy.sparse") and hasattr(value, "tocoo")


def _padded(data, indices, shape, nse):
    """(data, indices) padded to ``nse`` entries with zeros at the out-of-range index."""
    n = data.shape[0]
    if nse == n:
        return data, indices
    pad_data = np.zeros((nse - n,), data.dtype)
    pad_idx = np.broadcast_to(np.asarray(shape, indices.dtype), (nse - n, len(shape)))
    return np.concatenate([data, pad_data]), np.concatenate([indices, pad_idx])


def to_bcoo(value, dtype=None) -> BCOO:
    """A BCOO of ``dtype`` from a scipy.sparse matrix, a BCOO or a dense array.

    Host inputs get their stored-element count padded up to a power of two (see module
    docstring). ``dtype=None`` keeps the value's dtype.
    """
    if isinstance(value, Tensor):
        raise TypeError(f"to_bcoo: cannot convert the symbolic tensor {value.name} "
                        "(feed a concrete scipy.sparse matrix, BCOO or array).")
    if isinstance(value, BCOO):
        if dtype is None or value.dtype == np.dtype(dtype):
            return value
        return BCOO((value.data.astype(dtype), value.indices), shape=value.shape,
                    indices_sorted=value.indices_sorted, unique_indices=value.unique_indices)
    if _is_scipy_sparse(value):
        coo = value.tocoo()
        coo.sum_duplicates()  # canonical (sorted, unique) entries
        data = np.asarray(coo.data, dtype=dtype if dtype is not None else coo.dtype)
        indices = np.stack([coo.row, coo.col], axis=1).astype(np.int32)
        shape = tuple(int(d) for d in coo.shape)
    else:
        if isinstance(value, _Tracer):
            dense = jnp.asarray(value, dtype=dtype)
            # The non-zero count of a traced value is unknown: store every element.
            return BCOO.fromdense(dense, nse=max(dense.size, 1))
        try:
            dense = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"to_bcoo: cannot make a sparse {dtype} value from "
                            f"{type(value).__name__}: {e}") from e
        if dense.ndim == 0:
            raise ValueError(f"to_bcoo: a sparse value needs rank >= 1, got the scalar "
                             f"{dense!r}.")
        nz = np.nonzero(dense)
        data = dense[nz]
        indices = np.stack(nz, axis=1).astype(np.int32)
        shape = dense.shape
    data, indices = _padded(data, indices, shape, _bucket(data.shape[0]))
    return BCOO((jnp.asarray(data), jnp.asarray(indices)), shape=shape,
                indices_sorted=True, unique_indices=False)


@op(name="to_dense")
def _to_dense(x):
    if isinstance(x, BCOO) and x.dtype == jnp.bool_:  # densifying sums: go through int8
        return BCOO((x.data.astype(jnp.int8), x.indices), shape=x.shape).todense() != 0
    return x.todense() if isinstance(x, BCOO) else jnp.asarray(x)


def to_dense(tensor):
    """The dense equivalent of a sparse tensor; a dense input comes back unchanged."""
    if isinstance(tensor, Tensor):
        return _to_dense(tensor) if holds_sparse(tensor) else tensor
    if isinstance(tensor, BCOO):
        return _to_dense(tensor)
    return tensor
