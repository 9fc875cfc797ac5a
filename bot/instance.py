"""Which communities this bot instance serves, and what its WeChat account reaches.

A district runs several instances (one process per WeChat account) on one PostgreSQL.  Each
instance serves the communities named in ``[bot] communities`` (or ``$LINGGONG_COMMUNITIES``);
with none named, the communities whose groups its account turned out to be in at login.

- Messages from a group of a community it does not serve are ignored (another instance, in
  the same group, handles them).  Direct messages are handled by whoever receives them.
- Scheduled jobs (the daily tally, rankings, the sweep) run for the communities it serves and
  for those whose market group its account is in.  Two instances may then run the same job:
  a report is claimed once per period in ``job_runs`` and every sweep step is a conditional
  update, so it happens once; and when one instance dies, the jobs still run on the others
  that reach the market group (that is how a survivor takes over a dead instance's jobs).
- The outbox sender sends only to the groups the account resolved at login and the contacts
  it knows (``Outbox.reach``), so a message goes out through an account that can deliver it.

``process_id`` names the process in the outbox's claims: the instance name (or the host name)
plus the process id and a random tag, so two processes never share a claim, even when they
were given the same name by mistake.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection
from dataclasses import dataclass

from bot.config import Community, Config
from storage.models import Conversations


def process_id(name: str = "") -> str:
    """A name for this process that no other process has: ``name/pid-random``."""
    return f"{name or socket.gethostname()}/{os.getpid()}-{secrets.token_hex(3)}"


def bot_account_key(contact_id: str) -> str:
    """The meta key under which an instance records its WeChat account at login; every instance
    ignores messages from the accounts recorded so (another bot in a shared group)."""
    return f"bot_account:{contact_id}"


def group_keys(community: Community) -> list[str]:
    return [*community.market_groups, *(key for grid in community.grids for key in grid.groups)]


@dataclass
class Scope:
    """What one instance serves.  ``rooms`` None: no WeChat login to go by (replay, tests, one
    instance without login tracking): every configured group counts as reached."""

    config: Config
    rooms: frozenset[str] | None = None  # configured group keys the account resolved at login
    contacts: frozenset[str] | None = None  # contact ids and names the account knows

    @property
    def name(self) -> str:
        return self.config.bot.instance or socket.gethostname()

    @property
    def configured(self) -> tuple[str, ...]:
        return self.config.bot.communities

    def serves(self, community: Community, rooms: Collection[str] | None = None) -> bool:
        """Whether this instance handles the group messages of ``community``."""
        if self.configured:
            return community.name in self.configured
        rooms = self.rooms if rooms is None else rooms
        return rooms is None or any(key in rooms for key in group_keys(community))

    def runs_jobs_for(self, community: Community) -> bool:
        """Whether this instance runs ``community``'s scheduled jobs: it serves the community,
        or its account is in the community's market group (a standby for it)."""
        return self.serves(community) or (self.rooms is not None and community.market_group in self.rooms)

    def conversations(self) -> Conversations:
        """The groups and contacts the account reaches (nothing before its login)."""
        return Conversations(rooms=self.rooms or frozenset(), contacts=self.contacts or frozenset())

    def served(self) -> list[str]:
        return [c.name for c in self.config.communities if self.serves(c)]

    def standby(self) -> list[str]:
        return [c.name for c in self.config.communities if self.runs_jobs_for(c) and not self.serves(c)]
