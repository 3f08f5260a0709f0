"""The OHIF viewer's program files without a token, so that the browser can load the page that signs it in.

MONAI Label serves OHIF at ``/ohif/{path}`` behind its ``RBAC`` (role "user"): with sign-in on, a browser that
opens ``/ohif/`` holds no token yet and would get 401 instead of the page that signs it in. :func:`router` answers
the same files with MONAI Label's own lookup (``monailabel.endpoints.ohif.get_ohif``) and no user; they hold no
data (the gate lists ``/ohif`` in :data:`lib.identity.gate.PUBLIC`). Everything the page then asks the server for
(studies through the DICOMweb proxy, infer, labels) carries the token (``apps/ssb/viewer/ssb-signin.js``).
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["PREFIX", "router"]

PREFIX = "/ohif"


def router() -> APIRouter:
    """``GET /ohif/{path}``: MONAI Label's OHIF files (``index.html`` for the viewer's own routes), no user asked."""
    from monailabel.endpoints.ohif import get_ohif

    api = APIRouter(prefix=PREFIX, tags=["Others"])

    @api.get("/{path:path}", include_in_schema=False)
    async def ohif_file(path: str):  # noqa: ANN202 (a FileResponse)
        return get_ohif(path)

    return api
