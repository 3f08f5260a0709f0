"""One PNG per case: the image, each reader's mask, the candidates, their mean and a variability map.

Layout (Pillow only, no matplotlib): row 1 = the image, the readers' masks overlaid in red (an absent
reader is a grey tile marked "absent"), the candidates' mean probability and the variability map; the
following rows = the N binary candidates (thresholded at ``threshold``), ``max_cols`` per row.

Variability map (per pixel, in [0, 1], drawn with a black-red-yellow-white ramp), from the N binary candidates:
- ``variability`` (default): ``4 f (1 - f)``, f = the share of candidates containing the pixel, the definition the
  annotation server uses too (:mod:`ssb_core.metrics.variability`);
- ``entropy``: the binary entropy (base 2) of f.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ssb_core.metrics.variability import vote_entropy, vote_variability

__all__ = ["variability_map", "save_montage"]

_LABEL_H = 12


def variability_map(probs: np.ndarray, kind: str = "variability", threshold: float = 0.5) -> np.ndarray:
    """Per-pixel disagreement of N candidates.

    Args:
        probs: (N, H, W) candidate probabilities in [0, 1] (binarised at ``threshold``).
        kind: ``variability`` or ``entropy`` (see the module docstring).

    Returns:
        (H, W) float32 in [0, 1].
    """
    if probs.ndim != 3:
        raise ValueError(f"probs must have shape (N, H, W), got {probs.shape}")
    measures = {"variability": vote_variability, "entropy": vote_entropy}
    if kind not in measures:
        raise ValueError(f"kind must be one of {sorted(measures)}, got {kind!r}")
    return measures[kind](probs > threshold)


def _grey(image: np.ndarray) -> np.ndarray:
    """(H, W) intensities -> (H, W, 3) uint8, windowed to the 1st..99th percentile."""
    lo, hi = np.percentile(image, [1, 99])
    scaled = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)
    return np.repeat((scaled * 255).astype(np.uint8)[..., None], 3, axis=2)


def _overlay(grey: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    out = grey.astype(np.float32).copy()
    m = mask.astype(bool)
    out[m] = (1 - alpha) * out[m] + alpha * np.array([255.0, 40.0, 40.0])
    return out.astype(np.uint8)


def _heat(values: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 on a black-red-yellow-white ramp."""
    v = np.clip(values, 0, 1)
    r, g, b = np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def _tile(rgb: np.ndarray, label: str, scale: int) -> Image.Image:
    img = Image.fromarray(rgb).resize((rgb.shape[1] * scale, rgb.shape[0] * scale), Image.NEAREST)
    tile = Image.new("RGB", (img.width, img.height + _LABEL_H), (255, 255, 255))
    tile.paste(img, (0, _LABEL_H))
    ImageDraw.Draw(tile).text((2, 0), label[: max(4, img.width // 6)], fill=(0, 0, 0))
    return tile


def save_montage(
    path: str | Path,
    image: np.ndarray,
    masks: np.ndarray,
    present: np.ndarray,
    probs: np.ndarray,
    title: str = "",
    threshold: float = 0.5,
    kind: str = "variability",
    scale: int = 2,
    max_cols: int = 8,
    reader_names: list[str] | None = None,
) -> Path:
    """Write the montage of one case.

    Args:
        image: (H, W) the normalised image. masks: (R, H, W) reader masks in {0, 1}. present: (R,) bool.
        probs: (N, H, W) candidate probabilities. title: a line drawn above (case id, method, NFE ...).
    """
    grey = _grey(np.asarray(image, dtype=np.float32))
    names = reader_names or [f"reader {i}" for i in range(len(masks))]
    top = [_tile(grey, "image", scale)]
    for i, mask in enumerate(masks):
        if present[i]:
            top.append(_tile(_overlay(grey, mask), names[i], scale))
        else:
            top.append(_tile(np.full_like(grey, 200), f"{names[i]}: absent", scale))
    top.append(_tile(_heat(np.asarray(probs).mean(axis=0)), "mean prob", scale))
    top.append(_tile(_heat(variability_map(np.asarray(probs), kind, threshold)), f"variability ({kind})", scale))
    cands = [_tile(_overlay(grey, p > threshold), f"cand {k}", scale) for k, p in enumerate(probs)]
    rows = [top] + [cands[i : i + max_cols] for i in range(0, len(cands), max_cols)]
    tw, th = top[0].width, top[0].height
    width = max(len(r) for r in rows) * (tw + 2)
    canvas = Image.new("RGB", (width, _LABEL_H + 2 + len(rows) * (th + 2)), (255, 255, 255))
    ImageDraw.Draw(canvas).text((2, 0), title, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas.paste(tile, (c * (tw + 2), _LABEL_H + 2 + r * (th + 2)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
