"""The README's demo command, run for real (briefly) on its own topic namespace and database."""

from __future__ import annotations

import uuid

from rich.console import Console

from deploy.local.demo import DemoSettings, run_demo
from tests.deskutil import free_port


def test_the_demo_city_fills_timescaledb_from_every_stage(stack, db, tmp_path):
    settings = DemoSettings(
        bootstrap=stack.bootstrap,
        dsn=db.conninfo,
        state_dir=tmp_path,
        namespace=f"demo{uuid.uuid4().hex[:8]}",
        duration_s=100,
        traffic_cameras=1,
        metrics_port=0,
        desk_port=free_port(),
    )
    with open(tmp_path / "screen.txt", "w") as screen:
        counts = run_demo(settings, console=Console(file=screen, width=240))
    # Every camera registered itself, and each stage's output reached the database.
    assert counts["cameras"] >= 2  # one traffic camera and the crowd (and vtest.avi when installed)
    assert counts["crossings"] > 20
    assert counts["heartbeats"] > 0 and counts["frame_events"] > 0
    assert counts["count_windows"] > 0  # written by the processors, through the sink
    screen = (tmp_path / "screen.txt").read_text()
    assert "vt-traffic-01" in screen
    assert f"alert desk: http://127.0.0.1:{settings.desk_port}/" in screen and "demo.operator / " in screen
