"""MONAI Label's DICOMweb proxy (``/proxy/dicom/...``, what its OHIF reads the PACS through), query included.

monailabel 0.8.5 serves ``/proxy/dicom/qido/{path}``, ``/proxy/dicom/wado/{path}``, ``/proxy/dicom/stow/{path}`` and
``/proxy/dicom/{path}`` with one function, ``monailabel.endpoints.proxy.proxy_dicom(request, op, path)``, which
forwards the path to the PACS and drops the query string: ``/proxy/dicom/qido/studies?PatientID=X`` reaches the PACS
as ``/studies`` and lists every patient (OHIF's study-list filters do nothing; MONAILabel issue 1835).

:func:`install` puts :func:`proxy_with_query` in its place (the routes look the name up at each call). It hands
upstream's own function the path with the request's query string appended exactly as the viewer sent it
(percent-encoding kept), so the PACS receives every QIDO filter, ``limit`` / ``offset``, ``includefield``,
``fuzzymatching``, and WADO-URI's parameters. Everything else stays upstream's: authentication (the routes' role
check), the PACS credentials, the URL prefixes, the answer passed back as the PACS gave it. Upstream sends a QIDO
request for ``.../metadata`` to the WADO prefix, judged on the path; :func:`forwarded` decides that on the path
without the query, as before.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["forwarded", "install", "proxy_with_query"]

logger = logging.getLogger(__name__)

_MODULE = "monailabel.endpoints.proxy"
_upstream: Any = None  # monailabel's own proxy_dicom, kept by install()


def forwarded(op: str, path: str, query: str) -> tuple[str, str]:
    """``(op, path)`` to hand upstream's ``proxy_dicom`` for a request on ``op`` / ``path`` with query string ``query``
    (raw, without ``?``): the query appended to the path; a QIDO ``.../metadata`` request as a WADO one (upstream's
    own rule, which would no longer see ``metadata`` at the end of the path once the query is appended)."""
    if op == "qido" and path.endswith("metadata"):
        op = "wado"
    return op, f"{path}?{query}" if query else path


async def proxy_with_query(request: Any, op: str, path: str) -> Any:
    """Upstream's ``proxy_dicom`` for ``request``, the query string passed on (see the module docstring)."""
    op, path = forwarded(op, path, request.url.query)
    return await _upstream(request, op, path)


def install() -> bool:
    """Route MONAI Label's DICOMweb proxy through :func:`proxy_with_query` (idempotent); False when the proxy is not
    loaded in this process (a training subprocess, the CLI: no HTTP server)."""
    global _upstream
    module = sys.modules.get(_MODULE)
    if module is None:
        return False
    if module.proxy_dicom is not proxy_with_query:
        _upstream = module.proxy_dicom
        module.proxy_dicom = proxy_with_query
    logger.info("DICOMweb proxy: the viewer's query string is passed on to the PACS (filters, paging, includefield)")
    return True
