"""Alert rules: from camera events to alerts worth a human's attention. Pure logic.

``AlertEngine`` evaluates the rules for the cameras of one partition; ``AlertBook`` turns each
rule's raise/clear decisions into an alert's life: one ``alert_id`` per episode, ``group_key``
= camera x rule, ``open`` / ``update`` / ``resolved``, a cooldown (a condition returning soon
after it cleared reopens the same alert), throttled updates and operators' silences.

Time: every rule runs on event time (the camera's own clock, advanced by any event it sends)
except ``camera_offline``, which by nature has no events: it runs on processing time, checked
by a timer. Rule names: crowd, loitering, stopped_vehicle, wrong_way, camera_offline,
camera_frozen, camera_blackout, camera_blur, camera_source_lost, camera_moved, flow_high, flow_low,
incident_signature. See processors/README.md for each.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest import alert_text
from ingest.contract import (
    Alert,
    AlertAction,
    CameraHealth,
    CameraInfo,
    CountWindow,
    Heartbeat,
    OccupancyWindow,
    TrackIncident,
    ZoneOccupancy,
)
from processors.baseline import FlowBaseline, slot_shift, week_slot
from processors.config import CameraRules, RulesConfig

log = logging.getLogger(__name__)

HEALTH_RULES = {"frozen": "camera_frozen", "blackout": "camera_blackout", "blur": "camera_blur",
                "source_lost": "camera_source_lost", "moved": "camera_moved"}
HEALTH_TITLES = {"frozen": "picture frozen", "blackout": "picture black (covered?)", "blur": "picture blurred",
                 "source_lost": "video source lost", "moved": "view moved (lines on other ground)"}

Details = dict[str, float | int | str | None]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _utc_or_none(ts: float | None) -> datetime | None:
    return None if ts is None else _utc(ts)


def episode_id(group_key: str, opened_at: float) -> str:
    """Deterministic, so replaying the same events after a restart names the same episode."""
    return hashlib.blake2b(f"{group_key}@{opened_at!r}".encode(), digest_size=16).hexdigest()


@dataclass
class Episode:
    alert_id: str
    camera_id: str
    rule: str
    opened_at: float
    severity: str
    title: str
    details: Details
    open: bool = True
    last_sent: float = 0.0
    resolved_at: float | None = None
    #: an operator resolved it while the condition still held: stay quiet until it clears
    held_by_operator: bool = False
    #: an operator reopened it: only an operator closes it again, not the condition clearing
    held_open_by_operator: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    #: processing time the escalation clock started (first timer tick that saw it unacknowledged)
    waiting_since: float | None = None
    escalated_at: float | None = None
    #: time of the last step sent: steps of one episode never go back in time, so the newest
    #: step wins in the current-state table even when a camera's clock lags the operators'
    last_step_at: float = -math.inf

    def reset_handling(self) -> None:
        """A new spell of trouble: nobody has acknowledged or escalated it yet."""
        self.acknowledged_by = self.acknowledged_at = self.resolved_by = self.resolution = None
        self.waiting_since = self.escalated_at = None


class AlertBook:
    """The lifecycle of every camera x rule alert group; returns the Alert events to publish."""

    def __init__(self, rules: RulesConfig) -> None:
        self._rules = rules
        self.episodes: dict[str, Episode] = {}
        self.silences: dict[str, float] = {}  # group key -> until (epoch s)

    @staticmethod
    def group_key(camera_id: str, rule: str) -> str:
        return f"{camera_id}:{rule}"

    def is_open(self, camera_id: str, rule: str) -> bool:
        episode = self.episodes.get(self.group_key(camera_id, rule))
        return episode is not None and episode.open

    def silenced(self, camera_id: str, rule: str, at: float) -> bool:
        until = self.silences.get(self.group_key(camera_id, rule))
        if until is None:
            return False
        if at >= until:
            del self.silences[self.group_key(camera_id, rule)]
            return False
        return True

    def raise_(self, camera_id: str, rule: str, *, at: float, severity: str, title: str, details: Details) -> Alert | None:
        key = self.group_key(camera_id, rule)
        cfg = self._rules.for_camera(camera_id)
        episode = self.episodes.get(key)
        silenced = self.silenced(camera_id, rule, at)
        if episode is not None and episode.open:
            changed = severity != episode.severity
            episode.severity, episode.title, episode.details = severity, title, details
            if silenced or not (changed or at - episode.last_sent >= cfg.update_every_s):
                return None
            episode.last_sent = at
            return self._alert(episode, "update", at)
        if episode is not None and episode.held_by_operator:
            return None
        if silenced:
            return None
        if episode is not None and episode.resolved_at is not None and at - episode.resolved_at < cfg.cooldown_s:
            # The same trouble again soon after it cleared: reopen the same alert, not a new one.
            episode.open, episode.resolved_at = True, None
            episode.reset_handling()
            episode.severity, episode.title, episode.details = severity, title, {**details, "reopened": 1}
        else:
            episode = Episode(alert_id=episode_id(key, at), camera_id=camera_id, rule=rule, opened_at=at,
                              severity=severity, title=title, details=details)
            self.episodes[key] = episode
        episode.last_sent = at
        return self._alert(episode, "open", at)

    def clear(self, camera_id: str, rule: str, *, at: float, details: Details | None = None) -> Alert | None:
        episode = self.episodes.get(self.group_key(camera_id, rule))
        if episode is None:
            return None
        if episode.held_by_operator:
            episode.held_by_operator = False
            return None
        if not episode.open or episode.held_open_by_operator:
            return None
        episode.open, episode.resolved_at = False, at
        if details:
            episode.details = {**episode.details, **details}
        return self._alert(episode, "resolved", at)

    def apply(self, action: AlertAction, *, at: float) -> Alert | None:
        if action.action == "silence":
            rule = action.rule or self._rule_of(action.alert_id)
            if rule is None or action.silence_until is None:
                return None
            self.silences[self.group_key(action.camera_id, rule)] = action.silence_until.timestamp()
            return None
        if action.action == "unsilence":
            rule = action.rule or self._rule_of(action.alert_id)
            if rule is not None:
                self.silences.pop(self.group_key(action.camera_id, rule), None)
            return None
        episode = self._episode(action.alert_id)
        if episode is None:
            return None  # not this partition's, or an older episode of a group: nothing to change
        if action.action == "resolve" and episode.open:
            # Reopened by an operator, the condition may be long gone: do not wait for it to clear.
            episode.held_by_operator = not episode.held_open_by_operator
            episode.open, episode.resolved_at, episode.held_open_by_operator = False, at, False
            episode.resolved_by, episode.resolution = action.actor, action.resolution or "other"
            episode.details = {**episode.details, "resolved_by": action.actor}
            return self._alert(episode, "resolved", at)
        if action.action == "ack" and episode.open and episode.acknowledged_by is None:
            episode.acknowledged_by, episode.acknowledged_at = action.actor, at
            return self._alert(episode, "update", at)
        if action.action == "reopen" and not episode.open:
            episode.open, episode.resolved_at = True, None
            episode.held_by_operator, episode.held_open_by_operator = False, True
            episode.reset_handling()
            return self._alert(episode, "open", at)
        return None  # a note, or an action the state already reflects; the sink records it

    def escalate_due(self, now: float) -> list[Alert]:
        """Open alerts nobody acknowledged within their severity's deadline (processing time)."""
        out = []
        for episode in self.episodes.values():
            if not episode.open or episode.acknowledged_by is not None or episode.escalated_at is not None:
                continue
            deadline = self._rules.for_camera(episode.camera_id).escalation.deadline_s(episode.severity)
            if deadline is None:
                continue
            if episode.waiting_since is None:
                episode.waiting_since = now
            if now - episode.waiting_since >= deadline:
                episode.escalated_at = now
                out.append(self._alert(episode, "update", now))
        return out

    def _episode(self, alert_id: str) -> Episode | None:
        for episode in self.episodes.values():
            if episode.alert_id == alert_id:
                return episode
        return None

    def _rule_of(self, alert_id: str) -> str | None:
        episode = self._episode(alert_id)
        return episode.rule if episode is not None else None

    def _alert(self, episode: Episode, state: str, at: float) -> Alert:
        at = max(at, episode.last_step_at)
        episode.last_step_at = at
        return Alert(
            camera_id=episode.camera_id, ts=_utc(at), alert_id=episode.alert_id,
            group_key=self.group_key(episode.camera_id, episode.rule), rule=episode.rule,
            severity=episode.severity,  # type: ignore[arg-type]
            state=state,  # type: ignore[arg-type]
            opened_at=_utc(episode.opened_at), details=dict(episode.details),
            # The published title is the English one of ingest.alert_text, the wording the desk and
            # the notifier show in each language; the rule's own text is the fallback.
            title=alert_text.alert_title(episode.rule, episode.details, "en", fallback=episode.title),
            acknowledged_by=episode.acknowledged_by, acknowledged_at=_utc_or_none(episode.acknowledged_at),
            resolved_by=episode.resolved_by, resolution=episode.resolution,  # type: ignore[arg-type]
            escalated_at=_utc_or_none(episode.escalated_at),
        )

    def to_data(self) -> dict[str, Any]:
        return {"episodes": [{**asdict(e), "last_step_at": _finite(e.last_step_at)} for e in self.episodes.values()],
                "silences": self.silences}

    def restore(self, data: dict[str, Any]) -> None:
        self.episodes = {self.group_key(e["camera_id"], e["rule"]): Episode(**{**e, "last_step_at": _infinite(e.get("last_step_at"))})
                         for e in data.get("episodes", [])}
        self.silences = {k: float(v) for k, v in data.get("silences", {}).items()}


