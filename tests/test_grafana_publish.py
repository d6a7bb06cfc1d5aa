"""`ioc dashboards publish` through grafana-client against a local HTTP server that answers the
three Grafana HTTP API calls it makes (Grafana itself has no Debian package to run here): the
folder is created when missing, every dashboard is posted with overwrite, a refused token is one
clear error."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from dashboards.grafana.publish import FOLDER_UID, PublishFailed, PublishSettings, publish
from ingest.errors import ServiceUnavailable


class _Grafana(BaseHTTPRequestHandler):
    token = "good-token"
    folders: set[str]
    posted: list[dict]

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._reply(401, {"message": "invalid API key"})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        if not self._authorised():
            return
        uid = self.path.removeprefix("/api/folders/")
        if uid in self.server.folders:  # type: ignore[attr-defined]
            self._reply(200, {"uid": uid})
        else:
            self._reply(404, {"message": "folder not found"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/folders":
            self.server.folders.add(body["uid"])  # type: ignore[attr-defined]
            self._reply(200, {"uid": body["uid"], "title": body["title"]})
        elif self.path == "/api/dashboards/db":
            self.server.posted.append(body)  # type: ignore[attr-defined]
            uid = body["dashboard"]["uid"]
            self._reply(200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x"})
        else:
            self._reply(404, {"message": "not found"})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def grafana():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Grafana)
    server.folders, server.posted = set(), []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _settings(server, token: str = "good-token") -> PublishSettings:
    return PublishSettings(url=f"http://127.0.0.1:{server.server_port}", token=SecretStr(token))


def test_publish_creates_the_folder_and_overwrites_every_dashboard(grafana):
    published = list(publish(_settings(grafana), ("vi", "en"), desk_url="https://desk.example"))
    assert grafana.folders == {FOLDER_UID}
    assert sorted(uid for uid, _ in published) == sorted(
        f"ioc-{stem}-{lang}" for stem in ("city-live", "alerts", "planning", "pipeline") for lang in ("vi", "en"))
    assert all(url.startswith(f"http://127.0.0.1:{grafana.server_port}/d/") for _, url in published)
    assert all(p["overwrite"] and p["folderUid"] == FOLDER_UID for p in grafana.posted)
    alerts = next(p["dashboard"] for p in grafana.posted if p["dashboard"]["uid"] == "ioc-alerts-en")
    assert next(v for v in alerts["templating"]["list"] if v["name"] == "desk_url")["query"] == "https://desk.example"


def test_a_refused_token_is_one_clear_error(grafana):
    with pytest.raises(PublishFailed, match="refused the upload \\(401\\)"):
        list(publish(_settings(grafana, token="wrong"), ("en",)))
    assert grafana.posted == []


def test_an_unreachable_grafana_is_a_service_error(grafana):
    settings = _settings(grafana)
    grafana.shutdown()
    grafana.server_close()
    with pytest.raises(ServiceUnavailable, match="cannot reach Grafana"):
        list(publish(settings, ("en",)))
