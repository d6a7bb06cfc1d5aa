"""Synthetic faces and licence plates that OpenCV's Haar cascades find, to check that an agent
blurs what it must (tests and ``python -m bench evidence``): a cartoon frontal face and a white
Russian-style plate, drawn at any size."""

from __future__ import annotations

import cv2
import numpy as np


def drawn_face(size: int) -> np.ndarray:
    """A ``size`` x ``size`` BGR cartoon face: skin oval, brows, eyes, nose, mouth."""
    face = np.full((size, size, 3), 90, np.uint8)
    cx = size // 2
    cv2.ellipse(face, (cx, cx), (int(size * 0.36), int(size * 0.46)), 0, 0, 360, (150, 170, 200), -1)
    for side in (-1, 1):
        cv2.ellipse(face, (cx + side * int(size * 0.15), int(size * 0.40)), (int(size * 0.08), int(size * 0.04)), 0, 0, 360, (30, 30, 30), -1)
        cv2.line(face, (cx + side * int(size * 0.07), int(size * 0.32)), (cx + side * int(size * 0.25), int(size * 0.32)), (40, 40, 40), max(1, size // 30))
    cv2.line(face, (cx, int(size * 0.45)), (cx, int(size * 0.6)), (110, 120, 150), max(1, size // 40))
    cv2.ellipse(face, (cx, int(size * 0.72)), (int(size * 0.14), int(size * 0.04)), 0, 0, 360, (60, 60, 120), -1)
    return face


def drawn_plate(width: int) -> np.ndarray:
    """A white plate ``width`` wide (height 0.22 of it), black border and characters."""
    height = int(width * 0.22)
    plate = np.full((height, width, 3), 235, np.uint8)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (0, 0, 0), 2)
    cv2.putText(plate, "A123BC 77", (int(width * 0.05), int(height * 0.78)), cv2.FONT_HERSHEY_SIMPLEX, height / 34, (0, 0, 0), max(1, height // 14))
    return plate
