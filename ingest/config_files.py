"""YAML files that people edit by hand, read the same way by every stage: each problem names the
file, the line and the key path, and all of them are reported at once.

Cameras (``camera_agents.config``), alert rules (``processors.config``) and notification routes
(``dashboards.notify.config``) are such files. Each is read here: its text as UTF-8, its YAML
(a syntax error reported on one line, with its line), keys given twice (YAML would silently keep
the last: an operator's second block for a camera would replace the first), then validated by the
stage's pydantic model, whose errors ``validation_issues`` places on their lines.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, ValidationError
from pydantic_core import PydanticCustomError

from ingest.errors import InvalidInput, validation_message

Loc = tuple[str | int, ...]  # a key path as pydantic gives it: keys and list indices


def text_matching(pattern: str, meaning: str) -> Any:
    """A string field that must match ``pattern``, refused in words (``should be <meaning>``): the
    people who edit these files are told what to write, not shown a regular expression."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.search(value):
            raise PydanticCustomError("string_pattern_mismatch", "should be {meaning}", {"meaning": meaning})
        return value

    return Annotated[str, AfterValidator(check)]


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    path: str  # the key path spelled as YAML keys: ``lines[0].points[1]``; empty: the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigFileError(InvalidInput):
    """A config file that cannot be used; ``issues`` name file, line, key path and problem.
    Each stage names its own file (``kind``) in a subclass."""

    kind = "config file"

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__(f"invalid {self.kind}:\n  " + "\n  ".join(str(issue) for issue in issues))


@dataclass(frozen=True)
class YamlFile:
    """A config file's data, and its YAML nodes, which know the line of every key (None: data
    given as Python values, with no lines)."""

    source: str  # the file's name in messages
    data: Any
    root: yaml.Node | None = None

    def issue(self, loc: Loc, message: str, *, transparent: Collection[str] = ()) -> ConfigIssue:
        """An issue at ``loc``, on the line of the deepest key of it the file holds.
        ``transparent``: keys pydantic puts in a path that the file has no level for (the tag of
        a union member, such as a detector's type)."""
        line, path = self._locate(loc, transparent)
        return ConfigIssue(self.source, line, path, message)

    def _locate(self, loc: Loc, transparent: Collection[str]) -> tuple[int | None, str]:
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        parts: list[str] = []
        for key in loc:
            child = None
            if isinstance(node, yaml.MappingNode) and isinstance(key, str):
                for key_node, value_node in node.value:
                    if key_node.value == key:
                        child = value_node
                        line = key_node.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 1
            if child is None and key in transparent:
                continue  # a level pydantic names and the file has not
            parts.append(f"[{key}]" if isinstance(key, int) else (f".{key}" if parts else str(key)))
            node = child
        return line, "".join(parts)


def read_yaml_file(path: str | Path, *, error: type[ConfigFileError]) -> YamlFile:
    """The YAML file at ``path``; ``error`` (the stage's) when it cannot be read, is not UTF-8,
    is not YAML, or gives a key twice."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error([ConfigIssue(str(path), None, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error([ConfigIssue(str(path), line, "", "cannot read the file: not UTF-8 text (save it as UTF-8)")]) from None
    return parse_yaml(text, source=str(path), error=error)


def parse_yaml(text: str, *, source: str, error: type[ConfigFileError]) -> YamlFile:
    """``text`` as YAML (``source``: its name in messages); ``error`` when it is not YAML or
    gives a key twice."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise error([ConfigIssue(source, line, "", f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    twice = _keys_given_twice(root)
    if twice:
        raise error([ConfigIssue(source, line, path, "key given twice (YAML keeps only the last)") for path, line in twice])
    return YamlFile(source, data, root)


def validation_issues(
    exc: ValidationError, document: YamlFile, *, unknown_key: str, within: Loc = (), transparent: Collection[str] = (),
    replaced: Mapping[str, str] | None = None,
) -> list[ConfigIssue]:  # fmt: skip
    """A model's validation errors as issues on their lines, in the file's order. ``within``:
    where in the file the validated data sits; ``unknown_key``: what to say of a key the model
    does not know (where the allowed keys are listed); ``replaced``: keys a former version
    allowed, and what to write instead."""
    issues = []
    for error in exc.errors():
        if error["type"] == "too_short" and len(error.get("input") or ()) >= error.get("ctx", {}).get("min_length", 0):
            continue  # long enough as written, short only for the items refused: their own errors say it
        loc = (*within, *error["loc"])
        message, value = validation_message(error), error.get("input")
        if error["type"] == "extra_forbidden":
            old = (replaced or {}).get(str(loc[-1])) if loc else None
            message = old or f"{unknown_key}: {message}"
        elif error["type"] != "missing" and not isinstance(value, (dict, list)):
            message = f"{message} (got {value!r})"
        issues.append(document.issue(loc, message, transparent=transparent))
    return sorted(issues, key=lambda issue: issue.line or 0)  # down the file, as its reader fixes them


def _keys_given_twice(node: yaml.Node | None, path: str = "") -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key_path = f"{path}.{key_node.value}" if path else str(key_node.value)
            if key_node.value in seen:
                found.append((key_path, key_node.start_mark.line + 1))
            seen.add(key_node.value)
            found.extend(_keys_given_twice(value_node, key_path))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.extend(_keys_given_twice(item, f"{path}[{index}]"))
    return found
