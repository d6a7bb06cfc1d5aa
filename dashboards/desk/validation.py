"""What operators may type: notes and identifiers, checked before anything is stored."""

from __future__ import annotations

import re
import unicodedata

MAX_NOTE_CHARS = 2000
# Alert ids are hex digests; camera and rule ids are config identifiers. Anything else is malformed.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
# Free-text filters: printable, one line.
FILTER_PATTERN = r"^[^\x00-\x1f\x7f<>]{1,120}$"
_MARKUP = re.compile(r"<[A-Za-z/!?]|&#?\w+;|javascript:", re.IGNORECASE)


class NoteError(ValueError):
    """A note that cannot be stored; the message says why in one line."""


def clean_note(text: str, *, required: bool = False) -> str:
    """The note as it will be stored (trimmed, NFC), or NoteError: too long, control characters, markup."""
    note = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    if required and not note:
        raise NoteError("a note is required here")
    if len(note) > MAX_NOTE_CHARS:
        raise NoteError(f"the note has {len(note)} characters; at most {MAX_NOTE_CHARS} are allowed")
    for ch in note:
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise NoteError(f"the note contains a control character (U+{ord(ch):04X}); write plain text")
    if _MARKUP.search(note):
        raise NoteError("the note contains markup (HTML tags or entities); write plain text")
    return note
