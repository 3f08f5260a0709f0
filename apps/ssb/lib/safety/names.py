"""Image ids and label tags that are safe to use as file and folder names inside the datastore.

MONAI Label's local datastore joins the image id and the label tag straight into paths
(``<studies>/<id><ext>``, ``<studies>/labels/<tag>/<id><ext>``), so ``../x`` or ``/tmp/x`` would write
outside the studies folder. A safe name is 1..200 characters, none of them a path separator, NUL or another
control character, and it is not ``.``, ``..`` or a name starting with ``.`` (hidden and temporary files).
"""

from __future__ import annotations

__all__ = ["MAX_NAME_LENGTH", "UnsafeNameError", "check_name"]

MAX_NAME_LENGTH = 200


class UnsafeNameError(ValueError):
    """An image id or label tag that could escape the datastore folder."""


def check_name(kind: str, value: object) -> str:
    """``value`` itself when it is a safe ``kind`` ("image id", "label tag") name.

    Raises:
        UnsafeNameError: the message names the kind, the value and the rule it breaks.
    """
    if not isinstance(value, str) or not value:
        raise UnsafeNameError(f"{kind} must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise UnsafeNameError(f"{kind} must be at most {MAX_NAME_LENGTH} characters, got {len(value)}")
    if "/" in value or "\\" in value:
        raise UnsafeNameError(f"{kind} must not contain a path separator ('/' or '\\'), got {value!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UnsafeNameError(f"{kind} must not contain NUL or other control characters, got {value!r}")
    if value.startswith("."):
        raise UnsafeNameError(f"{kind} must not start with '.' (no '..', hidden or temporary names), got {value!r}")
    return value
