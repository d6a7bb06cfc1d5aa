"""Every word the wall shows, in Vietnamese (the default) and English.

Titles, panel names, series names, units and value mappings come from here, so a dashboard in
one language never shows a word of the other. SQL returns codes (state 0-3, 'critical',
'in'); the dashboards map them to these words.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")
TIMEZONE = "Asia/Ho_Chi_Minh"

_TEXT: dict[str, tuple[str, str]] = {
    # dashboards
    "city_live": ("Thành phố trực tuyến", "City live"),
    "alerts": ("Cảnh báo", "Alerts"),
    "planning": ("Quy hoạch giao thông", "Traffic planning"),
    "pipeline": ("Sức khỏe hệ thống", "Pipeline health"),
    # city live
    "cameras_online": ("Camera trực tuyến", "Cameras online"),
    "online": ("Trực tuyến", "Online"),
    "total": ("Tổng số", "Total"),
    "alerts_open": ("Cảnh báo đang mở", "Alerts open"),
    "vehicles_last_hour": ("Xe trong 1 giờ qua", "Vehicles in the last hour"),
    "people_in_zones": ("Người trong khu vực đông", "People in crowd zones now"),
    "camera_map": ("Bản đồ camera", "Camera map"),
    "vehicles_per_minute": ("Xe mỗi phút", "Vehicles per minute"),
    "city_wide": ("Toàn thành phố", "City-wide"),
    "flow_per_camera": ("Lưu lượng theo camera và hướng (1 giờ qua)", "Flow per camera and direction (last hour)"),
    "crowded_zones": ("Khu vực đông người (so với sức chứa)", "Crowded zones (occupancy against limit)"),
    "open_alerts_by_severity": ("Cảnh báo đang mở theo mức độ", "Open alerts by severity"),
    "camera_health": ("Tình trạng camera", "Camera health"),
    # columns
    "camera": ("Camera", "Camera"),
    "district": ("Quận/phường", "District"),
    "state": ("Trạng thái", "State"),
    "flow_last_minute": ("Lưu lượng phút qua", "Flow, last minute"),
    "zone": ("Khu vực", "Zone"),
    "occupancy": ("Số người", "Occupancy"),
    "limit": ("Sức chứa", "Limit"),
    "load": ("Mức tải", "Load"),
    "severity": ("Mức độ", "Severity"),
    "title": ("Nội dung", "Title"),
    "rule": ("Quy tắc", "Rule"),
    "opened_at": ("Mở lúc", "Opened at"),
    "age": ("Thời gian mở", "Age"),
    "status": ("Xử lý", "Status"),
    "acknowledged_by": ("Người xác nhận", "Acknowledged by"),
    "acknowledged_at": ("Xác nhận lúc", "Acknowledged at"),
    "alert_id": ("Mã cảnh báo", "Alert id"),
    "open_in_desk": ("Mở trong bàn cảnh báo", "Open in the alert desk"),
    "actor": ("Người thao tác", "Operator"),
    "action": ("Thao tác", "Action"),
    "note": ("Ghi chú", "Note"),
    "time": ("Thời điểm", "Time"),
    # alerts dashboard
    "alerts_table": ("Cảnh báo đang mở và đã xác nhận", "Open and acknowledged alerts"),
    "alerts_per_hour": ("Cảnh báo mỗi giờ theo quy tắc", "Alerts per hour by rule"),
    "flow_with_actions": ("Lưu lượng và thao tác của điều hành viên", "Flow and operators' actions"),
    "operator_actions": ("Thao tác của điều hành viên", "Operators' actions"),
    "desk_url": ("Địa chỉ bàn cảnh báo", "Alert desk address"),
    # planning
    "volume": ("Lưu lượng theo thời gian", "Volume over time"),
    "weekday_hour": ("Lưu lượng trung bình theo thứ và giờ", "Average volume by weekday and hour"),
    "weekday": ("Thứ", "Weekday"),
    "speed": ("Tốc độ V50 / V85", "Speed V50 / V85"),
    "v50_model": ("V50 ước tính (mô hình chuẩn)", "V50 estimated (normal model)"),
    "v85_model": ("V85 ước tính (mô hình chuẩn)", "V85 estimated (normal model)"),
    "speed_description": (
        "Nét liền: V50 / V85 đo từ tốc độ của từng xe (sai số dưới 2 km/h). Nét đứt: ước tính từ tốc độ trung bình "
        "và độ lệch chuẩn theo phân phối chuẩn, chỉ ở những khoảng không còn dữ liệu tốc độ từng xe.",
        "Solid: V50 / V85 measured from each vehicle's speed (within 2 km/h). Dashed: estimated from the mean speed "
        "and its spread under a normal distribution, only where no per-vehicle speeds are kept.",
    ),
    "period_vs_previous": ("Kỳ này so với kỳ trước", "This period against the previous one"),
    "this_period": ("Kỳ này", "This period"),
    "previous_period": ("Kỳ trước", "Previous period"),
    "change": ("Thay đổi", "Change"),
    "line": ("Vạch đếm", "Line"),
    "direction": ("Hướng", "Direction"),
    "class": ("Loại phương tiện", "Vehicle class"),
    "grain": ("Độ chi tiết", "Grain"),
    # pipeline
    "events_per_stage": ("Sự kiện mỗi giây theo tầng", "Events per second per stage"),
    "consumer_lag": ("Độ trễ tiêu thụ (bản ghi)", "Consumer lag (records)"),
    "sink_batch_time": ("Thời gian ghi một lô (p95)", "Sink batch time (p95)"),
    "dead_letters": ("Thư chết (bản ghi lỗi)", "Dead letters"),
    "agent_fps": ("Khung hình/giây của agent", "Agents' frames per second"),
    "spool_depth": ("Hàng đợi trên đĩa của agent", "Agents' spool depth"),
    "stages_up": ("Các tầng đang chạy", "Stages up"),
    "agents": ("Agent camera", "Camera agents"),
    "processors": ("Bộ xử lý", "Processors"),
    "sink": ("Ghi cơ sở dữ liệu", "Sink"),
    "up": ("Chạy", "Up"),
    "down": ("Dừng", "Down"),
    # value mappings
    "state_ok": ("Bình thường", "OK"),
    "state_degraded": ("Suy giảm", "Degraded"),
    "state_alert": ("Có cảnh báo", "Alert open"),
    "state_offline": ("Mất kết nối", "Offline"),
    "health_ok": ("Bình thường", "OK"),
    "health_frozen": ("Đóng băng", "Frozen"),
    "health_blurred": ("Mờ", "Blurred"),
    "health_moved": ("Lệch hướng", "Moved"),
    "health_covered": ("Bị che", "Covered"),
    "health_offline": ("Mất tín hiệu", "Offline"),
    "critical": ("Nghiêm trọng", "Critical"),
    "warning": ("Cảnh báo", "Warning"),
    "info": ("Thông tin", "Info"),
    "status_open": ("Chưa xác nhận", "Open"),
    "status_acknowledged": ("Đã xác nhận", "Acknowledged"),
    "rule_crowd": ("Đông người", "Crowd"),
    "rule_loitering": ("Lảng vảng", "Loitering"),
    "rule_stopped_vehicle": ("Xe dừng bất thường", "Stopped vehicle"),
    "rule_wrong_way": ("Đi ngược chiều", "Wrong way"),
    "rule_camera_offline": ("Camera mất kết nối", "Camera offline"),
    "rule_camera_frozen": ("Hình đóng băng", "Picture frozen"),
    "rule_camera_blackout": ("Camera bị che", "Camera covered"),
    "rule_camera_blur": ("Hình bị mờ", "Picture blurred"),
    "rule_camera_source_lost": ("Mất tín hiệu video", "Video source lost"),
    "rule_camera_moved": ("Camera lệch hướng", "Camera view moved"),
    "rule_flow_high": ("Lưu lượng cao bất thường", "Flow unusually high"),
    "rule_flow_low": ("Lưu lượng thấp bất thường", "Flow unusually low"),
    "rule_incident_signature": ("Dấu hiệu sự cố", "Incident signature"),
    "in": ("vào", "in"),
    "out": ("ra", "out"),
    "bicycle": ("xe đạp", "bicycle"),
    "motorbike": ("xe máy", "motorbike"),
    "car": ("ô tô", "car"),
    "bus_truck": ("xe buýt/tải", "bus/truck"),
    "hour": ("giờ", "hour"),
    "day": ("ngày", "day"),
    "week": ("tuần", "week"),
    "month": ("tháng", "month"),
    "monday": ("Thứ Hai", "Monday"),
    "tuesday": ("Thứ Ba", "Tuesday"),
    "wednesday": ("Thứ Tư", "Wednesday"),
    "thursday": ("Thứ Năm", "Thursday"),
    "friday": ("Thứ Sáu", "Friday"),
    "saturday": ("Thứ Bảy", "Saturday"),
    "sunday": ("Chủ Nhật", "Sunday"),
    # units (Grafana custom units: "suffix:<text>")
    "unit_vehicles_per_min": ("suffix: xe/phút", "suffix: veh/min"),
    "unit_vehicles": ("suffix: xe", "suffix: veh"),
    "unit_people": ("suffix: người", "suffix: people"),
    "unit_records": ("suffix: bản ghi", "suffix: records"),
}

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
VEHICLE_CLASSES = ("bicycle", "motorbike", "car", "bus_truck")
DIRECTIONS = ("in", "out")
#: the processors' alert rules (processors/rules.py), named for operators
RULES = ("crowd", "loitering", "stopped_vehicle", "wrong_way", "camera_offline", "camera_frozen", "camera_blackout",
         "camera_blur", "camera_source_lost", "camera_moved", "flow_high", "flow_low", "incident_signature")


def text(key: str, lang: Lang) -> str:
    vi, en = _TEXT[key]
    return vi if lang == "vi" else en


def sql_literal(value: str) -> str:
    """A label as an SQL string literal (for series names computed in SQL)."""
    return "'" + value.replace("'", "''") + "'"


def sql_case(column: str, keys: tuple[str, ...], lang: Lang, *, prefix: str = "") -> str:
    """CASE mapping codes to words, for series names (value mappings do not rename series);
    a code without a word (a rule added later) shows as itself."""
    whens = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(text(prefix + k, lang))}" for k in keys)
    return f"CASE {column} {whens} ELSE {column} END"
