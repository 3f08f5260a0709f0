"""Whose label a save is, and which label the current request saved.

**The reader of a save.** ``PUT /datastore/label?tag=<reader>`` names the reader itself. The viewers' own
*Submit label* buttons send no tag, which MONAI Label turns into ``final``; such a save is stored under, in
this order (:func:`reader_for_save`):

1. the signed-in user, when sign-in is on (the token's user name, :mod:`lib.identity`);
2. ``reader`` in the save's ``params``;
3. ``client_id`` in ``params``: the "Client ID" of the 3D Slicer plugin's settings, which ``MONAILabelClient``
   adds to every request, unless it is the plugin's placeholder ``user-xyz``;
4. otherwise ``final``, as MONAI Label does (the answer's ``reader`` then says so).

**With sign-in on the identity is the token's**: a save naming someone else, by its tag or by ``reader``, is
refused with HTTP 403 before anything is written (the Slicer plugin's Client ID is not a claim of identity: it is
ignored). :func:`reader_of` answers the same question without refusing (Next Sample: whose unlabelled images).

**The label just saved.** MONAI Label calls the app's ``on_save_label(image_id, label_id)`` after the datastore
saved, without the tag. The datastore records what the label service did (reader, lesions added or replaced:
:mod:`lib.labels.service`) in a context variable (:func:`record_saved`); ``on_save_label`` runs in the same request
and reads it (:func:`saved_result`), so the answer names this request's reader and lesions even when another
reader saved the same image in the same second.
"""

from __future__ import annotations

import contextvars

from monailabel.interfaces.datastore import DefaultLabelTag

from lib.errors import forbidden
from lib.identity.context import current_identity, signed_in_user

__all__ = ["SLICER_PLACEHOLDER_ID", "reader_for_save", "reader_of", "record_saved", "saved_result"]

SLICER_PLACEHOLDER_ID = "user-xyz"  # the 3D Slicer plugin's client id until the user sets one
VIEWER_TAG = DefaultLabelTag.FINAL.value  # "final": MONAI Label's tag for a save that names none

_SAVED: contextvars.ContextVar[tuple[str, dict] | None] = contextvars.ContextVar("ssb_saved_label", default=None)


def reader_of(tag: str, info: dict | None) -> str:
    """The reader a request under ``tag`` with ``params`` ``info`` names (module docstring), without refusing."""
    if tag and tag != VIEWER_TAG:
        return tag
    info = info or {}
    for name in (signed_in_user(), info.get("reader"), info.get("client_id")):
        if isinstance(name, str) and name.strip() and name.strip() != SLICER_PLACEHOLDER_ID:
            return name.strip()
    return VIEWER_TAG


def reader_for_save(tag: str, info: dict | None) -> str:
    """The tag a label saved under ``tag`` is stored under (module docstring).

    Raises:
        HTTPException: 403 with sign-in on, when the tag or ``reader`` names someone other than the signed-in user.
    """
    identity = current_identity()
    if identity is not None:
        named = {"tag": tag if tag != VIEWER_TAG else "", "reader": (info or {}).get("reader")}
        for what, name in named.items():
            if isinstance(name, str) and name.strip() and name.strip() != identity.username:
                raise forbidden(f"you are signed in as {identity.username}: a label is saved under your own name only "
                                f"(the request's {what} names {name.strip()!r}); leave it out or name yourself")
    return reader_of(tag, info)


def record_saved(image_id: str, result: dict) -> None:
    """What this request's save of ``image_id`` did (the label service's answer, or ``{"tag": ...}`` for another tag)."""
    _SAVED.set((image_id, dict(result)))


def saved_result(image_id: str) -> dict | None:
    """What this request saved for ``image_id`` (None when it saved nothing)."""
    saved = _SAVED.get()
    return saved[1] if saved and saved[0] == image_id else None
