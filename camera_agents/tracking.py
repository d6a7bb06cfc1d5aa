"""A small multi-object tracker: stable ids through short occlusions, confirmation before counting.

Association is greedy on overlap with each track's constant-velocity prediction, falling back to
centre distance (in box sizes) for small fast objects whose boxes no longer overlap between
analysed frames. A track is *confirmed* after ``min_hits`` matches; only confirmed tracks are ever
counted (unconfirmed ids inflating counts is a known failure of peers). A track unseen for
``max_lost`` frames is deleted with all its state, so memory stays flat on a 24/7 camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from camera_agents.detections import GROUP, Detections
from camera_agents.geometry import box_iou
from ingest.contract import OBJECT_CLASSES

_TENTATIVE_MAX_LOST = 2  # an unconfirmed track may miss this many frames before it is dropped
_MOST_AREA_CHANGE = 5.0  # the largest factor by which a track's box may grow or shrink between analysed frames
# What a box cut by the picture's edge says of its object's class, against a whole one's: a car
# coming into the picture shows its front first, a rider's length, for several frames, and
# where a counting line lies near that edge the track counts before whole views outvote them.
# Not nothing: an object that never shows whole is named by what it showed.
_EDGE_VOTE = 0.01
_EDGE_PX = 2.0  # a box within this of the picture's edge is cut by it


@dataclass(slots=True)
class _Track:
    track_id: int
    box: np.ndarray  # last observed xyxy
    velocity: np.ndarray  # xyxy change per analysed frame
    class_votes: list[float]  # per class id, the detections of this track that had it (weighed: ``_EDGE_VOTE``)
    start: np.ndarray  # centre where it was first seen: the way it has come, when it stops or vanishes
    hits: int = 1
    lost: int = 0
    confirmed: bool = False


class Tracker:
    def __init__(
        self, *, min_hits: int, max_lost: int = 12, min_iou: float = 0.1, max_distance: float = 1.5, frame_size: tuple[int, int] | None = None
    ) -> None:
        """``frame_size`` (width, height): the picture's, so that a box its edge cuts weighs little
        in its track's class (None: every box weighs the same)."""
        if min_hits < 1 or max_lost < 0:
            raise ValueError("min_hits must be >= 1 and max_lost >= 0")
        self._min_hits = min_hits
        self._max_lost = max_lost
        self._min_iou = min_iou
        self._max_distance = max_distance
        self._frame_size = frame_size
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1

    @property
    def max_lost(self) -> int:
        """Analysed frames a confirmed track survives unseen; set again when the analysis rate changes."""
        return self._max_lost

    @max_lost.setter
    def max_lost(self, value: int) -> None:
        if value < 0:
            raise ValueError("max_lost must be >= 0")
        self._max_lost = value

    @property
    def active_tracks(self) -> int:
        """Tracks held in memory (matched or coasting); bounded by the scene, not by uptime."""
        return len(self._tracks)

    def update(self, detections: Detections) -> Detections:
        """Match this frame's detections to tracks. Returns the matched detections with
        ``tracker_id``, ``data['confirmed']`` (bool) and the track's voted class as ``class_id``."""
        tracks = list(self._tracks.values())
        predicted = _predicted(tracks)
        detections = self._follow_groups(tracks, predicted, detections)
        detections = self._split_merged(tracks, predicted, detections)
        boxes = detections.xyxy.astype(np.float64)
        class_ids: list[int] = detections.class_id.tolist()
        pairs = self._associate(tracks, predicted, boxes)
        matched = [tracks[t] for t, _ in pairs]
        out_index = [d for _, d in pairs]
        weights = self._vote_weights(boxes)  # each box's say in its track's class, worked out once
        self._observe(matched, boxes[out_index], [class_ids[d] for d in out_index], [weights[d] for d in out_index])
        out_ids = [track.track_id for track in matched]
        out_confirmed = [track.confirmed for track in matched]
        out_class = [_voted(track.class_votes) for track in matched]
        matched_tracks = set(out_ids)
        for track in tracks:
            if track.track_id not in matched_tracks:
                track.lost += 1
                limit = self._max_lost if track.confirmed else _TENTATIVE_MAX_LOST
                if track.lost > limit:
                    del self._tracks[track.track_id]
        taken = set(out_index)
        unmatched = np.array([d for d in range(len(boxes)) if d not in taken], np.int64)
        if len(unmatched) and out_index:
            unmatched = unmatched[~_fragments(boxes[unmatched], boxes[out_index])]
        for d_index in unmatched.tolist():
            track = self._start(boxes[d_index], class_ids[d_index], weights[d_index])
            out_index.append(d_index)
            out_ids.append(track.track_id)
            out_confirmed.append(track.confirmed)
            out_class.append(class_ids[d_index])
        if not out_index:
            return Detections.empty().with_tracks(np.zeros(0, np.int64), confirmed=np.zeros(0, bool))
        picked = np.asarray(out_index)
        return Detections(
            xyxy=detections.xyxy[picked],
            confidence=detections.confidence[picked],
            class_id=np.asarray(out_class, np.int16),
            tracker_id=np.asarray(out_ids, np.int64),
            data={**{key: values[picked] for key, values in detections.data.items()}, "confirmed": np.asarray(out_confirmed, bool)},
        )

    def _follow_groups(self, tracks: list[_Track], predicted: np.ndarray, detections: Detections) -> Detections:
        """The people of a group's blob (``data[GROUP]``) that confirmed tracks follow stay where
        those tracks were heading, moved inside the blob, each in place of the piece of the cut
        nearest it; the pieces left are the people no track follows yet. A cut by the blob's area
        lays a group out anew each frame: as the count it reads changes, a person's feet jump by a
        body's height, across a counting line, and ids pass from one to another."""
        group = detections.data.get(GROUP)
        if group is None or not len(detections):
            return detections
        followed = np.flatnonzero([t.confirmed and t.lost <= 1 for t in tracks])
        blobs, people = np.unique(group, return_counts=True)
        if not len(followed) or (people < 2).all():
            return detections
        xyxy = detections.xyxy.astype(np.float64)
        feet = np.column_stack([(predicted[followed, 0] + predicted[followed, 2]) / 2, predicted[followed, 3]])
        boxes = xyxy.copy()
        taken = np.zeros(len(followed), bool)
        for blob, n in zip(blobs[people >= 2].tolist(), people[people >= 2].tolist()):
            pieces = np.flatnonzero(group == blob)
            box = np.concatenate([xyxy[pieces, :2].min(axis=0), xyxy[pieces, 2:].max(axis=0)])
            inside = np.flatnonzero(~taken & (feet[:, 0] >= box[0]) & (feet[:, 0] <= box[2]) & (feet[:, 1] >= box[1]) & (feet[:, 1] <= box[3]))
            if not len(inside):
                continue
            # More tracks than the area reads people: those nearest the blob's bottom, in front.
            inside = inside[np.argsort(box[3] - feet[inside, 1], kind="stable")[:n]]
            taken[inside] = True
            free = list(pieces)
            for k in inside:
                part = predicted[followed[k]].copy()
                size = np.minimum(part[2:] - part[:2], box[2:] - box[:2])
                part[:2] = np.clip(part[:2], box[:2], box[2:] - size)
                part[2:] = part[:2] + size
                # The track takes the piece whose feet are nearest its own; the pieces left are
                # the people no track follows yet.
                piece_feet = np.column_stack([(xyxy[free, 0] + xyxy[free, 2]) / 2, xyxy[free, 3]])
                nearest = free.pop(int(np.argmin(np.hypot(*(piece_feet - feet[k]).T))))
                boxes[nearest] = part
        return Detections(
            xyxy=boxes.astype(np.float32), confidence=detections.confidence, class_id=detections.class_id,
            tracker_id=detections.tracker_id, data=detections.data,
        )

    def _split_merged(self, tracks: list[_Track], predicted: np.ndarray, detections: Detections) -> Detections:
        """One detection that holds two or more confirmed tracks' predicted boxes is those objects
        merged (a vehicle closing up behind another, riders drawing level): it becomes one box per
        track, each the track's predicted box moved inside the detection, so no id is lost."""
        confirmed = np.array([t.confirmed and t.lost <= 1 for t in tracks], bool)
        if confirmed.sum() < 2 or not len(detections):
            return detections
        predicted = predicted[confirmed]
        p_area = np.maximum((predicted[:, 2] - predicted[:, 0]) * (predicted[:, 3] - predicted[:, 1]), 1.0)
        boxes = detections.xyxy.astype(np.float64)
        # np.maximum(..., 0): what np.clip(..., 0, None) calls, without its two Python layers.
        ix = np.maximum(np.minimum(boxes[:, None, 2], predicted[None, :, 2]) - np.maximum(boxes[:, None, 0], predicted[None, :, 0]), 0)
        iy = np.maximum(np.minimum(boxes[:, None, 3], predicted[None, :, 3]) - np.maximum(boxes[:, None, 1], predicted[None, :, 1]), 0)
        d_areas = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0)
        holds = (ix * iy / p_area[None, :] >= 0.7) & (p_area[None, :] <= 0.75 * d_areas[:, None])
        candidates = np.flatnonzero(holds.sum(axis=1) >= 2)
        if not len(candidates):
            return detections
        keep = np.ones(len(boxes), bool)
        extra_boxes: list[np.ndarray] = []
        extra_from: list[int] = []
        for d in candidates:
            box, d_area = boxes[d], d_areas[d]
            inside = np.flatnonzero(holds[d])
            # The tracks must cover much of the detection between them, or it is something else
            # that came along; not all of it: neighbours in two lanes merged at a corner, one half
            # a length ahead, leave the merged box's two other corners empty, nearly half of it.
            # And they must be apart, or they are one object's two ids already.
            if p_area[inside].sum() < 0.45 * d_area:
                continue
            overlap = box_iou(predicted[inside], predicted[inside])
            np.fill_diagonal(overlap, 0.0)
            if overlap.max() >= 0.3:
                continue
            keep[d] = False
            centres = (predicted[inside, :2] + predicted[inside, 2:]) / 2
            sizes = predicted[inside, 2:] - predicted[inside, :2]
            middle = (box[:2] + box[2:]) / 2
            for k, t in enumerate(inside):
                part = predicted[t].copy()
                size = sizes[k]
                part[:2] = np.clip(part[:2], box[:2], np.maximum(box[2:] - size, box[:2]))
                for axis in (0, 1):
                    # Apart along this axis from the others: the object is the blob's end on its side
                    # (the blob says where it is; the prediction only which end is whose).
                    others = np.delete(centres[:, axis], k)
                    if (np.abs(others - centres[k, axis]) > size[axis] / 2).all():
                        part[axis] = box[axis] if centres[k, axis] < middle[axis] else box[axis + 2] - size[axis]
                part[2:] = np.minimum(part[:2] + size, box[2:])
                extra_boxes.append(part)
                extra_from.append(d)
        if not extra_boxes:
            return detections
        kept = detections[keep]
        parts = detections[np.asarray(extra_from)]
        parts = Detections(xyxy=np.asarray(extra_boxes), confidence=parts.confidence, class_id=parts.class_id, data=parts.data)
        return Detections.merge([kept, parts])

    def _associate(self, tracks: list[_Track], predicted: np.ndarray, boxes: np.ndarray) -> list[tuple[int, int]]:
        if not len(predicted) or not len(boxes):
            return []
        iou = box_iou(predicted, boxes)
        centre_p = (predicted[:, :2] + predicted[:, 2:]) / 2
        centre_d = (boxes[:, :2] + boxes[:, 2:]) / 2
        size = np.sqrt(np.maximum((predicted[:, 2] - predicted[:, 0]) * (predicted[:, 3] - predicted[:, 1]), 1.0))
        offset = centre_p[:, None, :] - centre_d[None, :, :]
        distance = np.sqrt(np.add.reduce(offset * offset, axis=2)) / size[:, None]  # np.linalg.norm's sum, without its checks
        # Overlap ranks first; a distance-only match scores below any real overlap.
        score = np.where(iou >= self._min_iou, 1.0 + iou, np.where(distance <= self._max_distance, 1.0 - distance / (self._max_distance + 1e-9), -1.0))
        # A track takes a box at most five times larger or smaller than its own: a lost car must not
        # grab a passing motorbike (or a ghost its own size would not be). Less would not do: at
        # dusk a dark car seen whole breaks up, the next analysed frame, into its lamps' glows,
        # each a box up to 4.7 times smaller (dusk seed 4).
        area_p = (predicted[:, 2] - predicted[:, 0]) * (predicted[:, 3] - predicted[:, 1])
        area_d = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        ratio = np.maximum(area_p[:, None], 1.0) / np.maximum(area_d[None, :], 1.0)
        score = np.where((ratio > _MOST_AREA_CHANGE) | (ratio < 1.0 / _MOST_AREA_CHANGE), -1.0, score)
        # A track lost, were it for one frame, is not found again behind where it was last seen,
        # against the way it has come, in a box that does not overlap its own: that is another
        # vehicle, coming the other way where it vanished (at the far end of the road vehicles
        # shrink to a few pixels, slow down in the picture and merge), or the one behind it in a
        # crawling queue (a real camera over Jakarta: a car's id taken by the car behind it,
        # counted the wrong way across the line). A large vehicle's box that jumps back as its
        # front is hidden still overlaps its own place, and is found again by it.
        lost = [i for i, t in enumerate(tracks) if t.lost > 0]
        if lost:
            last = np.array([(tracks[i].box[:2] + tracks[i].box[2:]) / 2 for i in lost])
            come = last - np.array([tracks[i].start for i in lost])
            way = np.sqrt(np.add.reduce(come * come, axis=1))
            known = way >= size[lost]  # a box's size at least: the way it has come is known
            if known.any():
                rows = np.asarray(lost)[known]
                along = np.add.reduce((centre_d[None, :, :] - last[known, None, :]) * come[known, None, :], axis=2) / way[known, None]
                behind = (along < -0.5 * size[rows, None]) & (iou[rows] < self._min_iou)  # half a box: not its box's jitter
                score[rows] = np.where(behind, -1.0, score[rows])
        score = np.where(score > 0, score, -1.0)
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_d: set[int] = set()
        # Best score first; the matchable (positive) scores all come before the -1s.
        order = np.argsort(-score, axis=None)[: np.count_nonzero(score > 0)]
        columns = score.shape[1]
        most = min(score.shape)  # once every track or every detection has its pair, nothing is left to match
        for flat in order.tolist():
            t, d = divmod(flat, columns)
            if t in used_t or d in used_d:
                continue
            used_t.add(t)
            used_d.add(d)
            pairs.append((t, d))
            if len(pairs) == most:
                break
        return pairs

    def _observe(self, tracks: list[_Track], boxes: np.ndarray, class_ids: list[int], weights: list[float]) -> None:
        """Each track in ``tracks`` seen again at its row of ``boxes``, its class voted with its
        weight (``_vote_weights``), all at once."""
        if not tracks:
            return
        old = np.array([t.box for t in tracks])  # np.array, not np.stack: the same rows, measured 3x faster
        velocity = np.array([t.velocity for t in tracks])
        step = (boxes - old) / np.array([t.lost + 1 for t in tracks], np.float64)[:, None]
        seen_before = np.array([t.hits > 1 for t in tracks], bool)[:, None]
        velocity = np.where(seen_before, 0.5 * velocity + 0.5 * step, step)
        for track, box, v, class_id, weight in zip(tracks, boxes, velocity, class_ids, weights):
            track.velocity = v
            track.box = box
            track.hits += 1
            track.lost = 0
            track.class_votes[class_id] += weight
            if track.hits >= self._min_hits:
                track.confirmed = True

    def _vote_weights(self, boxes: np.ndarray) -> list[float]:
        """Per box (rows of xyxy), how much its class counts in its track's vote."""
        if self._frame_size is None:
            return [1.0] * len(boxes)
        width, height = self._frame_size
        cut = (boxes[:, 0] <= _EDGE_PX) | (boxes[:, 1] <= _EDGE_PX) | (boxes[:, 2] >= width - _EDGE_PX) | (boxes[:, 3] >= height - _EDGE_PX)
        return np.where(cut, _EDGE_VOTE, 1.0).tolist()

    def _start(self, box: np.ndarray, class_id: int, weight: float) -> _Track:
        votes = [0.0] * len(OBJECT_CLASSES)
        votes[class_id] = weight
        track = _Track(self._next_id, box.copy(), np.zeros(4), class_votes=votes, start=(box[:2] + box[2:]) / 2, confirmed=self._min_hits <= 1)
        self._tracks[track.track_id] = track
        self._next_id += 1
        return track


