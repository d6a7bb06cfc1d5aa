"""What the desk's JSON API takes and gives: request bodies, responses, and the typed path and
query parameters of every endpoint. Unknown fields are refused; notes are cleaned by
``clean_note``."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from fastapi import Query
from pydantic import BaseModel, Field, field_validator

from dashboards.desk.validation import FILTER_PATTERN, ID_PATTERN, MAX_NOTE_CHARS, NoteError, clean_note

Resolution = Literal["handled", "false_alarm", "duplicate", "other"]
Severity = Literal["info", "warning", "critical"]
DeskState = Literal["open", "acknowledged", "resolved", "escalated"]
AlertId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The alert episode's id.")]
FilterText = Annotated[str | None, Query(pattern=FILTER_PATTERN)]
FilterId = Annotated[str | None, Query(pattern=ID_PATTERN)]


# --- API models -------------------------------------------------------------------------------


def _note_field(required: bool = False) -> Any:
    # The hard cap is generous so an oversized note gets clean_note's clearer message.
    return Field("" if not required else ..., max_length=MAX_NOTE_CHARS * 2,
                 description=f"Plain text, at most {MAX_NOTE_CHARS} characters, no markup or control characters.")


class _NoteBody(BaseModel):
    """A request body with a ``note``: trimmed and checked by ``clean_note`` (required when the
    field has no default)."""

    model_config = {"extra": "forbid"}

    @field_validator("note", check_fields=False)
    @classmethod
    def _clean(cls, v: str) -> str:
        try:
            return clean_note(v, required=cls.model_fields["note"].is_required())
        except NoteError as exc:
            raise ValueError(str(exc)) from None


class AckBody(_NoteBody):
    note: str = _note_field()


class NoteBody(_NoteBody):
    note: str = _note_field(required=True)


class ResolveBody(_NoteBody):
    resolution: Resolution
    note: str = _note_field()


class ReopenBody(_NoteBody):
    note: str = _note_field()


class SilenceBody(_NoteBody):
    camera_id: str = Field(pattern=ID_PATTERN)
    rule: str = Field(pattern=ID_PATTERN)
    minutes: int = Field(ge=1, le=7 * 24 * 60, description="How long the rule stays silent on the camera.")
    alert_id: str | None = Field(default=None, pattern=ID_PATTERN, description="The alert that prompted it, if any.")
    note: str = _note_field(required=True)


class ActionOut(BaseModel):
    event_id: str
    alert_id: str
    action: str
    delivered: bool = Field(description="False: the broker did not take it yet; it is kept and retried.")
    error: str | None = None


class AlertOut(BaseModel):
    alert_id: str
    camera_id: str
    camera_name: str | None
    district: str | None
    rule: str
    severity: str
    state: str = Field(description="open, acknowledged or resolved")
    escalated: bool
    title: str
    opened_at: datetime
    updated_at: datetime
    updates: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    undelivered_actions: int
    details: dict[str, Any]
    url: str


class HistoryItem(BaseModel):
    at: datetime
    kind: Literal["step", "action", "undelivered"]
    what: str
    actor: str | None = None
    note: str = ""
    resolution: str | None = None
    error: str | None = None


class AlertDetailOut(AlertOut):
    history: list[HistoryItem]


class ErrorOut(BaseModel):
    detail: str


