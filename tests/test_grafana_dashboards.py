"""The built dashboards: committed JSON is current, loads back into the SDK's models, and says
what the wall must say (four dashboards per language, panel names, refresh, time zone, links)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from typer.testing import CliRunner

from dashboards.grafana.build import PROVISIONED, built_files, load, render
from dashboards.grafana.cli import app
from dashboards.grafana.labels import LANGS, RULES, text
from dashboards.grafana.sql import SqlQuery
from dashboards.grafana.wall import WallOptions
from ingest.errors import InvalidInput

PANELS = {"city-live": 10, "alerts": 4, "planning": 4, "pipeline": 7}


def _load_json(lang: str, stem: str) -> dict:
    return json.loads((PROVISIONED / lang / f"{stem}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", LANGS)
def test_committed_json_is_what_the_code_builds(lang):
    for name, content in render(WallOptions(lang=lang)).items():
        committed = PROVISIONED / lang / name
        assert committed.read_text(encoding="utf-8") == content, f"{committed} is stale: run `ioc dashboards build`"
    assert sorted(p.name for p in (PROVISIONED / lang).glob("*.json")) == sorted(render(WallOptions(lang=lang)))


@pytest.mark.parametrize("path", built_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_built_json_loads_back_into_the_sdk_models(path):
    model = load(path)
    original = json.loads(path.read_text(encoding="utf-8"))
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    # The SDK types an annotation's target as Grafana's own annotation filter, so a datasource
    # annotation's query does not survive its model; everything else must.
    for d in (original, again):
        for annotation in d.get("annotations", {}).get("list", []):
            annotation.pop("target", None)
    assert again == original
    sql_targets = [t for p in model.panels or [] for t in (getattr(p, "targets", None) or []) if isinstance(t, SqlQuery)]
    assert all(t.raw_sql for t in sql_targets)
    assert bool(sql_targets) == (path.stem != "pipeline")


def test_four_dashboards_in_each_language_with_their_panels():
    assert len(built_files()) == 8
    for lang in LANGS:
        for stem, count in PANELS.items():
            data = _load_json(lang, stem)
            assert len(data["panels"]) == count, (lang, stem)
            assert data["uid"] == f"ioc-{stem}-{lang}"
            assert data["timezone"] == "Asia/Ho_Chi_Minh"
            assert all(p["title"] for p in data["panels"])


@pytest.mark.parametrize("stem", sorted(PANELS))
def test_every_title_is_translated(stem):
    vi, en = _load_json("vi", stem), _load_json("en", stem)
    assert vi["title"] != en["title"]
    en_titles = {p["id"]: p["title"] for p in en["panels"]}
    for panel in vi["panels"]:
        assert panel["title"] != en_titles[panel["id"]], panel["title"]


def test_city_live_is_a_dark_wall_refreshed_every_ten_seconds():
    data = _load_json("vi", "city-live")
    assert (data["refresh"], data["style"], data["time"]["from"]) == ("10s", "dark", "now-1h")
    geomap = next(p for p in data["panels"] if p["type"] == "geomap")
    layer = geomap["options"]["layers"][0]
    assert layer["location"] == {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}
    assert layer["config"]["style"]["color"]["field"] == "state"


def test_alert_rows_link_to_the_alert_desk():
    data = _load_json("en", "alerts")
    table = next(p for p in data["panels"] if p["id"] == 1)
    links = table["fieldConfig"]["defaults"]["links"]
    assert [link["url"] for link in links] == ["${desk_url}/alerts/${__data.fields.alert_id}"]
    desk = next(v for v in data["templating"]["list"] if v["name"] == "desk_url")
    assert desk["query"] == "http://127.0.0.1:8088"


def test_build_command_writes_one_language_with_another_desk(tmp_path):
    result = CliRunner().invoke(app, ["build", "--out", str(tmp_path), "--lang", "en", "--desk-url", "https://desk.example"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "en").iterdir()) == ["alerts.json", "city-live.json", "pipeline.json", "planning.json"]
    assert not (tmp_path / "vi").exists()
    alerts = json.loads((tmp_path / "en" / "alerts.json").read_text())
    assert next(v for v in alerts["templating"]["list"] if v["name"] == "desk_url")["query"] == "https://desk.example"


def test_build_refuses_an_unknown_language(tmp_path):
    result = CliRunner().invoke(app, ["build", "--out", str(tmp_path), "--lang", "fr"])
    assert result.exit_code == InvalidInput.exit_code and "--lang must be one of vi, en" in result.output
    assert not any(tmp_path.iterdir())


PROVISIONING = PROVISIONED.parent


def _yaml(relative: str) -> dict:
    return yaml.safe_load((PROVISIONING / relative).read_text(encoding="utf-8"))


def test_datasources_have_the_uids_the_dashboards_use():
    timescaledb = _yaml("datasources/timescaledb.yaml")["datasources"][0]
    prometheus = _yaml("datasources/prometheus.yaml")["datasources"][0]
    assert (timescaledb["uid"], timescaledb["type"], prometheus["uid"]) == ("ioc-timescaledb", "grafana-postgresql-datasource", "ioc-prometheus")
    assert timescaledb["user"] == "ioc_grafana"  # the read-only role of migration 0030
    assert timescaledb["jsonData"]["timescaledb"] is True  # $__timeGroup becomes time_bucket, as tested
    used = {json.dumps(t["datasource"], sort_keys=True) for p in built_files()
            for panel in json.loads(p.read_text())["panels"] for t in panel.get("targets", [])}
    assert used == {json.dumps({"type": d["type"], "uid": d["uid"]}, sort_keys=True) for d in (timescaledb, prometheus)}


def test_dashboard_providers_point_at_the_committed_folders():
    providers = _yaml("dashboards/ioc.yaml")["providers"]
    mounted = "/etc/grafana/provisioning/"  # where deploy/compose mounts dashboards/grafana/provisioning
    for provider in providers:
        relative = provider["options"]["path"].removeprefix(mounted)
        assert sorted(p.name for p in (PROVISIONING / relative).glob("*.json")) == ["alerts.json", "city-live.json", "pipeline.json", "planning.json"]
    assert sorted(p["options"]["path"][-2:] for p in providers) == sorted(LANGS)


def test_alert_rules_notify_the_placeholder_contact_point():
    rules = _yaml("alerting/rules.yaml")["groups"][0]["rules"]
    assert {r["uid"] for r in rules} == {"ioc-camera-offline", "ioc-critical-alert-open"}
    for rule in rules:
        sql = next(d for d in rule["data"] if d["datasourceUid"] == "ioc-timescaledb")["model"]["rawSql"]
        assert "$__" not in sql.replace("$$__", "")  # a lone $ would be eaten by Grafana's env expansion
    contact = _yaml("alerting/contact-points.yaml")
    assert contact["policies"][0]["receiver"] == contact["contactPoints"][0]["name"]
    assert "placeholder" in contact["contactPoints"][0]["receivers"][0]["settings"]["url"]


def test_every_alert_rule_of_the_processors_has_a_name_in_both_languages():
    import re

    source = (Path(__file__).resolve().parents[1] / "processors" / "rules.py").read_text(encoding="utf-8")
    raised = set(re.findall(r'(?:raise_|clear)\([^,]+, "([a-z_]+)"', source))
    from processors.rules import HEALTH_RULES

    assert raised | set(HEALTH_RULES.values()) <= set(RULES)
    for rule in RULES:
        assert text(f"rule_{rule}", "vi") != text(f"rule_{rule}", "en")
