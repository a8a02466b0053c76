"""Placeholder: being written now (replaced before it is committed)."""

from hermes.defenses._base import Defense


def identity(x, *args, **kwargs):
    raise NotImplementedError


class Identity(Defense):
    pass
