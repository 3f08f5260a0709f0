"""Parsing the loosely typed values that arrive from ``--conf`` and from viewers' request parameters."""

from __future__ import annotations

from typing import Any

__all__ = ["parse_bool"]

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_bool(value: Any) -> bool:
    """JSON true/false, or the strings viewers and the command line send (true/false, 1/0, yes/no, on/off).

    Raises:
        ValueError: anything else (``bool("false")`` would be True, hence this function).
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")
