"""Live alert desk: from an alert row reaching TimescaleDB to it showing on open desk pages.

Target (the alert desk): under 2 s, worst case. Two browser pages (Debian's chromium through
Playwright) show the alert list; alerts are written through the sink's own writer, one at a time,
and each page stamps the moment the row lands in its DOM (Date.now(), the same clock). The clock
starts just BEFORE the writing transaction commits, so the figure errs on the long side. The
path measured: commit -> trigger NOTIFY -> the desk's LISTEN -> server-sent event -> the page
fetches the row -> DOM.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime

from bench.common import figure, fresh_bus, local_stack, scratch_database
from ingest import contract as c
from ingest.db import DbSettings, connect
from ingest.writer import EventWriter

ALERTS = 40
PAGES = 2
SPACING_S = 0.25
TARGET_S = 2.0


def _alert(i: int) -> c.Alert:
    now = datetime.now(UTC)
    return c.Alert(camera_id="cam-bench", ts=now, alert_id=f"bench-{i:04d}", group_key=f"cam-bench:crowd{i}", rule="crowd",
                   severity="critical", state="open", opened_at=now, title="crowd",
                   details={"zone_id": "plaza", "count": 30 + i, "limit": 20})


def _user(db: DbSettings) -> tuple[str, str]:
    from dashboards.desk.security import hash_password

    with connect(db) as conn:
        conn.execute("INSERT INTO desk_users (name, role, password_hash) VALUES ('bench', 'viewer', %s)",
                     (hash_password("bench-password"),))
    return "bench", "bench-password"


def main() -> None:
    from playwright.sync_api import sync_playwright

    from dashboards.desk.server import desk_in_thread
    from dashboards.desk.settings import DeskSettings

    stack = local_stack()
    with fresh_bus(stack) as bus, scratch_database(stack, prefix="ioc_bench_desk") as db, \
            desk_in_thread(DeskSettings(db=db, bus=bus)) as url, sync_playwright() as p:
        name, password = _user(db)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"])
        pages = []
        for _ in range(PAGES):
            page = browser.new_context().new_page()
            page.goto(f"{url}/login")
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_selector("#live:not(.off)")
            pages.append(page)
        latencies: list[float] = []
        load_before = os.getloadavg()[0]
        cpu_before = time.process_time()
        with connect(db) as conn:
            writer = EventWriter(conn)
            for i in range(ALERTS):
                alert = _alert(i)
                with conn.transaction():
                    writer.write([alert])
                    committed_at = time.time()  # just before the commit: conservative
                for page in pages:
                    row = page.wait_for_selector(f"#a-{alert.alert_id}", timeout=10_000)
                    latencies.append(int(row.get_attribute("data-arrived")) / 1000 - committed_at)
                time.sleep(SPACING_S)
        cpu = time.process_time() - cpu_before
        browser.close()
    latencies.sort()
    print(f"{ALERTS} alerts x {PAGES} open pages; 1-min load average {load_before:.1f} on {os.cpu_count()} cores "
          f"(shared machine); this process used {cpu:.1f} s CPU (desk server + benchmark driver)")
    figure("live latency, median", statistics.median(latencies), "s")
    figure("live latency, p95", latencies[int(0.95 * (len(latencies) - 1))], "s")
    figure("live latency, worst", latencies[-1], "s", f"< {TARGET_S:.0f} s")
    print(f"worst case {'within' if latencies[-1] < TARGET_S else 'OVER'} the {TARGET_S:.0f} s target", flush=True)
