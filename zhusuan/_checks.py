"""Checks of the numeric arguments of public functions (counts and sizes).

One definition, so every function accepts the same things: any integral
number (``int``, ``numpy.int64``, ...) except ``bool``, at least ``low``; and
says which argument is wrong in the same words.
"""

import numbers

__all__ = ["check_int", "is_int"]


def is_int(value, low=1):
    """Whether ``value`` is an integral number (not a bool) >= ``low``."""
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= low)


def check_int(value, name, low=1, who=None, allow_none=False):
    """``int(value)``, or ValueError naming the argument ``name`` (prefixed by
    ``who``) unless ``value`` is an integral number, not a bool, >= ``low``.
    ``None`` passes through when ``allow_none``."""
    if value is None and allow_none:
        return None
    if is_int(value, low):
        return int(value)
    prefix = f"{who}: " if who else ""
    none = "None or " if allow_none else ""
    kind = (f"a {type(value).__name__}" if isinstance(value, bool)
            or not isinstance(value, numbers.Number) else repr(value))
    raise ValueError(f"{prefix}{name} must be {none}an integer >= {low}, got {kind}")
