"""Opt-in persistent compilation cache: compiled XLA programs are kept on disk.

A Keras-style script recompiles its training and prediction functions every time it
starts. With the cache on, a later process that builds the same programs (same graph,
shapes, dtypes, jax/jaxlib version and device) loads the executables from disk instead of
compiling them; tracing still happens. Switch it on with

* the environment variable ``JKB_COMPILATION_CACHE=<dir>`` (read when jkb is imported), or
* ``jkb.cache.enable_compilation_cache(<dir>)`` before the first compilation you want kept.

jkb programs often compile in well under a second, which JAX's default thresholds would
not keep (``jax_persistent_cache_min_compile_time_secs`` is 1 s): the cache jkb turns on
keeps every program. The directory is trusted code: do not share it with untrusted users.
"""

from __future__ import annotations

import os

__all__ = ["enable_compilation_cache", "disable_compilation_cache", "enable_from_env"]

ENV_VAR = "JKB_COMPILATION_CACHE"


def enable_compilation_cache(path, min_compile_time_secs: float = 0.0,
                             min_entry_size_bytes: int = 0) -> str:
    """Keeps compiled programs in the directory ``path`` (created if missing).

    Programs that compiled faster than ``min_compile_time_secs`` or whose serialized size
    is below ``min_entry_size_bytes`` are not written. Returns the absolute path.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    os.makedirs(path, exist_ok=True)
    if jax.config.jax_compilation_cache_dir not in (None, path):
        cc.reset_cache()  # the cache object is bound to its directory once first used
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      float(min_compile_time_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", int(min_entry_size_bytes))
    return path


def disable_compilation_cache() -> None:
    """Stops reading and writing the persistent cache (files on disk are kept)."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    jax.config.update("jax_compilation_cache_dir", None)
    cc.reset_cache()


def enable_from_env() -> str | None:
    """Enables the cache in ``$JKB_COMPILATION_CACHE`` when that variable is set and not
    empty; returns the directory or None."""
    path = os.environ.get(ENV_VAR, "").strip()
    if not path:
        return None
    return enable_compilation_cache(path)
