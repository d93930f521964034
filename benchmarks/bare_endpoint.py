"""The baseline for the stop-rate benchmark: the emulator's framework doing nothing but answering fixed JSON.

Served exactly as the emulator serves itself (a pre-bound TCP socket, the same uvicorn settings), so the ratio of
the two rates is the cost of the emulator's own work per request: routing, auth, parsing, the state machine,
the store, serialising the item.
"""

from __future__ import annotations

import contextlib

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qoder_emulator.launch import bind, origin

# A Work item of the same size as the emulator's answer to a graceful stop.
FIXED_ITEM = {
    "id": "work_019f3be4fd2475d9a784bf2c739e1194",
    "type": "work",
    "environment_id": "env_019e64e01a137caf953ac2ac7b42ec5c",
    "data": {"type": "session", "id": "sess_019f3be3fa66750bb9a1fbcde85b5fe1"},
    "state": "stopping",
    "created_at": "2026-07-01T08:15:01.000000Z",
    "acknowledged_at": "2026-07-01T08:15:04.000000Z",
    "started_at": "2026-07-01T08:15:06.000000Z",
    "latest_heartbeat_at": "2026-07-01T08:16:06.120394Z",
    "stop_requested_at": "2026-07-01T08:16:30.000000Z",
    "stopped_at": None,
    "metadata": {"suite": "bench"},
}


async def fixed(request: Request) -> Response:
    await request.body()
    return JSONResponse(FIXED_ITEM)


def main() -> None:
    app = Starlette(routes=[Route("/{path:path}", fixed, methods=["GET", "POST"])])
    sock = bind("127.0.0.1", 0)
    print(f"bare endpoint listening on {origin('127.0.0.1', sock.getsockname()[1])}", flush=True)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=5,
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
