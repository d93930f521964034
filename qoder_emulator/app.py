"""The HTTP layer: routes, authentication, input parsing, and the mapping of outcomes to status codes.

No state rule lives here: each handler authenticates, resolves the environment, parses its input (inputs.py) and
calls one store method. Every failure becomes the documented error envelope with `Content-Type: application/json`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from qoder_emulator import inputs, machine, rendering, rules, store
from qoder_emulator.config import Environment, Principal
from qoder_emulator.inputs import MAX_BODY_BYTES, InvalidInput, bearer_token  # noqa: F401  (app.bearer_token)
from qoder_emulator.machine import STATES, WorkItem

API_PREFIX = "/api/v1/cloud"
HOOK_PATH = "/_emulator/hook"
DEFAULT_RECLAIM_OLDER_THAN_MS = 5000
_LONG_POLL_TICK_SECONDS = 0.01
log = logging.getLogger("qoder_emulator")

ERROR_STATUS = rules.ERROR_STATUS  # exception class -> (HTTP status, error.type)


def error_status(error: Exception) -> tuple[int, str]:
    """The documented (HTTP status, error.type) of a failure raised by a handler."""
    return rules.Rules().status_of(error)


def error_response(
    status: int, error_type: str, message: str, param: str | None = None, *, rules_in_force: rules.Rules | None = None
) -> Response:
    """The documented error envelope (as `rules_in_force` may reshape it) with Content-Type application/json."""
    in_force = rules_in_force or rules.Rules()
    error: dict[str, str] = {"type": error_type, "message": message}
    if param is not None:
        error["param"] = param
    response = JSONResponse(in_force.error_envelope({"type": "error", "error": error}), status_code=status)
    if in_force.error_media_type is None:
        del response.headers["content-type"]
    elif in_force.error_media_type != JSONResponse.media_type:
        response.headers["content-type"] = in_force.error_media_type
    return response


class LatencyMiddleware:
    """Adds a fixed delay to every response without blocking the event loop."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.seconds > 0:
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(
    handler: Handler,
    *,
    status_of: Callable[[Exception], tuple[int, str]] = error_status,
    render: Callable[..., Response] = error_response,
) -> Handler:
    """Maps every failure of a handler to the error envelope; nothing escapes as a 500 with a stack trace."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except tuple(ERROR_STATUS) as error:
            status, error_type = status_of(error)
            return render(status, error_type, error.message, getattr(error, "param", None))  # type: ignore[attr-defined]
        except Exception:  # an emulator bug (or a fault): say so in the documented envelope
            log.exception("internal error in %s %s", request.method, request.url.path)
            return render(500, "api_error", "Internal server error")

    run.__name__ = handler.__name__
    return run


async def read_body(request: Request) -> bytes:
    """The raw body, refusing (after draining, so the client can read the answer) anything over 32 MB."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > 2 * MAX_BODY_BYTES:
            break  # stop draining a runaway upload; the connection will be closed
    if size > MAX_BODY_BYTES:
        raise InvalidInput("Request body exceeds the 32 MB limit")
    return b"".join(chunks)


