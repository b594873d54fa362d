"""The private paramiko and minio names Intake relies on still exist on the installed
versions, with the parameters it calls them by: an upgrade that moves one fails here."""

import inspect

import pytest

from infra import multipart
from infra.sftp import wire

FENCED = [*wire.PRIVATE_API, *multipart.PRIVATE_API]


def _label(entry: tuple[object, str, tuple[str, ...] | None]) -> str:
    owner, name, _ = entry
    return f"{getattr(owner, '__name__', owner)}.{name}"


@pytest.mark.parametrize("entry", FENCED, ids=_label)
def test_a_fenced_private_name_is_still_there(entry):
    owner, name, parameters = entry
    if parameters is None:  # a value, or an attribute the owner's __init__ sets
        sets = isinstance(owner, type) and name in owner.__init__.__code__.co_names
        assert hasattr(owner, name) or sets
        return
    found = inspect.signature(getattr(owner, name)).parameters
    assert list(found)[:len(parameters)] == list(parameters)
    extra = list(found.values())[len(parameters):]  # what an upgrade added must be optional
    assert all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in extra)
