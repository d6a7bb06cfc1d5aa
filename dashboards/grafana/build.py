"""Build the wall's dashboards to JSON files, and read built JSON back into the SDK's models.

The built files are committed under provisioning/dashboards/<lang>/, where Grafana's dashboard
provider (provisioning/dashboards/ioc.yaml) loads them: a deployment needs no build step.
"""

from __future__ import annotations

import json
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