class WorkApi:
    """The handlers, bound to one store."""

    def __init__(self, work_store: store.Store, overrides: rules.Rules) -> None:
        self.store = work_store
        self.dialect = work_store.dialect
        self.rules = overrides  # the conforming rules, or those a fault changed (faults.py)

    # ---------------------------------------------------------------------------------------------- helpers

    def _error(self, status: int, error_type: str, message: str, param: str | None = None) -> Response:
        return error_response(status, error_type, message, param, rules_in_force=self.rules)

    def principal(self, request: Request) -> Principal:
        token = self.rules.bearer_token(request.headers)
        if token is None and "x-api-key" in request.headers:
            raise store.Unauthenticated("x-api-key is not supported; use Authorization: Bearer <PAT>")
        return self.store.authenticate(token)

    def environment(self, request: Request, *, self_hosted: bool = True, endpoint: str | None = None) -> Environment:
        """Authentication first, then the environment in the path (as `endpoint` checks it)."""
        principal = self.principal(request)
        environment_id = request.path_params["environment_id"]
        return self.store.environment_for(principal, environment_id, self_hosted=self_hosted, endpoint=endpoint)

    async def json_body(self, request: Request) -> Any:
        return self.rules.parse_json_body(await read_body(request), request.headers.get("content-type"), self.dialect)

    def item_json(self, item: WorkItem) -> dict[str, Any]:
        body = machine.to_json(item, timestamp=self.rules.timestamp)
        if self.dialect.extra_response_fields == "on":
            body["secret"] = None
        return body

    def not_acceptable(self, request: Request, endpoint: str) -> Response | None:
        """The conforming server serves `Accept: application/json` (what the SDKs send) everywhere; only a fault
        (rules.refuse_json_accept) answers it 406."""
        accept = request.headers.get("accept", "")
        if endpoint in self.rules.refuse_json_accept and accept.startswith("application/json"):
            return self._error(406, "invalid_request_error", "Not acceptable: this route serves */*")
        return None

    @staticmethod
    def worker_id(request: Request) -> str | None:
        return request.headers.get("worker-id") or None

    # ---------------------------------------------------------------------------------------------- work routes

    async def list_work(self, request: Request) -> Response:
        """One page of the environment's items (the rules' `list_rules`: rules.LIST_RULES)."""
        environment = self.environment(request, endpoint="list")
        rules = self.rules.list_rules
        query = request.query_params
        limit = self.rules.query_integer(query, "list", "limit")
        if limit is not None and limit > rules["max_limit"] and rules["over_max"] == "reject":
            raise InvalidInput(f"limit must be at most {rules['max_limit']}", param="limit")
        limit = min(limit or rules["default_limit"], rules["max_limit"])
        cursors = {name: query[name] for name in ("page", "before_id", "after_id") if query.get(name)}
        if len([name for name in cursors if name in self.rules.exclusive_cursors]) > 1:
            raise InvalidInput("More than one of page, before_id, and after_id was provided")
        items = self.store.items_of(environment.id)
        inclusive = rules["cursor_inclusive"]
        if "before_id" in cursors:
            earlier = [i for i in items if i.id < cursors["before_id"] or (inclusive and i.id == cursors["before_id"])]
            page, has_more = earlier[-limit:], len(earlier) > limit
        else:
            after = cursors.get("after_id") or cursors.get("page")
            later = [i for i in items if after is None or i.id > after]
            page, has_more = later[:limit], len(later) > limit
        if rules["order"] == "descending":
            page = page[::-1]
        first_id = page[0].id if page else None
        last_id = page[-1].id if page else None
        envelope = {
            "data": [self.item_json(i) for i in page],
            "first_id": first_id,
            "last_id": last_id,
            "has_more": has_more,
            "next_page": last_id if has_more and rules["next_page"] == "last_id" else None,
        }
        return JSONResponse({name: envelope[name] for name in rules["fields"]})

    async def poll(self, request: Request) -> Response:
        environment = self.environment(request, endpoint="poll")
        query = request.query_params
        block_ms = self.rules.query_integer(query, "poll", "block_ms")
        reclaim = self.rules.query_integer(query, "poll", "reclaim_older_than_ms")
        reclaim = DEFAULT_RECLAIM_OLDER_THAN_MS if reclaim is None else reclaim
        worker_id = self.worker_id(request)
        answer = self.rules.poll_answer  # rules.POLL_ANSWER
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (block_ms or 0) * answer["wait_per_block_ms"]
        while True:
            item = self.store.poll(environment.id, worker_id=worker_id, reclaim_older_than_ms=reclaim)
            remaining = deadline - loop.time()
            if item is not None or remaining <= 0:
                break
            await asyncio.sleep(min(_LONG_POLL_TICK_SECONDS, remaining))
        if item is None:
            return JSONResponse(None) if answer["empty_status"] == 200 else Response(status_code=answer["empty_status"])
        body = self.item_json(item)
        return JSONResponse({answer["wrap"]: body} if answer["wrap"] else body)

    async def stats(self, request: Request) -> Response:
        environment = self.environment(request, endpoint="stats")
        response = JSONResponse(self.store.stats(environment.id))
        response.headers["content-type"] = self.rules.stats_rules["media_type"]  # rules.STATS_RULES
        return response

    async def get_work(self, request: Request) -> Response:
        environment = self.environment(request, endpoint="get")
        refused = self.not_acceptable(request, "get")
        if refused is not None:
            return refused
        return self.rules.get_response(self.item_json(self.store.get(environment.id, request.path_params["work_id"])))

    async def update_metadata(self, request: Request) -> Response:
        environment = self.environment(request, endpoint="update_metadata")
        body = inputs.body_object(await self.json_body(request), self.dialect, allowed=("metadata",))
        patch = self.rules.metadata_patch(body)
        item = self.store.update_metadata(environment.id, request.path_params["work_id"], patch)
        return JSONResponse(self.item_json(item), status_code=self.rules.update_status)

    async def ack(self, request: Request) -> Response:
        """No body is documented; whatever is sent (the SDK sends {}) is ignored."""
        environment = self.environment(request, endpoint="ack")
        refused = self.not_acceptable(request, "ack")
        if refused is not None:
            return refused
        item = self.store.ack(environment.id, request.path_params["work_id"], worker_id=self.worker_id(request))
        return JSONResponse(self.item_json(item))

    async def heartbeat(self, request: Request) -> Response:
        """Parameters are query parameters; a body, if any, is ignored."""
        environment = self.environment(request, endpoint="heartbeat")
        query = request.query_params
        ttl = self.rules.query_integer(query, "heartbeat", "desired_ttl_seconds")
        expected = self.rules.expected_heartbeat(query)
        if self.dialect.heartbeat_echo == "exact":
            expected = rendering.stored_echo(expected, self.dialect)
        item, outcome = self.store.heartbeat(
            environment.id, request.path_params["work_id"], expected_last_heartbeat=expected, desired_ttl_seconds=ttl
        )
        heartbeat = machine.heartbeat_to_json(outcome, timestamp=self.rules.timestamp)
        return self.rules.heartbeat_response(self.rules.heartbeat_body(heartbeat, self.item_json(item)))

    async def stop(self, request: Request) -> Response:
        environment = self.environment(request)
        body = inputs.body_object(await self.json_body(request), self.dialect, allowed=("force",))
        force = self.rules.stop_force(body, self.dialect)
        item = await self.rules.stop_item(self.store, environment.id, request.path_params["work_id"], force=force)
        return self.rules.stop_response(self.item_json(item))

    # ---------------------------------------------------------------------------------------------- sessions, hook

    async def create_session(self, request: Request) -> Response:
        """POST /sessions: the documented way a work item comes to exist (api-reference §2)."""
        principal = self.principal(request)
        body = await self.json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("Request body must be a JSON object")
        agent = body.get("agent")
        agent_id = agent.get("id") if isinstance(agent, dict) else agent
        if not isinstance(agent_id, str) or not agent_id:
            raise InvalidInput("Missing required field: agent", param="agent")
        environment_id = body.get("environment_id")
        if not isinstance(environment_id, str) or not environment_id:
            raise InvalidInput("Missing required field: environment_id", param="environment_id")
        metadata = inputs.string_metadata(body.get("metadata"))
        environment = self.store.environment_for(principal, environment_id, self_hosted=False)
        session, _ = self.store.create_session(environment, agent_id, metadata)
        stamp = machine.format_timestamp(session.created_at)
        return JSONResponse(
            {
                "id": session.id,
                "type": "session",
                "agent": {"type": "agent", "id": session.agent_id, "version": 1},
                "environment_id": session.environment_id,
                "title": body.get("title") if isinstance(body.get("title"), str) else None,
                "metadata": dict(session.metadata),
                "status": "idle",
                "created_at": stamp,
                "updated_at": stamp,
                "archived_at": None,
            },
            status_code=201,
        )

    async def hook(self, request: Request) -> Response:
        """The provider-state hook of interface.md: a NEW item in the requested state."""
        principal = self.principal(request)
        body = await self.json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("Request body must be a JSON object")
        state = body.get("state")
        if state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}", param="state")
        environment_id = body.get("environment_id")
        if not isinstance(environment_id, str) or not environment_id:
            raise InvalidInput("Missing required field: environment_id", param="environment_id")
        metadata = inputs.string_metadata(body.get("metadata"))
        environment = self.store.environment_for(principal, environment_id)
        return JSONResponse(self.item_json(self.store.provision(environment, state, metadata)), status_code=201)

    # ---------------------------------------------------------------------------------------------- routing

    def routes(self) -> list[Route]:
        work = API_PREFIX + "/environments/{environment_id}/work"
        item = work + "/{work_id}"
        literal: list[tuple[str, str, Handler]] = [
            (work + "/poll", "GET", self.poll),  # literal segments before /work/{work_id}
            (work + "/stats", "GET", self.stats),
        ]
        # A route the rules shadow comes after /work/{work_id}, which then answers it (rules.Rules.shadowed_routes).
        shadowed = [route for route in literal if route[0].rsplit("/", 1)[1] in self.rules.shadowed_routes]
        literal = [route for route in literal if route not in shadowed]
        table: list[tuple[str, str, Handler]] = [
            (work, "GET", self.list_work),
            *literal,
            (item, "GET", self.get_work),
            *shadowed,
            (item, "POST", self.update_metadata),
            (item + "/ack", "POST", self.ack),
            (item + "/heartbeat", "POST", self.heartbeat),
            (item + "/stop", "POST", self.stop),
            (API_PREFIX + "/sessions", "POST", self.create_session),
            (HOOK_PATH, "POST", self.hook),
        ]
        return [
            Route(path, _endpoint(handler, status_of=self.rules.status_of, render=self._error), methods=[method])
            for path, method, handler in table
        ]


async def _http_error(request: Request, error: Exception) -> Response:
    status = getattr(error, "status_code", 500)
    if status == 404:
        return error_response(404, "not_found_error", "Not found")
    if status == 405:
        return error_response(405, "invalid_request_error", f"Method {request.method} not allowed")
    return error_response(status, "invalid_request_error" if status < 500 else "api_error", str(error))


def build_app(work_store: store.Store, *, overrides: rules.Rules | None = None, latency_ms: int = 0) -> ASGIApp:
    api = WorkApi(work_store, overrides or work_store.rules)
    app = Starlette(routes=api.routes(), exception_handlers={HTTPException: _http_error})
    app.router.redirect_slashes = False  # a redirect would be a response without the JSON envelope
    app.state.store = work_store
    served: ASGIApp = (
        rendering.DialectMiddleware(app, work_store.dialect) if rendering.rewrites(work_store.dialect) else app
    )
    return LatencyMiddleware(served, latency_ms / 1000) if latency_ms > 0 else served
