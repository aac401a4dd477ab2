"""jkb: the Keras 2 backend API (``K``) on JAX and XLA.

``import jkb as K`` gives every public function of the multi-backend Keras 2.3.1 backend.
Ops work on concrete arrays (returning ``jax.Array``) and on symbolic tensors (returning
graph nodes that ``K.function`` compiles with ``jax.jit``).
"""

# First, before anything could start a JAX backend: XLA reads XLA_FLAGS once, when its first
# backend starts; the allocator settings are best made before XLA allocates anything (see
# jkb/platform.py; opt out with JKB_XLA_CPU_FLAGS=0 and JKB_CPU_MALLOC=0).
from . import platform as _platform

_platform.configure_xla_flags()
_platform.configure_malloc()

from . import checkpoint, config, distribute
from .config import (
    epsilon,
    floatx,
    image_data_format,
    image_dim_ordering,
    normalize_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
    set_image_dim_ordering,
)
from .conv import *
from .core import cast_to_floatx, get_uid, name_scope, reset_uids
from .ctc import *
from .function import *
from .function import Function
from .math import *
from .nn import *
from .phase import *
from .random import *
from .rnn import *
from .shapes import *
from .sparse import *
from .state import Session, State, clear_session, get_session, set_session
from .values import *
from .variables import *


def backend() -> str:
    """The backend's name: 'jkb'."""
    return "jkb"


def symbolic(func):
    """Identity decorator (Keras 2.3.1 marks graph-building code with it)."""
    return func


def eager(func):
    """Identity decorator (Keras 2.3.1 marks eager-only code with it)."""
    return func


from . import cache as _cache  # noqa: E402
from ._keras231 import _maybe_patch_keras  # noqa: E402

_cache.enable_from_env()  # opt-in persistent compilation cache: JKB_COMPILATION_CACHE=dir
_maybe_patch_keras()
