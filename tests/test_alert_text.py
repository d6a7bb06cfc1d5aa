"""Alert text in Vietnamese and English: every rule has a name and a title in both, from the
numbers in the alert's details, and the camera's own direction names are used."""

from __future__ import annotations

import pytest

from ingest import alert_text
from ingest.contract import LineInfo
from processors.rules import HEALTH_RULES

EVERY_RULE = ["crowd", "loitering", "stopped_vehicle", "wrong_way", "camera_offline", *HEALTH_RULES.values(),
              "flow_high", "flow_low", "incident_signature"]
LINES = (LineInfo(line_id="thuy-van", points=((0, 0), (1, 1)), name_in="về Bãi Sau", name_out="về trung tâm"),
         LineInfo(line_id="plain", points=((0, 0), (1, 1))))


@pytest.mark.parametrize("rule", EVERY_RULE)
def test_every_rule_has_a_name_in_both_languages(rule: str) -> None:
    vi, en = alert_text.rule_name(rule, "vi"), alert_text.rule_name(rule, "en")
    assert vi and en and vi != en and vi != rule


@pytest.mark.parametrize(
    "rule, details, vi, en",
    [
        ("crowd", {"zone_id": "cong", "count": 14, "limit": 10},
         "Đám đông tại cong: 14 người (ngưỡng 10)", "Crowd in cong: 14 people (limit 10)"),
        ("loitering", {"zone_id": "bench", "duration_s": 130.4, "limit_s": 120},
         "Lảng vảng tại bench: 130 giây (ngưỡng 120 giây)", "Loitering in bench: 130 s (limit 120 s)"),
        ("stopped_vehicle", {"cls": "motorbike", "duration_s": 45},
         "Xe máy dừng 45 giây", "Stopped motorbike for 45 s"),
        ("wrong_way", {"cls": "car", "line_id": "thuy-van"},
         "Ô tô đi ngược chiều trên thuy-van", "Car going the wrong way on thuy-van"),
        # the camera's own direction name, as written in its config, in both languages
        ("flow_high", {"line_id": "thuy-van", "direction": "in", "count": 120, "baseline_mean": 30.2},
         "Lưu lượng cao bất thường trên thuy-van về Bãi Sau: 120/phút so với bình thường 30.2",
         "Flow far above normal on thuy-van về Bãi Sau: 120/min vs normal 30.2"),
        # a line without names: the generic direction, translated
        ("flow_low", {"line_id": "plain", "direction": "out", "count": 2, "baseline_mean": 40},
         "Lưu lượng thấp bất thường trên plain chiều ra: 2/phút so với bình thường 40",
         "Flow far below normal on plain out: 2/min vs normal 40"),
        ("camera_offline", {"silent_s": 95.2, "never_seen": 1},
         "Camera mất kết nối: chưa từng gửi tín hiệu (95 giây từ khi đăng ký)",
         "Camera offline: never sent a heartbeat (95 s since it was registered)"),
        ("camera_blackout", {"condition": "blackout"}, "Hình camera bị đen (bị che?)", "Camera picture black (covered?)"),
        ("incident_signature", {"count": 3, "baseline_mean": 28, "stopped_vehicle_s_ago": 40},
         "Nghi có sự cố: lưu lượng giảm còn 3/phút (bình thường 28), có xe dừng",
         "Possible incident: flow dropped to 3/min (normal 28) with stopped vehicle"),
    ],
)
def test_titles_come_from_the_details_in_both_languages(rule: str, details: dict, vi: str, en: str) -> None:
    assert alert_text.alert_title(rule, details, "vi", lines=LINES) == vi
    assert alert_text.alert_title(rule, details, "en", lines=LINES) == en


def test_an_unknown_rule_falls_back_to_the_published_title() -> None:
    assert alert_text.alert_title("new_rule", {}, "vi", fallback="something new") == "something new"


@pytest.mark.parametrize(
    "given, expected",
    [("vi", "vi"), ("vi-VN", "vi"), ("EN", "en"), ("en_GB", "en"), (None, "vi"), ("", "vi")],
)
def test_languages_are_read_from_what_users_send(given: str | None, expected: str) -> None:
    assert alert_text.language(given) == expected


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(alert_text.UnknownLanguage, match="'fr' is not one of vi, en"):
        alert_text.language("fr")


def test_direction_names_are_read_from_the_registry_rows_too() -> None:
    registry_lines = [{"line_id": "thuy-van", "name_in": "về Bãi Sau", "name_out": "về trung tâm"}]
    assert alert_text.direction_name("thuy-van", "out", "en", registry_lines) == "về trung tâm"
    assert alert_text.direction_name("other", "in", "vi", registry_lines) == "chiều vào"
