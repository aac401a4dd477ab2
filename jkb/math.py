"""Elementwise math, comparisons and reductions."""

from __future__ import annotations

import jax.numpy as jnp

from . import config
from .core import op

__all__ = ["cast"]


def cast(x, dtype):
    """x converted to ``dtype`` (a name or dtype object); float -> int truncates."""
    dt = config.check_dtype(dtype, "cast")
    return _cast(x, dt)


@op(name="cast")
def _cast(x, dt):
    return jnp.asarray(x).astype(dt)
