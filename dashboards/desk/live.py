"""Live pages: the database announces every change of an alert (trigger -> NOTIFY 'ioc_desk', at
commit), one LISTEN connection per desk process hears it, and each open page's event stream gets
the changes of the districts its user may see."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import psycopg

from dashboards.desk.store import Scope

log = logging.getLogger(__name__)
CHANNEL = "ioc_desk"


@dataclass(eq=False)
class Subscriber:
    scope: Scope
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=2000))


class LiveHub:
    def __init__(self, dsn: str, *, reconnect_s: float = 1.0) -> None:
        self._dsn = dsn
        self._reconnect_s = reconnect_s
        self._subscribers: set[Subscriber] = set()
        self.listening = asyncio.Event()

    def subscribe(self, scope: Scope) -> Subscriber:
        subscriber = Subscriber(scope)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, change: dict) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.scope.sees(change.get("district")):
                _offer(subscriber.queue, change)

    async def run(self) -> None:
        """Listen until cancelled; after a lost connection, reconnect and tell pages to resync."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if not self.listening.is_set():
                        self.listening.set()
                    else:
                        self._broadcast_resync()
                    async for notice in conn.notifies():
                        try:
                            change = json.loads(notice.payload)
                        except ValueError:
                            continue
                        self.publish(change)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any loss of the connection: wait and listen again
                log.warning("live updates: lost the database connection (%s); reconnecting", exc)
                await asyncio.sleep(self._reconnect_s)

    def _broadcast_resync(self) -> None:
        for subscriber in list(self._subscribers):
            _offer(subscriber.queue, {"resync": True})


def _offer(queue: asyncio.Queue, item: dict) -> None:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        # A page that stopped reading: drop what it missed and make it reload its state.
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait({"resync": True})
