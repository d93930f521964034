"""Everything the emulator remembers: identities, sessions, work items, the poll queue and its bookkeeping.

One lock guards every read-modify-write, so each operation on an item is atomic (linearizable): of two
concurrent graceful stops on an active item exactly one sees `active` and answers `stopping`. The lock is never
held across an await; the HTTP layer only calls these synchronous methods.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from qoder_emulator import machine
from qoder_emulator.config import EmulatorConfig, Environment, Principal
from qoder_emulator.dialects import Dialect
from qoder_emulator.errors import (  # noqa: F401  (re-exported: store.Forbidden etc.)
    AccessError,
    AgentNotFound,
    EnvironmentNotFound,
    Forbidden,
    NotSelfHosted,
    Unauthenticated,
    WorkItemNotFound,
)
from qoder_emulator.machine import QUEUED, HeartbeatOutcome, WorkItem
from qoder_emulator.rules import (
    ACCEPT,
    CRASH,
    ENVIRONMENT_CHECKS,
    FIRST_PRINCIPAL,
    ITEM_LOOKUP,
    TOKEN_RULES,
    AccessOutcome,
    Refuse,
    Rules,
)

# Stats' "recent redelivery window" (pending vs claimable now): the poll page's reclaim_older_than_ms default. One
# window for the whole queue, not each delivery's own: an item a reclaim_older_than_ms=0 poll took moments ago is
# pending, as a default poll sees it (the page does not say which window; api-reference §5.8).
PENDING_WINDOW_MS = 5000
WORKERS_POLLING_WINDOW = timedelta(seconds=30)  # SDK docstrings: workers that polled "in the last 30 seconds"


@dataclass
class Delivery:
    """One poll's hand-over of a queued item; kept after ack so retried acks can check the Worker-ID."""

    delivered_at: datetime
    worker_id: str | None
    reclaim_older_than_ms: int


@dataclass(frozen=True)
class Session:
    id: str
    agent_id: str
    environment_id: str
    created_at: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)


def find_item(
    items: Mapping[str, WorkItem],
    environment_id: str,
    work_id: str,
    lookup: Mapping[str, AccessOutcome] = ITEM_LOOKUP,
) -> WorkItem | None:
    """An item is only visible through its own environment's path (`lookup`: rules.ITEM_LOOKUP)."""
    item = items.get(work_id)
    case = "unknown" if item is None else "other-environment" if item.environment_id != environment_id else None
    if case is None:
        return item
    outcome = lookup[case]
    if isinstance(outcome, Refuse):
        raise outcome.kind(outcome.message)
    if outcome == CRASH:
        raise KeyError(work_id)
    return item if outcome == ACCEPT else None


def save_item(items: MutableMapping[str, WorkItem], new_item: WorkItem) -> None:
    items[new_item.id] = new_item


def authenticate(
    config: EmulatorConfig, token: str | None, token_rules: Mapping[str, AccessOutcome] = TOKEN_RULES
) -> Principal:
    """The principal a PAT belongs to; what a missing, unknown or expired token gets is `token_rules`."""
    owner = config.token_owner(token) if token else None
    if owner is not None and not owner[1]:
        return owner[0]
    outcome = token_rules["missing" if not token else "unknown" if owner is None else "expired"]
    if isinstance(outcome, Refuse):
        raise outcome.kind(outcome.message)
    if outcome == ACCEPT and owner is not None:
        return owner[0]
    if outcome == FIRST_PRINCIPAL:
        return config.principals[0]
    raise ValueError(f"token rule {outcome!r} cannot apply here")


