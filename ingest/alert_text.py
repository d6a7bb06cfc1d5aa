"""Alert text for people, in Vietnamese and English: rule names, titles, severities, states,
and the camera's direction names.

Shared by everything that shows an alert to a person (the alert desk, the notifier) and free of
dependencies, so any stage may import it. An alert's title is rendered here from its rule and
its details (the numbers the processors put there), in the reader's language; the ``title`` the
processors publish is the English fallback for rules this module does not know.

Direction names: a counting line's directions are named in the camera's config (``names: {in:
"về Bến Đình", out: "về trung tâm"}``); those are place names and are shown as written. Only the
generic defaults ``in`` / ``out`` are translated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

Language = Literal["vi", "en"]
LANGUAGES: tuple[str, ...] = ("vi", "en")
DEFAULT_LANGUAGE: Language = "vi"

RULE_NAMES: Mapping[str, Mapping[str, str]] = {
    "crowd": {"vi": "Đám đông vượt ngưỡng", "en": "Crowd over capacity"},
    "loitering": {"vi": "Lảng vảng", "en": "Loitering"},
    "stopped_vehicle": {"vi": "Xe dừng trên đường", "en": "Stopped vehicle"},
    "wrong_way": {"vi": "Đi ngược chiều", "en": "Wrong way"},
    "camera_offline": {"vi": "Camera mất kết nối", "en": "Camera offline"},
    "camera_frozen": {"vi": "Hình camera bị đứng", "en": "Camera picture frozen"},
    "camera_blackout": {"vi": "Hình camera bị đen (bị che?)", "en": "Camera picture black (covered?)"},
    "camera_blur": {"vi": "Hình camera bị mờ", "en": "Camera picture blurred"},
    "camera_source_lost": {"vi": "Mất tín hiệu video", "en": "Video source lost"},
    "camera_moved": {"vi": "Camera bị lệch hướng (vạch đếm sai chỗ)", "en": "Camera view moved (lines misplaced)"},
    "flow_high": {"vi": "Lưu lượng cao bất thường", "en": "Flow far above normal"},
    "flow_low": {"vi": "Lưu lượng thấp bất thường", "en": "Flow far below normal"},
    "incident_signature": {"vi": "Nghi có sự cố giao thông", "en": "Possible traffic incident"},
}
SEVERITY_NAMES: Mapping[str, Mapping[str, str]] = {
    "info": {"vi": "thông tin", "en": "info"},
    "warning": {"vi": "cảnh báo", "en": "warning"},
    "critical": {"vi": "khẩn cấp", "en": "critical"},
}
STATE_NAMES: Mapping[str, Mapping[str, str]] = {
    "open": {"vi": "mới", "en": "open"},
    "update": {"vi": "cập nhật", "en": "update"},
    "resolved": {"vi": "đã kết thúc", "en": "resolved"},
}
CLASS_NAMES: Mapping[str, Mapping[str, str]] = {
    "person": {"vi": "người", "en": "person"},
    "bicycle": {"vi": "xe đạp", "en": "bicycle"},
    "motorbike": {"vi": "xe máy", "en": "motorbike"},
    "car": {"vi": "ô tô", "en": "car"},
    "bus_truck": {"vi": "xe buýt/xe tải", "en": "bus/truck"},
    "unknown": {"vi": "phương tiện", "en": "vehicle"},
}
GENERIC_DIRECTIONS: Mapping[str, Mapping[str, str]] = {
    "in": {"vi": "chiều vào", "en": "in"},
    "out": {"vi": "chiều ra", "en": "out"},
}


class UnknownLanguage(ValueError):
    """A language other than Vietnamese (vi) or English (en)."""


def language(value: str | None) -> Language:
    """``vi`` or ``en`` from a user's choice (``vi-VN``, ``EN``...); None gives the default."""
    if value is None or not value.strip():
        return DEFAULT_LANGUAGE
    code = value.strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGUAGES:
        raise UnknownLanguage(f"language {value!r} is not one of {', '.join(LANGUAGES)}")
    return code  # type: ignore[return-value]


def _pick(table: Mapping[str, Mapping[str, str]], key: str | None, lang: str) -> str:
    if key is None:
        return ""
    names = table.get(key)
    return names[lang] if names else key


def rule_name(rule: str, lang: str) -> str:
    return _pick(RULE_NAMES, rule, lang)


def severity_name(severity: str, lang: str) -> str:
    return _pick(SEVERITY_NAMES, severity, lang)


def state_name(state: str, lang: str) -> str:
    return _pick(STATE_NAMES, state, lang)


def class_name(cls: str | None, lang: str) -> str:
    return _pick(CLASS_NAMES, cls, lang)


