"""Upload the wall's dashboards to a running Grafana with grafana-client (the maintained successor
of the ``grafana-api`` package): one folder, each dashboard overwritten by uid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import SecretStr

from dashboards.grafana.build import render
from dashboards.grafana.labels import Lang
from dashboards.grafana.wall import WallOptions
from ingest.errors import IocError, ServiceUnavailable

FOLDER_UID = "ioc"


class PublishFailed(IocError):
    """Grafana refused a dashboard or the folder (wrong token, missing rights, invalid JSON)."""


@dataclass(frozen=True, kw_only=True)
class PublishSettings:
    url: str
    token: SecretStr
    folder: str = "IOC"
    timeout_s: float = 10.0


def publish(settings: PublishSettings, langs: tuple[Lang, ...], *, desk_url: str | None = None) -> Iterator[tuple[str, str]]:
    """Create the folder if missing and upload every dashboard; yields (uid, Grafana's URL of it)."""
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException
    from niquests.exceptions import RequestException  # grafana-client's HTTP library

    api = GrafanaApi.from_url(settings.url, credential=settings.token.get_secret_value(), timeout=settings.timeout_s)
    try:
        try:
            api.folder.get_folder(FOLDER_UID)
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            api.folder.create_folder(settings.folder, uid=FOLDER_UID)
        for lang in langs:
            options = WallOptions(lang=lang) if desk_url is None else WallOptions(lang=lang, desk_url=desk_url)
            for content in render(options).values():
                dashboard = json.loads(content)
                answer = api.dashboard.update_dashboard({"dashboard": dashboard, "folderUid": FOLDER_UID, "overwrite": True,
                                                         "message": "ioc dashboards publish"})
                yield dashboard["uid"], settings.url.rstrip("/") + str(answer.get("url", ""))
    except GrafanaClientError as exc:
        raise PublishFailed(f"Grafana at {settings.url} refused the upload ({exc.status_code}): {exc.message}") from exc
    except GrafanaException as exc:
        raise ServiceUnavailable(f"cannot reach Grafana at {settings.url}: {exc.message}") from exc
    except RequestException as exc:
        raise ServiceUnavailable(f"cannot reach Grafana at {settings.url}: {type(exc).__name__}") from exc
