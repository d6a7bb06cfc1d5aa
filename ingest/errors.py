"""The one exception root of ioc, and what each kind of failure means to the person at the CLI.

Every error a user can cause or meet derives from ``IocError``. Stages subclass one of the three
kinds below, so the root command maps any of them to one line and a documented exit status
without knowing the stage:

- ``InvalidInput`` (exit 2): bad input, config, flags or settings; fix what the message names.
- ``ServiceUnavailable`` (exit 3): a broker, database or stream that cannot be reached; try again.
- anything else ``IocError`` (exit 1): a refused operation or a fault inside ioc.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class IocError(Exception):
    """Root of every ioc error; ``str(error)`` is the one line shown to the user."""

    exit_code = 1


class InvalidInput(IocError, ValueError):
    """Bad input, config, flags or settings; the message names what and where."""

    exit_code = 2


class ServiceUnavailable(IocError, ConnectionError):
    """A service (broker, database, camera stream) could not be reached; worth trying again."""

    exit_code = 3


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Around a command writing the file or folder its user named: a path it cannot write (no such
    folder, no permission, a full disk) is named with the reason, as bad input to fix, not as a
    fault inside ioc."""
    try:
        yield
    except OSError as exc:
        raise InvalidInput(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from None


def validation_message(error: Mapping[str, Any]) -> str:
    """One of pydantic's validation errors as its reader should see it: a validator's own words,
    without the "Value error, " pydantic puts before them."""
    return str(error["msg"]).removeprefix("Value error, ")


EXIT_CODES = {
    0: "success",
    1: "an operation was refused or failed inside ioc",
    2: "bad input: a flag, setting, config file or request that must be fixed",
    3: "a service (broker, database, camera stream) could not be reached",
}
