"""An alert as the desk shows it: its row and history from the store turned into what the API
returns and the pages render (title in the reader's language, desk state, one history line per
step, action and undelivered action)."""

from dashboards.desk import i18n, store
from dashboards.desk.access import DeskError, Principal
from dashboards.desk.context import Desk
from dashboards.desk.store import desk_state
from ingest.contract import decode


def alert_out(row: dict, lang: str) -> dict:
    lines = row["camera_lines"] or []
    return {
        "alert_id": row["alert_id"], "camera_id": row["camera_id"], "camera_name": row["camera_name"],
        "district": row["district"], "rule": row["rule"], "severity": row["severity"], "state": desk_state(row),
        "escalated": row["escalated_at"] is not None and desk_state(row) == "open",
        "title": i18n.alert_title(row["rule"], row["details"], row["title"], lang, lines),
        "opened_at": row["opened_at"], "updated_at": row["updated_at"], "updates": row["steps"],
        "acknowledged_by": row["acknowledged_by"], "acknowledged_at": row["acknowledged_at"],
        "resolved_by": row["resolved_by"], "resolution": row["resolution"],
        "undelivered_actions": row["undelivered"], "details": row["details"], "url": f"/alerts/{row['alert_id']}",
    }


def history_items(hist: dict[str, list[dict]]) -> list[dict]:
    items: list[dict] = []
    previous: dict | None = None
    for step in hist["steps"]:
        if previous is None or step["state"] == "open" and previous["state"] == "resolved":
            what = "step_open"
        elif step["state"] == "resolved":
            what = "step_resolved"
        elif step["escalated_at"] and not (previous and previous["escalated_at"]):
            what = "step_escalated"
        elif step["acknowledged_by"] and not (previous and previous["acknowledged_by"]):
            what = "step_ack"
        else:
            what = "step_update"
        items.append({"at": step["ts"], "kind": "step", "what": what,
                      "actor": _step_actor(step, what),
                      "note": "", "resolution": step["resolution"] if what == "step_resolved" else None,
                      "severity": step["severity"]})
        previous = step
    for action in hist["actions"]:
        items.append({"at": action["ts"], "kind": "action", "what": action["action"], "actor": action["actor"],
                      "note": action["note"], "resolution": action["resolution"], "silence_until": action["silence_until"]})
    for pending in hist["pending"]:
        try:
            note = decode(bytes(pending["payload"])).note  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - an unreadable payload still shows as undelivered
            note = ""
        items.append({"at": pending["created_at"], "kind": "undelivered", "what": pending["action"],
                      "actor": pending["actor"], "note": note, "error": pending["last_error"],
                      "attempts": pending["attempts"]})
    return sorted(items, key=lambda i: i["at"], reverse=True)


async def load_alert(desk: Desk, principal: Principal, alert_id: str) -> tuple[dict, dict[str, list[dict]]]:
    async with desk.pool.connection() as conn:
        row = await store.get_alert(conn, principal.scope, alert_id)
        if row is None:
            raise DeskError(404, f"no alert {alert_id}")
        return row, await store.history(conn, alert_id)

# -- JSON API --------------------------------------------------------------------------


def _step_actor(step: dict, what: str) -> str | None:
    return {"step_ack": step["acknowledged_by"], "step_resolved": step["resolved_by"]}.get(what)
