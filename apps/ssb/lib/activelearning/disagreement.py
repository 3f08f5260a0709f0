"""Active learning: serve next the unlabelled image on which the candidates disagree most.

- :class:`DisagreementScoring` (``POST /scoring/disagreement``) samples a few candidates for every image
  (labelled ones too: any image may be next for some reader): the lesion at the image centre, at the model's own
  scale, ``scoring_candidates`` at ``scoring_nfe``, seed 0; it stores in the image's info
  ``ssb_disagreement = {score, ddi_gen, model, ...}``: ``score`` is the mean variability ``4 f (1 - f)`` over the
  voxels any candidate covers (:mod:`ssb_core.volume.agreement`), ``ddi_gen`` the D_DDI^gen of the candidates
  against each other. Images already scored by the current model are skipped.
- :class:`Disagreement` (``POST /activelearning/disagreement``) returns the reader's unlabelled image with the
  highest stored score, scoring first (in the server) any image that has no score from the current model yet.
- :class:`RandomUnlabelled` (``random``) draws uniformly among the unlabelled images.

"Unlabelled" is the datastore's ``get_unlabeled_images()``. The app runs every strategy on the asking reader's view
of the datastore (:mod:`lib.activelearning.per_reader`): images without a label under that reader's tag, or without
any reader's label when the reader is unknown.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy

from ssb_core.volume import GrowthSettings, plan_roi, segment_lesion

from lib.candidate_set import summary_json
from lib.imageio import ImageReadError, read_image
from lib.model_store import ModelStore

__all__ = ["INFO_KEY", "Disagreement", "DisagreementScoring", "RandomUnlabelled", "score_image"]

logger = logging.getLogger(__name__)

INFO_KEY = "ssb_disagreement"


def score_image(store: ModelStore, path: str, num_candidates: int, nfe: int, seed: int = 0) -> dict:
    """The disagreement record of one image (see the module docstring)."""
    model = store.get()
    pipe, conv = model.pipeline, model.conventions
    image = read_image(path)
    click = plan_roi(image.array.shape, image.spacing_xyz, conv.preprocessing)
    config = pipe.defaults.replace(num_candidates=num_candidates, nfe=min(nfe, pipe.bridge.num_timesteps))
    # at the model's own scale: the score ranks images, and a lesion too large for the window is one to label; the
    # candidates as sampled (no vote): whether the model sees a lesion at all is part of its disagreement
    lesion = segment_lesion(pipe, conv.preprocessing, image.array, image.spacing_xyz, click, config, None, seed,
                            GrowthSettings(scales=(1.0,), presence="as_sampled"))
    summary = summary_json(lesion.masks, image.voxel_volume, "volume_mm3", None, seed, [])
    return {"score": summary["disagreement"], "ddi_gen": summary["ddi_gen"], "model": model.sha256[:16],
            "num_candidates": num_candidates, "nfe": config.nfe, "ts": int(time.time())}


class DisagreementScoring(ScoringMethod):
    def __init__(self, store: ModelStore, num_candidates: int = 4, nfe: int = 5) -> None:
        super().__init__("Candidate disagreement of every image (for the 'disagreement' strategy)")
        self.store, self.num_candidates, self.nfe = store, num_candidates, nfe

    def stale(self, datastore: Any, image_id: str) -> bool:
        info = datastore.get_image_info(image_id).get(INFO_KEY) or {}
        return info.get("model") != self.store.get().sha256[:16] or info.get("num_candidates") != self.num_candidates

    def score(self, datastore: Any, image_id: str) -> dict | None:
        try:
            record = score_image(self.store, datastore.get_image_uri(image_id), self.num_candidates, self.nfe)
        except (ImageReadError, ValueError) as exc:
            logger.warning("cannot score %s: %s", image_id, exc)
            return None
        datastore.update_image_info(image_id, {INFO_KEY: record})
        return record

    def __call__(self, request: dict, datastore: Any) -> dict:
        force = str(request.get("force", "")).lower() in ("1", "true", "yes")
        scored = {}
        for image_id in sorted(datastore.list_images()):
            if force or self.stale(datastore, image_id):
                record = self.score(datastore, image_id)
                if record:
                    scored[image_id] = record["score"]
        logger.info("disagreement scored %d image(s)", len(scored))
        return {"scored": scored}


class Disagreement(Strategy):
    def __init__(self, store: ModelStore, num_candidates: int = 4, nfe: int = 5) -> None:
        super().__init__("Image not yet labelled by the reader where the SSB candidates disagree most (mean variability)")
        self.scoring = DisagreementScoring(store, num_candidates, nfe)

    def __call__(self, request: dict, datastore: Any) -> dict | None:
        scores: dict[str, float] = {}
        for image_id in sorted(datastore.get_unlabeled_images()):
            if self.scoring.stale(datastore, image_id):
                record = self.scoring.score(datastore, image_id)
            else:
                record = datastore.get_image_info(image_id).get(INFO_KEY)
            if record:
                scores[image_id] = float(record["score"])
        if not scores:
            return None
        best = max(sorted(scores), key=lambda i: scores[i])
        logger.info("disagreement: %s (score %.4f) among %d unlabelled images", best, scores[best], len(scores))
        return {"id": best, INFO_KEY: scores[best]}


class RandomUnlabelled(Strategy):
    def __init__(self) -> None:
        super().__init__("Random image not yet labelled by the reader (unknown reader: by nobody)")

    def __call__(self, request: dict, datastore: Any) -> dict | None:
        images = sorted(datastore.get_unlabeled_images())
        return {"id": random.choice(images)} if images else None