def _predicted(tracks: list[_Track]) -> np.ndarray:
    """Where each track's box should be now, ``(len(tracks), 4)``. The centre moves with the
    velocity; the size stays: moving each edge by its own velocity would turn a box that shrank
    (a vehicle cut by a white line) inside out."""
    if not tracks:
        return np.zeros((0, 4))
    velocity = np.array([t.velocity for t in tracks])  # np.array, not np.stack: the same rows, measured 3x faster
    shift = (velocity[:, :2] + velocity[:, 2:]) / 2 * np.array([t.lost + 1 for t in tracks], np.float64)[:, None]
    return np.array([t.box for t in tracks]) + np.concatenate([shift, shift], axis=1)


def _voted(votes: list[float]) -> int:
    """The class most detections of a track had (the lowest class id of a tie)."""
    return votes.index(max(votes))


def _fragments(boxes: np.ndarray, claimed: np.ndarray) -> np.ndarray:
    """Per box, whether it lies mostly inside one of the already matched ``claimed`` boxes: a piece
    of that object (a blob split by a windscreen the colour of the road), not a new object:
    starting a track would count it twice."""
    ix = np.maximum(np.minimum(boxes[:, None, 2], claimed[None, :, 2]) - np.maximum(boxes[:, None, 0], claimed[None, :, 0]), 0)
    iy = np.maximum(np.minimum(boxes[:, None, 3], claimed[None, :, 3]) - np.maximum(boxes[:, None, 1], claimed[None, :, 1]), 0)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0)
    return ((ix * iy) / area[:, None] > 0.5).any(axis=1)
