"""Options every ``ioc`` command shares, defined once here (as faust's ``core_options`` are).

A command declares which groups it uses with ``@shared(...)``; the decorator adds those options to
its signature, reads them together with their ``IOC_*`` variables into settings objects (validated
once, with errors naming the flag or variable), configures logging, and hands the command a
``Shared`` value. Every command thus has ``--log-level`` and ``--log-format``, and ``--bootstrap``
means the same broker everywhere.

Service options come from the service's settings model with ``setting_option``: the flag's help
and its environment variable are the field's, so a flag, a field and a variable are one thing.

Only typer and the settings models are imported here: ``--help`` must stay fast.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TextIO, TypeVar

import typer
from pydantic import Field

from ingest.errors import IocError
from ingest.settings import BusSettings, DbSettings, IocSettings, StateSettings

F = TypeVar("F", bound=Callable[..., Any])

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
_PANEL = "Common options"


@dataclass(frozen=True)
class Shared:
    """What the shared options resolved to, for one run of one command."""

    log_level: str
    log_format: str
    state_dir: Path
    bus: BusSettings | None = None
    db: DbSettings | None = None
    workers: int = 1


def _check_level(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    level = value.upper()
    if level not in LOG_LEVELS:
        raise typer.BadParameter(f"{value!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return level


def _check_format(value: Optional[str]) -> Optional[str]:
    if value is not None and value.lower() not in LOG_FORMATS:
        raise typer.BadParameter(f"{value!r} is not a log format; use text or json")
    return None if value is None else value.lower()


def setting_option(model: type[IocSettings], field: str, *decls: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` for one settings field: its flag (``IocSettings.flag``, and any short
    ``decls``), the field's description as help, its environment variable shown. The default is
    ``None``: a flag not given leaves the field to its variable or its default, which
    ``IocSettings.load`` applies."""
    info = model.model_fields[field]
    flag = (model.flag(field), *decls)
    help_text = kwargs.pop("help", None) or info.description or field.replace("_", " ")
    default = None if info.default_factory is not None else info.get_default()
    if default is not None and "show" not in kwargs:
        shown = default.get_secret_value() if hasattr(default, "get_secret_value") else default
        help_text += f" [default: {shown}]"
    return typer.Option(None, *flag, help=f"{help_text} [env: {model.env_var(field)}]", show_default=False, **kwargs)


def _log_level_option() -> Any:
    return typer.Option(None, "--log-level", help=f"Log level: {', '.join(LOG_LEVELS)} (case-insensitive); "
                        "tracebacks only at DEBUG. [default: INFO] [env: IOC_LOG_LEVEL]",
                        callback=_check_level, rich_help_panel=_PANEL, show_default=False)


def _log_format_option() -> Any:
    return typer.Option(None, "--log-format", help="Log records as text lines or one JSON object per line, "
                        "for a log shipper. [default: text] [env: IOC_LOG_FORMAT]",
                        callback=_check_format, rich_help_panel=_PANEL, show_default=False)


# name -> (annotation, option factory); factories, because a typer.Option is not to be shared.
_GROUPS: dict[str, list[tuple[str, Any, Callable[[], Any]]]] = {
    "log": [
        ("log_level", Optional[str], _log_level_option),
        ("log_format", Optional[str], _log_format_option),
    ],
    "state": [("state_dir", Optional[Path], lambda: setting_option(StateSettings, "state_dir", rich_help_panel=_PANEL))],
    "bus": [
        ("bootstrap", Optional[str], lambda: setting_option(BusSettings, "bootstrap", rich_help_panel=_PANEL)),
        ("namespace", Optional[str], lambda: setting_option(BusSettings, "namespace", rich_help_panel=_PANEL)),
    ],
    "db": [("dsn", Optional[str], lambda: setting_option(DbSettings, "dsn", rich_help_panel=_PANEL))],
    "workers": [("workers", Optional[int], lambda: typer.Option(
        None, "--workers", "-w", min=1, max=64, rich_help_panel=_PANEL, show_default=False,
        help="Worker processes of this command, one core each; they share the work. [default: 1] [env: IOC_WORKERS]"))],
}
SHARED_NAMES = frozenset(name for group in _GROUPS.values() for name, _, _ in group)


