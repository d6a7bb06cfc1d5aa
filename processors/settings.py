"""The processors' one settings object: where the bus is, window sizes, where state lives.

Variables: ``IOC_BOOTSTRAP``/``IOC_NAMESPACE`` (the bus), ``IOC_STATE_DIR`` (state goes to its
``processors/`` folder) and ``IOC_PROCESSORS_*`` for the rest (``IOC_PROCESSORS_GRACE_S``...).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from ingest.settings import BusSettings, IocSettings, default_state_dir


class ProcessorSettings(IocSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_PROCESSORS_")
    flags: ClassVar[dict[str, str]] = {"rules_path": "--rules", "grace_s": "--grace", "idle_s": "--idle"}

    bus: BusSettings = Field(default_factory=BusSettings)
    app_id: str = Field("", description="Consumer group and faust app id (default: NAMESPACE-processors).")
    window_s: int = Field(60, gt=0, description="Length of the tumbling count windows, in seconds.")
    grace_s: float = Field(10.0, ge=0, description="Seconds a window waits for late events after it ends, "
                                                   "by the camera's own clock.")
    idle_s: float = Field(300.0, ge=0, description="Seconds the partition's stream time may run ahead of a silent or "
                                                  "lagging camera before that camera's windows close anyway.")
    lone_lead_s: float = Field(600.0, ge=0, description="Seconds a camera ahead of every other camera on its partition "
                                                       "is discounted before its clock moves the partition's (a camera "
                                                       "with its clock set ahead must not make its neighbours late).")
    max_future_s: float = Field(300.0, gt=0, description="Dead-letter events timed more than this many seconds ahead of "
                                                        "the worker's clock: one such event would close its camera's "
                                                        "windows ahead of time.")
    #: alert engine snapshots (baselines, open alerts, silences), counting horizons and faust's
    #: own data dir, all under STATE_DIR/processors
    state_dir: Path = Field(default_factory=lambda: default_state_dir() / "processors")
    rules_path: Path | None = Field(None, description="Per-camera thresholds (YAML); built-in defaults when not given.")
    #: how often a partition's resume point is checkpointed between window closes
    checkpoint_interval_s: float = Field(1.0, gt=0)
    batch_max: int = Field(5000, gt=0)
    batch_within_s: float = Field(0.25, gt=0)
    snapshot_interval_s: float = Field(10.0, gt=0)
    offline_check_interval_s: float = Field(1.0, gt=0)
    #: the faust web server stays off unless a port is given; then it binds loopback only
    web_port: int | None = Field(None, gt=0, lt=65536, description="Serve faust's web UI on 127.0.0.1:PORT.")
    metrics_port: int | None = Field(None, gt=0, lt=65536, description="Serve Prometheus /metrics on this port; "
                                     "with --workers N, worker i serves PORT+i (off when not given).")
    metrics_host: str = Field("127.0.0.1", description="Address of the /metrics endpoints (0.0.0.0 in a container).")

    @model_validator(mode="after")
    def _derive(self) -> ProcessorSettings:
        if not self.app_id:
            object.__setattr__(self, "app_id", f"{self.bus.namespace}-processors")
        return self

    @functools.cached_property
    def window(self):  # -> processors.windowing.WindowSpec
        from processors.windowing import WindowSpec

        return WindowSpec(window_s=self.window_s, grace_s=self.grace_s, idle_s=self.idle_s, lone_lead_s=self.lone_lead_s)

    @property
    def faust_datadir(self) -> Path:
        """faust's own data dir (tables, its lock), so nothing lands in the working directory."""
        return self.state_dir / "faust"
