"""The four dashboards, built with grafana-foundation-sdk's typed builders.

City live (police at the wall), Alerts (operators), Planning (planners) read TimescaleDB through
the datasource uid ``ioc-timescaledb``; Pipeline health (whoever runs the system) reads Prometheus
through ``ioc-prometheus``. Both uids are fixed by dashboards/grafana/provisioning/datasources/.
Panel ids are fixed too, so links and tests can name a panel in either language.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import bargauge, geomap, prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import geomap as geomap_m
from grafana_foundation_sdk.models.dashboard import (
    AnnotationQuery,
    DashboardCursorSync,
    DataSourceRef,
    DynamicConfigValue,
    GridPos,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableHide,
    VariableOption,
    VariableRefresh,
)

from dashboards.grafana import queries as q
from dashboards.grafana.labels import DIRECTIONS, RULES, TIMEZONE, VEHICLE_CLASSES, WEEKDAYS, Lang, text
from dashboards.grafana.sql import POSTGRES_TYPE, SqlFormat, SqlQueryBuilder

TIMESCALEDB = DataSourceRef(type_val=POSTGRES_TYPE, uid="ioc-timescaledb")
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="ioc-prometheus")
DEFAULT_DESK_URL = "http://127.0.0.1:8088"

GREEN, ORANGE, RED, GREY, BLUE = "green", "orange", "red", "#8e8e8e", "blue"


@dataclass(frozen=True, kw_only=True)
class WallOptions:
    lang: Lang = "vi"
    #: where the alert desk serves /alerts/{alert_id}; operators can change it in the dashboard
    desk_url: str = DEFAULT_DESK_URL


def build_all(options: WallOptions) -> dict[str, dash.Dashboard]:
    """Every dashboard of the wall, by file stem."""
    return {
        "city-live": city_live(options),
        "alerts": alerts(options),
        "planning": planning(options),
        "pipeline": pipeline(options),
    }


# --- shared pieces ----------------------------------------------------------------------------

def _sql(sql: str, *, ref: str = "A", fmt: SqlFormat = SqlFormat.TABLE) -> SqlQueryBuilder:
    return SqlQueryBuilder().ref_id(ref).raw_sql(sql).format(fmt).datasource(TIMESCALEDB)


def _prom(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).range().datasource(PROMETHEUS)


def _pos(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(x=x, y=y, w=w, h=h)


def _mapping(entries: dict[str, tuple[str, str]]) -> list[ValueMap]:
    """Value -> (word, colour) as one Grafana value mapping."""
    return [ValueMap(options={value: ValueMappingResult(text=word, color=colour, index=i)
                              for i, (value, (word, colour)) in enumerate(entries.items())})]


def _steps(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])


def _name(field: str, display: str) -> tuple[str, list[DynamicConfigValue]]:
    return field, [DynamicConfigValue(id_val="displayName", value=display)]


def _dashboard(uid: str, title_key: str, options: WallOptions, *, refresh: str | None, time_from: str, tags: list[str]) -> dash.Dashboard:
    builder = (
        dash.Dashboard(text(title_key, options.lang))
        .uid(f"ioc-{uid}-{options.lang}")
        .tags(["ioc", options.lang, *tags])
        .timezone(TIMEZONE)
        .week_start("monday")
        .time(time_from, "now")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    if refresh:
        builder = builder.refresh(refresh)
    return builder


def _severity_mapping(lang: Lang) -> list[ValueMap]:
    return _mapping({
        "critical": (text("critical", lang), RED),
        "warning": (text("warning", lang), ORANGE),
        "info": (text("info", lang), BLUE),
    })


def _rule_mapping(lang: Lang) -> list[ValueMap]:
    return [ValueMap(options={rule: ValueMappingResult(text=text(f"rule_{rule}", lang), index=i) for i, rule in enumerate(RULES)})]


def _colour_cells(field: str) -> tuple[str, list[DynamicConfigValue]]:
    return field, [DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"})]


def _speed_series(field: str, colour: str, *, display: str | None = None,
                  estimated: bool = False) -> tuple[str, list[DynamicConfigValue]]:
    """A speed series in its percentile's colour; an estimate is dashed, with points, since it
    often covers only a few buckets between measured ones."""
    values = [DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})]
    if display:
        values.append(DynamicConfigValue(id_val="displayName", value=display))
    if estimated:
        values += [DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
                   DynamicConfigValue(id_val="custom.showPoints", value="always")]
    return field, values


def _legend() -> common_b.VizLegendOptions:
    return (common_b.VizLegendOptions().show_legend(True).display_mode(common_m.LegendDisplayMode.LIST)
            .placement(common_m.LegendPlacement.BOTTOM))


def _big_stat(panel_id: int, title: str, sql: str, unit: str, x: int, *, colour: str = GREEN) -> stat.Panel:
    return (
        stat.Panel().id(panel_id).title(title).with_target(_sql(sql)).datasource(TIMESCALEDB)
        .grid_pos(_pos(x, 0, 6, 5)).unit(unit).decimals(0)
        .thresholds(_steps((None, colour)))
        .color_mode(common_m.BigValueColorMode.BACKGROUND)
        .graph_mode(common_m.BigValueGraphMode.NONE)
        .text_mode(common_m.BigValueTextMode.VALUE)
        # readable across a room: large fixed value size
        .text(common_b.VizTextDisplayOptions().value_size(72).title_size(22))
        .reduce_options(common_b.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields("/.*/"))
    )


def _vehicles_per_minute(panel_id: int, options: WallOptions, pos: GridPos) -> timeseries.Panel:
    lang = options.lang
    return (
        timeseries.Panel().id(panel_id).title(text("vehicles_per_minute", lang)).datasource(TIMESCALEDB)
        .with_target(_sql(q.vehicles_per_minute_city(lang), ref="A", fmt=SqlFormat.TIME_SERIES))
        .with_target(_sql(q.vehicles_per_minute_district(), ref="B", fmt=SqlFormat.TIME_SERIES))
        .interval("1m").grid_pos(pos).unit(text("unit_vehicles_per_min", lang)).decimals(1).min(0)
        .line_width(3).fill_opacity(10)
        .legend(common_b.VizLegendOptions().show_legend(True).display_mode(common_m.LegendDisplayMode.LIST)
                .placement(common_m.LegendPlacement.BOTTOM))
    )


# --- City live --------------------------------------------------------------------------------

def city_live(options: WallOptions) -> dash.Dashboard:
    """The police wall: the whole city, what is wrong now and where. Dark, 10 s refresh, big type."""
    lang = options.lang
    state_map = _mapping({
        "0": (text("state_ok", lang), GREEN),
        "1": (text("state_degraded", lang), ORANGE),
        "2": (text("state_alert", lang), RED),
        "3": (text("state_offline", lang), GREY),
    })
    health_map = _mapping({
        "0": (text("health_ok", lang), GREEN),
        "1": (text("health_frozen", lang), "purple"),
        "2": (text("health_blurred", lang), "yellow"),
        "3": (text("health_moved", lang), "yellow"),
        "4": (text("health_covered", lang), ORANGE),
        "5": (text("health_offline", lang), RED),
    })
    cameras_layer = (
        common_b.MapLayerOptions().type("markers").name(text("camera", lang)).tooltip(True)
        .location(common_b.FrameGeometrySource().mode(common_m.FrameGeometrySourceMode.COORDS)
                  .latitude("latitude").longitude("longitude"))
        .config({
            "showLegend": True,
            "style": {
                "size": {"fixed": 9},
                "color": {"field": "state"},
                "opacity": 0.9,
                "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                "text": {"mode": "field", "field": "name", "fixed": ""},
                "textConfig": {"fontSize": 11, "offsetY": -14, "textAlign": "center", "textBaseline": "bottom"},
            },
        })
    )
    return (
        _dashboard("city-live", "city_live", options, refresh="10s", time_from="now-1h", tags=["police", "live"])
        .style("dark")
        .timepicker(dash.TimePicker().refresh_intervals(["10s", "30s", "1m"]))
        .with_panel(
            stat.Panel().id(1).title(text("cameras_online", lang)).with_target(_sql(q.cameras_online()))
            .datasource(TIMESCALEDB).grid_pos(_pos(0, 0, 6, 5)).decimals(0)
            .override_by_name(*_name("online", text("online", lang)))
            .override_by_name(*_name("total", text("total", lang)))
            .thresholds(_steps((None, GREEN)))
            .color_mode(common_m.BigValueColorMode.VALUE).graph_mode(common_m.BigValueGraphMode.NONE)
            .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME)
            .text(common_b.VizTextDisplayOptions().value_size(64).title_size(20))
            .reduce_options(common_b.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields("/.*/"))
        )
        .with_panel(_big_stat(2, text("alerts_open", lang), q.alerts_open(), "none", 6, colour=RED)
                    .thresholds(_steps((None, GREEN), (1, RED))))
        .with_panel(_big_stat(3, text("vehicles_last_hour", lang), q.vehicles_last_hour(), text("unit_vehicles", lang), 12, colour=BLUE))
        .with_panel(_big_stat(4, text("people_in_zones", lang), q.people_in_zones(), text("unit_people", lang), 18, colour="purple"))
        .with_panel(
            geomap.Panel().id(5).title(text("camera_map", lang)).with_target(_sql(q.camera_map()))
            .datasource(TIMESCALEDB).grid_pos(_pos(0, 5, 12, 16))
            .view(geomap.MapViewConfig().id("coords").lat(10.35).lon(107.09).zoom(13))
            .basemap(common_b.MapLayerOptions().type("default").name("basemap"))
            .layers([cameras_layer])
            .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(False))
            .tooltip(geomap.TooltipOptions().mode(geomap_m.TooltipMode.DETAILS))  # every field of the camera
            .mappings(state_map)
            .thresholds(_steps((None, GREEN)))
            .override_by_name("state", [DynamicConfigValue(id_val="color", value={"mode": "thresholds"}),
                                        DynamicConfigValue(id_val="displayName", value=text("state", lang))])
            .override_by_name(*_name("name", text("camera", lang)))
            .override_by_name(*_name("district", text("district", lang)))
            .override_by_name("flow_last_minute", [DynamicConfigValue(id_val="displayName", value=text("flow_last_minute", lang)),
                                                   DynamicConfigValue(id_val="unit", value=text("unit_vehicles_per_min", lang))])
        )
        .with_panel(_vehicles_per_minute(6, options, _pos(12, 5, 12, 8)))
        .with_panel(
            timeseries.Panel().id(7).legend(_legend()).line_width(2).title(text("flow_per_camera", lang)).datasource(TIMESCALEDB)
            .with_target(_sql(q.flow_per_camera(lang), fmt=SqlFormat.TIME_SERIES))
            .time_from("1h").interval("1m").grid_pos(_pos(12, 13, 12, 8))
            .unit(text("unit_vehicles", lang)).min(0).line_width(2)
            .legend(common_b.VizLegendOptions().show_legend(True).display_mode(common_m.LegendDisplayMode.TABLE)
                    .placement(common_m.LegendPlacement.RIGHT).calcs(["lastNotNull"]))
        )
        .with_panel(
            bargauge.Panel().id(8).title(text("crowded_zones", lang)).with_target(_sql(q.crowded_zones()))
            .datasource(TIMESCALEDB).grid_pos(_pos(0, 21, 8, 10))
            .unit("percent").min(0).max(150)
            .thresholds(_steps((None, GREEN), (80, ORANGE), (100, RED)))
            .display_mode(common_m.BarGaugeDisplayMode.GRADIENT)
            .orientation(common_m.VizOrientation.HORIZONTAL)
            .reduce_options(common_b.ReduceDataOptions().values(True).calcs([]).fields("/^load$/"))
            .override_by_name(*_name("load", text("load", lang)))
        )
        .with_panel(
            table.Panel().id(9).show_header(True).title(text("open_alerts_by_severity", lang)).with_target(_sql(q.open_alerts()))
            .datasource(TIMESCALEDB).grid_pos(_pos(8, 21, 8, 10))
            .cell_height(common_m.TableCellHeight.LG)
            .override_by_name("severity", [DynamicConfigValue(id_val="mappings", value=_severity_mapping(lang)),
                                           DynamicConfigValue(id_val="displayName", value=text("severity", lang)),
                                           *_colour_cells("severity")[1]])
            .override_by_name("age", [DynamicConfigValue(id_val="unit", value="s"),
                                      DynamicConfigValue(id_val="displayName", value=text("age", lang))])
            .override_by_name(*_name("title", text("title", lang)))
            .override_by_name(*_name("camera", text("camera", lang)))
            .override_by_name(*_name("opened_at", text("opened_at", lang)))
            .override_by_name("alert_id", [DynamicConfigValue(id_val="custom.hidden", value=True)])
        )
        .with_panel(
            statetimeline.Panel().id(10).line_width(0).title(text("camera_health", lang)).datasource(TIMESCALEDB)
            .with_target(_sql(q.camera_health_timeline(), fmt=SqlFormat.TIME_SERIES))
            .grid_pos(_pos(16, 21, 8, 10)).mappings(health_map)
            .thresholds(_steps((None, GREEN))).color_scheme(dash.FieldColor().mode("thresholds"))
            .show_value(common_m.VisibilityMode.NEVER).merge_values(True).row_height(0.8)
            .legend(common_b.VizLegendOptions().show_legend(True).display_mode(common_m.LegendDisplayMode.LIST)
                    .placement(common_m.LegendPlacement.BOTTOM))
        )
    )


# --- Alerts -----------------------------------------------------------------------------------

def alerts(options: WallOptions) -> dash.Dashboard:
    """Operators: open and acknowledged alerts (each row links to the alert desk), alerts per hour
    by rule, and the flow with operators' actions marked on it."""
    lang = options.lang
    severities = ("critical", "warning", "info")
    severity_var = (
        dash.CustomVariable("severity").label(text("severity", lang))
        .values(", ".join(f"{text(s, lang)} : {s}" for s in severities))
        .multi(True).include_all(True)
        .current(VariableOption(selected=True, text=["All"], value=["$__all"]))
    )
    desk_var = (
        dash.TextBoxVariable("desk_url").label(text("desk_url", lang)).default_value(options.desk_url)
        .hide(VariableHide.HIDE_VARIABLE)
        .current(VariableOption(selected=True, text=options.desk_url, value=options.desk_url))
    )
    desk_link = (
        dash.DashboardLink(text("open_in_desk", lang))
        .url("${desk_url}/alerts/${__data.fields.alert_id}").target_blank(True)
    )
    return (
        _dashboard("alerts", "alerts", options, refresh="30s", time_from="now-24h", tags=["operators"])
        .with_variable(severity_var)
        .with_variable(desk_var)
        .annotation(_SqlAnnotation(text("operator_actions", lang), q.operator_actions_annotations()))
        .with_panel(
            table.Panel().id(1).show_header(True).title(text("alerts_table", lang)).with_target(_sql(q.alerts_table()))
            .datasource(TIMESCALEDB).grid_pos(_pos(0, 0, 24, 11))
            .data_links([desk_link])
            .override_by_name("severity", [DynamicConfigValue(id_val="mappings", value=_severity_mapping(lang)),
                                           DynamicConfigValue(id_val="displayName", value=text("severity", lang)),
                                           *_colour_cells("severity")[1]])
            .override_by_name("status", [DynamicConfigValue(id_val="mappings", value=_mapping({
                "open": (text("status_open", lang), RED),
                "acknowledged": (text("status_acknowledged", lang), ORANGE)})),
                DynamicConfigValue(id_val="displayName", value=text("status", lang)),
                *_colour_cells("status")[1]])
            .override_by_name("age", [DynamicConfigValue(id_val="unit", value="s"),
                                      DynamicConfigValue(id_val="displayName", value=text("age", lang))])
            .override_by_name(*_name("alert_id", text("alert_id", lang)))
            .override_by_name("rule", [DynamicConfigValue(id_val="mappings", value=_rule_mapping(lang)),
                                       DynamicConfigValue(id_val="displayName", value=text("rule", lang))])
            .override_by_name(*_name("title", text("title", lang)))
            .override_by_name(*_name("camera", text("camera", lang)))
            .override_by_name(*_name("district", text("district", lang)))
            .override_by_name(*_name("opened_at", text("opened_at", lang)))
            .override_by_name(*_name("acknowledged_by", text("acknowledged_by", lang)))
            .override_by_name(*_name("acknowledged_at", text("acknowledged_at", lang)))
        )
        .with_panel(
            timeseries.Panel().id(2).legend(_legend()).line_width(2).title(text("alerts_per_hour", lang)).datasource(TIMESCALEDB)
            .with_target(_sql(q.alerts_per_hour(lang), fmt=SqlFormat.TIME_SERIES))
            .grid_pos(_pos(0, 11, 12, 9)).unit("none").decimals(0).min(0)
            .draw_style(common_m.GraphDrawStyle.BARS).fill_opacity(80)
            .stacking(common_b.StackingConfig().mode(common_m.StackingMode.NORMAL))
        )
        .with_panel(_vehicles_per_minute(3, options, _pos(12, 11, 12, 9)).title(text("flow_with_actions", lang)))
        .with_panel(
            table.Panel().id(4).show_header(True).title(text("operator_actions", lang)).with_target(_sql(q.operator_actions()))
            .datasource(TIMESCALEDB).grid_pos(_pos(0, 20, 24, 8))
            .data_links([desk_link])
            .override_by_name(*_name("time", text("time", lang)))
            .override_by_name(*_name("actor", text("actor", lang)))
            .override_by_name(*_name("action", text("action", lang)))
            .override_by_name(*_name("note", text("note", lang)))
            .override_by_name(*_name("alert_id", text("alert_id", lang)))
            .override_by_name(*_name("title", text("title", lang)))
        )
    )


