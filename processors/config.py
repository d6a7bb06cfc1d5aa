"""Alert thresholds from a YAML file: defaults, then per-camera overrides.

    defaults:
      offline_after_s: 30
      crowd: {max_occupancy: 40}
    cameras:
      cam-017:
        crowd: {max_occupancy: 12}
        flow: {z_high: 5}

A camera's settings are the defaults with its overrides merged in, key by key. Unknown keys are
errors (a typo must not silently keep a default); errors name the line and the key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.config_files import ConfigFileError, YamlFile, read_yaml_file, validation_issues


class ConfigError(ConfigFileError):
    """The rules file is missing, not YAML, or has a wrong key or value (named by its line and key path)."""

    kind = "rules file"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrowdRule(_Section):
    enabled: bool = True
    #: people allowed in a zone; None = the zone's max_occupancy from the camera's config
    max_occupancy: int | None = Field(default=None, ge=1)
    #: the alert resolves once the count is back at or below this fraction of the limit
    clear_ratio: float = Field(default=0.9, gt=0, le=1)
    critical_ratio: float = Field(default=1.5, ge=1)


class DwellRule(_Section):
    enabled: bool = True
    #: seconds; None = the zone's dwell_seconds from the camera's config, else the fallback
    limit_s: float | None = Field(default=None, gt=0)
    fallback_limit_s: float = Field(default=120.0, gt=0)
    #: the alert resolves when no new report came for this long (event time)
    clear_after_s: float = Field(default=60.0, gt=0)


class StoppedRule(_Section):
    enabled: bool = True
    min_duration_s: float = Field(default=30.0, gt=0)
    critical_after_s: float = Field(default=180.0, gt=0)
    clear_after_s: float = Field(default=60.0, gt=0)


class WrongWayRule(_Section):
    enabled: bool = True
    clear_after_s: float = Field(default=60.0, gt=0)


class OfflineRule(_Section):
    enabled: bool = True
    #: no heartbeat for this long (processing time) = offline
    after_s: float = Field(default=30.0, gt=0)


class HealthRule(_Section):
    enabled: bool = True
    #: conditions reported by the agent that raise an alert
    conditions: tuple[str, ...] = ("frozen", "blackout", "blur", "source_lost", "moved")


class FlowRule(_Section):
    enabled: bool = True
    #: EWMA weight of a new 1-minute sample in its time-of-week slot
    alpha: float = Field(default=0.1, gt=0, le=1)
    #: samples a slot needs before it is judged
    min_samples: int = Field(default=20, ge=2)
    #: robust z-score (deviation / sd) beyond which flow is abnormal
    z_high: float = Field(default=4.0, gt=0)
    z_low: float = Field(default=3.0, gt=0)
    #: flow-low is only judged where the baseline mean is at least this (per minute)
    min_mean_for_low: float = Field(default=5.0, ge=0)
    #: floor of the standard deviation, so a very regular slot does not alarm on +1
    min_sd: float = Field(default=2.0, gt=0)
    slot_minutes: int = Field(default=60, ge=1, le=1440)
    #: the clock the time-of-week slots follow: the city's (an IANA zone name)
    time_zone: str = "Asia/Ho_Chi_Minh"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Ho_Chi_Minh)") from None
        return value


class IncidentRule(_Section):
    """Flow drops while occupancy or stopped vehicles rise: a likely crash or breakdown."""

    enabled: bool = True
    z_drop: float = Field(default=2.0, gt=0)
    #: a stopped-vehicle report within this many seconds counts as a sign
    stopped_within_s: float = Field(default=180.0, gt=0)
    #: or a zone's peak occupancy at least this fraction of its limit
    occupancy_ratio: float = Field(default=0.8, gt=0)


class EscalationRule(_Section):
    """An open alert nobody acknowledged within its severity's deadline (seconds, processing
    time) is escalated: marked, and announced by an Alert update. None: never escalates."""

    enabled: bool = True
    info_s: float | None = Field(default=None, gt=0)
    warning_s: float | None = Field(default=900.0, gt=0)
    critical_s: float | None = Field(default=300.0, gt=0)

    def deadline_s(self, severity: str) -> float | None:
        return getattr(self, f"{severity}_s", None) if self.enabled else None


class CameraRules(_Section):
    crowd: CrowdRule = CrowdRule()
    loitering: DwellRule = DwellRule()
    stopped: StoppedRule = StoppedRule()
    wrong_way: WrongWayRule = WrongWayRule()
    offline: OfflineRule = OfflineRule()
    health: HealthRule = HealthRule()
    flow: FlowRule = FlowRule()
    incident: IncidentRule = IncidentRule()
    escalation: EscalationRule = EscalationRule()
    #: a condition that returns within this many seconds after its alert resolved reopens the
    #: same alert (same alert_id) instead of a new one: one jam is one alert
    cooldown_s: float = Field(default=300.0, ge=0)
    #: an open alert is re-sent as an update at most this often, unless its severity changes
    update_every_s: float = Field(default=60.0, ge=0)


class RulesConfig(_Section):
    defaults: CameraRules = CameraRules()
    cameras: dict[str, dict[str, Any]] = {}

    def for_camera(self, camera_id: str) -> CameraRules:
        overrides = self.cameras.get(camera_id)
        if not overrides:
            return self.defaults
        merged = _merge(self.defaults.model_dump(), overrides)
        return CameraRules.model_validate(merged)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_rules(data: Any, *, source: str = "rules") -> RulesConfig:
    """Rules given as Python values (``source``: their name in messages)."""
    return _validated(YamlFile(source, data))


def load_rules(path: Path | None) -> RulesConfig:
    """Load and validate the rules file; None gives the built-in defaults."""
    if path is None:
        return RulesConfig()
    return _validated(read_yaml_file(path, error=ConfigError))


_UNKNOWN_KEY = "unknown key (the rules and their settings are listed in processors/README.md)"


def _validated(document: YamlFile) -> RulesConfig:
    """Every problem of the file at once: the defaults' and each camera's overrides' (checked now,
    not when the camera first shows up)."""
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise ConfigError([document.issue((), f"expected a mapping with 'defaults' and 'cameras', got {type(data).__name__}")])
    try:
        config = RulesConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_issues(exc, document, unknown_key=_UNKNOWN_KEY)) from None
    issues = []
    for camera_id in config.cameras:
        try:
            config.for_camera(camera_id)
        except ValidationError as exc:
            issues.extend(validation_issues(exc, document, unknown_key=_UNKNOWN_KEY, within=("cameras", camera_id)))
    if issues:
        raise ConfigError(issues)
    return config
