"""The data package's one error type.

Every reader raises :class:`DatasetError` for a missing, unreadable or malformed file, and the message
always names the file and says what was expected, so that a user can fix the data without a traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DatasetError", "describe", "read_npz"]


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


def read_npz(path: Path, keys: tuple[str, ...], kind: str, hint: str = "") -> dict:
    """The arrays ``keys`` of the NumPy archive ``path`` (no pickles), or a :class:`DatasetError` naming the file:
    missing, lacking keys, or corrupt / truncated. ``kind`` names the file in messages ("lidc64 npz");
    ``hint`` is appended to what was expected (e.g. how to produce the file)."""
    import zipfile

    import numpy as np

    expected = f"an .npz with keys {list(keys)}" + (f" ({hint})" if hint else "")
    if not path.is_file():
        raise DatasetError.for_file(path, f"{kind} not found", expected)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DatasetError.for_file(path, f"{kind} lacks keys {missing} (has {sorted(npz.files)})", expected)
            return {k: npz[k] for k in keys}
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DatasetError.for_file(path, f"cannot read the {kind} ({describe(exc)}); the file is corrupt or truncated",
                                    "a NumPy .npz archive") from exc
