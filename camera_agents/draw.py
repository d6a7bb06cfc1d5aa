"""Pictures for people: a frame with the camera's lines, zones and tracks drawn on it.

Apart from the analysis on purpose: nothing here feeds back into counting. Used by
``ioc agent snapshot`` to place lines on a new camera and to check a running one.
"""

from __future__ import annotations

import cv2
import numpy as np

from camera_agents.config import CameraConfig
from camera_agents.detections import Detections

_LINE = (0, 215, 255)  # amber
_ARROW = (60, 220, 60)
_ZONE = (255, 160, 0)
_TRACK = (0, 0, 255)
_TENTATIVE = (160, 160, 160)
_MASK = (40, 40, 40)


def _pt(p) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def draw_grid(image: np.ndarray, step: int = 50) -> np.ndarray:
    """A labelled pixel grid, so line and zone coordinates can be read off the picture."""
    out = image.copy()
    h, w = out.shape[:2]
    for x in range(0, w, step):
        cv2.line(out, (x, 0), (x, h - 1), (255, 255, 255) if x % (2 * step) == 0 else (200, 200, 200), 1, cv2.LINE_AA)
        if x % (2 * step) == 0:
            cv2.putText(out, str(x), (x + 2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    for y in range(0, h, step):
        cv2.line(out, (0, y), (w - 1, y), (255, 255, 255) if y % (2 * step) == 0 else (200, 200, 200), 1, cv2.LINE_AA)
        if y % (2 * step) == 0 and y:
            cv2.putText(out, str(y), (2, y - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return cv2.addWeighted(image, 0.55, out, 0.45, 0)


def draw_config(image: np.ndarray, config: CameraConfig) -> np.ndarray:
    """Masks (darkened), zones and lines (with their `in` arrow), each with its id, over a copy of ``image``.

    Text is ASCII (ids and in/out): OpenCV's fonts cannot draw Vietnamese display names.
    """
    out = image.copy()
    for mask in config.masks:  # darkened: nothing is detected there
        polygon = np.array([_pt(p) for p in mask.polygon], np.int32)
        overlay = out.copy()
        cv2.fillPoly(overlay, [polygon], _MASK)
        out = cv2.addWeighted(overlay, 0.6, out, 0.4, 0)
        cv2.polylines(out, [polygon], True, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(out, f"mask {mask.id}", _pt(polygon.min(axis=0) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    for zone in config.zones:
        polygon = np.array([_pt(p) for p in zone.polygon], np.int32)
        overlay = out.copy()
        cv2.fillPoly(overlay, [polygon], _ZONE)
        out = cv2.addWeighted(overlay, 0.2, out, 0.8, 0)
        cv2.polylines(out, [polygon], True, _ZONE, 2, cv2.LINE_AA)
        cv2.putText(out, zone.id, _pt(polygon.min(axis=0) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _ZONE, 1, cv2.LINE_AA)
    for line in config.lines:
        a, b = line.points
        cv2.line(out, _pt(a), _pt(b), _LINE, 2, cv2.LINE_AA)
        tail, head = line.in_direction
        cv2.arrowedLine(out, _pt(tail), _pt(head), _ARROW, 2, cv2.LINE_AA, tipLength=0.25)
        cv2.putText(out, "in", _pt((head[0] + 4, head[1])), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _ARROW, 1, cv2.LINE_AA)
        label = line.id + (f" (one way: {line.allowed_direction})" if line.allowed_direction else "")
        cv2.putText(out, label, _pt((a[0] + 4, a[1] - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _LINE, 1, cv2.LINE_AA)
    return out


def draw_tracks(image: np.ndarray, tracks: Detections) -> np.ndarray:
    """Boxes with track id and class; unconfirmed tracks in grey (they are never counted)."""
    out = image.copy()
    confirmed = tracks.data.get("confirmed", np.ones(len(tracks), bool))
    for i in range(len(tracks)):
        x1, y1, x2, y2 = (int(v) for v in tracks.xyxy[i])
        colour = _TRACK if confirmed[i] else _TENTATIVE
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 1)
        cv2.circle(out, ((x1 + x2) // 2, y2), 3, colour, -1)  # the anchor that is counted
        if tracks.tracker_id is not None:
            text = f"{int(tracks.tracker_id[i])} {tracks.class_names[i]}"
            cv2.putText(out, text, (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return out
