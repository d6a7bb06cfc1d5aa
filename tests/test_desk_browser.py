"""The alert desk in a real browser (Debian's chromium through Playwright) on the real stack:
broker, processors, sink, TimescaleDB. An operator sees a new alert arrive without a reload,
acknowledges it with a note while a viewer watches the change live, and resolves it as a false
alarm; the viewer is refused; an alert nobody acknowledges escalates. Screenshots of the main
pages are kept under build/screenshots/."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ingest.bus import BusSettings, ensure_topics
from ingest.contract import AlertAction, CameraInfo, CountWindow, LineInfo, ZoneInfo, ZoneOccupancy
from ingest.db import connect
from processors.harness import produce, read_events, start_worker
from tests.deskutil import add_user, desk_server, sink_thread

pytestmark = pytest.mark.timeout(240)

SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
RULES = """
defaults:
  cooldown_s: 0
  offline: {enabled: false}
  flow: {enabled: false}
  incident: {enabled: false}
  escalation: {critical_s: 600, warning_s: 600}
cameras:
  cam-plaza:
    crowd: {max_occupancy: 10}
  cam-market:
    crowd: {max_occupancy: 10}
    escalation: {critical_s: 2}
"""
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]
LIVE_TIMEOUT_MS = 60_000  # from publishing upstream: worker start, processors, sink; the page itself is fast


def camera(camera_id: str, name: str) -> CameraInfo:
    return CameraInfo(camera_id=camera_id, ts=datetime.now(UTC), name=name, kind="security",
                      district="Vũng Tàu", lat=10.3461, lon=107.0843,
                      lines=(LineInfo(line_id="walkway", points=((0, 50), (100, 50)), name_in="vào quảng trường",
                                      name_out="ra bờ biển", name_in_en="into the square", name_out_en="to the beach"),),
                      zones=(ZoneInfo(zone_id="plaza", polygon=((0, 0), (100, 0), (100, 100))),))


def last_hour_of_counts(camera_id: str) -> list[CountWindow]:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=60)
    return [CountWindow(camera_id=camera_id, ts=start + timedelta(minutes=m), line_id="walkway", direction="in",
                        cls="person", count=12 + (m * 7) % 11 + (25 if m > 50 else 0)) for m in range(58)]


def crowd(camera_id: str, count: int) -> ZoneOccupancy:
    return ZoneOccupancy(camera_id=camera_id, ts=datetime.now(UTC), frame_no=1, zone_id="plaza", count=count)


@pytest.fixture(scope="module")
def live_desk(stack, module_db, tmp_path_factory):
    bus = BusSettings(bootstrap=stack.bootstrap, namespace=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(bus)
    tmp = tmp_path_factory.mktemp("desk")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    users = {"op": add_user(module_db, "op.lan", "operator"), "viewer": add_user(module_db, "viewer.hoa", "viewer")}
    produce(bus, [camera("cam-plaza", "Quảng trường Tượng đài Liệt sĩ"), camera("cam-market", "Chợ Xóm Lưới"),
                  *last_hour_of_counts("cam-plaza")])
    worker = start_worker(bus, log_path=tmp / "worker.log", state_dir=tmp / "state", rules=rules, timeout_s=230)
    try:
        with sink_thread(module_db, bus), desk_server(module_db, bus) as url:
            yield {"url": url, "bus": bus, "db": module_db, "users": users, "worker": worker}
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def logged_in(browser, desk, who: str):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="vi-VN")
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.goto(f"{desk['url']}/alerts")
    assert "/login" in page.url  # not signed in yet: sent to the login page
    user = desk["users"][who]
    page.fill("input[name=username]", user.name)
    page.fill("input[name=password]", user.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{desk['url']}/alerts")
    page.wait_for_selector("#live:not(.off)")
    page.evaluate("window.__notReloaded = true")
    return page


def not_reloaded(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_an_operator_handles_a_new_alert_live_while_a_viewer_watches(live_desk, browser):
    desk = live_desk
    operator, viewer = logged_in(browser, desk, "op"), logged_in(browser, desk, "viewer")
    shot(operator, "alerts-empty")

    produce(desk["bus"], [crowd("cam-plaza", 8), crowd("cam-plaza", 31)])  # 31 > 1.5 x 10: critical
    row = operator.wait_for_selector("tr[data-alert]", timeout=LIVE_TIMEOUT_MS)
    alert_id = row.get_attribute("data-alert")
    assert "Tụ tập đông người" in row.inner_text() and "31" in row.inner_text()  # Vietnamese by default
    viewer.wait_for_selector(f"#a-{alert_id}", timeout=10_000)
    assert not_reloaded(operator) and not_reloaded(viewer)
    shot(operator, "alerts")

    # The operator opens it and acknowledges it with a note.
    operator.click(f"#a-{alert_id} td.title a")
    operator.wait_for_url(f"{desk['url']}/alerts/{alert_id}")
    main = operator.inner_text("main")
    assert "Quảng trường Tượng đài Liệt sĩ" in main and "vào quảng trường (vào)" in main
    assert operator.inner_text("#comparison") == "Đo được 31, ngưỡng 10: gấp 3.1 lần"  # the numbers against the limit
    assert len(operator.query_selector_all("svg.chart rect")) == 58  # the last hour of 1-minute counts
    operator.evaluate("window.__notReloaded = true")
    operator.fill("#ack-form input[name=note]", "Đã cử tổ tuần tra 3 đến quảng trường")
    operator.click("#ack")
    operator.wait_for_selector("#state.acknowledged", timeout=15_000)
    # The viewer's list changes without a reload.
    viewer.wait_for_selector(f"#a-{alert_id} .badge.state.acknowledged", timeout=15_000)
    assert not_reloaded(viewer)

    with connect(desk["db"]) as conn:
        acked_by, = conn.execute("SELECT acknowledged_by FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
        stored = conn.execute("SELECT action, actor, note FROM alert_actions WHERE alert_id = %s", (alert_id,)).fetchall()
    assert acked_by == "op.lan"
    assert ("ack", "op.lan", "Đã cử tổ tuần tra 3 đến quảng trường") in stored
    on_topic = read_events(desk["bus"], desk["bus"].topics.alert_actions,
                           until=lambda evs: any(e.alert_id == alert_id for e in evs), timeout_s=20)
    assert any(isinstance(e, AlertAction) and e.action == "ack" and e.note.startswith("Đã cử") for e in on_topic)

    # It was a false alarm: the operator resolves it so.
    operator.select_option("#resolve-form select[name=resolution]", "false_alarm")
    operator.fill("#resolve-form input[name=note]", "Sự kiện văn nghệ có phép, không phải tụ tập")
    operator.click("#resolve")
    operator.wait_for_selector("#state.resolved", timeout=15_000)
    viewer.wait_for_selector(f"#a-{alert_id} .badge.state.resolved", timeout=15_000)
    assert "Báo động giả" in operator.inner_text("#history")
    shot(operator, "alert")
    with connect(desk["db"]) as conn:
        state, resolution, resolved_by = conn.execute(
            "SELECT state, resolution, resolved_by FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
    assert (state, resolution, resolved_by) == ("resolved", "false_alarm", "op.lan")

    # English, for the user who asks for it: labels and the alert's title.
    operator.click("header form[action='/lang'] button")
    operator.wait_for_selector("#state.resolved")
    assert "Crowd in plaza: 31 people (limit 10)" in operator.inner_text("h1")
    assert "into the square (in)" in operator.inner_text("main")
    shot(operator, "alert-en")
    # Nothing the pages do is blocked by their own Content-Security-Policy, and no script failed.
    assert operator.console_errors == [] and viewer.console_errors == []


def test_a_viewer_cannot_acknowledge_in_the_page_or_at_the_api(live_desk, browser):
    desk = live_desk
    # The crowd leaves (an operator resolved the last episode: it stayed quiet until now) and
    # comes back: a new episode.
    produce(desk["bus"], [crowd("cam-plaza", 2), crowd("cam-plaza", 40)])
    viewer = logged_in(browser, desk, "viewer")
    row = viewer.wait_for_selector("tr[data-alert].st-open", timeout=LIVE_TIMEOUT_MS)
    alert_id = row.get_attribute("data-alert")
    viewer.goto(f"{desk['url']}/alerts/{alert_id}")
    assert viewer.query_selector("#ack") is None and viewer.query_selector("#resolve") is None  # no buttons
    csrf = viewer.get_attribute("header form[action='/logout'] input[name=csrf]", "value")
    forged = viewer.context.request.post(f"{desk['url']}/alerts/{alert_id}/ack", form={"csrf": csrf, "note": "x"},
                                         max_redirects=0)
    assert forged.status == 403
    api = httpx.post(f"{desk['url']}/api/alerts/{alert_id}/ack", json={"note": ""},
                     headers={"Authorization": f"Bearer {desk['users']['viewer'].token}"})
    assert api.status_code == 403
    with connect(desk["db"]) as conn:
        assert conn.execute("SELECT count(*) FROM alert_actions WHERE alert_id = %s", (alert_id,)).fetchone()[0] == 0


def test_an_alert_nobody_acknowledges_escalates_with_a_visible_mark(live_desk, browser):
    desk = live_desk
    viewer = logged_in(browser, desk, "viewer")
    produce(desk["bus"], [crowd("cam-market", 25)])
    row = viewer.wait_for_selector("tr[data-alert].escalated", timeout=LIVE_TIMEOUT_MS)
    assert "Chợ Xóm Lưới" in row.inner_text() and row.query_selector(".badge.escalated") is not None
    assert not_reloaded(viewer)
    with connect(desk["db"]) as conn:
        escalated = conn.execute("SELECT count(*) FROM alert_events WHERE camera_id = 'cam-market' "
                                 "AND escalated_at IS NOT NULL").fetchone()[0]
    assert escalated >= 1  # the escalation is an event in the alert's history, not only a mark
