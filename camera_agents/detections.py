"""``Detections``: the objects found in one frame, as parallel numpy arrays (like supervision's).

Every stage after the detector (tracker, analytics, event building) speaks this one type.
Class ids index the contract's ``OBJECT_CLASSES``, so a class name is never a free string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ingest.contract import OBJECT_CLASSES

CLASS_ID: dict[str, int] = {name: index for index, name in enumerate(OBJECT_CLASSES)}
# ``data`` key: per object cut from a blob of several people, the blob's index in its frame (the
# people of one group share it).
GROUP = "group"


@dataclass(frozen=True, eq=False)
class Detections:
    """N objects: ``xyxy`` (N, 4) pixels, ``confidence`` (N,), ``class_id`` (N,) into
    ``OBJECT_CLASSES``, optional ``tracker_id`` (N,) and extra per-object arrays in ``data``."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None
    data: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) else np.zeros((0, 4), np.float32)
        n = len(xyxy)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        class_id = np.asarray(self.class_id, dtype=np.int16).reshape(-1)
        if len(confidence) != n or len(class_id) != n:
            raise ValueError(f"detections arrays disagree: {n} boxes, {len(confidence)} confidences, {len(class_id)} classes")
        if n and not np.isfinite(xyxy).all():
            raise ValueError("detection boxes must be finite")
        if n and ((xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])).any():
            raise ValueError("detection boxes must be x1 <= x2 and y1 <= y2")
        if n and ((class_id < 0) | (class_id >= len(OBJECT_CLASSES))).any():
            raise ValueError(f"class ids must index {OBJECT_CLASSES}")
        tracker_id = None
        if self.tracker_id is not None:
            tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
            if len(tracker_id) != n:
                raise ValueError(f"{len(tracker_id)} tracker ids for {n} detections")
        data = {}
        for key, values in self.data.items():
            values = np.asarray(values)
            if len(values) != n:
                raise ValueError(f"data[{key!r}] has {len(values)} values for {n} detections")
            data[key] = values
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "tracker_id", tracker_id)
        object.__setattr__(self, "data", data)

    @classmethod
    def empty(cls) -> Detections:
        return cls(xyxy=np.zeros((0, 4), np.float32), confidence=np.zeros(0, np.float32), class_id=np.zeros(0, np.int16))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """A subset, by boolean mask or integer indices."""
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={key: values[index] for key, values in self.data.items()},
        )

    @property
    def class_names(self) -> list[str]:
        return [OBJECT_CLASSES[i] for i in self.class_id]

    def with_tracks(self, tracker_id: np.ndarray, **data: np.ndarray) -> Detections:
        return Detections(
            xyxy=self.xyxy, confidence=self.confidence, class_id=self.class_id, tracker_id=tracker_id, data={**self.data, **data}
        )

    @staticmethod
    def merge(parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        tracked = all(p.tracker_id is not None for p in parts)
        keys = set.intersection(*(set(p.data) for p in parts))
        return Detections(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate([p.tracker_id for p in parts]) if tracked else None,  # type: ignore[misc]
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys},
        )
