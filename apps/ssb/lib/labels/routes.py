"""The lesions of an image over HTTP: list them, save a picked candidate (edited or not), remove one.

Routes added to MONAI Label's server (:func:`install`); all of them go through the label service
(:mod:`lib.labels.service`) and answer JSON; errors are ``{"detail": ...}`` with 400 (a refused save: an empty mask,
a mask over several lesions, a malformed body), 404 (unknown image, reader or lesion) or 409 (the candidate set
is no longer in memory and the request does not say how to sample it again):

- ``GET /ssb/lesions?image=<id>[&masks=true]``: every reader's lesions on the image (reader, lesion id, when,
  from what, size in mm³, centre in voxels and in patient mm); with ``masks`` each lesion's voxels as
  ``{"box_ijk", "bits"}`` (:func:`lib.infers.masks_json.box_mask_json`) and the image's ``geometry``, so a viewer
  can draw them;
- ``POST /ssb/lesions?image=<id>``, JSON body ``{"reader", "params", "candidate", "lesion"?, "edited"?}``:
  candidate ``candidate`` of the set sampled with the infer ``params`` (the same dict the viewer sent to
  ``/infer/ssb``: the set is found in the infer task's cache, or sampled again, identically) saved as one lesion of
  ``reader``; ``edited`` (``{"box_ijk", "bits"}``) replaces the candidate's voxels by the reader's edit (recorded as
  ``candidate k, edited by <reader>``); ``lesion`` replaces that lesion instead of the one the mask overlaps;
- ``DELETE /ssb/lesions?image=<id>&reader=<name>&lesion=<n>``: the explicit removal of one lesion.

The reader is the signed-in user when sign-in is on (``reader`` may be left out; naming someone else is refused
with 403, except by an administrator removing a lesion), else the body's / query's ``reader``
(:func:`lib.label_saves.reader_for_save`). Every route asks for MONAI Label's annotator role (as its label upload),
which a reader's token holds (:mod:`lib.identity.claims`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Body, Depends, HTTPException, Query

from ssb_core.volume import to_full

from lib.errors import bad_request, not_found
from lib.imageio import ImageReadError, read_image
from lib.infers.masks_json import box_mask_json, geometry_json, mask_from_json
from lib.identity.context import current_identity
from lib.label_saves import reader_for_save
from lib.labels.lesion_map import LesionRefused
from lib.readers import is_reader_tag, reader_tags
from lib.safety.names import UnsafeNameError, check_name

__all__ = ["PREFIX", "install"]

logger = logging.getLogger(__name__)

PREFIX = "/ssb/lesions"


def _reader(name: Any, anyone: bool = False) -> str:
    """The reader a request names: the signed-in user (a body naming another is refused, 403), unless ``anyone``
    (an administrator removing someone's lesion); with sign-in off, the name given."""
    name = name if isinstance(name, str) else ""
    reader = name.strip() if anyone and name.strip() else reader_for_save("", {"reader": name})
    try:
        check_name("reader", reader)
    except UnsafeNameError as exc:
        raise bad_request(str(exc)) from None
    if not is_reader_tag(reader) or reader == "final":
        raise bad_request(f"reader {reader!r}: give the reader's own name (not empty, not 'original' or 'ssb_*')")
    return reader


class LesionRoutes:
    """The route handlers over one app (its datastore's label service and its ``ssb`` infer task)."""

    def __init__(self, app: Any, model: str = "ssb") -> None:
        self.app, self.model = app, model

    def _image_uri(self, image_id: str) -> str:
        ds = self.app.datastore()
        try:
            uri = ds.get_image_uri(image_id) if image_id else ""
        except Exception as exc:  # a PACS that does not know the series
            logger.info("image %s not found: %s", image_id, exc)
            uri = ""
        if not uri:
            raise not_found(f"unknown image {image_id!r}: not in the datastore")
        return uri

    def list(self, image: str, masks: bool = False) -> dict:
        uri = self._image_uri(image)
        ds = self.app.datastore()
        loaded = read_image(uri)
        out, unreadable = [], []
        for reader in reader_tags(ds, image):
            try:
                labelmap, records = ds.labels.reader_lesions(image, reader, loaded)
            except Exception as exc:  # one bad stored file never hides the others
                logger.warning("lesions of %s on %s unreadable: %s", reader, image, exc)
                unreadable.append({"reader": reader, "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            for r in records:
                ijk = [float(c) for c in r.centre_ijk][: loaded.reference.GetDimension()]
                entry = {"reader": reader, "lesion": r.id, "saved": r.saved,
                         "saved_iso": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.saved)) if r.saved else None,
                         "source": r.source, "edited": r.edited, "candidate": r.candidate,
                         "voxels": r.voxels, "volume_mm3": round(r.voxels * loaded.voxel_volume, 1),
                         "centre_ijk": r.centre_ijk,
                         "centre_mm": [round(float(v), 2) for v in loaded.reference.TransformContinuousIndexToPhysicalPoint(ijk)]}
                if masks and labelmap is not None:
                    entry["mask"] = box_mask_json(labelmap == r.id)
                out.append(entry)
        answer: dict = {"image": image, "lesions": out, "unreadable": unreadable}
        if masks:
            answer["geometry"] = geometry_json(loaded)
        return answer

    def save(self, image: str, body: dict) -> dict:
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object {reader, params, candidate, lesion?, edited?}")
        reader = _reader(body.get("reader"))
        params = body.get("params")
        if not isinstance(params, dict):
            raise bad_request("'params' must be the infer parameters the candidates were sampled with (a JSON object)")
        try:
            k = int(body.get("candidate"))
            lesion = None if body.get("lesion") in (None, "") else int(body["lesion"])
        except (TypeError, ValueError):
            raise bad_request(f"'candidate' (and 'lesion') must be integers, got {body.get('candidate')!r}") from None
        uri = self._image_uri(image)
        task = self.app._infers.get(self.model)
        if task is None:
            raise not_found(f"no infer task {self.model!r}")
        sampled = task.sampled_set({**params, "image": uri, "image_id": image})
        n = sampled.lesion.num_candidates
        if not 0 <= k < n:
            raise bad_request(f"candidate must be in [0, {n - 1}] (the set has {n} candidates), got {k}")
        shape = sampled.image.array.shape
        if body.get("edited"):
            try:
                mask = mask_from_json(body["edited"], shape)
            except ValueError as exc:
                raise bad_request(f"'edited': {exc}") from None
        else:
            mask = to_full(sampled.lesion.masks[k].astype(np.uint8), sampled.lesion.plan, shape).astype(bool)
        info = {"candidate": k, "seed": sampled.params.seed, "model": sampled.model.sha256[:16], "context": sampled.context,
                "edited_by": reader if body.get("edited") else None}
        try:
            result = self.app.datastore().labels.save_mask(image, reader, mask, info, lesion=lesion, image=sampled.image)
        except LesionRefused as exc:
            raise bad_request(str(exc)) from None
        logger.info("candidate %d of context %s saved by %s on %s: %s", k, sampled.context, reader, image, result.get("saved"))
        return {**result, "candidate": k, "context": sampled.context, "same_set": sampled.hit}

    def remove(self, image: str, reader: str, lesion: int) -> dict:
        identity = current_identity()
        reader = _reader(reader, anyone=identity is not None and identity.is_admin)
        self._image_uri(image)
        try:
            return self.app.datastore().labels.remove(image, reader, int(lesion))
        except LesionRefused as exc:
            raise not_found(str(exc)) from None


def install(app: Any) -> bool:
    """Add the routes to MONAI Label's server (False when no server runs in this process)."""
    from lib import upstream

    server = upstream.serving_app()
    if server is None:
        return False
    from monailabel.config import settings
    from monailabel.endpoints.user.auth import RBAC, User

    routes = LesionRoutes(app)
    router = APIRouter(prefix=PREFIX, tags=["SSB lesions"])
    annotator = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_ANNOTATOR))

    def guarded(call, *args):  # noqa: ANN001, ANN202
        try:
            return call(*args)
        except HTTPException:
            raise
        except ImageReadError as exc:
            raise bad_request(str(exc)) from None

    @router.get("", summary="Every reader's lesions on an image")
    def list_lesions(image: str = Query(...), masks: bool = Query(False), user: User = annotator) -> dict:
        return guarded(routes.list, image, masks)

    @router.post("", summary="Save a picked candidate (edited or not) as one lesion of a reader")
    def save_lesion(image: str = Query(...), body: dict = Body(...), user: User = annotator) -> dict:
        return guarded(routes.save, image, body)

    @router.delete("", summary="Remove one lesion of a reader")
    def remove_lesion(image: str = Query(...), reader: str = Query(""), lesion: int = Query(...), user: User = annotator) -> dict:
        return guarded(routes.remove, image, reader, lesion)

    upstream.replace_router(server, router, PREFIX)
    logger.info("lesion routes at %s", PREFIX)
    return True
