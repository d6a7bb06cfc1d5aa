"""The processors' one settings object: where the bus is, window sizes, where state lives."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ingest.bus import BusSettings
from processors.windowing import WindowSpec


@dataclass(frozen=True, kw_only=True)
class ProcessorSettings:
    bus: BusSettings = field(default_factory=BusSettings)
    #: faust app id, so the consumer group; several workers with the same id share partitions
    app_id: str = ""
    window: WindowSpec = field(default_factory=WindowSpec)
    #: alert engine snapshots (baselines, open alerts, silences) and counting horizons, one file
    #: per partition
    state_dir: Path = Path(".ioc/processors")
    #: per-camera thresholds (YAML); None = built-in defaults only
    rules_path: Path | None = None
    #: how often a partition's resume point is checkpointed between window closes
    checkpoint_interval_s: float = 1.0
    batch_max: int = 5000
    batch_within_s: float = 0.25
    snapshot_interval_s: float = 10.0
    offline_check_interval_s: float = 1.0
    #: the faust web server stays off unless a port is given; then it binds loopback only
    web_port: int | None = None
    #: Prometheus /metrics of this worker (None: off)
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not self.app_id:
            object.__setattr__(self, "app_id", f"{self.bus.namespace}-processors")
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        if self.rules_path is not None:
            object.__setattr__(self, "rules_path", Path(self.rules_path))

    @classmethod
    def from_env(cls, **overrides: object) -> "ProcessorSettings":
        """Read IOC_BOOTSTRAP / IOC_NAMESPACE (bus), IOC_PROCESSORS_STATE_DIR, IOC_PROCESSORS_RULES,
        IOC_PROCESSORS_GRACE_S, IOC_PROCESSORS_IDLE_S, IOC_PROCESSORS_SNAPSHOT_S; keyword overrides win."""
        values: dict[str, object] = {"bus": BusSettings.from_env()}
        if state_dir := os.environ.get("IOC_PROCESSORS_STATE_DIR"):
            values["state_dir"] = Path(state_dir)
        if rules := os.environ.get("IOC_PROCESSORS_RULES"):
            values["rules_path"] = Path(rules)
        window: dict[str, float] = {}
        if grace := os.environ.get("IOC_PROCESSORS_GRACE_S"):
            window["grace_s"] = float(grace)
        if idle := os.environ.get("IOC_PROCESSORS_IDLE_S"):
            window["idle_s"] = float(idle)
        if window:
            values["window"] = WindowSpec(**window)  # type: ignore[arg-type]
        if snapshot := os.environ.get("IOC_PROCESSORS_SNAPSHOT_S"):
            values["snapshot_interval_s"] = float(snapshot)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