class _SqlAnnotation(cogbuilder.Builder[AnnotationQuery]):
    """Annotations from a PostgreSQL query. The SDK types an annotation's target as Grafana's own
    annotation-store filter; a datasource annotation carries the datasource's query there instead."""

    def __init__(self, name: str, sql: str, *, colour: str = "#FADE2A") -> None:
        self._name, self._sql, self._colour = name, sql, colour

    def build(self) -> AnnotationQuery:
        target = _sql(self._sql, ref="Anno").build()
        return AnnotationQuery(name=self._name, datasource=TIMESCALEDB, enable=True, icon_color=self._colour,
                               target=target)  # type: ignore[arg-type]


# --- Planning ---------------------------------------------------------------------------------

def planning(options: WallOptions) -> dash.Dashboard:
    """Planners: months of history from the rollups, by camera, line, direction, class and grain."""
    lang = options.lang
    all_current = VariableOption(selected=True, text=["All"], value=["$__all"])
    camera_var = (
        dash.QueryVariable("camera").label(text("camera", lang)).datasource(TIMESCALEDB)
        .query(q.camera_options()).refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(True).include_all(True).all_value(q.ALL_VALUE).current(all_current)
    )
    line_var = (
        dash.QueryVariable("line").label(text("line", lang)).datasource(TIMESCALEDB)
        .query(q.line_options()).refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(True).include_all(True).all_value(q.ALL_VALUE).current(all_current)
    )
    direction_var = (
        dash.CustomVariable("direction").label(text("direction", lang))
        .values(", ".join(f"{text(d, lang)} : {d}" for d in DIRECTIONS))
        .multi(True).include_all(True).current(all_current)
    )
    class_var = (
        dash.CustomVariable("class").label(text("class", lang))
        .values(", ".join(f"{text(c, lang)} : {c}" for c in VEHICLE_CLASSES))
        .multi(True).include_all(True).current(all_current)
    )
    grains = {"hour": "1 hour", "day": "1 day", "week": "1 week", "month": "1 month"}
    grain_var = (
        dash.CustomVariable("grain").label(text("grain", lang))
        .values(", ".join(f"{text(k, lang)} : {v}" for k, v in grains.items()))
        .current(VariableOption(selected=True, text=text("day", lang), value="1 day"))
    )
    weekday_map = _mapping({str(i + 1): (text(day, lang), "text") for i, day in enumerate(WEEKDAYS)})
    return (
        _dashboard("planning", "planning", options, refresh=None, time_from="now-30d", tags=["planners"])
        .with_variable(camera_var).with_variable(line_var).with_variable(direction_var)
        .with_variable(class_var).with_variable(grain_var)
        .with_panel(
            timeseries.Panel().id(1).legend(_legend()).line_width(2).title(text("volume", lang)).datasource(TIMESCALEDB)
            .with_target(_sql(q.planning_volume(lang), fmt=SqlFormat.TIME_SERIES))
            .grid_pos(_pos(0, 0, 16, 10)).unit(text("unit_vehicles", lang)).min(0).decimals(0)
            .draw_style(common_m.GraphDrawStyle.BARS).fill_opacity(70)
            .stacking(common_b.StackingConfig().mode(common_m.StackingMode.NORMAL))
        )
        .with_panel(
            stat.Panel().id(4).title(text("period_vs_previous", lang)).with_target(_sql(q.period_vs_previous()))
            .datasource(TIMESCALEDB).grid_pos(_pos(16, 0, 8, 10))
            .override_by_name(*_name("this_period", text("this_period", lang)))
            .override_by_name(*_name("previous_period", text("previous_period", lang)))
            .override_by_name("change", [DynamicConfigValue(id_val="displayName", value=text("change", lang)),
                                         DynamicConfigValue(id_val="unit", value="percent"),
                                         DynamicConfigValue(id_val="decimals", value=1)])
            .unit(text("unit_vehicles", lang)).decimals(0)
            .thresholds(_steps((None, BLUE)))
            .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME).graph_mode(common_m.BigValueGraphMode.NONE)
            .orientation(common_m.VizOrientation.VERTICAL)
            .reduce_options(common_b.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields("/.*/"))
        )
        .with_panel(
            table.Panel().id(2).show_header(True).title(text("weekday_hour", lang)).with_target(_sql(q.weekday_hour()))
            .datasource(TIMESCALEDB).grid_pos(_pos(0, 10, 24, 9))
            .color_scheme(dash.FieldColor().mode("continuous-GrYlRd"))
            .override_by_regexp("^\\d\\d$", [DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background", "mode": "gradient"}),
                                             DynamicConfigValue(id_val="unit", value=text("unit_vehicles", lang))])
            .override_by_name("weekday", [DynamicConfigValue(id_val="mappings", value=weekday_map),
                                          DynamicConfigValue(id_val="displayName", value=text("weekday", lang))])
        )
        .with_panel(
            timeseries.Panel().id(3).legend(_legend()).line_width(2).title(text("speed", lang)).datasource(TIMESCALEDB)
            .description(text("speed_description", lang))
            .with_target(_sql(q.planning_speed(), fmt=SqlFormat.TIME_SERIES))
            .grid_pos(_pos(0, 19, 24, 9)).unit("velocitykmh").min(0).decimals(1).line_width(2)
            .override_by_name(*_speed_series("V50", BLUE))
            .override_by_name(*_speed_series("V85", ORANGE))
            .override_by_name(*_speed_series("V50_model", BLUE, display=text("v50_model", lang), estimated=True))
            .override_by_name(*_speed_series("V85_model", ORANGE, display=text("v85_model", lang), estimated=True))
        )
    )


