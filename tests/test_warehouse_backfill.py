"""Synthetic history: plausible by construction, written through EventWriter, idempotent; and the
`ioc db` commands that drive it."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from camera_agents.config import load_cameras
from ingest import contract as c
from ingest.db import DbSettings, connect
from ingest.warehouse import synthetic
from ingest.warehouse.backfill import BackfillPlan, backfill, plan_events
from ingest.warehouse.cli import app
from ioc.cli import app as ioc_app

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _week(profile: synthetic.CameraProfile, monday: date, seed: int = 1) -> list[synthetic.DayOfTraffic]:
    return [synthetic.simulate_day(profile, date.fromordinal(monday.toordinal() + k), tz=VN, seed=seed) for k in range(7)]


def test_the_model_has_a_citys_rhythm() -> None:
    profile = next(p for p in synthetic.camera_profiles(20, seed=2) if not p.beach)
    days = _week(profile, date(2026, 10, 12))  # an ordinary week
    weekday = sum(d.counts.sum(axis=(1, 2)) for d in days[:5]) / 5
    by_hour = weekday.reshape(24, 4).sum(axis=1)
    assert by_hour.argmax() in (7, 17) and by_hour[7] > 10 * by_hour[3]  # rush hours over the night
    assert by_hour[3] < 0.02 * by_hour.sum()
    mix = sum(d.counts.sum(axis=(0, 1)) for d in days)
    assert mix[synthetic.CLASSES.index("motorbike")] / mix.sum() > 0.6
    morning = sum(d.counts[28:36].sum(axis=(0, 2)) for d in days[:5])  # 07:00-09:00, in vs out
    assert morning[0] > morning[1], "towards the centre in the morning"
    speeds = days[0].speed_mean
    assert np.all(days[0].speed_p85[days[0].counts > 0] > speeds[days[0].counts > 0])
    tet = synthetic.simulate_day(profile, date(2026, 2, 18), tz=VN, seed=1).counts.sum()
    assert tet < 0.6 * weekday.sum(), "Tết empties the city"


def test_coarser_windows_keep_volumes_and_speed_moments() -> None:
    day = synthetic.simulate_day(synthetic.camera_profiles(1)[0], date(2026, 10, 14), tz=VN, seed=4)
    hourly = synthetic.coarsen(day, 3600)
    assert hourly.counts.shape == (24, 2, 5) and hourly.counts.sum() == day.counts.sum()
    assert hourly.slot_starts[1] == day.slot_starts[4]
    n = day.counts[28:32, 0, 0]
    assert hourly.speed_mean[7, 0, 0] == pytest.approx((n * day.speed_mean[28:32, 0, 0]).sum() / n.sum(), abs=0.06)
    with pytest.raises(ValueError, match="multiple of 900"):
        synthetic.coarsen(day, 1000)


def test_backfill_through_the_writer_is_idempotent(db: DbSettings) -> None:
    plan = BackfillPlan(cameras=3, days=2, end=date(2026, 10, 20), seed=6)
    events = [e for batch in plan_events(plan) for e in batch]
    kinds = Counter(type(e) for e in events)
    expected_windows = kinds[c.CountWindow]
    assert expected_windows > 3 * 2 * 96 * 5  # most slots x directions x classes are non-empty

    first = backfill(db, plan, workers=2)
    assert first.rows == expected_windows + kinds[c.TrackIncident] + 3
    with connect(db) as conn:
        windows, volume = conn.execute("SELECT count(*), sum(count) FROM count_windows").fetchone()
        names = conn.execute("SELECT camera_id, name, lat IS NOT NULL FROM cameras ORDER BY 1").fetchall()
        days = conn.execute(
            "SELECT DISTINCT (ts AT TIME ZONE 'Asia/Ho_Chi_Minh')::date FROM count_windows ORDER BY 1").fetchall()
    assert windows == expected_windows
    assert volume == sum(e.count for e in events if isinstance(e, c.CountWindow))
    assert [n[0] for n in names] == ["bf-001", "bf-002", "bf-003"] and all(n[2] for n in names)
    assert [d[0] for d in days] == [date(2026, 10, 18), date(2026, 10, 19)]

    backfill(db, plan, workers=1)  # the same plan again: rewrites, never duplicates
    with connect(db) as conn:
        assert conn.execute("SELECT count(*), sum(count) FROM count_windows").fetchone() == (windows, volume)


def test_backfill_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one camera"):
        BackfillPlan(cameras=0, days=3)
    with pytest.raises(ValueError, match="choose 900, 1800 or 3600"):
        BackfillPlan(cameras=1, days=1, window_s=60)


def test_db_commands_backfill_maintain_and_status(db: DbSettings) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["backfill", "--camera-count", "2", "--days", "2", "--end", "2026-10-10", "--window", "3600",
                                 "--dsn", db.conninfo])
    assert result.exit_code == 0, result.output
    assert "rollups (own) refreshed" in result.output
    with connect(db) as conn:
        assert conn.execute("SELECT DISTINCT window_s FROM count_windows").fetchall() == [(3600,)]
        daily = conn.execute("SELECT sum(volume) FROM traffic_daily").fetchone()[0]
        assert daily == conn.execute("SELECT sum(count) FROM count_windows").fetchone()[0]

    result = runner.invoke(app, ["maintain", "--every", "0.05", "--runs", "2", "--dsn", db.conninfo])
    assert result.exit_code == 0, result.output
    assert result.output.count("rollups (own) refreshed") == 2

    result = runner.invoke(app, ["status", "--dsn", db.conninfo])
    assert result.exit_code == 0, result.output
    assert "timescaledb.license: apache" in result.output and "rollup mode: own" in result.output
    assert "traffic_daily: 2 cameras" in result.output

    result = runner.invoke(app, ["maintain", "--dsn", db.conninfo], env={"IOC_RETENTION": "crossings=soon"})
    assert result.exit_code == 2 and "'soon' is not a duration" in result.output


def test_sync_cameras_from_the_configs(db: DbSettings, tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[1] / "camera_agents" / "examples"
    result = CliRunner().invoke(ioc_app, ["db", "sync-cameras", "--config-dir", str(examples), "--dsn", db.conninfo])
    assert result.exit_code == 0, result.output
    configs = {config.camera_id: config for config in load_cameras(examples)}
    with connect(db) as conn:
        rows = conn.execute("SELECT camera_id, name, kind, jsonb_array_length(lines) FROM cameras ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == sorted(configs)
    for camera_id, name, kind, lines in rows:
        assert (name, kind, lines) == (configs[camera_id].name, configs[camera_id].kind, len(configs[camera_id].lines))

    (tmp_path / "broken.yaml").write_text("camera_id: x\nkind: lorry\n", encoding="utf-8")
    result = CliRunner().invoke(ioc_app, ["db", "sync-cameras", "--config-dir", str(tmp_path), "--dsn", db.conninfo])
    assert result.exit_code == 2 and "broken.yaml" in result.output


def test_scheduled_maintenance_survives_a_database_outage(caplog: pytest.LogCaptureFixture) -> None:
    from ingest.warehouse.maintenance import maintain_every
    from ingest.warehouse.settings import WarehouseSettings

    naps: list[float] = []
    gone = DbSettings(dsn="postgresql://ioc@127.0.0.1:1/none", connect_timeout_s=1)
    failures = maintain_every(gone, WarehouseSettings(), every_s=30, count=3, sleep=naps.append)
    assert failures == 3 and len(naps) == 2 and all(0 < n <= 30 for n in naps)
    assert caplog.text.count("maintenance run failed, retrying in 30 s: cannot connect to the database") == 3
