"""The simulated WeChat world of the local gateway, built from config.toml.

Everyone the config names becomes a contact whose wechat id is the name as written
(workers: their ``wechat`` value), so the ids the app stores and @mentions are the ones
config.toml uses.  Every configured group becomes a room:

- a grid group holds that grid's staff and demo residents;
- a market group holds the community's workers and all its staff;
- community admins and deployment admins are in every group of their community.

A group written as a room id (``…@chatroom``) keeps it as its id; other groups get a
stable generated id and their name as the topic.
"""

from __future__ import annotations

from bot.config import Config, Person
from bot.gateway.world import Contact, Room, World

BOT_ID = "wxid_linggong_bot"


def _room_id(key: str, number: int) -> str:
    return key if key.endswith("@chatroom") else f"{number}@chatroom"


def world_from_config(config: Config, *, bot_id: str = BOT_ID) -> World:
    """The demo community of ``config`` as a gateway world (bot name from ``[bot].name``)."""
    contacts: dict[str, Contact] = {}

    def person(contact_id: str, name: str | None = None) -> str:
        if contact_id not in contacts:
            contacts[contact_id] = Contact(contact_id, name or contact_id)
        return contact_id

    rooms: list[Room] = []

    def room(key: str, members: list[str]) -> None:
        rooms.append(Room(_room_id(key, len(rooms) + 1), key, list(dict.fromkeys(members))))

    def configured(p: Person) -> str:  # a configured person's contact: their id, as config gives it
        return person(p.wechat_id or p.name, p.name)

    for admin in config.bot.admins:
        configured(admin)
    for community in config.communities:
        admins = [configured(a) for a in (*config.bot.admins, *community.admins)]
        staff = [configured(s) for grid in community.grids for s in grid.staff]
        workers = [person(w.wechat, w.name) for w in community.workers]
        for key in community.market_groups:
            room(key, [*workers, *staff, *admins])
        for grid in community.grids:
            members = [configured(s) for s in grid.staff] + [person(r) for r in grid.residents]
            for key in grid.groups:
                room(key, [*members, *admins])
    return World(bot_id=bot_id, bot_name=config.bot.name, contacts=list(contacts.values()), rooms=rooms)


def room_by_topic(world: World, topic: str) -> Room | None:
    """The room whose topic or id is ``topic``."""
    return next((r for r in world.rooms if topic in (r.topic, r.id)), None)