# --- Pipeline health --------------------------------------------------------------------------

def pipeline(options: WallOptions) -> dash.Dashboard:
    """Whoever runs the system: throughput, lag, write time, dead letters, agents, from Prometheus."""
    lang = options.lang
    rate = "[$__rate_interval]"
    up_map = _mapping({"1": (text("up", lang), GREEN), "0": (text("down", lang), RED)})
    return (
        _dashboard("pipeline", "pipeline", options, refresh="30s", time_from="now-1h", tags=["operations"])
        .with_panel(
            stat.Panel().id(7).title(text("stages_up", lang)).datasource(PROMETHEUS)
            .with_target(_prom('up{job=~"ioc-.*"}', "{{job}} {{instance}}", "A"))
            .grid_pos(_pos(0, 0, 24, 4)).mappings(up_map).thresholds(_steps((None, RED), (1, GREEN)))
            .color_mode(common_m.BigValueColorMode.BACKGROUND).graph_mode(common_m.BigValueGraphMode.NONE)
            .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME)
        )
        .with_panel(
            timeseries.Panel().id(1).legend(_legend()).line_width(2).title(text("events_per_stage", lang)).datasource(PROMETHEUS)
            .with_target(_prom(f"sum(rate(ioc_agent_events_total{rate}))", text("agents", lang), "A"))
            .with_target(_prom(f"sum(rate(ioc_processors_events_in_total{rate}))", text("processors", lang), "B"))
            .with_target(_prom(f"sum(rate(ioc_sink_consumed_total{rate}))", text("sink", lang), "C"))
            .grid_pos(_pos(0, 4, 12, 8)).unit("ops").min(0)
        )
        .with_panel(
            timeseries.Panel().id(2).legend(_legend()).line_width(2).title(text("consumer_lag", lang)).datasource(PROMETHEUS)
            .with_target(_prom("sum by (topic) (ioc_sink_lag)", text("sink", lang) + " · {{topic}}", "A"))
            .with_target(_prom("sum by (topic) (ioc_processors_lag)", text("processors", lang) + " · {{topic}}", "B"))
            .grid_pos(_pos(12, 4, 12, 8)).unit(text("unit_records", lang)).min(0)
        )
        .with_panel(
            timeseries.Panel().id(3).legend(_legend()).line_width(2).title(text("sink_batch_time", lang)).datasource(PROMETHEUS)
            .with_target(_prom(f"histogram_quantile(0.95, sum by (le) (rate(ioc_sink_batch_seconds_bucket{rate})))", "p95", "A"))
            .grid_pos(_pos(0, 12, 8, 8)).unit("s").min(0)
        )
        .with_panel(
            timeseries.Panel().id(4).legend(_legend()).line_width(2).title(text("dead_letters", lang)).datasource(PROMETHEUS)
            .with_target(_prom("sum by (topic) (ioc_sink_dead_lettered_total)", text("sink", lang) + " · {{topic}}", "A"))
            .with_target(_prom("sum(ioc_processors_dead_lettered_total)", text("processors", lang), "B"))
            .grid_pos(_pos(8, 12, 8, 8)).unit(text("unit_records", lang)).min(0).decimals(0)
            .thresholds(_steps((None, GREEN), (1, RED)))
        )
        .with_panel(
            timeseries.Panel().id(5).legend(_legend()).line_width(2).title(text("agent_fps", lang)).datasource(PROMETHEUS)
            .with_target(_prom("ioc_agent_fps", "{{camera}}", "A"))
            .grid_pos(_pos(16, 12, 8, 8)).unit("fps").min(0)
        )
        .with_panel(
            timeseries.Panel().id(6).legend(_legend()).line_width(2).title(text("spool_depth", lang)).datasource(PROMETHEUS)
            .with_target(_prom("sum by (instance) (ioc_agent_spool_bytes)", "{{instance}}", "A"))
            .grid_pos(_pos(0, 20, 24, 7)).unit("bytes").min(0)
        )
    )
