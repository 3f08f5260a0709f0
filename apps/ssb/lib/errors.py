"""Client errors as HTTP 4xx answers with a JSON body ``{"detail": "<what was expected, what came>"}``.

MONAI Label turns any other exception raised by a task into a bare HTTP 500; raising FastAPI's
``HTTPException`` from the app or a task gives the client a status code and a message it can show.
Every check that can reject a request runs before anything is written to the datastore.
"""

from __future__ import annotations

from fastapi import HTTPException

__all__ = ["bad_request", "conflict", "forbidden", "not_found"]


def bad_request(message: str) -> HTTPException:
    """HTTP 400: a parameter, click, ROI or file the request cannot be served with."""
    return HTTPException(status_code=400, detail=message)


def forbidden(message: str) -> HTTPException:
    """HTTP 403: the signed-in user may not do this (another reader's label, an administrator's action)."""
    return HTTPException(status_code=403, detail=message)


def not_found(message: str) -> HTTPException:
    """HTTP 404: an unknown image, model or strategy."""
    return HTTPException(status_code=404, detail=message)


def conflict(message: str) -> HTTPException:
    """HTTP 409: a write that would replace something the datastore already holds."""
    return HTTPException(status_code=409, detail=message)

