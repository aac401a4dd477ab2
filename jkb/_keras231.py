"""Running multi-backend Keras 2.3.1 (unchanged, from PyPI) on jkb.

Keras 2.3.1 dates from 2019. On Python 3.11 + NumPy 2 + h5py 3 a few names and behaviours it
relies on are gone. This module puts back exactly those, and only when Keras loads jkb as its
backend (``KERAS_BACKEND=jkb`` or ``"backend": "jkb"`` in keras.json). It never touches a
Keras file: it only restores names in the libraries underneath (NumPy, ``collections``,
``inspect``, h5py) and adds jkb's session helpers to ``keras.backend``.

Restored (each line: what, where Keras or a companion package uses it):

* ``np.Inf`` - keras/callbacks (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau initial
  ``best``); ``np.string_`` - keras/utils/io_utils.py (H5Dict reading string arrays);
  ``np.unicode_`` - keras_preprocessing/sequence.py (``pad_sequences``); ``np.int`` -
  keras/backend/numpy_backend.py (Keras' NumPy reference backend, ``ctc_decode``).
  NumPy 2 removed them; each is restored as the alias it used to be.
* ``collections.Iterable``, ``Mapping``, ``Sequence``, ``Container`` - keras/callbacks
  (``from collections import Iterable``) and keras/engine/training_utils.py (loss, loss
  weight, metric and ``validation_freq`` checks). Removed in Python 3.10; restored as the
  ``collections.abc`` classes.
* ``inspect.ArgSpec`` - keras/utils/generic_utils.py (``getargspec``, a public Keras
  utility, builds one from ``inspect.getfullargspec``). Removed in Python 3.11; restored
  as the named tuple ``(args, varargs, keywords, defaults)`` it was. (``inspect.getargspec``
  itself is not restored: on Python 3 Keras only calls ``getfullargspec``.)
* h5py 2 behaviours used by keras/engine/saving.py and keras/utils/io_utils.py:
  - attributes stored as variable-length *ASCII* strings (what h5py 3 writes for a Python
    ``bytes`` value, and Keras writes every string attribute as ``bytes``) read back as
    ``bytes`` again, not ``str`` (Keras calls ``.decode('utf8')`` on them); UTF-8 strings
    still read back as ``str``, as in h5py 2;
  - arrays of them (what h5py 3 writes for a *list* of ``bytes``: Keras' ``H5Dict`` stores
    every list of strings so, e.g. a model's ``layer_names``) read back as the fixed-length
    ``bytes`` array (NumPy dtype ``S``) that h5py 2 wrote and read for such a list, since
    ``H5Dict.__getitem__`` turns only those into Python lists; in groups too (the
    restoration is on h5py's attribute manager, which every group uses);
  - ``h5py.File(name)`` without a mode opens in mode ``'a'`` (h5py 3 defaults to ``'r'``;
    ``save_model`` into a file-like object relies on the old default);
  - ``h5py.File.fid`` - the file id (``.id`` in h5py 3), read by ``save_model`` into a
    file-like object.
* ``keras.backend.clear_session``, ``get_session``, ``set_session`` and
  ``manual_variable_initialization``: keras/backend/__init__.py re-exports them only for
  the TensorFlow backend, so under jkb they would be missing from ``keras.backend`` even
  though jkb defines them. They are set on the ``keras.backend`` package while Keras
  imports it (see below); Keras' ``__init__`` never assigns these names for an external
  backend, so nothing overwrites them later. Existing names are never replaced.

How the moment is detected: Keras imports its backend from
``keras.backend.load_backend``, after setting that module's ``_BACKEND``. If jkb is
imported by that import, :func:`_maybe_patch_keras` (called at the end of
``jkb/__init__.py``) sees ``load_backend._BACKEND == 'jkb'`` and applies everything at once.
If jkb was imported first (``import jkb; import keras``), Keras' import of jkb finds it
already loaded, so jkb installs a small import hook (a ``sys.meta_path`` finder that reacts
only to ``keras.backend.load_backend``) that applies everything right after that module has
run with jkb selected, then removes itself.

Switching off: ``JKB_KERAS_COMPAT=0`` (read when Keras loads jkb) restores nothing in
NumPy, ``collections``, ``inspect`` or h5py; Keras 2.3.1 will then fail where it uses those
names. jkb's session helpers are still added to ``keras.backend``, since they are jkb's own
API rather than a restoration.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib.abc
import inspect
import os
import sys

import numpy as np

from . import config

_PACKAGE = __name__.rpartition(".")[0]  # 'jkb'
_LOADER_MODULE = "keras.backend.load_backend"
_SESSION_NAMES = ("clear_session", "get_session", "set_session",
                  "manual_variable_initialization")
_applied = False


def compat_enabled() -> bool:
    """False when the environment variable ``JKB_KERAS_COMPAT`` is 0/false/no/off."""
    return os.environ.get("JKB_KERAS_COMPAT", "1").strip().lower() not in (
        "0", "false", "no", "off")


# ----------------------------------------------------------------------------- restorations


def _restore_numpy():
    aliases = {"Inf": np.inf, "string_": np.bytes_, "unicode_": np.str_, "int": int}
    for name, value in aliases.items():
        if name not in np.__dict__:  # np.__getattr__ raises for expired names; look in dict
            setattr(np, name, value)


def _restore_collections():
    for name in ("Iterable", "Mapping", "Sequence", "Container"):
        if name not in collections.__dict__:
            setattr(collections, name, getattr(collections.abc, name))


def _restore_inspect():
    if not hasattr(inspect, "ArgSpec"):
        inspect.ArgSpec = collections.namedtuple(
            "ArgSpec", ["args", "varargs", "keywords", "defaults"])


def _ascii_to_bytes(value):
    """str (or object array of str) decoded by h5py 3 -> the bytes h5py 2 returned; an
    array of them -> the fixed-length bytes array (dtype ``S``) h5py 2 wrote for a list of
    bytes and read back (``H5Dict`` turns exactly those into lists)."""
    def enc(s):
        return s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s

    if isinstance(value, str):
        return enc(value)
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for i, s in np.ndenumerate(value):
            out[i] = enc(s)
        if value.size and all(isinstance(b, bytes) for b in out.flat):
            # NumPy strips trailing NUL bytes of 'S' items, as h5py 2's arrays did.
            return np.array(out.tolist(), dtype=np.bytes_)
        return out
    return value


def _restore_h5py():
    try:
        import h5py
    except ImportError:  # h5py is optional for Keras; nothing to restore then
        return
    from h5py._hl.attrs import AttributeManager

    if not getattr(AttributeManager.__getitem__, "_jkb_compat", False):
        getitem = AttributeManager.__getitem__

        def __getitem__(self, name):
            value = getitem(self, name)
            if isinstance(value, (str, np.ndarray)):
                info = h5py.check_string_dtype(self.get_id(name).dtype)
                if info is not None and info.encoding == "ascii" and info.length is None:
                    return _ascii_to_bytes(value)
            return value

        __getitem__._jkb_compat = True
        __getitem__.__wrapped__ = getitem
        AttributeManager.__getitem__ = __getitem__

    init = h5py.File.__init__
    if not getattr(init, "_jkb_compat", False):
        def __init__(self, name, mode=None, *args, **kwargs):
            if mode is None:  # h5py 2's default; h5py 3 would open read-only
                mode = "a"
            init(self, name, mode, *args, **kwargs)

        __init__._jkb_compat = True
        __init__.__wrapped__ = init
        h5py.File.__init__ = __init__

    if not hasattr(h5py.File, "fid"):
        h5py.File.fid = property(lambda self: self.id, doc="The file id (h5py 2 name of .id).")


def _attach_session_names(kb_module):
    jkb = sys.modules[_PACKAGE]
    for name in _SESSION_NAMES:
        if name not in kb_module.__dict__:
            setattr(kb_module, name, getattr(jkb, name))


def _apply(loader_module):
    """Everything Keras 2.3.1 needs, once it has chosen jkb (``loader_module._BACKEND``)."""
    global _applied
    if getattr(loader_module, "_BACKEND", None) != _PACKAGE:
        return False
    config._x64_for_keras()  # Keras 2.3.1 asks for int64/float64 by name (jkb/config.py)
    if compat_enabled() and not _applied:
        _restore_numpy()
        _restore_collections()
        _restore_inspect()
        _restore_h5py()
        _applied = True
    kb = sys.modules.get(loader_module.__name__.rpartition(".")[0])
    if kb is not None:
        _attach_session_names(kb)
    _after_import(_NETWORK_MODULE, _chief_writes_files)
    return True


# ----------------------------------------------------------------------------- several processes

_NETWORK_MODULE = "keras.engine.network"


def _chief_writes_files(network_module):
    """``Network.save_weights`` and ``Network.save`` write files on the chief only.

    With several processes (``jkb.distribute.initialize``) every process runs the same
    script, so every process would write the same path. The others still run the whole
    save (reading a variable split over other processes' devices is an all-gather that
    every process must join), into a private temporary file that is then deleted.
    """
    net = network_module.Network
    for name in ("save_weights", "save"):
        method = getattr(net, name)
        if getattr(method, "_jkb_chief_only", False):
            continue
        setattr(net, name, _chief_only(method))


def _chief_only(method):
    import functools
    import tempfile

    @functools.wraps(method)
    def wrapper(self, filepath, *args, **kwargs):
        import jax
        if jax.process_count() == 1 or jax.process_index() == 0 or not isinstance(
                filepath, (str, os.PathLike)):
            return method(self, filepath, *args, **kwargs)
        with tempfile.TemporaryDirectory(prefix="jkb-not-chief-") as d:
            return method(self, os.path.join(d, os.path.basename(filepath)), *args,
                          **kwargs)

    wrapper._jkb_chief_only = True
    return wrapper


# ----------------------------------------------------------------------------- detection


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; calls ``callback(module)`` right after module ``name`` has
    run (once), then removes itself."""

    def __init__(self, name, callback):
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = getattr(spec.loader, "exec_module", None)
        if exec_module is None:
            return None
        watcher = self

        def exec_then_call(module):
            exec_module(module)
            if watcher in sys.meta_path:
                sys.meta_path.remove(watcher)
            watcher.callback(module)

        spec.loader.exec_module = exec_then_call  # this loader serves this module only
        return spec


def _after_import(name, callback):
    """``callback(module)`` now if ``name`` is imported, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
    elif not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, callback))


def _maybe_patch_keras():
    """Called when jkb is imported; see the module docstring. If Keras is importing jkb
    right now (or was imported before), ``_apply`` runs at once; else right after Keras'
    ``load_backend`` runs."""
    _after_import(_LOADER_MODULE, _apply)
