"""The Repository protocol: what the app needs from storage, whatever the backend.

All reads and writes happen inside ``async with repo.transaction() as tx``; a transaction
either applies completely or not at all.  Both backends (``storage.sqlite``: one write
connection; ``storage.postgres``: a pool shared by several bot processes at READ COMMITTED)
run the same statements from ``storage.sqltx``, where every decision (a claim, an order
number, a report's run) is one conditional UPDATE or INSERT ... ON CONFLICT.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from storage.models import Conversations, Event, Order, OutMessage, Worker
from storage.stats import StorageStats

if TYPE_CHECKING:
    from storage.sqltx import MessageGate

BINDINGS_REV = "bindings.rev"  # meta key: bumped by every change of the bindings table
ORDER_TIME_COLUMNS = ("created_at", "dispatched_at", "taken_at", "done_at", "cancelled_at", "rated_at",
                      "followup_sent_at")


class Tx(Protocol):
    """One transaction's worth of storage operations."""

    async def is_processed(self, message_id: str) -> bool: ...
    async def was_processed(self, message_id: str) -> bool: ...
    async def mark_processed(self, message_id: str, at: float) -> None: ...
    async def begin_message(self, message_id: str, at: float, sender_key: str) -> MessageGate | None:
        """Mark the message processed, first thing: None if it already was (see ``SqlTx``)."""

    def later(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Queue a write whose outcome nobody reads; it goes with the next statement or the COMMIT."""

    async def prune_sent_outbox(self, before: float, limit: int) -> int: ...
    async def prune_processed(self, before: float, limit: int) -> int: ...
    async def journal_add(self, instance: str, message_ids: Sequence[str], at: float) -> None: ...
    async def journal_remove(self, message_ids: Sequence[str]) -> None: ...
    async def journal_pending(self, instance: str, limit: int) -> list[str]: ...

    async def next_order_no(self, community: str) -> int: ...
    async def insert_order(self, values: dict[str, Any]) -> Order: ...
    async def insert_numbered_order(self, values: dict[str, Any]) -> Order:
        """Insert an order (``values`` without ``no``) under the community's next number."""

    async def get_order(self, community: str, no: int) -> Order | None: ...
    async def get_order_by_id(self, order_id: int) -> Order | None: ...
    async def update_order(
        self, order_id: int, values: dict[str, Any], *, expect_status: Sequence[str] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> bool:
        """Apply ``values``; with ``expect_status`` only if the order is in one of those states,
        with ``expect`` only if those columns hold those values (None: IS NULL).  True if applied:
        of several instances making the same change, exactly one gets True."""

    async def claim_order(self, order_id: int, worker_id: int, at: float,
                          max_active: int | None = None) -> Order | None:
        """Make ``worker_id`` the taker if the order is still dispatched and (with ``max_active``)
        the worker has fewer than that many taken orders; the claimed order (without ``taker``)
        if this call won, else None."""

    async def find_orders(
        self,
        community: str | None = None,
        *,
        statuses: Sequence[str] | None = None,
        grid: str | None = None,
        taker_id: int | None = None,
        resident_id: str | None = None,
        category: str | None = None,
        time_column: str = "created_at",
        start: float | None = None,
        end: float | None = None,
        is_null: Sequence[str] = (),
        before_no: int | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        takers: bool = True,
    ) -> list[Order]:
        """Orders by number (``newest_first``: descending), with their ``taker`` (one query for
        all; ``takers=False`` skips it); ``is_null``: columns that must be NULL; ``before_no``:
        numbers below it (the next page of a newest-first list)."""
    async def count_active(self, worker_id: int) -> int: ...
    async def stale_taken(self, community: str, taken_by: float) -> list[Order]:
        """Taken orders not yet reminded, taken at or before ``taken_by`` (the sweep's stale check)."""

    async def first_unreminded_taken_at(self, community: str) -> float | None: ...
    async def worker_activity(self, community: str, done_start: float, done_end: float,
                              claims_since: float) -> dict[int, dict[str, Any]]:
        """Per worker: active orders, orders done in the range, median claim seconds since ``claims_since``."""


    # reports: aggregates over one community's orders in a half-open time range [start, end)
    async def tally_counts(self, community: str, start: float, end: float, *,
                           grid: str | None = None) -> dict[str, int]:
        """How many orders (of ``grid`` if given) were posted, dispatched, taken (claimed in the
        market group), assigned (by staff, 指派), done and cancelled in the range (by created_at,
        dispatched_at, taken_at, taken_at, done_at, cancelled_at): a dict with exactly the six keys
        posted, dispatched, taken, assigned, done, cancelled."""

    async def tally_groups(self, community: str, column: str, start: float, end: float, *,
                           grid: str | None = None) -> list[tuple[str | None, int, int]]:
        """Orders created in the range grouped by ``column`` ("category" or "grid"):
        ``(value, count, lowest order number)`` rows, in any order."""

    async def claim_durations(self, community: str, start: float, end: float, *,
                              grid: str | None = None) -> list[tuple[str | None, float | None, bool]]:
        """For every order taken in the range (claimed or assigned), ordered by number: ``(taker's
        name or None, seconds from dispatch to claim as Order.claim_seconds computes them or None,
        True if staff assigned it)``; an assigned order has no claim seconds."""

    async def ranking_rows(self, community: str, start: float, end: float, *,
                           confirmed_only: bool = False) -> list[dict[str, Any]]:
        """One row per worker, not suspended, who completed orders in the range (by done_at, status
        'done'): ``{"worker_id", "name", "team", "done": count of those the worker claimed,
        "assigned": count of those staff assigned, "rating": average of the non-null ratings of the
        claimed ones or None, "median_claim": the median claim seconds of the claimed ones that have one,
        or None}``, in any
        order.  ``confirmed_only`` counts only orders rated 3 or more, or unrated with a follow-up sent."""

    async def chart_counts(self, community: str, start: float, end: float, claim_limits: Sequence[float],
                           day_edges: Sequence[float]) -> dict[str, Any]:
        """The stats page's charts counted by the database (see ``SqlTx.chart_counts``)."""

    async def add_event(
        self, order_id: int | None, community: str, at: float, actor: str, kind: str, detail: str = ""
    ) -> None: ...
    async def events_for(self, order_id: int) -> list[Event]: ...
    async def count_events(self, kind: str, actor: str, since: float) -> int:
        """How many events of ``kind`` by ``actor`` since ``since`` (e.g. failed binding codes)."""

    async def bindings(self) -> list[dict[str, Any]]:
        """Every recorded binding: ``{"person", "scope", "name", "contact_id", "bound_at", "bound_by"}``."""

    async def set_binding(self, scope: str, name: str, contact_id: str, at: float, by: str) -> None:
        """Bind configured person ``name`` of ``scope`` ('' for the bot's admins) to ``contact_id``."""

    async def remove_binding(self, scope: str, name: str) -> bool:
        """Forget a binding; whether there was one."""

    async def add_bind_code(self, values: dict[str, Any]) -> None:
        """Store a one-time code (``code_hash``, ``kind`` person|worker, ``scope``, ``name``,
        ``worker_id``, ``created_at``, ``expires_at``); an older code of the same person goes."""

    async def take_bind_code(self, code_hash: str, now: float) -> dict[str, Any] | None:
        """Use up a code: its row if it exists and has not expired (it is deleted either way)."""

    async def bind_worker(self, worker_id: int, contact_id: str, at: float) -> None:
        """The worker's ``wechat`` becomes ``contact_id``, proven at ``at``."""

    async def unbind_worker(self, worker_id: int) -> None: ...

    async def add_web_login(self, values: dict[str, Any]) -> None:
        """A dashboard login waiting for its code (``id``, ``person``, ``contact_id``, ``code_hash``,
        ``address``, ``created_at``, ``expires_at``); expired ones are cleared on the way."""

    async def web_login(self, login_id: str) -> dict[str, Any] | None: ...
    async def count_web_login_try(self, login_id: str) -> None: ...
    async def remove_web_login(self, login_id: str) -> None: ...

    async def add_web_session(self, values: dict[str, Any]) -> None:
        """A dashboard session (``sid_hash``, ``person``, ``contact_id``, ``address``, ``created_at``,
        ``seen_at``); sessions idle or ended for a day are cleared on the way."""

    async def web_session(self, sid_hash: str) -> dict[str, Any] | None:
        """The session's row, if it was not ended (idle ones too: the caller knows the timeout)."""

    async def touch_web_session(self, sid_hash: str, at: float) -> None: ...
    async def end_web_session(self, sid_hash: str, at: float) -> None: ...

    async def add_intake_label(self, values: dict[str, Any]) -> None:
        """Keep a staff decision on a message: community, order_no, text (masked), need, category,
        decision (confirmed | corrected | dispatched | assigned | dismissed), labelled_by, labelled_at."""

    async def intake_labels(self, community: str | None = None, *, since: float | None = None) -> list[dict[str, Any]]:
        """The kept decisions (all communities when None), oldest first; ``need`` is a bool."""

    async def find_worker(self, community: str, *, wechat: str | None = None, name: str | None = None) -> Worker | None: ...
    async def get_worker(self, worker_id: int) -> Worker | None: ...
    async def add_worker(self, values: dict[str, Any]) -> Worker: ...
    async def add_worker_if_absent(self, values: dict[str, Any]) -> bool:
        """Insert unless the community has a worker of that name (no error when two race)."""

    async def update_worker(self, worker_id: int, values: dict[str, Any]) -> None: ...
    async def list_workers(self, community: str | None = None) -> list[Worker]: ...

    async def enqueue(self, message: OutMessage, at: float) -> None:
        """Add a message to the outbox; a pending message with the same coalesce key absorbs it."""

    async def pending_outbox(self, now: float, limit: int = 50) -> list[OutMessage]: ...
    async def claim_outbox(
        self,
        instance: str,
        now: float,
        lease: float,
        conversations: Conversations | None = None,
        *,
        limit: int = 1,
        skip: Conversations | None = None,
        orphans_due_before: float | None = None,
        sending: bool = False,
    ) -> list[OutMessage]:
        """Claim due messages this instance may send now (see ``SqlTx.claim_outbox``)."""

    async def outbox_claims_end(self, now: float, instance: str) -> float | None:
        """When the first claim another instance holds on a pending message runs out."""

    async def release_outbox(self, message_id: int, instance: str) -> None: ...
    async def outbox_in_doubt(self, instance: str) -> OutMessage | None:
        """The message ``instance`` began to send (``claim_outbox(sending=True)``), not yet settled."""

    async def settle_sending(self, message_id: int) -> None: ...
    async def mark_sent(self, message_id: int, at: float) -> None: ...
    async def mark_retry(self, message_id: int, error: str, next_at: float, *, give_up: bool,
                         settled: bool = True) -> None: ...
    async def outbox_rows(self) -> list[dict[str, Any]]: ...

    async def claim_job_run(self, job: str, community: str, period: str, due_at: float, ran_at: float,
                            late: bool) -> bool:
        """Record a periodic report's run; False if that job already ran for that period."""

    async def job_runs(self, job: str | None = None) -> list[dict[str, Any]]: ...
    async def get_meta(self, key: str) -> str | None: ...
    async def setdefault_meta(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` has one; return what is stored (the first writer wins)."""

    async def set_meta(self, key: str, value: str) -> None: ...
    async def meta_with_prefix(self, prefix: str) -> dict[str, str]: ...


class Repository(Protocol):
    stats: StorageStats

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...
    def reading(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only snapshot that never holds the write lock (reports, exports, web pages);
        a write in it fails."""