def shared(*groups: str) -> Callable[[F], F]:
    """Give a command the shared options of ``groups`` (any of state, bus, db, workers; log always).

    The command may declare a parameter ``shared: Shared`` to receive them."""
    unknown = set(groups) - set(_GROUPS)
    if unknown:
        raise ValueError(f"unknown option groups {sorted(unknown)}")
    chosen = ["log", *[g for g in _GROUPS if g in groups]]

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        wants_shared = "shared" in signature.parameters
        own = [p for p in signature.parameters.values() if p.name != "shared"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=factory(), annotation=annotation)
                 for group in chosen for name, annotation, factory in _GROUPS[group]]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            given = {p.name: kwargs.pop(p.name) for p in added}
            try:
                resolved = resolve(given, chosen)
                if wants_shared:
                    kwargs["shared"] = resolved
                return fn(**kwargs)
            except (typer.Exit, typer.Abort, KeyboardInterrupt, typer.TyperException):
                raise
            except BrokenPipeError:
                _reader_gone()
            except IocError as exc:
                fail(exc, exc.exit_code)
            except Exception as exc:  # a fault inside ioc: one line, the traceback at DEBUG
                fail(exc, 1, prefix=f"unexpected {type(exc).__name__}: ")

        command.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        command.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "shared"}
        command.__annotations__.update({p.name: p.annotation for p in added})
        return command  # type: ignore[return-value]

    return decorate


def _reader_gone() -> None:
    """What a command's output was piped into stopped reading (``ioc ... | head``): nothing is
    wrong and nothing more is said; the exit status is a shell's for a broken pipe. Its output is
    pointed at /dev/null, so that flushing it as Python exits raises nothing again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    raise typer.Exit(_BROKEN_PIPE)


_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command whose reader went away


def fail(exc: BaseException, code: int, *, prefix: str = "") -> None:
    """Show an error as the user should see it, then exit with ``code``; the traceback only at DEBUG."""
    # An ioc error's text is written for the user (a config error lists every problem, one a
    # line); anything else is a fault inside ioc, and its first line says enough.
    text = str(exc).strip() or type(exc).__name__
    message = text if isinstance(exc, IocError) else text.splitlines()[0]
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("ioc").error("%s%s", prefix, message, exc_info=exc)
    else:
        hint = "" if isinstance(exc, IocError) else " (--log-level DEBUG shows the traceback)"
        typer.secho(f"error: {prefix}{message}{hint}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def resolve(given: dict[str, Any], groups: list[str]) -> Shared:
    """Settings from flags (``given``) over ``IOC_*`` variables over defaults; logging configured."""
    log = LogSettings.load(log_level=given.get("log_level"), log_format=given.get("log_format"))
    level, fmt = _check_level(log.log_level) or "INFO", _check_format(log.log_format) or "text"
    configure_logging(level, fmt)
    workers = given.get("workers")
    if workers is None and "workers" in groups:
        workers = WorkerSettings.load().workers
    return Shared(
        log_level=level,
        log_format=fmt,
        state_dir=StateSettings.load(state_dir=given.get("state_dir")).state_dir.resolve(),
        bus=BusSettings.load(bootstrap=given.get("bootstrap"), namespace=given.get("namespace")) if "bus" in groups else None,
        db=DbSettings.load(dsn=given.get("dsn")) if "db" in groups else None,
        workers=workers or 1,
    )


class LogSettings(IocSettings):
    log_level: str = "INFO"
    log_format: str = "text"


class WorkerSettings(IocSettings):
    workers: int = Field(1, ge=1, le=64)


class _StderrHandler(logging.StreamHandler):
    """Writes each record to ``sys.stderr`` as it is when the record is logged, not as it was when
    logging was configured: a command run in-process (a test's CLI runner, an embedding program)
    swaps stderr for a buffer it closes afterwards, and a thread still logging then would write to
    a closed file."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # StreamHandler's constructor assigns one; stderr is read afresh for every record


def configure_logging(level: str, fmt: str) -> None:
    """One configuration for every command: Rich on a terminal, plain lines in log files, or JSON."""
    handler: logging.Handler
    if fmt == "json":
        from ingest.jsonlog import JsonFormatter

        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=True), show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # services and log files: one plain line per record, never wrapped
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # kafka-python 3 warns whenever its I/O loop is held >100 ms, which a busy host does often and
    # which asks nothing of an operator; real connection problems are still logged as errors.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    # OpenCV and the FFmpeg inside it write their own lines to stderr, past logging: a camera that
    # does not open came out as three lines, two of them OpenCV's and FFmpeg's, before the agent's
    # own, which says what to fix. Quiet but for OpenCV's errors, unless at DEBUG; both are read
    # when OpenCV loads, so they are set here, before any command imports it.
    if level != "DEBUG":
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def deprecated(old: str, new: str, value: Any) -> Any:
    """Warn once that ``old`` is now ``new`` (kept for one release), and pass its value on."""
    if value is not None and value != [] and value is not False:
        typer.secho(f"warning: {old} is deprecated and will be removed in the next release: use {new}",
                    fg=typer.colors.YELLOW, err=True)
    return value


def deprecated_option(old: str, new: str, **kwargs: Any) -> Any:
    """A hidden option under an old flag name; pass its value through ``deprecated``."""
    return typer.Option(None, old, hidden=True, help=f"Deprecated: use {new}.", **kwargs)
