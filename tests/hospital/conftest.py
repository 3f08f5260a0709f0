"""The app's ``lib`` package (``apps/ssb/lib``) importable by the hospital tests, which read SEGs with it."""

from __future__ import annotations

import sys

from tests.conftest import REPO_ROOT

_APP = str(REPO_ROOT / "apps" / "ssb")
if _APP not in sys.path:
    sys.path.insert(0, _APP)