@dataclass
class _Camera:
    clock: float = -math.inf  # event time: the largest ts this camera has sent
    last_heartbeat: float | None = None  # processing time of the last health-topic event
    #: processing time the registry announced this camera (``CameraInfo`` of origin registry);
    #: a camera expected but never heard from is offline like one that went quiet
    expected_since: float | None = None
    #: what an alert would show: subject ("zone:<id>", "track:<kind>:<id>") -> event_id of the
    #: event the agent pictured (its first report), copied into the alert as ``evidence_id``
    evidence: dict[str, str] = field(default_factory=dict)
    zone_limits: dict[str, int] = field(default_factory=dict)
    zone_dwell: dict[str, float] = field(default_factory=dict)
    crowded: dict[str, tuple[int, int]] = field(default_factory=dict)  # zone -> (count, limit)
    last_report: dict[str, float] = field(default_factory=dict)  # incident rule -> event time
    last_stopped: float = -math.inf
    # window start -> (line, direction) -> class -> count; by class so a re-emitted window
    # (after a counting worker restarts) overwrites instead of adding
    flow_pending: dict[float, dict[tuple[str, str], dict[str, int]]] = field(default_factory=dict)
    flow_judged_until: float = -math.inf
    zone_peaks: dict[float, dict[str, int]] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {
            "clock": _finite(self.clock), "last_heartbeat": self.last_heartbeat,
            "expected_since": self.expected_since, "evidence": self.evidence,
            "zone_limits": self.zone_limits, "zone_dwell": self.zone_dwell,
            "crowded": {zone: list(v) for zone, v in self.crowded.items()},
            "last_report": self.last_report, "last_stopped": _finite(self.last_stopped),
            "flow_pending": [[start, line, direction, by_class]
                             for start, lines in self.flow_pending.items()
                             for (line, direction), by_class in lines.items()],
            "zone_peaks": [[start, peaks] for start, peaks in self.zone_peaks.items()],
            "flow_judged_until": _finite(self.flow_judged_until),
        }

    @classmethod
    def from_data(cls, raw: dict[str, Any]) -> _Camera:
        camera = cls(
            clock=_infinite(raw.get("clock")), last_heartbeat=raw.get("last_heartbeat"),
            expected_since=raw.get("expected_since"), evidence=dict(raw.get("evidence", {})),
            zone_limits=dict(raw.get("zone_limits", {})), zone_dwell=dict(raw.get("zone_dwell", {})),
            crowded={zone: (int(v[0]), int(v[1])) for zone, v in raw.get("crowded", {}).items()},
            last_report={k: float(v) for k, v in raw.get("last_report", {}).items()},
            last_stopped=_infinite(raw.get("last_stopped")),
            flow_judged_until=_infinite(raw.get("flow_judged_until")),
        )
        for start, line, direction, by_class in raw.get("flow_pending", []):
            camera.flow_pending.setdefault(float(start), {})[(line, direction)] = dict(by_class)
        for start, peaks in raw.get("zone_peaks", []):
            camera.zone_peaks[float(start)] = dict(peaks)
        return camera


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _infinite(value: float | None) -> float:
    return -math.inf if value is None else float(value)


