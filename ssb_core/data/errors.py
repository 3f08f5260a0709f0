"""The data package's one error type.

Every reader raises :class:`DatasetError` for a missing, unreadable or malformed file, and the message
always names the file and says what was expected, so that a user can fix the data without a traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DatasetError", "describe"]


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or does not hold what its format promises.

    Subclasses :class:`ValueError` so that callers catching bad input in general also catch it.
    """

    @classmethod
    def for_file(cls, path: str | Path, problem: str, expected: str | None = None) -> "DatasetError":
        """``DatasetError("<path>: <problem> (expected <expected>)")``."""
        msg = f"{Path(path)}: {problem}"
        if expected:
            msg += f" (expected {expected})"
        return cls(msg)


def describe(exc: BaseException) -> str:
    """``"TypeName: message"`` of a low-level exception, for wrapping it in a :class:`DatasetError`."""
    return f"{type(exc).__name__}: {exc}"
