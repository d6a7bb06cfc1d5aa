"""Vietnamese and English labels for terminal tables and charts (data files keep stable English keys,
so scripts that read them do not depend on the language a planner chose)."""

from __future__ import annotations

LANGUAGES = ("vi", "en")

_LABELS: dict[str, dict[str, str]] = {
    "period_start": {"vi": "Bắt đầu", "en": "Period start"},
    "camera_id": {"vi": "Camera", "en": "Camera"},
    "name": {"vi": "Tên", "en": "Name"},
    "line_id": {"vi": "Vạch đếm", "en": "Line"},
    "direction": {"vi": "Hướng", "en": "Direction"},
    "cls": {"vi": "Loại xe", "en": "Class"},
    "volume": {"vi": "Lưu lượng", "en": "Volume"},
    "speed_mean_kmh": {"vi": "Tốc độ TB (km/h)", "en": "Mean speed (km/h)"},
    "speed_p50_kmh": {"vi": "V50 (km/h)", "en": "P50 km/h"},
    "speed_p85_kmh": {"vi": "V85 (km/h)", "en": "P85 km/h"},
    "speed_basis": {"vi": "Nguồn tốc độ", "en": "Speed basis"},
    "days": {"vi": "Số ngày", "en": "Days"},
    "adt": {"vi": "Lưu lượng TB ngày", "en": "Avg daily traffic"},
    "peak_hour": {"vi": "Giờ cao điểm", "en": "Peak hour"},
    "peak_hour_share": {"vi": "Tỷ lệ giờ cao điểm", "en": "Peak-hour share"},
    "weekday_adt": {"vi": "TB ngày thường", "en": "Weekday ADT"},
    "weekend_adt": {"vi": "TB cuối tuần", "en": "Weekend ADT"},
    "weekend_weekday_ratio": {"vi": "Cuối tuần / ngày thường", "en": "Weekend / weekday"},
    "previous_volume": {"vi": "Lưu lượng kỳ trước", "en": "Previous volume"},
    "previous_adt": {"vi": "TB ngày kỳ trước", "en": "Previous ADT"},
    "adt_change_pct": {"vi": "Thay đổi (%)", "en": "Change (%)"},
    "hour": {"vi": "Giờ", "en": "Hour"},
    "weekday": {"vi": "Thứ", "en": "Weekday"},
    "weekday_avg": {"vi": "TB ngày thường", "en": "Weekday average"},
    "weekend_avg": {"vi": "TB cuối tuần", "en": "Weekend average"},
    "date": {"vi": "Ngày", "en": "Date"},
    **{f"h{h:02d}": {"vi": f"{h:02d}h", "en": f"{h:02d}:00"} for h in range(24)},
    # titles and axes
    "title.volume": {"vi": "Lưu lượng giao thông", "en": "Traffic volume"},
    "title.summary": {"vi": "Tổng hợp giao thông", "en": "Traffic summary"},
    "title.hourly_profile": {"vi": "Lưu lượng theo giờ", "en": "Hourly profile"},
    "title.weekday_hour": {"vi": "Theo thứ và giờ", "en": "Weekday x hour"},
    "title.daily": {"vi": "Lưu lượng theo ngày", "en": "Daily traffic"},
    "title.about": {"vi": "Thông tin", "en": "About"},
    "about.item": {"vi": "Mục", "en": "Item"},
    "about.value": {"vi": "Giá trị", "en": "Value"},
    "about.sheet": {"vi": "Trang", "en": "Sheet"},
    "about.column": {"vi": "Cột", "en": "Column"},
    "about.key": {"vi": "Khóa", "en": "Key"},
    "about.type": {"vi": "Kiểu", "en": "Type"},
    "chart.hourly_profile": {"vi": "Lưu lượng theo giờ trong ngày (trung bình)", "en": "Average hourly traffic profile"},
    "chart.heatmap": {"vi": "Lưu lượng theo thứ và giờ (trung bình)", "en": "Average traffic by weekday and hour"},
    "chart.daily_trend": {"vi": "Lưu lượng theo ngày", "en": "Daily traffic"},
    "axis.hour": {"vi": "Giờ", "en": "Hour of day"},
    "axis.volume_per_hour": {"vi": "Lưu lượng (xe/giờ)", "en": "Volume (vehicles/hour)"},
    "axis.volume_per_day": {"vi": "Lưu lượng (xe/ngày)", "en": "Volume (vehicles/day)"},
    "axis.date": {"vi": "Ngày", "en": "Date"},
    "axis.weekday": {"vi": "Thứ", "en": "Weekday"},
    "series.weekday": {"vi": "Ngày thường (T2–T6)", "en": "Weekdays (Mon–Fri)"},
    "series.weekend": {"vi": "Cuối tuần (T7–CN)", "en": "Weekend (Sat–Sun)"},
    "series.daily": {"vi": "Lưu lượng ngày", "en": "Daily volume"},
    "series.rolling": {"vi": "Trung bình 7 ngày", "en": "7-day average"},
    "all_cameras": {"vi": "tất cả camera", "en": "all cameras"},
    "rows": {"vi": "dòng", "en": "rows"},
}
WEEKDAYS = {"vi": ("T2", "T3", "T4", "T5", "T6", "T7", "CN"), "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
VALUES = {
    "in": {"vi": "vào", "en": "in"},
    "out": {"vi": "ra", "en": "out"},
    "motorbike": {"vi": "xe máy", "en": "motorbike"},
    "car": {"vi": "ô tô", "en": "car"},
    "bus_truck": {"vi": "xe buýt/tải", "en": "bus/truck"},
    "bicycle": {"vi": "xe đạp", "en": "bicycle"},
    "person": {"vi": "người đi bộ", "en": "pedestrian"},
    "unknown": {"vi": "không rõ", "en": "unknown"},
    "measured": {"vi": "đo thực tế", "en": "measured"},
    "model": {"vi": "ước tính (mô hình)", "en": "modelled"},
}


def label(key: str, lang: str) -> str:
    return _LABELS.get(key, {}).get(lang, key)


def value(text: str, lang: str) -> str:
    """A category value (direction, class) in the language; other values unchanged."""
    return VALUES.get(text, {}).get(lang, text)


def all_text(lang: str) -> str:
    """Every label of a language in one string (to check a font has all the glyphs)."""
    return "".join(v[lang] for v in _LABELS.values()) + "".join(WEEKDAYS[lang]) + "".join(v[lang] for v in VALUES.values())
