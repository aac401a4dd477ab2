"""Compatibility restorations applied only when Keras 2.3.1 loads jkb (see issue 4)."""


def _maybe_patch_keras():
    return None
