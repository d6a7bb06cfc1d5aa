"""What the sink refuses although it decodes: events whose time cannot be right, and events from
cameras the registry does not know. Pure: the sink passes its clock and the registry it loaded.

* **Far future / far past.** An event's ``ts`` is event time, set by the agent's clock. An event
  more than ``max_future`` ahead of the sink's clock (a camera whose clock was set wrong, a
  corrupted field) or more than ``max_past`` behind it (a device that lost its clock and reports
  1970, a replay of something long gone) is refused: stored, it would sit in partitions and
  rollups nobody looks at, or shift counts into a minute that has not happened. The defaults
  (5 minutes ahead, 366 days behind) allow an agent's clock drift and an island camera replaying
  a long outage's spool, and refuse a device that lost its clock; set them in the sink's
  settings (``IOC_SINK_MAX_FUTURE_S``, ``IOC_SINK_MAX_PAST_S``).
* **Unknown camera.** A camera is known when the registry (the ``cameras`` table, which
  ``ioc db sync-cameras`` fills from the camera configs, and every ``camera_info`` event updates)
  has its id. With ``IOC_SINK_REGISTERED_CAMERAS_ONLY=true`` an event of any other camera is
  refused; a ``camera_info`` event is what registers a camera, so it always passes, and it
  registers its camera for the events after it. Off by default: agents announce themselves with
  ``camera_info`` on another topic than their crossings, so on a deployment that does not sync
  the registry first, a new camera's first events could overtake its announcement.

A refused event goes to the dead-letter topic with the reason, like an undecodable one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ingest import contract as c


@dataclass(kw_only=True)
class Screen:
    """The checks of one batch, at one reading of the clock."""

    now: datetime
    max_past: timedelta
    max_future: timedelta
    #: camera ids the registry knows; None: any camera is accepted
    known_cameras: set[str] | None = None
    _earliest: datetime = field(init=False)
    _latest: datetime = field(init=False)

    def __post_init__(self) -> None:
        self._earliest = self.now - self.max_past
        self._latest = self.now + self.max_future

    def register(self, events: Iterable[c.Event]) -> None:
        """Cameras announced by ``camera_info`` events are known from now on (in a new set: the
        one given may be shared with another thread)."""
        if self.known_cameras is not None:
            announced = {e.camera_id for e in events if type(e) is c.CameraInfo}
            if not announced <= self.known_cameras:
                self.known_cameras = self.known_cameras | announced

    def reason(self, event: c.Event) -> str | None:
        """Why the sink refuses ``event``, in one line; None when it accepts it."""
        ts = event.ts
        if ts > self._latest:
            return (f"event time {ts.isoformat()} is {(ts - self.now).total_seconds():.0f} s ahead of the sink's clock "
                    f"(limit {self.max_future.total_seconds():.0f} s): the camera's clock is wrong")
        if ts < self._earliest:
            return (f"event time {ts.isoformat()} is {(self.now - ts).total_seconds() / 86400:.1f} days behind the sink's "
                    f"clock (limit {self.max_past.total_seconds() / 86400:.1f} days)")
        known = self.known_cameras
        if known is not None and event.camera_id not in known and type(event) is not c.CameraInfo:
            return f"unknown camera {event.camera_id!r}: not in the registry (ioc db sync-cameras registers it)"
        return None
