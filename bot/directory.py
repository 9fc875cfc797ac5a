"""Which configured group a room is, and who a sender is (staff, admin) in each community."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Community, Config, Grid, listed


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

    def is_admin(self, sender_id: str, sender_name: str) -> bool:
        return self.config.is_admin(sender_id, sender_name)

    def is_staff(self, community: Community, sender_id: str, sender_name: str) -> bool:
        """Grid staff of ``community``, its own admins, or a deployment admin."""
        return (
            bool(community.staff_grids(sender_id, sender_name))
            or listed(community.admins, sender_id, sender_name)
            or self.is_admin(sender_id, sender_name)
        )

    def staff_community(self, sender_id: str, sender_name: str) -> Community | None:
        for community in self.config.communities:
            if community.staff_grids(sender_id, sender_name) or listed(community.admins, sender_id, sender_name):
                return community
        return None

    def staff_ids(self, community: Community, grid_name: str | None = None) -> list[str]:
        """Staff of one grid (or the whole community) as configured: names or wechat ids."""
        grids = [g for g in community.grids if grid_name is None or g.name == grid_name]
        return list(dict.fromkeys(s for g in grids for s in g.staff))
