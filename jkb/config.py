"""Global configuration: floatx, epsilon, image data format, and the float64 policy.

When multi-backend Keras 2.3.1 imports jkb as its backend, Keras keeps these values in its
own ``keras.backend.common`` module and copies its own getters over ours. So every getter
here reads from that module whenever it is loaded, and every setter writes to it: there is
one source of truth, and no value is cached at import time.

float64 policy (x64): jkb never overrides a choice the user made, and by default leaves
JAX's own setting alone.

- ``import jkb`` changes nothing: JAX's ``jax_enable_x64`` (False unless the user set
  ``JAX_ENABLE_X64=1`` or called ``jax.config.update``) stays what it is, so a JAX project's
  own arrays keep JAX's 32-bit defaults.
- ``JKB_ENABLE_X64=1`` (or ``0``) before importing jkb asks jkb to turn x64 on (or off) at
  import: an explicit choice.
- When multi-backend Keras 2.3.1 loads jkb as its backend (``KERAS_BACKEND=jkb``), jkb turns
  x64 on, since Keras 2.3.1 itself asks for 64-bit types by name (every optimizer makes an
  ``int64`` ``iterations`` variable) -- unless the user chose: ``JKB_ENABLE_X64`` or
  ``JAX_ENABLE_X64`` set, or x64 already on. (A ``jax.config.update("jax_enable_x64",
  False)`` made before importing Keras cannot be told apart from JAX's default; set
  ``JAX_ENABLE_X64=0`` to keep Keras on 32 bits.)

jkb follows JAX's *live* setting, so turning x64 on or off later also works. With x64 off,
asking for a 64-bit dtype by name (``K.variable(..., dtype='float64')``, ``K.cast(x,
'int64')``) raises a clear error instead of computing silently in 32 bits, and the ops whose
TF result is int64 (``argmax``, ``argmin``, ``ctc_decode``) return int32 (see
:func:`index_dtype`). Every jkb op picks its dtypes explicitly (``floatx()`` by default), so
with x64 on nothing in jkb gets wider by accident.
"""

from __future__ import annotations

import os
import sys

import jax
import numpy as np

_FLOATX = {"float16", "float32", "float64"}
_FORMATS = {"channels_first", "channels_last"}
_local = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last"}



def _env_flag(name):
    """True/False for a set environment flag, None when unset or empty."""
    v = os.environ.get(name, "").strip().lower()
    if not v:
        return None
    return v not in ("0", "false", "no", "off")


# The user's explicit choice, as seen at import (None: no choice made that jkb can see).
_USER_X64 = _env_flag("JKB_ENABLE_X64")
if _USER_X64 is None:
    _USER_X64 = _env_flag("JAX_ENABLE_X64")
    _JKB_ASKED = False
else:
    _JKB_ASKED = True
if _USER_X64 is None and jax.config.jax_enable_x64:
    _USER_X64 = True  # turned on by the user's own code before importing jkb
if _JKB_ASKED:
    jax.config.update("jax_enable_x64", _USER_X64)  # a config flag: starts no backend


def x64() -> bool:
    """Whether 64-bit dtypes are available (JAX's live ``jax_enable_x64``)."""
    return bool(jax.config.jax_enable_x64)


def index_dtype():
    """The dtype of index results TF gives as int64 (argmax, argmin, ctc_decode paths):
    int64 when x64 is on, else int32 (so no 64-bit request is truncated with a warning)."""
    return np.dtype(np.int64) if x64() else np.dtype(np.int32)


def _x64_for_keras() -> None:
    """Called when Keras 2.3.1 loads jkb: turns x64 on unless the user chose (see the
    module docstring)."""
    if _USER_X64 is None and not x64():
        jax.config.update("jax_enable_x64", True)


def __getattr__(name):  # ``config.X64``, as before: now the live setting
    if name == "X64":
        return x64()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _keras_common():
    """Keras 2.3.1's config module, when Keras is the one that loaded jkb."""
    mod = sys.modules.get("keras.backend.common")
    return mod if mod is not None and hasattr(mod, "_FLOATX") else None


def floatx() -> str:
    """The default float dtype name: 'float16', 'float32' (default) or 'float64'."""
    common = _keras_common()
    return common.floatx() if common else _local["floatx"]


def set_floatx(value: str) -> None:
    """Sets the default float dtype ('float16', 'float32' or 'float64')."""
    value = str(value)
    if value not in _FLOATX:
        raise ValueError(f"set_floatx: unknown floatx type {value!r}; expected one of "
                         f"{sorted(_FLOATX)}.")
    if value == "float64":
        check_dtype("float64", "set_floatx")
    common = _keras_common()
    if common:
        common.set_floatx(value)
    else:
        _local["floatx"] = value


def epsilon() -> float:
    """The fuzz factor used to clip probabilities and avoid division by zero (1e-7)."""
    common = _keras_common()
    return common.epsilon() if common else _local["epsilon"]


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor."""
    common = _keras_common()
    if common:
        common.set_epsilon(value)
    else:
        _local["epsilon"] = float(value)


def image_data_format() -> str:
    """'channels_last' (default) or 'channels_first'."""
    common = _keras_common()
    return common.image_data_format() if common else _local["image_data_format"]


def set_image_data_format(data_format: str) -> None:
    """Sets the default layout: 'channels_last' or 'channels_first'."""
    if data_format not in _FORMATS:
        raise ValueError(f"set_image_data_format: unknown data_format {data_format!r}; "
                         f"expected 'channels_first' or 'channels_last'.")
    common = _keras_common()
    if common:
        common.set_image_data_format(data_format)
    else:
        _local["image_data_format"] = str(data_format)


def normalize_data_format(value: str | None) -> str:
    """None -> the global default; otherwise lower-cased and validated."""
    if value is None:
        return image_data_format()
    fmt = str(value).lower()
    if fmt not in _FORMATS:
        raise ValueError(f"The `data_format` argument must be one of 'channels_first', "
                         f"'channels_last'. Received: {value!r}")
    return fmt


def image_dim_ordering() -> str:
    """Legacy name of the data format: 'th' (channels_first) or 'tf' (channels_last)."""
    return "th" if image_data_format() == "channels_first" else "tf"


def set_image_dim_ordering(dim_ordering: str) -> None:
    """Legacy setter: 'th' means channels_first, 'tf' channels_last."""
    if dim_ordering not in ("th", "tf"):
        raise ValueError(f"set_image_dim_ordering: unknown dim_ordering {dim_ordering!r}; "
                         "expected 'th' or 'tf'.")
    set_image_data_format("channels_first" if dim_ordering == "th" else "channels_last")


def check_dtype(dtype, op: str = "jkb") -> np.dtype:
    """Canonical NumPy dtype for ``dtype``; refuses 64-bit types when x64 is off."""
    try:
        dt = np.dtype(getattr(dtype, "name", dtype) if not isinstance(dtype, str) else dtype)
    except TypeError:
        dt = np.dtype(jax.numpy.dtype(dtype))
    if dt.itemsize >= 8 and dt.kind in "fiuc" and not x64():
        raise TypeError(
            f"{op}: dtype {dt.name} needs JAX's 64-bit mode, which is off (jkb leaves JAX's "
            f"setting alone). Turn it on before creating arrays: JKB_ENABLE_X64=1 or "
            f"JAX_ENABLE_X64=1 in the environment, or "
            f"jax.config.update('jax_enable_x64', True).")
    return dt
