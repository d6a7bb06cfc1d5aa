"""The live stream every open desk page listens to (``/events``, server-sent events): one
``alert`` event per change of an alert its user may see, fed by the live hub."""

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from dashboards.desk.access import Principal, api_user
from dashboards.desk.context import desk_of

router = APIRouter(include_in_schema=False)


@router.get("/events")


async def events(request: Request, principal: Annotated[Principal, Depends(api_user)]) -> StreamingResponse:
    """Server-sent events: one ``alert`` event per change of an alert the user may see."""
    desk = desk_of(request)
    subscriber = desk.hub.subscribe(principal.scope)

    async def stream():
        try:
            yield "retry: 1000\n\n"
            until = asyncio.get_running_loop().time() + 600  # reconnect now and then: re-authenticated
            while asyncio.get_running_loop().time() < until:
                try:
                    change = await asyncio.wait_for(subscriber.queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                change.pop("district", None)
                yield f"event: alert\ndata: {json.dumps(change)}\n\n"
        finally:
            desk.hub.unsubscribe(subscriber)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store",
                                                                                "X-Accel-Buffering": "no"})
