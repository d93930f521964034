"""The queue pages' numbers and sequences as data: poll parameters, list limits, the worker protocol's steps.

Each value is the docs' (a default, a range, a table row) or the suite's bound for a shared target, named so the
cases read as the pages do. Nothing here sends a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# States a poll must never deliver (work/schemas, Work states: only `queued` is "available to poll").
NOT_POLLABLE_STATES = ("starting", "active", "stopping", "stopped")

# Poll page, query parameters.
DEFAULT_RECLAIM_OLDER_THAN_MS = 5000
BLOCK_MS_RANGE = (1, 999)
# A window no case outlives: an item delivered moments ago must not come back under it.
RECLAIM_HOLD_MS = 60_000

# The suite's bounds on a shared target (other cases' and other workers' items may be queued too).
POLL_TRIES = 20  # polls to find the case's own item, or to see the queue without claimable items
REDELIVERY_TRIES = 8  # reclaim_older_than_ms=0 polls until the redelivery shows (a server may count in seconds)
REDELIVERY_PAUSE_S = 0.25
EMPTY_PROOF_POLLS = 2  # consecutive non-blocking polls answering null: nothing claimable at that moment

# block_ms: the long poll the case sends, and the margin over it (a noisy machine, a remote target).
BLOCK_MS = 500
BLOCK_MARGIN_S = 2.0
BLOCK_MARGIN_FACTOR = 3  # times a non-blocking poll's own time, added to the margin

# List page and conventions/pagination.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
OVER_CAP_LIMIT = 1000
PAGE_LIMIT = 2  # small pages, so a few own items span several
LIST_ITEMS = 6  # own items for the order, next_page and cursor cases
DEFAULT_LIMIT_ITEMS = DEFAULT_LIMIT + 1  # own items after the first: one more than a default page holds
PAGE_WALK_MAX = 12  # pages followed through next_page before the case stops walking

# Worker identities the cases send (Worker-ID is "a worker-chosen business identifier").
WORKER_A = "qoder-conformance-worker-a"
WORKER_B = "qoder-conformance-worker-b"
NO_HEARTBEAT = "NO_HEARTBEAT"


@dataclass(frozen=True)
class ProtocolStep:
    """One request of the worker protocol: what is sent, the state the item must be in afterwards, and the
    requirements each part of the answer rests on (the step's own endpoint's, so one broken rule fails one).

    `accepted`: the request is not refused (a 4xx answer fails it: e.g. the echo of `last_heartbeat` refused);
    `ok`: a success is 200 (any other non-4xx status fails it); `requirement`: the resulting state.
    `state` None: the docs leave the answer open (a heartbeat while stopping, api-reference §12.18); recorded under
    `requirement`.
    `echo`: the heartbeat sends the previous heartbeat's `last_heartbeat` as expected_last_heartbeat.
    """

    name: str
    endpoint: str
    state: str | None
    requirement: str
    accepted: str = ""
    ok: str = ""
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    echo: bool = False
    worker_id: bool = False


# After the poll: "acknowledges the item it will run, keeps the lease alive with heartbeats, and stops the item".
# The ack carries the Worker-ID the poll carried: that worker may acknowledge what it was delivered
# (POLL-WORKER-PROTOCOL). The ack page: "After ack, the first heartbeat usually uses expected_last_heartbeat=
# NO_HEARTBEAT." The stop page's drain: stop {} on a live item -> stopping, the worker drains, stop {} again.
WORKER_PROTOCOL: tuple[ProtocolStep, ...] = (
    ProtocolStep("ack", "ack", "starting", "ACK-TR-QUEUED", "POLL-WORKER-PROTOCOL", "ACK-RESP-OK", worker_id=True),
    ProtocolStep(
        "first-heartbeat",
        "heartbeat",
        "active",
        "HEARTBEAT-TR-FIRST",
        "HEARTBEAT-NO-HEARTBEAT",
        "HEARTBEAT-RESP-OK",
        params={"expected_last_heartbeat": NO_HEARTBEAT},
    ),
    ProtocolStep(
        "echo-heartbeat", "heartbeat", "active", "HEARTBEAT-TR-ACTIVE", "HEARTBEAT-ECHO", "HEARTBEAT-RESP-OK", echo=True
    ),
    ProtocolStep("graceful-stop", "stop", "stopping", "STOP-DRAIN", "STOP-RESP-OK", "STOP-RESP-OK", content=b"{}"),
    ProtocolStep("heartbeat-while-stopping", "heartbeat", None, "HEARTBEAT-OPEN-STOPPING", echo=True),
    ProtocolStep("confirm-stop", "stop", "stopped", "STOP-DRAIN", "STOP-RESP-OK", "STOP-RESP-OK", content=b"{}"),
)
