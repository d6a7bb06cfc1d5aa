"""What the desk writes and accepts, as pure functions: alert titles and direction names in the
user's language, notes an operator may store, and the login throttle's waits."""

from __future__ import annotations

import pytest

from dashboards.desk.i18n import alert_title, comparison, direction_name
from dashboards.desk.security import hash_password, login_wait_s, verify_password
from dashboards.desk.validation import NoteError, clean_note

LINES = [{"line_id": "stop_line", "name_in": "vào trung tâm", "name_out": "ra Bãi Sau",
          "name_in_en": "to the city centre", "name_out_en": "to Back Beach"},
         {"line_id": "quay", "name_in": "vào cảng", "name_out": "ra phố"}]


@pytest.mark.parametrize("rule, details, lang, title", [
    ("crowd", {"zone_id": "plaza", "count": 31, "limit": 10}, "vi", "Tụ tập đông người tại plaza: 31 người (ngưỡng 10)"),
    ("crowd", {"zone_id": "plaza", "count": 31, "limit": 10}, "en", "Crowd in plaza: 31 people (limit 10)"),
    # the camera's direction names, in English where its config gives them
    ("flow_high", {"line_id": "stop_line", "direction": "in", "count": 120, "baseline_mean": 30.2}, "en",
     "Flow far above normal, to the city centre (in): 120/min vs normal 30"),
    ("flow_high", {"line_id": "stop_line", "direction": "in", "count": 120, "baseline_mean": 30.2}, "vi",
     "Lưu lượng cao bất thường, hướng vào trung tâm (vào): 120 xe/phút so với bình thường 30"),
    ("wrong_way", {"cls": "motorbike", "line_id": "quay"}, "vi", "Xe máy đi ngược chiều trên quay"),
    ("camera_offline", {"silent_s": 42.0}, "en", "Camera offline: no heartbeat for 42 s"),
    # numbers missing or an unknown rule: the title the processors wrote
    ("crowd", {}, "vi", "stored title"),
    ("a_future_rule", {"count": 1}, "en", "stored title"),
])
def test_alert_titles_in_the_users_language(rule, details, lang, title):
    assert alert_title(rule, details, "stored title", lang, LINES) == title


@pytest.mark.parametrize("details, lang, line", [
    ({"count": 31, "limit": 10, "zone_id": "plaza"}, "vi", "Đo được 31, ngưỡng 10: gấp 3.1 lần"),
    ({"count": 120, "baseline_mean": 30.2, "baseline_sd": 2.5, "z": 36.0, "line_id": "l1"}, "en",
     "Measured 120/min against a normal 30 ± 2.5 (z = 36)"),
    ({"duration_s": 300.0, "limit_s": 120.0}, "en", "Lasted 300 s against a limit of 120 s"),
    ({"condition": "blur"}, "en", None),               # nothing measured against a threshold
])
def test_what_was_measured_against_what(details, lang, line):
    assert comparison(details, lang) == line


@pytest.mark.parametrize("line, direction, lang, name", [
    ("stop_line", "out", "en", "to Back Beach (out)"),   # English name configured
    ("quay", "in", "en", "vào cảng (in)"),               # none in English: the local name, generic in English
    ("quay", "out", "vi", "ra phố (ra)"),
    ("unknown", "in", "vi", "vào"),                      # a line the registry does not know
])
def test_direction_names(line, direction, lang, name):
    assert direction_name(LINES, line, direction, lang) == name


@pytest.mark.parametrize("note, stored", [
    ("  Đã cử tổ tuần tra  ", "Đã cử tổ tuần tra"),      # trimmed
    ("a < b and 3 > 2", "a < b and 3 > 2"),              # comparison signs are text, not markup
    ("dòng 1\r\ndòng 2\tcột", "dòng 1\ndòng 2\tcột"),    # newlines and tabs kept
    ("", ""),                                            # an optional note may be empty
])
def test_notes_that_are_stored(note, stored):
    assert clean_note(note) == stored


@pytest.mark.parametrize("note, required, reason", [
    ("x" * 2001, False, "at most 2000"),                 # oversized
    ("<b>bold</b>", False, "markup"),                    # a tag
    ("&lt;script&gt;", False, "markup"),                 # an entity
    ("bell\x07", False, "control character"),            # C0 control
    ("right\u202eto left", False, "control character"),  # bidi override (format character)
    ("   ", True, "required"),                           # a required note left blank
])
def test_notes_that_are_refused(note, required, reason):
    with pytest.raises(NoteError, match=reason):
        clean_note(note, required=required)


@pytest.mark.parametrize("failures, free, wait", [
    (0, 3, 0.0), (2, 3, 0.0),          # the first failures cost nothing
    (3, 3, 2.0), (4, 3, 4.0),          # then the waits double
    (40, 3, 900.0),                    # capped at 15 minutes
])
def test_login_waits_grow_with_failures(failures, free, wait):
    assert login_wait_s(failures, free) == wait


def test_passwords_are_argon2_hashes_and_a_missing_user_never_verifies():
    stored = hash_password("một mật khẩu dài")
    assert stored.startswith("$argon2id$") and "một" not in stored
    assert verify_password(stored, "một mật khẩu dài") and not verify_password(stored, "sai")
    assert not verify_password(None, "no such user")
