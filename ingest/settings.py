"""Settings every stage shares, read once from flags and ``IOC_*`` variables (pydantic-settings).

Each setting is one field with one environment variable: ``IOC_`` followed by the field's name in
capitals (``bootstrap`` -> ``IOC_BOOTSTRAP``). A service's own settings derive from ``IocSettings``
with a longer prefix (``IOC_SINK_``, ``IOC_PROCESSORS_``...), so one variable never means two
things. Values given on the command line win over the environment, which wins over the default.
A bad value raises ``SettingsError`` naming the variable, once, before any work starts.

This module is light on purpose (pydantic only): the CLI builds its ``--help`` from it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.errors import InvalidInput, validation_message

DEFAULT_NAMESPACE = "ioc"
DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
DEFAULT_DSN = "postgresql://ioc@127.0.0.1:15432/ioc"

S = TypeVar("S", bound="IocSettings")


class SettingsError(InvalidInput):
    """A setting (flag or ``IOC_*`` variable) with a value that cannot be used."""


class IocSettings(BaseSettings):
    """Base of every settings object: frozen, keyword-only, unknown keywords refused."""

    model_config = SettingsConfigDict(env_prefix="IOC_", frozen=True, extra="forbid", validate_default=True)
    #: the fields whose command-line flag is not spelt --field-name: field -> flag
    flags: ClassVar[dict[str, str]] = {}

    @classmethod
    def flag(cls, field: str) -> str:
        """The command-line flag that sets ``field``: the one its option takes and its errors name."""
        return cls.flags.get(field, f"--{field.replace('_', '-')}")

    @classmethod
    def env_var(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def load(cls: type[S], **given: Any) -> S:
        """Build from ``given`` (flags; ``None`` means not given), the environment and defaults.

        A bad value raises ``SettingsError`` naming the variable or the keyword it came from."""
        try:
            return cls(**{name: value for name, value in given.items() if value is not None})
        except ValidationError as exc:
            raise SettingsError(_explain(cls, exc, given)) from None


def _explain(cls: type[IocSettings], exc: ValidationError, given: dict[str, Any]) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        if given.get(field) is not None:
            where = cls.flag(field)
        elif field in cls.model_fields:
            where = cls.env_var(field)
        else:
            where = field
        value = error.get("input")
        secret = field in cls.model_fields and cls.model_fields[field].annotation is SecretStr
        shown = "" if secret or isinstance(value, (dict, SecretStr)) or value is None else f" (got {value!r})"
        problems.append(f"{where}: {validation_message(error)}{shown}")
    return "; ".join(problems)


@functools.cache
def default_state_dir() -> Path:
    """``.ioc`` in the checkout ioc runs from, else in the working directory."""
    here = Path(__file__).resolve()
    root = next((p for p in here.parents if (p / "pyproject.toml").is_file()), Path.cwd())
    return root / ".ioc"


class StateSettings(IocSettings):
    state_dir: Path = Field(default_factory=default_state_dir,
                            description="Where every stage keeps its state (spools, processor state, the local stack). "
                                        "Default: .ioc in the checkout (or the working directory).")

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()


class BusSettings(IocSettings):
    """Where the Kafka-protocol broker is and which topics (``NAMESPACE.<stem>.v1``) to use."""

    bootstrap: str = Field(DEFAULT_BOOTSTRAP, min_length=1, description="Kafka bootstrap servers, host:port[,host:port].")
    namespace: str = Field(DEFAULT_NAMESPACE, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                           description="Topic namespace: topics are NAMESPACE.<stem>.v1.")
    # Tansu holds a join for half the session timeout; 6 s keeps rebalances short on both brokers.
    session_timeout_ms: int = Field(6000, gt=0)
    heartbeat_interval_ms: int = Field(1000, gt=0)
    partitions: int = Field(default_factory=lambda: _default_partitions(), gt=0,
                            description="Partitions of each topic ioc creates.")
    client_id: str = "ioc"

    cli_fields: ClassVar[tuple[str, ...]] = ("bootstrap", "namespace")

    @property
    def topics(self):  # -> ingest.contract.Topics; imported here so --help never loads msgspec
        from ingest.contract import Topics

        return Topics(self.namespace)


def _default_partitions() -> int:
    from ingest.contract import DEFAULT_PARTITIONS

    return DEFAULT_PARTITIONS


class DbSettings(IocSettings):
    """Where TimescaleDB is. The DSN is a secret: it may hold a password, so it is never printed."""

    dsn: SecretStr = Field(SecretStr(DEFAULT_DSN), description="PostgreSQL DSN of the TimescaleDB database.")
    connect_timeout_s: float = Field(5.0, gt=0)

    cli_fields: ClassVar[tuple[str, ...]] = ("dsn",)

    @field_validator("dsn")
    @classmethod
    def _readable(cls, value: SecretStr) -> SecretStr:
        """Read as libpq reads it before any connection is tried: a DSN it cannot read is input to
        fix, not a database gone. libpq's own message quotes the DSN, password and all: not shown."""
        import psycopg
        import psycopg.conninfo

        try:
            psycopg.conninfo.conninfo_to_dict(value.get_secret_value())
        except psycopg.Error:
            raise ValueError("not a PostgreSQL address such as postgresql://ioc@127.0.0.1:15432/ioc") from None
        return value

    @property
    def conninfo(self) -> str:
        """The DSN itself, for the database driver only."""
        return self.dsn.get_secret_value()

    @property
    def shown(self) -> str:
        """The DSN with any password masked, for messages."""
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", self.conninfo)

    def for_database(self, name: str) -> DbSettings:
        """The same server and credentials, another database."""
        import psycopg.conninfo

        return DbSettings(dsn=SecretStr(psycopg.conninfo.make_conninfo(self.conninfo, dbname=name)),
                          connect_timeout_s=self.connect_timeout_s)


