"""Detectors that run a trained model: OpenCV's HOG people detector, and a user-supplied ONNX
model (YOLO or SSD output layout) through ``cv2.dnn``, with the decoders of those layouts (also
used by the TensorFlow SSD detector, ``camera_agents.ssd``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from camera_agents.config import HogDetectorConfig, OnnxDetectorConfig
from camera_agents.detection import DetectorError
from camera_agents.detections import CLASS_ID, Detections


class HogDetector:
    def __init__(self, config: HogDetectorConfig) -> None:
        self._config = config
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image: np.ndarray | None, *, analyse: bool = True) -> Detections:
        if not analyse:
            return Detections.empty()
        cfg = self._config
        work = image if cfg.scale == 1.0 else cv2.resize(image, None, fx=cfg.scale, fy=cfg.scale, interpolation=cv2.INTER_LINEAR)
        rects, weights = self._hog.detectMultiScale(
            work, hitThreshold=cfg.hit_threshold, winStride=(cfg.win_stride, cfg.win_stride), scale=cfg.pyramid_scale
        )
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, dtype=np.float32) / cfg.scale
        xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        margin = np.asarray(weights, dtype=np.float32).reshape(-1)
        confidence = 1.0 / (1.0 + np.exp(-margin))  # SVM margin to (0, 1)
        keep = _nms(xyxy, confidence, 0.4)
        return Detections(xyxy=xyxy[keep], confidence=confidence[keep], class_id=np.full(len(keep), CLASS_ID["person"]))


COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
MODEL_CLASS_TO_IOC = {
    "person": "person", "pedestrian": "person", "bicycle": "bicycle", "car": "car", "motorcycle": "motorbike",
    "motorbike": "motorbike", "bus": "bus_truck", "truck": "bus_truck", "bus_truck": "bus_truck", "van": "car",
}  # fmt: skip


def decode_yolo(
    output: np.ndarray,
    *,
    class_ids: Sequence[int | None],
    confidence: float,
    nms_iou: float,
    input_size: int,
    frame_size: tuple[int, int],
    pad: tuple[float, float] = (0.0, 0.0),
    gain: float | None = None,
) -> Detections:
    """A YOLO output tensor to Detections in frame pixels.

    Accepts both layouts: v5 ``(1, boxes, 5 + classes)`` with an objectness column and v8
    ``(1, 4 + classes, boxes)``. ``class_ids`` maps each model class to an ioc class id (None:
    ignored). ``pad``/``gain`` undo the letterbox (frame pixel = (net pixel - pad) / gain).
    """
    n_classes = len(class_ids)
    rows = np.asarray(output, dtype=np.float32).squeeze(0) if np.ndim(output) == 3 else np.asarray(output, np.float32)
    if rows.ndim != 2:
        raise DetectorError(f"unexpected YOLO output shape {np.shape(output)}")
    if rows.shape[0] in (4 + n_classes, 5 + n_classes) and rows.shape[1] not in (4 + n_classes, 5 + n_classes):
        rows = rows.T
    if rows.shape[1] == 5 + n_classes:
        scores = rows[:, 5:] * rows[:, 4:5]
    elif rows.shape[1] == 4 + n_classes:
        scores = rows[:, 4:]
    else:
        raise DetectorError(f"YOLO output with {rows.shape[1]} columns does not fit {n_classes} classes (v5: 5+C, v8: 4+C)")
    best = scores.argmax(axis=1)
    best_score = scores[np.arange(len(rows)), best]
    mapped = np.array([-1 if c is None else c for c in class_ids], dtype=np.int16)[best]
    keep = (best_score >= confidence) & (mapped >= 0)
    if not keep.any():
        return Detections.empty()
    cx, cy, w, h = rows[keep, 0], rows[keep, 1], rows[keep, 2], rows[keep, 3]
    if gain is None:
        gain = min(input_size / frame_size[0], input_size / frame_size[1])
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    xyxy = (xyxy - np.array([pad[0], pad[1], pad[0], pad[1]], np.float32)) / gain
    frame_w, frame_h = frame_size
    np.clip(xyxy, 0, np.array([frame_w, frame_h, frame_w, frame_h], np.float32), out=xyxy)
    score, cls = best_score[keep], mapped[keep]
    # Class-aware NMS: offset boxes by class so different classes never suppress each other.
    kept = _nms(xyxy + cls[:, None].astype(np.float32) * 10_000, score, nms_iou)
    return Detections(xyxy=xyxy[kept], confidence=score[kept], class_id=cls[kept])


def decode_detection_rows(
    rows: np.ndarray, *, class_ids: Sequence[int | None], confidence: float, nms_iou: float, frame_size: tuple[int, int]
) -> Detections:
    """OpenCV's ``DetectionOutput`` rows ``[image_id, label, score, x1, y1, x2, y2]`` (label 1..C,
    0 is the background; corners normalised to 0..1 of the network input, which covers the
    whole frame) to Detections in frame pixels."""
    rows = np.asarray(rows, np.float32).reshape(-1, 7)
    labels = rows[:, 1].astype(np.int64) - 1
    valid = (labels >= 0) & (labels < len(class_ids)) & (rows[:, 2] >= confidence)
    mapped = np.array([-1 if c is None else c for c in class_ids], np.int16)
    valid[valid] &= mapped[labels[valid]] >= 0
    if not valid.any():
        return Detections.empty()
    width, height = frame_size
    xyxy = np.clip(rows[valid, 3:7], 0.0, 1.0) * np.array([width, height, width, height], np.float32)
    score, cls = rows[valid, 2], mapped[labels[valid]]
    kept = _nms(xyxy + cls[:, None].astype(np.float32) * 10_000, score, nms_iou)
    return Detections(xyxy=xyxy[kept], confidence=score[kept], class_id=cls[kept])


def decode_ssd(
    outputs: Sequence[np.ndarray], *, class_ids: Sequence[int | None], confidence: float, nms_iou: float, frame_size: tuple[int, int]
) -> Detections:
    """SSD outputs to Detections in frame pixels; the input was the whole frame resized (no letterbox).

    Accepts ``(1, 1, N, 7)`` rows ``[image_id, label, score, x1, y1, x2, y2]`` (label 1..C, 0 the
    background), or two tensors, boxes ``(1, N, 4)`` ``[x1, y1, x2, y2]`` and scores ``(1, N, C)``
    (or ``C + 1`` columns with the background first). Corners are fractions (0..1) of the input.
    """
    arrays = [np.asarray(o, np.float32) for o in outputs]
    if len(arrays) == 1 and arrays[0].shape[-1] == 7:
        return decode_detection_rows(arrays[0], class_ids=class_ids, confidence=confidence, nms_iou=nms_iou, frame_size=frame_size)
    shapes = [a.shape for a in arrays]
    boxes = next((a.reshape(-1, 4) for a in arrays if a.shape[-1] == 4), None)
    scores = next((a for a in arrays if a.shape[-1] in (len(class_ids), len(class_ids) + 1) and a.shape[-1] != 4), None)
    if len(arrays) != 2 or boxes is None or scores is None:
        raise DetectorError(
            f"SSD outputs {shapes} fit neither layout for {len(class_ids)} classes: (1, 1, N, 7), or boxes (1, N, 4) with scores (1, N, C[+1])"
        )
    scores = scores.reshape(len(boxes), -1)
    if scores.shape[1] == len(class_ids) + 1:
        scores = scores[:, 1:]  # the background column
    best = scores.argmax(axis=1)
    rows = np.column_stack([np.zeros(len(boxes)), best + 1, scores[np.arange(len(boxes)), best], boxes]).astype(np.float32)
    return decode_detection_rows(rows, class_ids=class_ids, confidence=confidence, nms_iou=nms_iou, frame_size=frame_size)


class OnnxDetector:
    """An ONNX model through ``cv2.dnn``; the input and output layouts are in camera_agents/README.md."""

    def __init__(self, config: OnnxDetectorConfig) -> None:
        model = Path(config.model)
        if not model.is_file():
            raise DetectorError(
                f"ONNX model {str(model)!r} not found: ioc ships no weights; export a YOLO model to ONNX "
                "(e.g. `yolo export model=yolov8n.pt format=onnx`) and set detector.model to its path"
            )
        try:
            self._net = cv2.dnn.readNetFromONNX(str(model))
        except cv2.error as exc:
            raise DetectorError(f"cannot load ONNX model {str(model)!r}: {exc}") from None
        self._config = config
        self._outputs = self._net.getUnconnectedOutLayersNames()
        names = config.class_names or list(COCO_NAMES)
        self._class_ids = [CLASS_ID[MODEL_CLASS_TO_IOC[n]] if n in MODEL_CLASS_TO_IOC else None for n in names]

    def detect(self, image: np.ndarray | None, *, analyse: bool = True) -> Detections:
        if not analyse:
            return Detections.empty()
        cfg = self._config
        size = cfg.input_size
        height, width = image.shape[:2]
        if cfg.layout == "ssd":
            self._net.setInput(cv2.dnn.blobFromImage(image, 1 / 255.0, (size, size), swapRB=True, crop=False))
            outputs = self._net.forward(self._outputs)
            return decode_ssd(outputs, class_ids=self._class_ids, confidence=cfg.confidence, nms_iou=cfg.nms_iou, frame_size=(width, height))
        gain = min(size / width, size / height)
        new_w, new_h = round(width * gain), round(height * gain)
        pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
        canvas = np.full((size, size, 3), 114, np.uint8)
        top, left = int(pad_y), int(pad_x)
        canvas[top : top + new_h, left : left + new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        self._net.setInput(cv2.dnn.blobFromImage(canvas, 1 / 255.0, (size, size), swapRB=True, crop=False))
        outputs = self._net.forward(self._outputs)
        # Older YOLOv5 exports also output their three 5-D feature maps; the detections are the 3-D one.
        output = next((o for o in outputs if np.ndim(o) == 3), outputs[0])
        return decode_yolo(
            output, class_ids=self._class_ids, confidence=cfg.confidence, nms_iou=cfg.nms_iou,
            input_size=size, frame_size=(width, height), pad=(left, top), gain=gain,
        )  # fmt: skip


def _nms(xyxy: np.ndarray, score: np.ndarray, iou: float) -> np.ndarray:
    boxes = [[float(a), float(b), float(c - a), float(d - b)] for a, b, c, d in xyxy]
    kept = cv2.dnn.NMSBoxes(boxes, score.astype(float).tolist(), 0.0, iou)
    return np.asarray(kept, dtype=np.int64).reshape(-1)
