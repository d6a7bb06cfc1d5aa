"""An edge agent's settings: the bus, where events wait while the broker is away, and /metrics.

Variables: ``IOC_BOOTSTRAP``/``IOC_NAMESPACE`` (the bus), ``IOC_STATE_DIR`` (the spool defaults to
its ``spool/`` folder, each camera's view its ``views/``) and ``IOC_AGENT_*`` for the rest (``IOC_AGENT_SPOOL_DIR``...).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ingest.settings import BusSettings, IocSettings, StateSettings


class AgentSettings(IocSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_AGENT_")

    bus: BusSettings = Field(default_factory=BusSettings)
    spool_dir: Path = Field(default_factory=lambda: StateSettings().state_dir / "spool",
                            description="Folder where events wait while the broker is unreachable; each camera "
                                        "(or folder of cameras) gets a subfolder. Default: STATE_DIR/spool.")
    spool_max_bytes: int = Field(512 * 1024**2, gt=0, description="Most bytes the spool holds before it refuses new events.")
    views_dir: Path = Field(default_factory=lambda: StateSettings().state_dir / "views",
                            description="Folder where each camera's view is kept between runs, so that a camera moved while "
                                        "the agent was stopped is told. Default: STATE_DIR/views.")
    metrics_host: str = Field("127.0.0.1", description="Address of the Prometheus /metrics endpoint (0.0.0.0 in a container).")
    metrics_port: int = Field(0, ge=0, lt=65536, description="Port of the Prometheus /metrics endpoint (0: off).")
