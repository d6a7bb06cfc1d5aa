"""The pipeline-health dashboard on real stages and Debian's Prometheus.

A camera agent (synthetic traffic, real time), the processors with two workers and the sink with
two workers run through the `ioc` command against the local broker and a test database, each
serving /metrics on loopback ports (worker i on PORT+i). Prometheus scrapes them every second
with a scrape config written here. Then every PromQL query of the built pipeline dashboards runs
through Prometheus' HTTP API, expanded as Grafana expands it, and must return data.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from dashboards.grafana.build import built_files
from dashboards.grafana.macros import format_interval, rate_interval
from ingest.bus import BusSettings, ensure_topics
from ingest.db import DbSettings, temporary_database
from tests.busutil import produce_raw

ROOT = Path(__file__).resolve().parents[1]
CAMERA = ROOT / "camera_agents" / "examples" / "synthetic_traffic.yaml"
SCRAPE = timedelta(seconds=1)
PANEL_INTERVAL = timedelta(seconds=15)
RUN_S = 150  # the stages' own bound; the module tears them down as soon as its tests are done


def _free_ports(count: int) -> int:
    """A port P with P .. P+count-1 free on loopback."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            held = []
            for port in range(base, base + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError("no free loopback ports")


def _ioc(*args: str) -> list[str]:
    return [sys.executable, "-c", "from ioc.cli import main; main()", *args]


@dataclass(frozen=True)
class Pipeline:
    prometheus: str  # base URL
    targets: dict[str, list[int]]  # job -> ports

    def query(self, expr: str, *, range_s: int = 30) -> list[dict]:
        end = time.time()
        params = urllib.parse.urlencode({"query": expr, "start": end - range_s, "end": end, "step": "1"})
        with urllib.request.urlopen(f"{self.prometheus}/api/v1/query_range?{params}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]["result"]


def _wait(pipeline: Pipeline, expr: str, *, timeout: float, procs: list[subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pipeline.query(expr, range_s=5):
                return
        except OSError:
            pass  # Prometheus still starting
        dead = [p.args for p in procs if p.poll() is not None and p.returncode != 0]
        assert not dead, f"a stage failed: {dead}\n" + "\n".join(f.read_text()[-2000:] for f in logs.glob("*.log"))
        time.sleep(1)
    tails = "\n".join(f"--- {f.name}\n{f.read_text()[-1500:]}" for f in sorted(logs.glob("*.log")))
    pytest.fail(f"no data for {expr} after {timeout:.0f} s\n{tails}")


@pytest.fixture(scope="module")
def pipeline(stack, tmp_path_factory) -> Iterator[Pipeline]:
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package is not installed (deploy/bootstrap.sh test installs it)"
    work = tmp_path_factory.mktemp("pipeline")
    logs = work / "logs"
    logs.mkdir()
    bus = BusSettings(bootstrap=stack.bootstrap, namespace=f"t{os.urandom(5).hex()}")
    ensure_topics(bus)
    common = ["--bootstrap", bus.bootstrap, "--namespace", bus.namespace]
    agent, processors, sink, web = _free_ports(1), _free_ports(2), _free_ports(2), _free_ports(1)
    targets = {"ioc-agents": [agent], "ioc-processors": [processors, processors + 1], "ioc-sink": [sink, sink + 1]}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IOC_STATE_DIR": str(work / "state")}
    with temporary_database(DbSettings(dsn=stack.dsn), prefix="ioc_test") as db:
        commands = {
            "agent": _ioc("agent", "run", "--config", str(CAMERA), "--sink", "kafka", *common, "--spool-dir", str(work / "spool"),
                          "--realtime", "--timeout", str(RUN_S), "--no-progress", "--metrics-port", str(agent)),
            "processors": _ioc("processors", "run", "--workers", "2", *common, "--state-dir", str(work / "processors"),
                               "--timeout", str(RUN_S), "--log-level", "WARNING", "--metrics-port", str(processors)),
            "sink": _ioc("ingest", "run", "--workers", "2", *common, "--dsn", db.conninfo, "--timeout", str(RUN_S),
                         "--metrics-port", str(sink)),
        }
        config = {"global": {"scrape_interval": f"{SCRAPE.seconds}s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}]}
                                     for job, ports in targets.items()]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        commands["prometheus"] = [prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
                                  f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"]
        procs = [subprocess.Popen(cmd, env=env, stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT,
                                  start_new_session=True) for name, cmd in commands.items()]
        try:
            result = Pipeline(prometheus=f"http://127.0.0.1:{web}", targets=targets)
            _wait(result, 'sum(up{job=~"ioc-.*"}) == 5', timeout=120, procs=procs, logs=logs)
            # Records no stage can decode, under keys spread over every partition (so over both
            # workers of each stage): the sink and the processors dead-letter them.
            for i in range(32):
                produce_raw(bus, bus.topics.crossings, [b"not an event"], key=f"garbage-{i}".encode())
            for expr in ("sum(ioc_sink_written_rows_total) > 0",
                         "sum(ioc_processors_events_in_total) > 0", "sum(ioc_sink_dead_lettered_total) > 0",
                         "sum(ioc_processors_dead_lettered_total) > 0", "sum(ioc_processors_lag) >= 0"):
                _wait(result, expr, timeout=120, procs=procs, logs=logs)
            time.sleep(4 * SCRAPE.seconds)  # rate() over the panels' window needs a few scrapes
            yield result
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _promql_targets() -> list[tuple[str, str, str]]:
    found = []
    for path in built_files():
        for panel in json.loads(path.read_text(encoding="utf-8")).get("panels", []):
            for target in panel.get("targets", []):
                if "expr" in target:
                    found.append((f"{path.parent.name}/{path.stem}/panel:{panel['id']}/{target['refId']}", panel["title"], target["expr"]))
    return found


PROMQL = _promql_targets()


def test_every_pipeline_panel_query_is_discovered():
    # per language: stages up 1, events 3, lag 2, batch time 1, dead letters 2, fps 1, spool 1
    assert len(PROMQL) == 2 * 11
    assert all("pipeline" in key for key, _, _ in PROMQL)


def _expand(expr: str) -> str:
    return (expr.replace("$__rate_interval", format_interval(rate_interval(PANEL_INTERVAL, SCRAPE)))
                .replace("$__interval", format_interval(PANEL_INTERVAL)))


@pytest.mark.parametrize("key, title, expr", PROMQL, ids=[k for k, _, _ in PROMQL])
def test_pipeline_panel_query_returns_data(key, title, expr, pipeline: Pipeline):
    series = pipeline.query(_expand(expr))
    assert series, f"{key} ({title}): no data for {_expand(expr)}"
    assert all(s["values"] for s in series)


@pytest.mark.parametrize("job, workers", [
    ("ioc-processors", 2),  # --workers 2: two /metrics endpoints, both scraped
    ("ioc-sink", 2),
    ("ioc-agents", 1),
])
def test_every_worker_is_scraped(job, workers, pipeline: Pipeline):
    up = pipeline.query(f'up{{job="{job}"}}', range_s=5)
    assert len(up) == workers
    assert all(s["values"][-1][1] == "1" for s in up)


@pytest.mark.parametrize("metric", ["ioc_sink_consumed_total", "ioc_processors_events_in_total"])
def test_each_worker_counts_its_own_share(metric, pipeline: Pipeline):
    by_worker = pipeline.query(f"sum by (instance) ({metric}) > 0", range_s=5)
    assert len(by_worker) == 2  # both workers consumed some partitions; the dashboard sums them


def test_agent_reports_fps_and_events_per_camera(pipeline: Pipeline):
    fps = pipeline.query('ioc_agent_fps{camera="synthetic-traffic-1"}', range_s=10)
    assert fps and max(float(v) for _, v in fps[0]["values"]) > 1
    kinds = {s["metric"]["type"] for s in pipeline.query("ioc_agent_events_total", range_s=5)}
    assert "FrameEvent" in kinds or "LineCrossing" in kinds