def environment_for(
    config: EmulatorConfig,
    principal: Principal,
    environment_id: str,
    *,
    self_hosted: bool = True,
    checks: Mapping[str, Refuse | None] = ENVIRONMENT_CHECKS,
) -> Environment:
    """The environment in the path: it exists (else 404), is the caller's (else 403), is self_hosted (else 400)."""
    environment = config.environment(environment_id)
    failed = {
        "missing": environment is None,
        "foreign": environment is not None and environment.owner != principal.name,
        "not-self-hosted": self_hosted and environment is not None and not environment.self_hosted,
    }
    for check, refuse in checks.items():
        if failed[check] and refuse is not None:
            raise refuse.kind(refuse.message)
    if environment is None:
        raise ValueError("the environment checks must refuse a missing environment")
    return environment


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class IdFactory:
    """prefix + 32 lowercase hex, time-ordered so that ascending ID order is creation order (list page)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            candidate = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
            self._last = max(candidate, self._last + 1)
            return f"{prefix}{self._last:032x}"


class Store:
    def __init__(
        self,
        config: EmulatorConfig,
        *,
        dialect: Dialect | None = None,
        overrides: Rules | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self.dialect = dialect or Dialect()
        self.rules = overrides or Rules()  # the conforming rules, or those a fault changed (faults.py)
        self._clock = clock
        self._lock = threading.RLock()
        self._ids = IdFactory()
        self._items: dict[str, WorkItem] = {}
        self._sessions: dict[str, Session] = {}
        self._queues: dict[str, dict[str, None]] = {}  # environment -> queued work ids, FIFO (id order)
        self._deliveries: dict[str, Delivery] = {}
        self._pollers: dict[str, dict[str, datetime]] = {}  # environment -> Worker-ID -> last poll

    # ------------------------------------------------------------------------------------------ time, identity

    def now(self) -> datetime:
        moment = self._clock()
        if self.dialect.timestamp_precision == "seconds":
            moment = moment.replace(microsecond=0)
        return moment

    def authenticate(self, token: str | None) -> Principal:
        return authenticate(self.config, token, self.rules.token_rules)

    def environment_for(
        self, principal: Principal, environment_id: str, *, self_hosted: bool = True, endpoint: str | None = None
    ) -> Environment:
        checks = self.rules.environment_checks_of(endpoint)
        return environment_for(self.config, principal, environment_id, self_hosted=self_hosted, checks=checks)

    # ------------------------------------------------------------------------------------------ creation

    def _enqueue(self, item: WorkItem) -> None:
        self._items[item.id] = item
        if item.state == QUEUED:
            self._queues.setdefault(item.environment_id, {})[item.id] = None

    def create_session(
        self, environment: Environment, agent_id: str, metadata: Mapping[str, str]
    ) -> tuple[Session, WorkItem | None]:
        """A session; in a self_hosted environment it also enqueues its work item (work schemas page)."""
        if agent_id not in {agent.id for agent in self.config.agents}:
            raise AgentNotFound("Agent not found")
        with self._lock:
            now = self.now()
            session = Session(self._ids.new("sess_"), agent_id, environment.id, now, dict(metadata))
            self._sessions[session.id] = session
            item = None
            if environment.self_hosted:
                item = machine.build_item(
                    QUEUED,
                    work_id=self._ids.new("work_"),
                    environment_id=environment.id,
                    session_id=session.id,
                    now=now,
                    metadata=metadata,
                )
                self._enqueue(item)
            return session, item

    def provision(self, environment: Environment, state: str, metadata: Mapping[str, str]) -> WorkItem:
        """A new item directly in `state` (the hook); never goes through ack/heartbeat/stop."""
        with self._lock:
            now = self.now()
            agent_id = self.config.agents[0].id if self.config.agents else ""
            session = Session(self._ids.new("sess_"), agent_id, environment.id, now, dict(metadata))
            self._sessions[session.id] = session
            item = machine.build_item(
                state,
                work_id=self._ids.new("work_"),
                environment_id=environment.id,
                session_id=session.id,
                now=now,
                metadata=metadata,
            )
            self._enqueue(item)
            return item

    # ------------------------------------------------------------------------------------------ reads

    def _lookup(self, environment_id: str, work_id: str) -> WorkItem:
        item = find_item(self._items, environment_id, work_id, self.rules.item_lookup)
        if item is None:
            raise WorkItemNotFound("Environment or work item not found")
        return item

    def get(self, environment_id: str, work_id: str) -> WorkItem:
        with self._lock:
            return self.rules.read_item(machine.get(self._lookup(environment_id, work_id)), self.now())

    def items_of(self, environment_id: str) -> list[WorkItem]:
        """Every item of the environment, any state, ascending ID order."""
        with self._lock:
            return sorted((i for i in self._items.values() if i.environment_id == environment_id), key=lambda i: i.id)

    # ------------------------------------------------------------------------------------------ queue

    def _is_pending(self, work_id: str, now: datetime, window_ms: int | None = None) -> bool:
        delivery = self._deliveries.get(work_id)
        if delivery is None:
            return False
        window = timedelta(milliseconds=delivery.reclaim_older_than_ms if window_ms is None else window_ms)
        elapsed = now - delivery.delivered_at
        return elapsed <= window if self.dialect.reclaim_boundary == "more-than" else elapsed < window

    def poll(self, environment_id: str, *, worker_id: str | None, reclaim_older_than_ms: int) -> WorkItem | None:
        """The oldest claimable item (never delivered, or delivered at least reclaim ms ago), or None.

        What is claimable, whether delivering also acknowledges and whether a delivery is ever redelivered are the
        rules' `poll_rules` (rules.POLL_RULES: queued items only, no ack, redelivery after the window).
        """
        rules = self.rules.poll_rules
        with self._lock:
            now = self.now()
            if worker_id:
                self._pollers.setdefault(environment_id, {})[worker_id] = now
            for work_id in self._pollable(environment_id, rules["pollable_states"]):
                if rules["redelivery"] == "never" and work_id in self._deliveries:
                    continue
                if not self._is_pending(work_id, now, reclaim_older_than_ms):
                    self._deliveries[work_id] = Delivery(now, worker_id, reclaim_older_than_ms)
                    delivered = self._items[work_id]
                    if rules["acknowledges"] and delivered.state == QUEUED:
                        save_item(self._items, machine.ack(delivered, now=now))
                        self._sync_queue(work_id)
                    return delivered
            return None

    def _pollable(self, environment_id: str, states: tuple[str, ...]) -> list[str]:
        """IDs of the environment's items a poll may deliver, in the dialect's order: the queue, unless a fault widened
        it."""
        if tuple(states) == (QUEUED,):
            ids = list(self._queues.get(environment_id, {}))
        else:
            mine = (i for i in self._items.values() if i.environment_id == environment_id and i.state in states)
            ids = [item.id for item in sorted(mine, key=lambda i: i.id)]
        return ids[::-1] if self.dialect.poll_order == "newest-first" else ids

    def stats(self, environment_id: str) -> dict[str, object]:
        with self._lock:
            now = self.now()
            queued = [self._items[w] for w in self._queues.get(environment_id, {})]
            pending = sum(1 for item in queued if self._is_pending(item.id, now, PENDING_WINDOW_MS))
            recent = [w for w, t in self._pollers.get(environment_id, {}).items() if now - t <= WORKERS_POLLING_WINDOW]
            oldest = min((item.created_at for item in queued), default=None)
            rules = self.rules.stats_rules
            counter = str if rules["counters_as"] == "str" else int
            return {
                "type": "work_queue_stats",
                "depth": counter(len(queued) - (0 if rules["depth_counts_pending"] else pending)),
                "pending": counter(pending),
                "oldest_queued_at": None if oldest is None else machine.format_timestamp(oldest),
                "workers_polling": counter(len(recent)),
            }

    # ------------------------------------------------------------------------------------------ item operations

    def _sync_queue(self, work_id: str) -> None:
        stored = self._items[work_id]
        if stored.state != QUEUED:
            self._queues.get(stored.environment_id, {}).pop(work_id, None)

    def ack(self, environment_id: str, work_id: str, *, worker_id: str | None) -> WorkItem:
        with self._lock:
            item = self._lookup(environment_id, work_id)
            delivery = self._deliveries.get(item.id)
            delivered_to = delivery.worker_id if delivery else None
            both = bool(worker_id and delivered_to) and item.state not in (machine.STOPPING, machine.STOPPED)
            rule = self.rules.worker_id_rules["same" if worker_id == delivered_to else "different"]
            if both and rule != ACCEPT:  # rules.WORKER_ID_RULES: the poll page's Worker-ID rule
                raise machine.Conflict("Work item was claimed by another worker")
            new = machine.ack(
                item,
                now=self.now(),
                retry_acknowledged_at=self.dialect.ack_retry_acknowledged_at,
                cells=self.rules.ack_cells,
            )
            save_item(self._items, new)
            self._sync_queue(new.id)
            return new

    def heartbeat(
        self, environment_id: str, work_id: str, *, expected_last_heartbeat: str | None, desired_ttl_seconds: int | None
    ) -> tuple[WorkItem, HeartbeatOutcome]:
        with self._lock:
            item = self._lookup(environment_id, work_id)
            new, outcome = machine.heartbeat(
                item,
                now=self.now(),
                expected_last_heartbeat=expected_last_heartbeat,
                desired_ttl_seconds=desired_ttl_seconds,
                on_stopping=self.dialect.heartbeat_on_stopping,
                default_ttl=int(self.dialect.heartbeat_default_ttl),
                compare=self.dialect.heartbeat_echo,
                render=self.rules.timestamp,
                cells=self.rules.heartbeat_cells,
                lease_checks=self.rules.lease_checks,
                ttl_range=self.rules.ttl_range,
            )
            save_item(self._items, new)
            self._sync_queue(new.id)
            return new, outcome

    def stop(self, environment_id: str, work_id: str, *, force: bool) -> WorkItem:
        with self._lock:
            item = self._lookup(environment_id, work_id)
            now = self.now()
            new = machine.stop(
                item,
                force=force,
                now=now,
                force_on_stopped=self.dialect.force_on_stopped,
                stop_requested_at=self.dialect.stop_requested_at,
                cells=self.rules.stop_cells,
            )
            new = self.rules.stop_result(item, new, now)
            if self.rules.persist_stop:
                save_item(self._items, new)
            self._sync_queue(new.id)
            return new

    def update_metadata(self, environment_id: str, work_id: str, patch: Mapping[str, str | None] | None) -> WorkItem:
        with self._lock:
            item = self._lookup(environment_id, work_id)
            new = machine.update_metadata(
                item, patch, merge=self.rules.metadata_merge, on_stopped=self.dialect.update_metadata_on_stopped
            )
            new = self.rules.update_result(item, new, self.now())
            if self.rules.persist_update:
                save_item(self._items, new)
            return new
