"""The plain-data rule of every template context: exact str/int/float/bool/None in dicts, lists, tuples.

Nothing else reaches a template — no ``Markup`` that could bypass escaping, no object
that could expose methods — and plain data is also all that crosses to the render
process (:mod:`mailer.render.pool`), pickled. No Jinja2 here, so the caller's
process checks a context without loading it.
"""

from __future__ import annotations

from typing import Any

_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def ensure_plain(value: Any, path: str = "context") -> None:
    """Refuse anything but plain data: exact str/int/float/bool/None in dicts, lists, tuples."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return
    if kind in (list, tuple):
        for index, item in enumerate(value):
            ensure_plain(item, f"{path}[{index}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{path} has a key that is not a string: {key!r}")
            ensure_plain(item, f"{path}.{key}")
        return
    raise TypeError(f"{path} is a {kind.__name__}; mail templates get plain data only")


def is_plain(value: Any, /) -> bool:
    try:
        ensure_plain(value)
    except TypeError:
        return False
    return True