class SinkSettings(IocSettings):
    """The sink: which broker and database, its consumer group, batches, retries and /metrics."""

    model_config = SettingsConfigDict(env_prefix="IOC_SINK_")
    flags: ClassVar[dict[str, str]] = {"group_id": "--group"}

    bus: BusSettings = Field(default_factory=BusSettings)
    db: DbSettings = Field(default_factory=DbSettings)
    group_id: str = Field("ioc-sink", min_length=1,
                          description="Consumer group; several sinks in one group share the partitions.")
    max_batch: int = Field(20000, gt=0, description="Most records written in one database transaction.")
    poll_timeout_ms: int = Field(500, gt=0)
    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(10.0, gt=0)
    metrics_host: str = Field("127.0.0.1", description="Address of the Prometheus /metrics endpoint (0.0.0.0 in a container).")
    metrics_port: int = Field(9464, ge=0, lt=65536, description="Port of the Prometheus /metrics endpoint (0: off); "
                                                                "with --workers N, worker i serves PORT+i.")
    log_every_s: float = Field(10.0, gt=0)
    # What the sink refuses although it decodes (see ingest/screening.py).
    max_future_s: float = Field(300.0, gt=0, description="Dead-letter events timed more than this many seconds ahead of the sink's clock.")
    max_past_s: float = Field(366 * 86400.0, gt=0, description="Dead-letter events timed more than this many seconds before the sink's clock.")
    registered_cameras_only: bool = Field(False, description="Dead-letter events of cameras not in the registry (the cameras table).")
    registry_refresh_s: float = Field(30.0, gt=0, description="How often the sink re-reads the registry, with registered_cameras_only.")
    frame_every_s: float = Field(1.0, ge=0, le=60,
                                 description="Store a camera's frame event at least this often and whenever its tracks change "
                                             "(ingest/framesample.py); 0 stores every frame. The bus keeps the full rate.")