class AlertEngine:
    """Rules for the cameras of one partition. Feed events (``on_event``) and timer ticks
    (``on_tick``); both return the alerts to publish."""

    def __init__(self, rules: RulesConfig, *, window_s: int = 60, grace_s: float = 10.0) -> None:
        self.rules = rules
        self.book = AlertBook(rules)
        self.baseline = FlowBaseline()
        #: camera -> (time zone, slot minutes) its baseline slots were learned in
        self._baseline_clock: dict[str, tuple[str, int]] = {}
        self._cameras: dict[str, _Camera] = {}
        self._window_s = window_s
        self._grace_s = grace_s

    def _camera(self, camera_id: str) -> _Camera:
        camera = self._cameras.get(camera_id)
        if camera is None:
            camera = self._cameras[camera_id] = _Camera()
        return camera

    # -- events ----------------------------------------------------------------------------

    def on_event(self, event: Any, *, now: float) -> list[Alert]:
        camera = self._camera(event.camera_id)
        cfg = self.rules.for_camera(event.camera_id)
        if isinstance(event, CameraInfo) and event.origin == "registry":
            # The registry speaks for the camera's config, not for the camera: no sign of life,
            # no event time. The offline clock starts now if the camera was never heard from.
            if camera.last_heartbeat is None and camera.expected_since is None:
                camera.expected_since = now
            camera.zone_limits = {z.zone_id: z.max_occupancy for z in event.zones if z.max_occupancy}
            camera.zone_dwell = {z.zone_id: z.dwell_seconds for z in event.zones if z.dwell_seconds}
            return []
        at = event.ts.timestamp()
        camera.clock = max(camera.clock, at)
        out: list[Alert | None] = []
        if isinstance(event, (Heartbeat, CameraInfo, CameraHealth)):
            camera.last_heartbeat = now
            out.append(self.book.clear(event.camera_id, "camera_offline", at=at, details={"back_at": event.ts.isoformat()}))
        if isinstance(event, CameraInfo):
            camera.zone_limits = {z.zone_id: z.max_occupancy for z in event.zones if z.max_occupancy}
            camera.zone_dwell = {z.zone_id: z.dwell_seconds for z in event.zones if z.dwell_seconds}
        elif isinstance(event, CameraHealth):
            out.append(self._health(event, cfg, at))
        elif isinstance(event, ZoneOccupancy):
            out.append(self._crowd(event, camera, cfg, at))
        elif isinstance(event, TrackIncident):
            out.append(self._incident(event, camera, cfg, at))
        elif isinstance(event, CountWindow):
            out.extend(self._count_window(event, camera, cfg))
        elif isinstance(event, OccupancyWindow):
            camera.zone_peaks.setdefault(event.ts.timestamp(), {})[event.zone_id] = event.peak
        elif isinstance(event, AlertAction):
            out.append(self.book.apply(event, at=at))
        out.extend(self._expire_reports(event.camera_id, camera, cfg))
        out.extend(self._flush_quiet_flow(event.camera_id, camera, cfg))
        return [alert for alert in out if alert is not None]

    def on_tick(self, now: float) -> list[Alert]:
        """Processing-time checks: a camera that sends nothing cannot advance event time."""
        out = []
        for camera_id, camera in self._cameras.items():
            cfg = self.rules.for_camera(camera_id).offline
            last_sign = camera.last_heartbeat if camera.last_heartbeat is not None else camera.expected_since
            if not cfg.enabled or last_sign is None:
                continue
            silent_for = now - last_sign
            if silent_for > cfg.after_s:
                never = camera.last_heartbeat is None
                alert = self.book.raise_(
                    camera_id, "camera_offline", at=now, severity="critical",
                    title=(f"camera {camera_id} offline: never sent a heartbeat ({silent_for:.0f} s since it was registered)"
                           if never else f"camera {camera_id} offline: no heartbeat for {silent_for:.0f} s"),
                    details={"silent_s": round(silent_for, 1), "limit_s": cfg.after_s, "never_seen": 1 if never else 0,
                             "last_event_at": _utc(camera.clock).isoformat() if math.isfinite(camera.clock) else None},
                )
                if alert is not None:
                    out.append(alert)
        out.extend(self.book.escalate_due(now))
        return out

    # -- rules -----------------------------------------------------------------------------

    def _health(self, event: CameraHealth, cfg: CameraRules, at: float) -> Alert | None:
        rule = HEALTH_RULES[event.condition]
        if not cfg.health.enabled or event.condition not in cfg.health.conditions:
            return None
        if event.state == "raised":
            severity = "critical" if event.condition in ("blackout", "source_lost") else "warning"
            return self.book.raise_(event.camera_id, rule, at=at, severity=severity,
                                    title=f"camera {event.camera_id}: {HEALTH_TITLES[event.condition]}",
                                    details={"condition": event.condition, "detail": event.detail,
                                             "evidence_id": event.event_id})
        return self.book.clear(event.camera_id, rule, at=at)

    def _crowd(self, event: ZoneOccupancy, camera: _Camera, cfg: CameraRules, at: float) -> Alert | None:
        rule = cfg.crowd
        limit = rule.max_occupancy or camera.zone_limits.get(event.zone_id)
        if not rule.enabled or not limit:
            return None
        if event.count > limit:
            camera.crowded[event.zone_id] = (event.count, limit)
            camera.evidence.setdefault(f"zone:{event.zone_id}", event.event_id)  # the agent pictures the first
        elif event.count <= limit * rule.clear_ratio:
            camera.crowded.pop(event.zone_id, None)
            camera.evidence.pop(f"zone:{event.zone_id}", None)
        if not camera.crowded:
            return self.book.clear(event.camera_id, "crowd", at=at, details={"zone_id": event.zone_id, "count": event.count})
        zone, (count, zone_limit) = max(camera.crowded.items(), key=lambda kv: kv[1][0] / kv[1][1])
        severity = "critical" if count >= zone_limit * rule.critical_ratio else "warning"
        return self.book.raise_(event.camera_id, "crowd", at=at, severity=severity,
                                title=f"crowd in {zone}: {count} people (limit {zone_limit})",
                                details={"zone_id": zone, "count": count, "limit": zone_limit,
                                         "zones_over": len(camera.crowded),
                                         "evidence_id": camera.evidence.get(f"zone:{zone}")})

    def _incident(self, event: TrackIncident, camera: _Camera, cfg: CameraRules, at: float) -> Alert | None:
        subject = f"track:{event.kind}:{event.track_id}"
        if subject not in camera.evidence and len(camera.evidence) >= 1000:  # bounded: old tracks go first
            del camera.evidence[next(iter(camera.evidence))]
        evidence_id = camera.evidence.setdefault(subject, event.event_id)  # the agent pictures a track's first report
        details: Details = {"track_id": event.track_id, "cls": event.cls, "duration_s": round(event.duration_s, 1),
                            "zone_id": event.zone_id, "line_id": event.line_id, "evidence_id": evidence_id}
        if event.kind == "loitering":
            rule = cfg.loitering
            limit = rule.limit_s or (camera.zone_dwell.get(event.zone_id) if event.zone_id else None) or rule.fallback_limit_s
            if not rule.enabled or event.duration_s < limit:
                return None
            camera.last_report["loitering"] = at
            return self.book.raise_(event.camera_id, "loitering", at=at, severity="warning",
                                    title=f"loitering in {event.zone_id or 'view'}: {event.duration_s:.0f} s (limit {limit:.0f} s)",
                                    details={**details, "limit_s": limit})
        if event.kind == "stopped":
            rule_s = cfg.stopped
            if not rule_s.enabled or event.duration_s < rule_s.min_duration_s:
                return None
            camera.last_report["stopped_vehicle"] = at
            camera.last_stopped = at
            severity = "critical" if event.duration_s >= rule_s.critical_after_s else "warning"
            return self.book.raise_(event.camera_id, "stopped_vehicle", at=at, severity=severity,
                                    title=f"stopped {event.cls} for {event.duration_s:.0f} s",
                                    details={**details, "limit_s": rule_s.min_duration_s})
        if event.kind == "wrong_way" and cfg.wrong_way.enabled:
            camera.last_report["wrong_way"] = at
            return self.book.raise_(event.camera_id, "wrong_way", at=at, severity="critical",
                                    title=f"{event.cls} going the wrong way on {event.line_id or 'the road'}",
                                    details=details)
        return None

    def _expire_reports(self, camera_id: str, camera: _Camera, cfg: CameraRules) -> list[Alert | None]:
        clear_after = {"loitering": cfg.loitering.clear_after_s, "stopped_vehicle": cfg.stopped.clear_after_s,
                       "wrong_way": cfg.wrong_way.clear_after_s}
        out = []
        for rule, last in list(camera.last_report.items()):
            if camera.clock - last >= clear_after[rule]:
                del camera.last_report[rule]
                out.append(self.book.clear(camera_id, rule, at=camera.clock,
                                           details={"quiet_s": round(camera.clock - last, 1)}))
        return out

    # -- flow ------------------------------------------------------------------------------

    def _count_window(self, window: CountWindow, camera: _Camera, cfg: CameraRules) -> list[Alert | None]:
        start = window.ts.timestamp()
        out: list[Alert | None] = []
        if start <= camera.flow_judged_until:
            return out  # re-emitted after a restart; already judged and learned
        # Windows close in order, all classes at once: a later window means earlier ones are whole.
        for earlier in sorted(s for s in camera.flow_pending if s < start):
            out.extend(self._judge_flow(window.camera_id, camera, cfg, earlier))
        by_class = camera.flow_pending.setdefault(start, {}).setdefault((window.line_id, window.direction), {})
        by_class[window.cls] = window.count
        return out

    def _flush_quiet_flow(self, camera_id: str, camera: _Camera, cfg: CameraRules) -> list[Alert | None]:
        out: list[Alert | None] = []
        due = camera.clock - self._window_s * 2 - self._grace_s - 30
        for start in sorted(s for s in camera.flow_pending if s <= due):
            out.extend(self._judge_flow(camera_id, camera, cfg, start))
        return out

    def _judge_flow(self, camera_id: str, camera: _Camera, cfg: CameraRules, start: float) -> list[Alert | None]:
        totals = {line_dir: sum(by_class.values()) for line_dir, by_class in camera.flow_pending.pop(start).items()}
        camera.flow_judged_until = max(camera.flow_judged_until, start)
        rule = cfg.flow
        slot = week_slot(start, rule.slot_minutes, rule.time_zone)
        self._baseline_clock[camera_id] = (rule.time_zone, rule.slot_minutes)
        at = start + self._window_s
        high: dict[tuple[str, str], Details] = {}
        low: dict[tuple[str, str], Details] = {}
        drops: dict[tuple[str, str], Details] = {}
        # Lines the baseline knows but this window lacks had no crossings at all: count 0.
        for line_dir in self.baseline.lines_of(camera_id) | set(totals):
            count = totals.get(line_dir, 0)
            stats = self.baseline.get(camera_id, *line_dir, slot)
            if stats is not None and stats.n >= rule.min_samples:
                z = stats.z(count, rule.min_sd)
                numbers: Details = {"line_id": line_dir[0], "direction": line_dir[1], "count": count,
                                    "baseline_mean": round(stats.mean, 2), "baseline_sd": round(math.sqrt(stats.var), 2),
                                    "baseline_n": stats.n,
                                    "z": round(z, 2), "window_start": _utc(start).isoformat()}
                if z >= rule.z_high:
                    high[line_dir] = numbers
                if stats.mean >= rule.min_mean_for_low:
                    if z <= -rule.z_low:
                        low[line_dir] = numbers
                    if z <= -cfg.incident.z_drop:
                        drops[line_dir] = numbers
                # Learn robustly: an outlier moves the baseline by at most the alarm threshold,
                # so one jam does not teach the slot that jams are normal (a lasting change
                # still gets learned, step by step).
                sd = max(math.sqrt(max(stats.var, 0.0)), rule.min_sd)
                count_to_learn = min(max(count, stats.mean - rule.z_low * sd), stats.mean + rule.z_high * sd)
            else:
                count_to_learn = count
            self.baseline.update(camera_id, *line_dir, slot, count_to_learn, rule.alpha)
        peaks = camera.zone_peaks.pop(start, {})
        for old in [s for s in camera.zone_peaks if s < start]:
            del camera.zone_peaks[old]
        out: list[Alert | None] = []
        if rule.enabled:
            out.append(self._flow_alert(camera_id, "flow_high", high, at, "flow far above normal"))
            out.append(self._flow_alert(camera_id, "flow_low", low, at, "flow far below normal"))
        if cfg.incident.enabled:
            out.append(self._incident_signature(camera_id, camera, cfg, drops, peaks, at))
        return out

    def _flow_alert(self, camera_id: str, rule: str, lines: dict[tuple[str, str], Details], at: float, what: str) -> Alert | None:
        if not lines:
            return self.book.clear(camera_id, rule, at=at)
        worst = max(lines.values(), key=lambda d: abs(float(d["z"] or 0)))
        z = abs(float(worst["z"] or 0))
        threshold = self.rules.for_camera(camera_id).flow.z_high if rule == "flow_high" else self.rules.for_camera(camera_id).flow.z_low
        severity = "critical" if z >= 2 * threshold else "warning"
        return self.book.raise_(camera_id, rule, at=at, severity=severity,
                                title=f"{what} on {worst['line_id']} {worst['direction']}: {worst['count']}/min vs {worst['baseline_mean']}",
                                details={**worst, "lines_affected": len(lines)})

    def _incident_signature(self, camera_id: str, camera: _Camera, cfg: CameraRules,
                            drops: dict[tuple[str, str], Details], peaks: dict[str, int], at: float) -> Alert | None:
        rule = cfg.incident
        stopped_recently = at - camera.last_stopped <= rule.stopped_within_s
        limits = {zone: cfg.crowd.max_occupancy or camera.zone_limits.get(zone) for zone in peaks}
        filled = {zone: peak for zone, peak in peaks.items() if limits.get(zone) and peak >= rule.occupancy_ratio * limits[zone]}
        if not drops or not (stopped_recently or filled):
            return self.book.clear(camera_id, "incident_signature", at=at)
        worst = min(drops.values(), key=lambda d: float(d["z"] or 0))
        sign = "stopped vehicle" if stopped_recently else "zone filling up"
        return self.book.raise_(camera_id, "incident_signature", at=at, severity="critical",
                                title=f"possible incident: flow dropped to {worst['count']}/min (normal {worst['baseline_mean']}) with {sign}",
                                details={**worst, "stopped_vehicle_s_ago": round(at - camera.last_stopped, 1) if stopped_recently else None,
                                         "zone_peak": max(filled.values()) if filled else None,
                                         "zone_id": max(filled, key=filled.get) if filled else None})

    # -- persistence -----------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        return {
            "version": 2,
            "baseline": self.baseline.to_data(),
            "baseline_clock": {camera_id: list(clock) for camera_id, clock in self._baseline_clock.items()},
            "book": self.book.to_data(),
            "cameras": {camera_id: camera.to_data() for camera_id, camera in self._cameras.items()},
        }

    def restore(self, data: dict[str, Any], *, now: float) -> None:
        version = data.get("version")
        if version not in (1, 2):
            raise ValueError(f"unsupported alert snapshot version {version!r}")
        self.baseline = FlowBaseline.from_data(data.get("baseline", []))
        # Version 1 learned its slots on UTC with the slot length configured then (assumed unchanged).
        stored = {camera_id: (str(zone), int(minutes)) for camera_id, (zone, minutes) in data.get("baseline_clock", {}).items()}
        for camera_id in self.baseline.cameras():
            flow = self.rules.for_camera(camera_id).flow
            wanted = (flow.time_zone, flow.slot_minutes)
            was = stored.get(camera_id, ("UTC", flow.slot_minutes) if version == 1 else wanted)
            self._baseline_clock[camera_id] = self._move_baseline(camera_id, was, wanted)
        self.book.restore(data.get("book", {}))
        self._cameras = {camera_id: _Camera.from_data(raw) for camera_id, raw in data.get("cameras", {}).items()}
        # Cameras we heard from are expected back, and those announced by the registry still are;
        # their offline clock restarts now.
        for camera in self._cameras.values():
            if camera.last_heartbeat is not None:
                camera.last_heartbeat = now
            elif camera.expected_since is not None:
                camera.expected_since = now

    def _move_baseline(self, camera_id: str, was: tuple[str, int], wanted: tuple[str, int]) -> tuple[str, int]:
        """Brings a restored baseline onto the configured clock: moved when the zones differ by
        whole slots and keep no daylight saving, else forgotten (relearned) with a log line."""
        if was == wanted:
            return wanted
        (old_zone, old_minutes), (zone, minutes) = was, wanted
        shift = slot_shift(old_zone, zone, minutes) if old_minutes == minutes else None
        if shift is not None:
            moved = self.baseline.reslot(camera_id, shift, minutes)
            log.info("camera %s: moved %d flow baseline slot(s) from %s to %s time (%+d slot(s))",
                     camera_id, moved, old_zone, zone, shift)
        else:
            dropped = self.baseline.forget(camera_id)
            log.warning("camera %s: flow baseline learned on %s with %d-minute slots cannot be moved to %s with "
                        "%d-minute slots; dropped %d slot(s), it is relearned from now on",
                        camera_id, old_zone, old_minutes, zone, minutes, dropped)
        return wanted
