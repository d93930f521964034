"""The worker protocol end to end, Worker-ID on ack, and two workers acking one item at once.

A worker "polls for queued Session work, acknowledges the item it will run, keeps the lease alive with heartbeats,
and stops the item when the work is complete or must be aborted" (work/schemas). Each case drives its own item
through that protocol on a shared queue: it finds its item by ID among whatever the polls deliver and touches
nothing else.
"""

from __future__ import annotations

import pytest

from conformance import queue_tables
from conformance.checks import MISSING, field_value
from conformance.expectations import body_of, expect_error, expect_item_answer
from conformance.queue_polling import find_own, queue_environment, release, require_own, worker_headers
from conformance.tables import ErrorRow
from conformance.test_stop_concurrency import _all_at_once

CONVENTIONS = ("CONV-ITEM-SCHEMA", "CONV-JSON", "CONV-TS-UTC")
JSON = {"Content-Type": "application/json"}
WORKER_ID_CONFLICT = ErrorRow(409, "invalid_request_error", "If poll stored a different Worker-ID, ack returns 409")


PROTOCOL_REQUIREMENTS = sorted(
    {rid for step in queue_tables.WORKER_PROTOCOL for rid in (step.requirement, step.accepted, step.ok) if rid}
)


@pytest.mark.req(*PROTOCOL_REQUIREMENTS, "POLL-RESP-OK", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_poll_ack_heartbeats_and_drain(settings, provision, api, check) -> None:
    """poll (until the own item) -> ack (Worker-ID) -> heartbeat NO_HEARTBEAT -> heartbeat echo -> stop {} ->
    heartbeat while stopping (recorded) -> stop {}: every answer judged under its own step's requirements, then the
    item read back. The first step that is not answered 200 ends the protocol: what follows would only repeat it."""
    environment = queue_environment(settings)
    item = provision("queued", environment_id=environment)
    try:
        if require_own(find_own(api, check, environment, item["id"], worker_id=queue_tables.WORKER_A)) is None:
            return
        last_heartbeat = None
        for step in queue_tables.WORKER_PROTOCOL:
            params = dict(step.params)
            if step.echo and isinstance(last_heartbeat, str):
                params["expected_last_heartbeat"] = last_heartbeat
            response = api.call(
                step.endpoint,
                environment,
                item["id"],
                content=step.content,
                headers={
                    **(JSON if step.content is not None else {}),
                    **worker_headers(queue_tables.WORKER_A if step.worker_id else None),
                },
                params=params,
            )
            body = body_of(response)
            what = f"{step.name} ({step.endpoint})"
            if step.state is None:
                check.observe(step.requirement, f"{what}: answer", {"status": response.status_code, "body": body})
                continue
            refused = 400 <= response.status_code < 500
            check.equal(step.accepted if refused else step.ok, f"{what}: response status", 200, response.status_code)
            if response.status_code != 200:
                return  # the protocol already broke here; the next steps would only repeat it
            if step.endpoint == "ack":
                body = expect_item_answer(check, step.ok, response)
            if not check.equal(step.requirement, f"{what}: state", step.state, field_value(body, "state")):
                return  # the next step's premise (the item in this state) no longer holds
            if step.endpoint == "heartbeat":
                last_heartbeat = field_value(body, "last_heartbeat")
        final = body_of(api.get(environment, item["id"]))
        check.equal("STOP-DRAIN", "GET after the second stop {}: state", "stopped", field_value(final, "state"))
    finally:
        release(api, settings, [item])


@pytest.mark.req("ACK-WORKER-ID-MISMATCH", "CONV-ERR-ENVELOPE", "POLL-RESP-OK", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_ack_with_another_worker_id_is_409_and_the_item_stays_queued(settings, provision, api, check) -> None:
    environment = queue_environment(settings)
    item = provision("queued", environment_id=environment)
    try:
        if require_own(find_own(api, check, environment, item["id"], worker_id=queue_tables.WORKER_A)) is None:
            return
        response = api.call("ack", environment, item["id"], headers=worker_headers(queue_tables.WORKER_B))
        if response.status_code == 200:  # accepted: no error answer whose envelope could be judged
            check.equal("ACK-WORKER-ID-MISMATCH", "response status", 409, 200)
        else:
            expect_error(check, "ACK-WORKER-ID-MISMATCH", response, WORKER_ID_CONFLICT, envelope="CONV-ERR-ENVELOPE")
        after = body_of(api.get(environment, item["id"]))
        check.equal("ACK-WORKER-ID-MISMATCH", "GET after the refused ack: state", "queued", field_value(after, "state"))
        check.equal(
            "ACK-WORKER-ID-MISMATCH",
            "GET after the refused ack: acknowledged_at",
            None,
            field_value(after, "acknowledged_at"),
        )
    finally:
        release(api, settings, [item])


@pytest.mark.req("ACK-CONCURRENT-ONE-WINS", "POLL-RESP-OK", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_two_workers_ack_one_item_at_once(settings, provision, api, check) -> None:
    """Worker A polls the item, worker B gets it too (reclaim_older_than_ms=0), both ack at once, each with its own
    Worker-ID, each sent once: exactly one 200 (state starting), the other 409."""
    environment = queue_environment(settings)
    item = provision("queued", environment_id=environment)
    try:
        for worker in (queue_tables.WORKER_A, queue_tables.WORKER_B):
            if require_own(find_own(api, check, environment, item["id"], worker_id=worker)) is None:
                return
        senders = [
            lambda worker=worker: api.call("ack", environment, item["id"], headers=worker_headers(worker))
            for worker in (queue_tables.WORKER_A, queue_tables.WORKER_B)
        ]
        responses = [response for _, response, _ in _all_at_once(senders)]
        statuses = sorted(response.status_code for response in responses)
        check.equal("ACK-CONCURRENT-ONE-WINS", "statuses of two concurrent acks", [200, 409], statuses)
        winners = [body_of(r) for r in responses if r.status_code == 200]
        if len(winners) == 1:
            check.equal("ACK-CONCURRENT-ONE-WINS", "winning ack: state", "starting", field_value(winners[0], "state"))
        after = body_of(api.get(environment, item["id"]))
        if after is not MISSING:
            check.equal("ACK-CONCURRENT-ONE-WINS", "GET after the acks: state", "starting", field_value(after, "state"))
    finally:
        release(api, settings, [item])
