"""TODO."""

__all__ = []
