"""JAX's default key derivation (Threefry-2x32) computed with NumPy, for concrete keys.

``jax.random`` derives keys with the Threefry-2x32 block cipher (20 rounds; Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011). Run eagerly, ``jax.random.key``
and ``fold_in`` compile a handful of tiny XLA programs in every process (0.1-0.15 s on a
2-core CPU, paid by every script that builds a model: its initializers' keys). The
functions here give the same bits on the host. They hold only for JAX's default
implementation, ``threefry2x32``: check :func:`usable` first.
"""

from __future__ import annotations

import jax
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def usable() -> bool:
    """Whether JAX's default generator is the one computed here."""
    return jax.config.jax_default_prng_impl == "threefry2x32"


def _rotl(v, r: int):
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def _cipher(key, x0, x1) -> np.ndarray:
    """Threefry-2x32 of the counter words (x0, x1) under the two key words; (2,) uint32.

    Arithmetic on 1-element uint32 arrays wraps modulo 2**32 without warnings."""
    k = np.asarray(key, np.uint32).reshape(2)
    ks = (k[:1], k[1:], k[:1] ^ k[1:] ^ _PARITY)
    a = np.array([x0], np.uint32) + ks[0]
    b = np.array([x1], np.uint32) + ks[1]
    for i in range(5):  # 5 x 4 rounds, a key injection after each 4
        for r in _ROTATIONS[i % 2]:
            a = a + b
            b = _rotl(b, r) ^ a
        a = a + ks[(i + 1) % 3]
        b = b + ks[(i + 2) % 3] + np.uint32(i + 1)
    return np.concatenate([a, b])


def fold_in(key, data) -> np.ndarray:
    """``key_data(fold_in(wrap_key_data(key), data))`` for key data (2,) uint32 and an
    integer ``data`` in [0, 2**32)."""
    return _cipher(key, 0, int(data))


def seed_key(seed: int) -> np.ndarray | None:
    """``key_data(jax.random.key(seed))``, or None where x64 matters (seeds outside
    [0, 2**31): JAX truncates them to 32 bits when x64 is off)."""
    return np.array([0, seed], np.uint32) if 0 <= seed < 2**31 else None
