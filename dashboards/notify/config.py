"""Notification routes from a YAML file: which alerts go where, in which languages.

    routes:
      - name: con-dao-duty
        channel: telegram
        chat_id: "-1001234567"
        bot_token: env:IOC_TELEGRAM_TOKEN     # a secret: written here or read from the environment
        rules: [crowd, wrong_way, camera_offline]   # empty or absent: every rule
        min_severity: warning
        districts: ["Côn Đảo"]                # empty or absent: every district
      - name: dispatch
        channel: webhook
        url: https://dispatch.example/ioc
        secret: env:IOC_WEBHOOK_SECRET
      - name: duty-mail
        channel: email
        smtp_host: mail.example
        sender: ioc@example
        to: [duty@example]

Unknown keys are errors, named by their line and key path; secrets are pydantic ``SecretStr`` (never logged).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ingest.alert_text import LANGUAGES
from ingest.config_files import ConfigFileError, YamlFile, read_yaml_file, text_matching, validation_issues
from ingest.contract import district_name

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
RouteName = text_matching(r"^[\w.-]{1,80}$", "up to 80 letters, digits, '_', '.' or '-'")
WebAddress = text_matching(r"^https?://", "an http:// or https:// address")
EmailAddress = text_matching(r"^[^@\s]+@[^@\s]+$", "an e-mail address, such as truc-ban@vungtau.example")


class RoutesError(ConfigFileError):
    """The routes file is missing, not YAML, or has a wrong key or value (named by its line and key path)."""

    kind = "routes file"


def _secret_from(value: Any) -> Any:
    """``env:NAME`` reads the secret from the environment (so it never sits in the file)."""
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    return value


class _Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RouteName
    #: rules this route carries; empty: all
    rules: tuple[str, ...] = ()
    min_severity: Literal["info", "warning", "critical"] = "warning"
    #: districts of the cameras this route carries; empty: all (a provincial route)
    districts: tuple[str, ...] = ()
    #: languages of the message, in order
    languages: tuple[str, ...] = ("vi", "en")
    #: "open" and "resolved" always; "escalated": an open alert whose severity rose
    states: tuple[Literal["open", "escalated", "resolved"], ...] = ("open", "escalated", "resolved")

    @field_validator("districts")
    @classmethod
    def _districts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(district_name(name) for name in value)
        if not all(names):
            raise ValueError("a district's name cannot be blank")
        return names

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(lang not in LANGUAGES for lang in value):
            raise ValueError(f"languages must be a non-empty list of {', '.join(LANGUAGES)}")
        return value

    def carries(self, *, rule: str, severity: str, district: str | None, transition: str) -> bool:
        if self.rules and rule not in self.rules:
            return False
        # The end of an alert the route was told about is news whatever its severity fell to.
        if transition != "resolved" and SEVERITY_ORDER.get(severity, 0) < SEVERITY_ORDER[self.min_severity]:
            return False
        if transition not in self.states:
            return False
        # A district-scoped route never carries a camera whose district is unknown.
        return not self.districts or (district is not None and district in self.districts)


class WebhookRoute(_Route):
    channel: Literal["webhook"]
    url: WebAddress
    #: HMAC-SHA256 key of the X-IOC-Signature header
    secret: SecretStr
    timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("secret", mode="before")
    @classmethod
    def read_secret(cls, value: Any) -> Any:
        return _secret_from(value)


class EmailRoute(_Route):
    channel: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: EmailAddress
    to: tuple[EmailAddress, ...] = Field(min_length=1)
    timeout_s: float = Field(default=15.0, gt=0)

    @field_validator("password", mode="before")
    @classmethod
    def read_password(cls, value: Any) -> Any:
        return _secret_from(value)


class TelegramRoute(_Route):
    channel: Literal["telegram"]
    chat_id: str = Field(min_length=1)
    bot_token: SecretStr
    #: Telegram's Bot API; another base (a local server in tests, a proxy) may be given
    api_base: WebAddress = "https://api.telegram.org"
    timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("bot_token", mode="before")
    @classmethod
    def read_token(cls, value: Any) -> Any:
        return _secret_from(value)


Route = Annotated[Union[WebhookRoute, EmailRoute, TelegramRoute], Field(discriminator="channel")]


class RoutesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: tuple[Route, ...] = ()

    @field_validator("routes")
    @classmethod
    def _unique(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        names = [route.name for route in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique: {', '.join(duplicates)}")
        return value


def parse_routes(data: Any, *, source: str = "routes") -> RoutesConfig:
    """Routes given as Python values (``source``: their name in messages)."""
    return _validated(YamlFile(source, data))


def load_routes(path: Path) -> RoutesConfig:
    return _validated(read_yaml_file(path, error=RoutesError))


_UNKNOWN_KEY = "unknown key (each channel's keys are listed in dashboards/notify/README.md)"
# pydantic names the member of a route's union (its channel) in an error's path; the file has no such level.
_CHANNELS = frozenset({"webhook", "email", "telegram"})


def _validated(document: YamlFile) -> RoutesConfig:
    if not isinstance(document.data, dict):
        raise RoutesError([document.issue((), f"expected a mapping with 'routes', got {type(document.data).__name__}")])
    try:
        return RoutesConfig.model_validate(document.data)
    except ValidationError as exc:
        raise RoutesError(validation_issues(exc, document, unknown_key=_UNKNOWN_KEY, transparent=_CHANNELS)) from None
