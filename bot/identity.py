"""Who a sender is: configured staff and admins by WeChat contact id, never by display name.

A display name (群昵称) is chosen by its owner, so it grants nothing.  A configured person is a
contact id when config gives one (``{ name = "杨先媚", wechat_id = "wxid_…" }`` or a plain
``wxid_…`` string), or else once they have *bound* their account: ``linggong bind`` prints a
one-time code for each unbound person, who sends 「绑定 123456」 to the bot by direct message; the
contact that sent it is then theirs (``bindings`` table).  An admin can reset a binding (``解绑
名字``, ``linggong bind --reset``), and the old contact loses every right at once.

Workers are bound on their own record (``workers.bound_at``): 登记 binds the contact that sent
it; a roster row with an id is bound, one with a nickname waits for its code.

``Identities`` is the in-memory view the ``Directory`` asks; the app reloads it from the
database in every message's transaction, so a binding made by another instance counts at once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.config import Community, Config, Grid, Person

CODE_DIGITS = 6
CODE_HOURS = 48  # how long a printed code is valid


def code_hash(code: str) -> str:
    """What is stored of a code: its SHA-256 (a leaked database holds no usable codes)."""
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def person_key(scope: str, name: str) -> str:
    return f"{scope}\t{name}"


@dataclass(frozen=True)
class Seat:
    """One configured person in one place: ``scope`` is the community ('' for the bot's admins);
    ``role`` admin (the bot's), community_admin or staff (of ``grid``)."""

    scope: str
    person: Person
    role: str
    grid: str | None = None


class Identities:
    """The configured people and the contact ids they are bound to."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.bound: dict[tuple[str, str], str] = {}  # (scope, name) -> contact id
        self._people = list(dict.fromkeys((seat.scope, seat.person) for seat in self.seats()))  # config is fixed
        self._index()

    def load(self, rows: Iterable[dict]) -> None:
        self.bound = {(r["scope"], r["name"]): r["contact_id"] for r in rows}
        self._index()

    def _index(self) -> None:
        """contact id -> the (scope, name) seats it holds: every message asks who its sender is."""
        self._who: dict[str, set[tuple[str, str]]] = {}
        for scope, person in self._people:
            if (contact := self.contact_of(scope, person)) is not None:
                self._who.setdefault(contact, set()).add((scope, person.name))

    def contact_of(self, scope: str, person: Person) -> str | None:
        """The contact id that is ``person`` (config's id first), or None while unbound."""
        return person.wechat_id or self.bound.get((scope, person.name))

    def is_(self, scope: str, person: Person, sender_id: str) -> bool:
        return bool(sender_id) and (scope, person.name) in self._who.get(sender_id, ())

    def seats(self) -> Iterator[Seat]:
        """Everyone config names, in config order (a person in two grids has two seats)."""
        for person in self.config.bot.admins:
            yield Seat("", person, "admin")
        for community in self.config.communities:
            for person in community.admins:
                yield Seat(community.name, person, "community_admin")
            for grid in community.grids:
                for person in grid.staff:
                    yield Seat(community.name, person, "staff", grid.name)

    def people(self) -> list[tuple[str, Person]]:
        """Each configured (scope, person) once: a binding is per person and scope."""
        return self._people

    def find(self, scope: str, name: str) -> Person | None:
        return next((p for s, p in self.people() if s == scope and p.name == name), None)

    # roles ------------------------------------------------------------------------------
    def is_admin(self, sender_id: str) -> bool:
        return any(self.is_("", p, sender_id) for p in self.config.bot.admins)

    def is_community_admin(self, community: Community, sender_id: str) -> bool:
        return any(self.is_(community.name, p, sender_id) for p in community.admins)

    def staff_grids(self, community: Community, sender_id: str) -> list[Grid]:
        return [g for g in community.grids if any(self.is_(community.name, p, sender_id) for p in g.staff)]

    def name_of(self, sender_id: str) -> str | None:
        """The configured name of a bound contact (for audit lines), if it is a configured person."""
        if sender_id not in self._who:
            return None
        for scope, person in self.people():
            if self.is_(scope, person, sender_id):
                return person.name
        return None


# codes ------------------------------------------------------------------------------------

@dataclass
class Entry:
    """One line of ``linggong bind``: who, where, and either the bound contact or a fresh code."""

    kind: str  # person | worker
    scope: str
    name: str
    role: str  # admin | community_admin | staff | worker
    contact: str | None = None
    code: str | None = None


async def binding_sheet(tx, identities: Identities, now: float, *, community: str | None = None,
                        people: bool = True, workers: bool = True, hours: float = CODE_HOURS) -> list[Entry]:
    """Everyone to bind: the bound with their contact id, the unbound with a new one-time code
    (stored hashed, valid ``hours``; it replaces an older code of the same person)."""
    identities.load(await tx.bindings())
    entries: list[Entry] = []
    expires = now + hours * 3600
    if people:
        roles = {}
        for seat in identities.seats():
            roles.setdefault((seat.scope, seat.person.name), seat.role)
        for scope, person in identities.people():
            if community is not None and scope not in (community, ""):
                continue
            entry = Entry("person", scope, person.name, roles[(scope, person.name)], identities.contact_of(scope, person))
            if entry.contact is None:
                entry.code = new_code()
                await tx.add_bind_code({"code_hash": code_hash(entry.code), "kind": "person", "scope": scope,
                                        "name": person.name, "worker_id": None, "created_at": now,
                                        "expires_at": expires})
            entries.append(entry)
    if workers:
        for worker in await tx.list_workers(community):
            entry = Entry("worker", worker.community, worker.name, "worker", worker.wechat if worker.bound else None)
            if entry.contact is None:
                entry.code = new_code()
                await tx.add_bind_code({"code_hash": code_hash(entry.code), "kind": "worker",
                                        "scope": worker.community, "name": worker.name, "worker_id": worker.id,
                                        "created_at": now, "expires_at": expires})
            entries.append(entry)
    return entries


def unbound(identities: Identities) -> list[tuple[str, Person]]:
    """Configured people with no contact id yet (``linggong run`` names them at start)."""
    return [(s, p) for s, p in identities.people() if identities.contact_of(s, p) is None]
