"""The desk's words in Vietnamese (the default) and English: labels, rule names, alert titles and
direction names. Titles are written here from each alert's rule and numbers, so an operator reads
them in their own language whatever language the processors wrote the stored title in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

LABELS: dict[str, tuple[str, str]] = {  # key -> (vi, en)
    "app": ("Bàn xử lý cảnh báo", "Alert desk"),
    "alerts": ("Cảnh báo", "Alerts"),
    "login": ("Đăng nhập", "Sign in"),
    "logout": ("Đăng xuất", "Sign out"),
    "user": ("Tên đăng nhập", "User name"),
    "password": ("Mật khẩu", "Password"),
    "wrong_login": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password."),
    "slow_down": ("Quá nhiều lần thử sai. Thử lại sau {s} giây.", "Too many failed attempts. Try again in {s} s."),
    "camera": ("Camera", "Camera"),
    "rule": ("Loại cảnh báo", "Rule"),
    "severity": ("Mức độ", "Severity"),
    "state": ("Trạng thái", "State"),
    "district": ("Địa bàn", "District"),
    "opened": ("Bắt đầu", "Opened"),
    "updated": ("Cập nhật", "Updated"),
    "updates": ("Lần cập nhật", "Updates"),
    "title": ("Nội dung", "Alert"),
    "any": ("Tất cả", "Any"),
    "filter": ("Lọc", "Filter"),
    "clear": ("Bỏ lọc", "Clear"),
    "ack": ("Xác nhận", "Acknowledge"),
    "ack_selected": ("Xác nhận các mục đã chọn", "Acknowledge selected"),
    "note": ("Ghi chú", "Note"),
    "add_note": ("Thêm ghi chú", "Add note"),
    "resolve": ("Đóng cảnh báo", "Resolve"),
    "reopen": ("Mở lại", "Reopen"),
    "silence": ("Tạm tắt", "Silence"),
    "silence_rule": ("Tạm tắt loại cảnh báo này trên camera", "Silence this rule on this camera"),
    "minutes": ("Số phút", "Minutes"),
    "why": ("Lý do", "Reason"),
    "resolution": ("Kết quả xử lý", "Resolution"),
    "history": ("Lịch sử", "History"),
    "numbers": ("Số liệu", "Numbers"),
    "value": ("Giá trị", "Value"),
    "position": ("Vị trí", "Position"),
    "kind": ("Loại camera", "Camera kind"),
    "lines": ("Vạch đếm và hướng", "Lines and directions"),
    "chart": ("Lưu lượng 1 phút gần đây", "Recent 1-minute counts"),
    "no_counts": ("Chưa có số liệu đếm.", "No counts yet."),
    "evidence": ("Ảnh hiện trường", "Evidence snapshot"),
    "no_evidence": ("Chưa có ảnh cho cảnh báo này.", "No snapshot for this alert."),
    "no_alerts": ("Không có cảnh báo.", "No alerts."),
    "escalated": ("Quá hạn xử lý", "Escalated"),
    "live": ("Trực tiếp", "Live"),
    "offline": ("Mất kết nối trực tiếp", "Live updates lost"),
    "undelivered": ("Chưa gửi được", "Not delivered"),
    "retrying": ("đang thử lại", "retrying"),
    "sent": ("đã gửi, chờ xử lý", "sent, waiting to be applied"),
    "silenced_until": ("Tạm tắt đến", "Silenced until"),
    "by": ("bởi", "by"),
    "handler": ("Người xử lý", "Handled by"),
    "language": ("English", "Tiếng Việt"),
    "forbidden": ("Bạn không có quyền thực hiện thao tác này.", "You are not allowed to do this."),
    "not_found": ("Không tìm thấy cảnh báo.", "Alert not found."),
    "bad_request": ("Yêu cầu không hợp lệ", "Invalid request"),
    "back": ("Quay lại danh sách", "Back to the list"),
    "role": ("Vai trò", "Role"),
    "province": ("Toàn tỉnh", "Province"),
    "selected_none": ("Chưa chọn cảnh báo nào.", "No alert selected."),
    "deadline": ("chưa được xác nhận quá hạn", "unacknowledged past its deadline"),
}

VALUES: dict[str, tuple[str, str]] = {
    # states
    "open": ("Mới", "Open"), "acknowledged": ("Đã xác nhận", "Acknowledged"), "resolved": ("Đã đóng", "Resolved"),
    "escalated": ("Quá hạn", "Escalated"),
    # severities
    "critical": ("Nghiêm trọng", "Critical"), "warning": ("Cảnh báo", "Warning"), "info": ("Thông tin", "Info"),
    # rules
    "crowd": ("Tụ tập đông người", "Crowd"), "loitering": ("Lảng vảng", "Loitering"),
    "stopped_vehicle": ("Xe dừng đỗ", "Stopped vehicle"), "wrong_way": ("Đi ngược chiều", "Wrong way"),
    "camera_offline": ("Camera mất kết nối", "Camera offline"), "camera_frozen": ("Hình ảnh bị đứng", "Picture frozen"),
    "camera_blackout": ("Hình ảnh bị đen", "Picture black"), "camera_blur": ("Hình ảnh bị mờ", "Picture blurred"),
    "camera_source_lost": ("Mất nguồn video", "Video source lost"),
    "camera_moved": ("Camera bị lệch hướng", "Camera view moved"),
    "flow_high": ("Lưu lượng cao bất thường", "Flow far above normal"),
    "flow_low": ("Lưu lượng thấp bất thường", "Flow far below normal"),
    "incident_signature": ("Nghi có sự cố giao thông", "Possible incident"),
    # resolutions
    "handled": ("Đã xử lý", "Handled"), "false_alarm": ("Báo động giả", "False alarm"),
    "duplicate": ("Trùng lặp", "Duplicate"), "other": ("Khác", "Other"),
    # actions
    "ack": ("xác nhận", "acknowledged"), "note": ("ghi chú", "noted"), "resolve": ("đóng", "resolved"),
    "reopen": ("mở lại", "reopened"), "silence": ("tạm tắt", "silenced"), "unsilence": ("bật lại", "unsilenced"),
    # roles
    "viewer": ("Theo dõi", "Viewer"), "operator": ("Trực ban", "Operator"), "admin": ("Quản trị", "Admin"),
    # camera kinds, directions, classes
    "traffic": ("Giao thông", "Traffic"), "security": ("An ninh", "Security"),
    "in": ("vào", "in"), "out": ("ra", "out"),
    "person": ("người đi bộ", "pedestrian"), "bicycle": ("xe đạp", "bicycle"), "motorbike": ("xe máy", "motorbike"),
    "car": ("ô tô", "car"), "bus_truck": ("xe buýt/tải", "bus/truck"), "unknown": ("phương tiện", "vehicle"),
    # step descriptions
    "step_open": ("Cảnh báo mở", "Alert opened"), "step_update": ("Cập nhật số liệu", "Numbers updated"),
    "step_resolved": ("Cảnh báo đóng", "Alert resolved"), "step_auto": ("tự đóng khi hết sự việc", "closed by itself when the condition ended"),
    "step_ack": ("Đã xác nhận bởi", "Acknowledged by"), "step_escalated": ("Quá hạn chưa xác nhận", "Escalated: not acknowledged in time"),
}

# Numbers in alert details, by key.
DETAIL_LABELS: dict[str, tuple[str, str]] = {
    "count": ("Giá trị đo", "Measured"), "limit": ("Ngưỡng", "Limit"), "zone_id": ("Vùng", "Zone"),
    "zones_over": ("Số vùng vượt ngưỡng", "Zones over"), "duration_s": ("Thời gian (giây)", "Duration (s)"),
    "limit_s": ("Ngưỡng (giây)", "Limit (s)"), "track_id": ("Mã đối tượng", "Track"), "cls": ("Loại", "Class"),
    "line_id": ("Vạch đếm", "Line"), "direction": ("Hướng", "Direction"),
    "baseline_mean": ("Mức bình thường (TB)", "Baseline mean"), "baseline_sd": ("Độ lệch chuẩn", "Baseline SD"),
    "baseline_n": ("Số mẫu nền", "Baseline samples"), "z": ("Độ lệch (z)", "Deviation (z)"),
    "window_start": ("Cửa sổ bắt đầu", "Window start"), "lines_affected": ("Số vạch bị ảnh hưởng", "Lines affected"),
    "silent_s": ("Mất tín hiệu (giây)", "Silent for (s)"), "last_event_at": ("Sự kiện cuối", "Last event"),
    "condition": ("Tình trạng", "Condition"), "detail": ("Chi tiết", "Detail"),
    "stopped_vehicle_s_ago": ("Xe dừng cách đây (giây)", "Stopped vehicle (s ago)"),
    "zone_peak": ("Đỉnh số người trong vùng", "Zone peak"), "back_at": ("Có lại lúc", "Back at"),
    "quiet_s": ("Im lặng (giây)", "Quiet for (s)"), "reopened": ("Mở lại", "Reopened"),
    "resolved_by": ("Đóng bởi", "Resolved by"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def label(key: str, lang: str) -> str:
    pair = LABELS.get(key)
    return _pick(pair, lang) if pair else key


def value(text: Any, lang: str) -> str:
    pair = VALUES.get(str(text))
    return _pick(pair, lang) if pair else str(text)


def detail_label(key: str, lang: str) -> str:
    pair = DETAIL_LABELS.get(key)
    return _pick(pair, lang) if pair else key


def direction_name(lines: list[Mapping[str, Any]] | None, line_id: Any, direction: Any, lang: str) -> str:
    """The camera's own name for a direction of a line (usually a place: "vào trung tâm"), in the
    user's language when the camera's config gives it, with the generic direction beside it."""
    generic = value(direction, lang)
    key = "name_in" if direction == "in" else "name_out"
    for line in lines or ():
        if line.get("line_id") == line_id:
            own = (line.get(f"{key}_en") if lang == "en" else None) or line.get(key)
            if own and own not in ("in", "out"):
                return f"{own} ({generic})"
    return generic


def _n(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.0f}" if abs(x) >= 10 or x == int(x) else f"{x:.1f}"
    return "?" if x is None else str(x)


_TITLES: dict[str, tuple[str, str]] = {
    "crowd": ("Tụ tập đông người tại {zone_id}: {count} người (ngưỡng {limit})", "Crowd in {zone_id}: {count} people (limit {limit})"),
    "loitering": ("Lảng vảng tại {zone}: {duration_s} giây (ngưỡng {limit_s} giây)", "Loitering in {zone}: {duration_s} s (limit {limit_s} s)"),
    "stopped_vehicle": ("{cls} dừng đỗ {duration_s} giây", "Stopped {cls} for {duration_s} s"),
    "wrong_way": ("{cls} đi ngược chiều trên {line}", "{cls} going the wrong way on {line}"),
    "camera_offline": ("Camera mất kết nối: không có tín hiệu {silent_s} giây", "Camera offline: no heartbeat for {silent_s} s"),
    "camera_frozen": ("Camera: hình ảnh bị đứng", "Camera: picture frozen"),
    "camera_blackout": ("Camera: hình ảnh bị đen (bị che?)", "Camera: picture black (covered?)"),
    "camera_blur": ("Camera: hình ảnh bị mờ", "Camera: picture blurred"),
    "camera_source_lost": ("Camera: mất nguồn video", "Camera: video source lost"),
    "camera_moved": ("Camera: bị lệch hướng, vạch đếm nằm sai chỗ", "Camera: view moved, its lines lie on other ground"),
    "flow_high": ("Lưu lượng cao bất thường, hướng {dir}: {count} xe/phút so với bình thường {baseline_mean}",
                  "Flow far above normal, {dir}: {count}/min vs normal {baseline_mean}"),
    "flow_low": ("Lưu lượng thấp bất thường, hướng {dir}: {count} xe/phút so với bình thường {baseline_mean}",
                 "Flow far below normal, {dir}: {count}/min vs normal {baseline_mean}"),
    "incident_signature": ("Nghi có sự cố: lưu lượng giảm còn {count} xe/phút (bình thường {baseline_mean}), hướng {dir}",
                           "Possible incident: flow dropped to {count}/min (normal {baseline_mean}), {dir}"),
}


def alert_title(rule: str, details: Mapping[str, Any], stored_title: str, lang: str,
                lines: list[Mapping[str, Any]] | None = None) -> str:
    """The alert's title in ``lang`` from its rule and numbers; the stored title if the numbers
    it needs are missing (an older or unknown rule)."""
    template = _TITLES.get(rule)
    if template is None:
        return stored_title
    fields = {key: _n(v) for key, v in details.items()}
    fields.update(
        zone=details.get("zone_id") or ("toàn khung hình" if lang == "vi" else "view"),
        line=details.get("line_id") or ("đường" if lang == "vi" else "the road"),
        cls=value(details.get("cls", "unknown"), lang),
        dir=direction_name(lines, details.get("line_id"), details.get("direction"), lang)
        if details.get("direction") else "?",
    )
    try:
        text = _pick(template, lang).format(**fields)
    except (KeyError, IndexError, ValueError):
        return stored_title
    return text[0].upper() + text[1:]


_COMPARISONS: tuple[tuple[tuple[str, ...], tuple[str, str]], ...] = (
    (("count", "baseline_mean", "baseline_sd", "z"),
     ("Đo được {count}/phút, bình thường {baseline_mean} ± {baseline_sd} (độ lệch z = {z})",
      "Measured {count}/min against a normal {baseline_mean} ± {baseline_sd} (z = {z})")),
    (("count", "limit"), ("Đo được {count}, ngưỡng {limit}: gấp {ratio} lần", "Measured {count} against a limit of {limit}: {ratio}×")),
    (("silent_s", "limit_s"), ("Không có tín hiệu {silent_s} giây, ngưỡng {limit_s} giây", "Silent for {silent_s} s against a limit of {limit_s} s")),
    (("duration_s", "limit_s"), ("Kéo dài {duration_s} giây, ngưỡng {limit_s} giây", "Lasted {duration_s} s against a limit of {limit_s} s")),
)


def comparison(details: Mapping[str, Any], lang: str) -> str | None:
    """One line: what was measured against the threshold or baseline it crossed."""
    for keys, template in _COMPARISONS:
        if all(details.get(key) is not None for key in keys):
            fields = {key: _n(details[key]) for key in keys}
            if "limit" in keys:
                try:
                    fields["ratio"] = f"{float(details['count']) / float(details['limit']):.1f}"
                except (TypeError, ValueError, ZeroDivisionError):
                    continue
            return _pick(template, lang).format(**fields)
    return None


def translator(lang: str) -> Callable[[str], str]:
    return lambda key: label(key, lang)
