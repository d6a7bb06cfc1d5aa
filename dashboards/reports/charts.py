"""PNG charts for planners' reports (matplotlib, Agg: no display needed).

Fixed pixel size (``SIZE_PX``) so charts drop into a report layout the same way every time. The
font is DejaVu Sans, which matplotlib ships and which covers Vietnamese (ư, ơ, ạ, ễ...);
``missing_glyphs`` checks that, because matplotlib only warns and draws boxes otherwise.
"""

from __future__ import annotations

from pathlib import Path

from dashboards.reports import labels
from dashboards.reports.queries import Profiles

SIZE_PX = (1600, 900)
_DPI = 100
FONT = "DejaVu Sans"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.family": FONT, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def missing_glyphs(text: str) -> set[str]:
    """Characters of ``text`` the chart font cannot draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    font = FT2Font(font_manager.findfont(font_manager.FontProperties(family=FONT), fallback_to_default=False))
    return {ch for ch in set(text) if not ch.isspace() and font.get_char_index(ord(ch)) == 0}


def _figure(plt):
    return plt.figure(figsize=(SIZE_PX[0] / _DPI, SIZE_PX[1] / _DPI), dpi=_DPI)


def _save(plt, fig, path: Path) -> Path:
    fig.savefig(path, dpi=_DPI, format="png")  # no bbox_inches="tight": it would change the size
    plt.close(fig)
    return path


def hourly_profile(data: Profiles, path: Path, *, lang: str, subtitle: str) -> Path:
    plt = _pyplot()
    fig = _figure(plt)
    ax = fig.add_subplot()
    hours = list(range(24))
    ax.plot(hours, data.weekday_hours, marker="o", label=labels.label("series.weekday", lang))
    ax.plot(hours, data.weekend_hours, marker="s", label=labels.label("series.weekend", lang))
    ax.set_xticks(hours)
    ax.set_xlabel(labels.label("axis.hour", lang))
    ax.set_ylabel(labels.label("axis.volume_per_hour", lang))
    ax.set_title(f"{labels.label('chart.hourly_profile', lang)}\n{subtitle}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(plt, fig, path)


def weekday_hour_heatmap(data: Profiles, path: Path, *, lang: str, subtitle: str) -> Path:
    plt = _pyplot()
    fig = _figure(plt)
    ax = fig.add_subplot()
    image = ax.imshow(data.weekday_by_hour, aspect="auto", cmap="YlOrRd")
    ax.set_yticks(range(7), labels.WEEKDAYS[lang])
    ax.set_xticks(range(24))
    ax.set_xlabel(labels.label("axis.hour", lang))
    ax.set_ylabel(labels.label("axis.weekday", lang))
    ax.set_title(f"{labels.label('chart.heatmap', lang)}\n{subtitle}")
    fig.colorbar(image, ax=ax, label=labels.label("axis.volume_per_hour", lang))
    fig.tight_layout()
    return _save(plt, fig, path)


def daily_trend(data: Profiles, path: Path, *, lang: str, subtitle: str) -> Path:
    plt = _pyplot()
    fig = _figure(plt)
    ax = fig.add_subplot()
    days = [day for day, _ in data.daily]
    volumes = [v for _, v in data.daily]
    ax.bar(days, volumes, width=0.9, color="#9ecae1", label=labels.label("series.daily", lang))
    if len(volumes) >= 7:
        rolling = [sum(volumes[i - 6:i + 1]) / 7 for i in range(6, len(volumes))]
        ax.plot(days[6:], rolling, color="#08519c", linewidth=2, label=labels.label("series.rolling", lang))
    ax.set_xlabel(labels.label("axis.date", lang))
    ax.set_ylabel(labels.label("axis.volume_per_day", lang))
    ax.set_title(f"{labels.label('chart.daily_trend', lang)}\n{subtitle}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(plt, fig, path)


CHARTS = {"hourly_profile": hourly_profile, "weekday_hour": weekday_hour_heatmap, "daily_trend": daily_trend}


def write_all(data: Profiles, out_dir: Path, *, lang: str, subtitle: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [draw(data, out_dir / f"{name}_{lang}.png", lang=lang, subtitle=subtitle) for name, draw in CHARTS.items()]
