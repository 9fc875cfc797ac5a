"""Which configured group a room is, and who a sender is (staff, admin) in each community.

Who a sender is goes by contact id only (``bot.identity``): every method here takes the
sender's id, never a display name."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Community, Config, Grid
from bot.identity import Identities


@dataclass(frozen=True)
class RoomInfo:
    key: str  # the group name or id as written in config.toml
    kind: str  # "grid" or "market"
    community: Community
    grid: Grid | None = None


class Directory:
    """Looks up configured groups by room id or topic."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.identities = Identities(config)
        self._rooms: dict[str, RoomInfo] = {}
        for community in config.communities:
            for key in community.market_groups:
                self._rooms[key] = RoomInfo(key, "market", community)
            for grid in community.grids:
                for key in grid.groups:
                    self._rooms[key] = RoomInfo(key, "grid", community, grid)

    @property
    def group_keys(self) -> list[str]:
        return list(self._rooms)

    def room(self, room_id: str | None, topic: str | None) -> RoomInfo | None:
        for candidate in (room_id, topic):
            if candidate is not None and candidate in self._rooms:
                return self._rooms[candidate]
        return None

    def grid_room(self, community: Community, grid_name: str) -> str | None:
        grid = next((g for g in community.grids if g.name == grid_name), None)
        return grid.groups[0] if grid else None

    def is_admin(self, sender_id: str) -> bool:
        return self.identities.is_admin(sender_id)

    def staff_grids(self, community: Community, sender_id: str) -> list[Grid]:
        return self.identities.staff_grids(community, sender_id)

    def is_staff(self, community: Community, sender_id: str) -> bool:
        """Grid staff of ``community``, its own admins, or a deployment admin."""
        return (bool(self.identities.staff_grids(community, sender_id))
                or self.identities.is_community_admin(community, sender_id) or self.is_admin(sender_id))

    def staff_community(self, sender_id: str) -> Community | None:
        for community in self.config.communities:
            if self.identities.staff_grids(community, sender_id) or \
                    self.identities.is_community_admin(community, sender_id):
                return community
        return None

    def staff_ids(self, community: Community, grid_name: str | None = None) -> list[str]:
        """The contact ids of the staff of one grid (or the whole community); unbound staff have
        none yet and are left out (they are listed by ``linggong bind``)."""
        grids = [g for g in community.grids if grid_name is None or g.name == grid_name]
        ids = (self.identities.contact_of(community.name, p) for g in grids for p in g.staff)
        return list(dict.fromkeys(i for i in ids if i))

    def admin_ids(self, community: Community | None = None) -> list[str]:
        """The contact ids of the community's admins (if given) and the bot's admins, bound ones."""
        ids = [self.identities.contact_of(community.name, p) for p in community.admins] if community else []
        ids += [self.identities.contact_of("", p) for p in self.config.bot.admins]
        return list(dict.fromkeys(i for i in ids if i))

    def community_admin_ids(self, community: Community) -> list[str]:
        ids = (self.identities.contact_of(community.name, p) for p in community.admins)
        return list(dict.fromkeys(i for i in ids if i))
