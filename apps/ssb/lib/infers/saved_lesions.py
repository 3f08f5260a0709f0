"""The ``ssb_lesions`` infer task: the lesions already saved on an image, for a viewer that can only show results.

The unmodified 3D Slicer plugin lists the server's models and shows what a model returns; it cannot call
``GET /ssb/lesions``. Running ``ssb_lesions`` on an image returns every reader's saved lesions (the label service's,
:mod:`lib.labels.service`) as a ``.seg.nrrd`` with one overlapping segment per lesion, named
``alice: lesion 2 (candidate 3, edited by alice; 2026-12-05 09:04)`` and coloured per reader, so a reader sees what
was already saved on the study before clicking the next lesion. Nothing is sampled and nothing is written. With no
lesion saved, the one segment is named ``no lesion saved on this image`` (empty) and the answer says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from lib.candidate_set import candidate_colour, unit_rgb
from lib.errors import bad_request
from lib.imageio import ImageReadError, read_image, temp_path, write_seg_nrrd
from lib.readers import reader_tags

__all__ = ["SavedLesionsInfer"]

logger = logging.getLogger(__name__)

NONE_SAVED = "no lesion saved on this image"


class SavedLesionsInfer(InferTask):
    """MONAI Label infer task listing the saved lesions of a datastore image as segments (module docstring)."""

    def __init__(self, datastore: Callable[[], Any]) -> None:
        self.datastore = datastore
        super().__init__(type=InferType.SEGMENTATION, labels={"lesion": 1}, dimension=3,
                         description="The lesions already saved on this image, every reader's, one segment each")

    def is_valid(self) -> bool:
        return True

    def config(self) -> dict[str, Any]:
        return {}

    def __call__(self, request: dict) -> tuple[str, dict]:
        image_id = request.get("image_id")
        if not image_id:
            raise bad_request("ssb_lesions shows the lesions saved on a datastore image: give image=<id>, not an upload")
        try:
            image = read_image(request.get("image", ""))
        except ImageReadError as exc:
            raise bad_request(str(exc)) from None
        ds = self.datastore()
        channels, names, colours, lesions = [], [], [], []
        for n, reader in enumerate(reader_tags(ds, image_id)):
            try:
                labelmap, records = ds.labels.reader_lesions(image_id, reader, image)
            except Exception as exc:  # one bad stored file never hides the others
                logger.warning("saved lesions of %s on %s unreadable: %s", reader, image_id, exc)
                continue
            for r in records:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.saved)) if r.saved else "?"
                channels.append(labelmap == r.id)
                names.append(f"{reader}: lesion {r.id} ({r.source}; {when})")
                colours.append(unit_rgb(candidate_colour(n)))
                lesions.append({"reader": reader, "lesion": r.id, "source": r.source, "saved": r.saved,
                                "volume_mm3": round(r.voxels * image.voxel_volume, 1)})
        if not channels:
            channels, names, colours = [np.zeros(image.array.shape, bool)], [NONE_SAVED], [(0.5, 0.5, 0.5)]
        out = temp_path(".seg.nrrd")
        write_seg_nrrd(np.stack(channels).astype(np.uint8), names, colours, image, out)
        message = f"{len(lesions)} lesion(s) saved on this image" if lesions else NONE_SAVED
        return out, {"lesions": lesions, "message": message, "label_names": {name: i + 1 for i, name in enumerate(names)}}