def direction_name(line_id: str | None, direction: str | None, lang: str, lines: Iterable[Any] = ()) -> str:
    """The name of a line's direction: the camera's own name if its config gives one, else the
    translated ``in`` / ``out``. ``lines``: the camera's lines, as ``LineInfo`` or as the dicts
    of the registry's ``cameras.lines`` column."""
    for line in lines:
        get = line.get if isinstance(line, Mapping) else lambda key, default=None, _l=line: getattr(_l, key, default)
        if get("line_id") != line_id:
            continue
        own = get("name_in") if direction == "in" else get("name_out") if direction == "out" else None
        if own and own != direction:
            return str(own)
    return _pick(GENERIC_DIRECTIONS, direction, lang) if direction else ""


def _n(value: Any) -> str:
    """A number as people read it: whole numbers without decimals."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value) if value is not None else "?"
    return f"{number:.0f}" if abs(number - round(number)) < 0.05 else f"{number:.1f}"


def _secs(value: Any) -> str:
    """Seconds, whole: nobody reads tenths of a second in an alert."""
    try:
        return f"{float(value):.0f}"
    except (TypeError, ValueError):
        return "?"


def alert_title(rule: str, details: Mapping[str, Any], lang: str, *, fallback: str = "",
                lines: Iterable[Any] = ()) -> str:
    """One line saying what happened, in ``lang``, from the alert's rule and details."""
    lang = language(lang)
    d = details
    vi = lang == "vi"
    if rule == "crowd":
        zone, count, limit = d.get("zone_id") or "?", _n(d.get("count")), _n(d.get("limit"))
        return f"Đám đông tại {zone}: {count} người (ngưỡng {limit})" if vi else f"Crowd in {zone}: {count} people (limit {limit})"
    if rule == "loitering":
        zone = d.get("zone_id") or ("khung hình" if vi else "view")
        dur, limit = _secs(d.get("duration_s")), _secs(d.get("limit_s"))
        return f"Lảng vảng tại {zone}: {dur} giây (ngưỡng {limit} giây)" if vi else f"Loitering in {zone}: {dur} s (limit {limit} s)"
    if rule == "stopped_vehicle":
        what, dur = class_name(d.get("cls"), lang), _secs(d.get("duration_s"))
        return f"{what.capitalize()} dừng {dur} giây" if vi else f"Stopped {what} for {dur} s"
    if rule == "wrong_way":
        what = class_name(d.get("cls"), lang)
        line = d.get("line_id") or ("đường" if vi else "the road")
        return f"{what.capitalize()} đi ngược chiều trên {line}" if vi else f"{what.capitalize()} going the wrong way on {line}"
    if rule == "camera_offline":
        silent = _secs(d.get("silent_s"))
        if d.get("never_seen"):
            return (f"Camera mất kết nối: chưa từng gửi tín hiệu ({silent} giây từ khi đăng ký)" if vi
                    else f"Camera offline: never sent a heartbeat ({silent} s since it was registered)")
        return f"Camera mất kết nối: không có tín hiệu {silent} giây" if vi else f"Camera offline: no heartbeat for {silent} s"
    if rule in ("camera_frozen", "camera_blackout", "camera_blur", "camera_source_lost", "camera_moved"):
        return rule_name(rule, lang)
    if rule in ("flow_high", "flow_low"):
        where = f"{d.get('line_id') or '?'} {direction_name(d.get('line_id'), d.get('direction'), lang, lines)}".strip()
        count, mean = _n(d.get("count")), _n(d.get("baseline_mean"))
        return (f"{rule_name(rule, lang)} trên {where}: {count}/phút so với bình thường {mean}" if vi
                else f"{rule_name(rule, lang)} on {where}: {count}/min vs normal {mean}")
    if rule == "incident_signature":
        count, mean = _n(d.get("count")), _n(d.get("baseline_mean"))
        stopped = d.get("stopped_vehicle_s_ago") is not None
        sign = ("có xe dừng" if stopped else "khu vực đầy dần") if vi else ("stopped vehicle" if stopped else "zone filling up")
        return (f"Nghi có sự cố: lưu lượng giảm còn {count}/phút (bình thường {mean}), {sign}" if vi
                else f"Possible incident: flow dropped to {count}/min (normal {mean}) with {sign}")
    return fallback or rule_name(rule, lang)


def alert_summary(*, rule: str, severity: str, state: str, details: Mapping[str, Any], lang: str,
                  camera_name: str | None = None, camera_id: str = "", fallback_title: str = "",
                  lines: Iterable[Any] = ()) -> tuple[str, str]:
    """(subject, one-paragraph body) for a message to people, in ``lang``."""
    lang = language(lang)
    title = alert_title(rule, details, lang, fallback=fallback_title, lines=lines)
    camera = camera_name or camera_id
    subject = f"[{severity_name(severity, lang).upper()}] {rule_name(rule, lang)} – {camera}"
    if lang == "vi":
        body = f"{title}. Camera: {camera}. Trạng thái: {state_name(state, lang)}. Mức độ: {severity_name(severity, lang)}."
    else:
        body = f"{title}. Camera: {camera}. State: {state_name(state, lang)}. Severity: {severity_name(severity, lang)}."
    return subject, body
