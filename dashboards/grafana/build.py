"""Build the wall's dashboards to JSON files, and read built JSON back into the SDK's models.

The built files are committed under provisioning/dashboards/<lang>/, where Grafana's dashboard
provider (provisioning/dashboards/ioc.yaml) loads them: a deployment needs no build step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.grafana import sql
from dashboards.grafana.labels import LANGS, Lang
from dashboards.grafana.wall import WallOptions, build_all

PROVISIONED = Path(__file__).resolve().parent / "provisioning" / "dashboards"


def render(options: WallOptions) -> dict[str, str]:
    """Every dashboard as JSON text, by file name."""
    return {
        f"{stem}.json": json.dumps(builder.build(), cls=JSONEncoder, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        for stem, builder in build_all(options).items()
    }


def write(out: Path, langs: tuple[Lang, ...] = LANGS, *, desk_url: str | None = None) -> list[Path]:
    """Write every dashboard of each language to ``out/<lang>/<name>.json``; returns the files."""
    written = []
    for lang in langs:
        options = WallOptions(lang=lang) if desk_url is None else WallOptions(lang=lang, desk_url=desk_url)
        folder = out / lang
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in render(options).items():
            path = folder / name
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def load(path: Path) -> Dashboard:
    """A built dashboard file as the SDK's typed model (PostgreSQL targets as SqlQuery)."""
    register_default_plugins()
    sql.register()
    return Dashboard.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True, kw_only=True)
class SqlTarget:
    """One SQL query of a built dashboard: a panel's target, a variable's options or an annotation."""

    dashboard: str  # file stem, e.g. "city-live"
    lang: str
    kind: str  # "panel", "variable" or "annotation"
    key: str  # panel id, variable name or annotation name
    ref_id: str
    panel_type: str
    title: str
    raw_sql: str
    format: str
    #: the panel's own relative range ("1h"), which replaces the dashboard's
    time_from: str | None = None

    @property
    def id(self) -> str:
        return f"{self.lang}/{self.dashboard}/{self.kind}:{self.key}/{self.ref_id}"


def sql_targets(path: Path) -> list[SqlTarget]:
    """Every SQL query in a built dashboard file, as Grafana would run it (before expansion)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lang, stem = path.parent.name, path.stem
    found = []
    for panel in data.get("panels", []):
        for target in panel.get("targets", []):
            if "rawSql" in target:
                found.append(SqlTarget(dashboard=stem, lang=lang, kind="panel", key=str(panel["id"]), ref_id=target["refId"],
                                       panel_type=panel["type"], title=panel.get("title", ""), raw_sql=target["rawSql"],
                                       format=target.get("format", "table"), time_from=panel.get("timeFrom")))
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") == "query" and isinstance(variable.get("query"), str):
            found.append(SqlTarget(dashboard=stem, lang=lang, kind="variable", key=variable["name"], ref_id="var",
                                   panel_type="variable", title=variable.get("label", ""), raw_sql=variable["query"], format="table"))
    for index, annotation in enumerate(data.get("annotations", {}).get("list", [])):
        target = annotation.get("target") or {}
        if "rawSql" in target:
            found.append(SqlTarget(dashboard=stem, lang=lang, kind="annotation", key=str(index), ref_id=target["refId"],
                                   panel_type="annotation", title=annotation["name"], raw_sql=target["rawSql"], format="table"))
    return found


def built_files(root: Path = PROVISIONED) -> list[Path]:
    return sorted(root.glob("*/*.json"))
