"""Runs an op three ways and compares each with a NumPy reference.

1. plain arrays (``jnp.asarray`` inputs) -> must return a ``jax.Array`` (not a Tensor);
2. ``K.variable`` inputs + ``K.eval``;
3. ``K.placeholder`` inputs (with ``None`` dims) + ``K.function``; the statically inferred
   shape must agree with the computed one on every known dim.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jkb as K
from jkb.core import Tensor


def _cmp(got, want, rtol, atol, mode):
    got_l, want_l = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got_l) == len(want_l), f"[{mode}] {len(got_l)} outputs, expected {len(want_l)}"
    for g, w in zip(got_l, want_l):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"[{mode}] shape {g.shape} != expected {w.shape}"
        if w.dtype == bool or np.issubdtype(w.dtype, np.integer):
            np.testing.assert_array_equal(g, w, err_msg=f"[{mode}]")
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"[{mode}]")


def _static_ok(t, value, mode):
    for t_, v in zip(jax.tree_util.tree_leaves(t, is_leaf=lambda x: isinstance(x, Tensor)),
                     jax.tree_util.tree_leaves(value)):
        if isinstance(t_, Tensor):
            v = np.asarray(v)
            assert len(t_.shape) == v.ndim, f"[{mode}] static rank {t_.shape} vs {v.shape}"
            for s, d in zip(t_.shape, v.shape):
                assert s is None or s == d, f"[{mode}] static shape {t_.shape} vs {v.shape}"


def check(fn, ref, *arrays, rtol=1e-5, atol=1e-6, none="batch", dtype_check=True,
          modes=("plain", "variable", "placeholder")):
    """Checks ``fn(*tensors)`` against ``ref(*arrays)`` in each mode.

    ``none``: which placeholder dims are unknown: 'batch' (dim 0), 'all', None (all known),
    or a list with one of those (or an explicit placeholder shape tuple) per array.
    ``dtype_check``: also require the dtype of the reference result.
    """
    arrays = [np.asarray(a) for a in arrays]
    want = ref(*arrays)
    results = {}
    if "plain" in modes:
        got = fn(*[jnp.asarray(a) for a in arrays])
        for leaf in jax.tree_util.tree_leaves(got, is_leaf=lambda x: isinstance(x, Tensor)):
            assert not isinstance(leaf, Tensor), "[plain] returned a symbolic tensor"
        _cmp(got, want, rtol, atol, "plain")
        results["plain"] = got
    if "variable" in modes:
        vs = [K.variable(a, dtype=a.dtype) for a in arrays]
        t = fn(*vs)
        got = jax.tree_util.tree_map(
            lambda x: K.eval(x) if isinstance(x, Tensor) else x, t,
            is_leaf=lambda x: isinstance(x, Tensor))
        _static_ok(t, got, "variable")
        _cmp(got, want, rtol, atol, "variable")
        results["variable"] = got
    if "placeholder" in modes:
        specs = none if isinstance(none, list) else [none] * len(arrays)

        def pshape(a, spec):
            if spec == "all":
                return (None,) * a.ndim
            if spec == "batch" and a.ndim:
                return (None,) + a.shape[1:]
            if isinstance(spec, tuple):
                return spec
            return a.shape

        ps = [K.placeholder(shape=pshape(a, sp), dtype=a.dtype) for a, sp in zip(arrays, specs)]
        t = fn(*ps)
        outs = jax.tree_util.tree_leaves(t, is_leaf=lambda x: isinstance(x, Tensor))
        f = K.function(ps, outs)
        got_l = f(list(arrays))
        got = jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(t, is_leaf=lambda x: isinstance(x, Tensor)), got_l)
        _static_ok(t, got, "placeholder")
        _cmp(got, want, rtol, atol, "placeholder")
        results["placeholder"] = got
    if dtype_check:
        for mode, got in results.items():
            for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
                assert np.asarray(g).dtype == np.asarray(w).dtype, \
                    f"[{mode}] dtype {np.asarray(g).dtype} != expected {np.asarray(w).dtype}"
    return results
