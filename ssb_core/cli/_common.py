"""What the CLIs share: logging set-up and turning user errors into one line on stderr + exit code 2."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

__all__ = ["EXIT_USAGE", "user_error_types", "run_cli", "setup_logging"]

EXIT_USAGE = 2


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the input is wrong", not "the program is wrong": reported without a traceback."""
    from ssb_core.checkpoint import CheckpointError
    from ssb_core.training.config import ConfigError
    from ssb_core.training.state import ResumeError

    types: list[type[BaseException]] = [ConfigError, CheckpointError, ResumeError, FileNotFoundError]
    try:
        from ssb_core.data import DatasetError

        types.append(DatasetError)
    except ImportError:  # the data package is optional for a checkpoint-only evaluation
        pass
    return tuple(types)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)


def run_cli(main: Callable[[], int], prog: str) -> int:
    """Run ``main``; a user error prints ``<prog>: error: <message>`` on stderr and returns 2."""
    try:
        return main()
    except SystemExit:  # argparse's --help / usage errors: nothing to translate (and no torch import)
        raise
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except user_error_types() as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and getattr(exc, "filename", None):
            message = f"file not found: {exc.filename}"
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
