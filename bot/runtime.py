"""The bot as it runs for real: storage, the app, WeChat through wechaty, the outbox, the scheduler.

This is the one place that wires the parts together: storage, the ``App`` (which decides), the
WeChat bot and its transport, the ``Outbox`` (which sends), the scheduler and the web pages.
``linggong run``, ``linggong console`` and the end-to-end tests all start the bot through
``BotRuntime``, so the production path (the real wechaty client talking gRPC to a
puppet-service gateway) is the one every demo and test exercises.

With no gateway endpoint configured (``[wechat].endpoint = ""`` and no
``WECHATY_PUPPET_SERVICE_ENDPOINT``) the runtime first starts the project's local gateway,
a simulated WeChat built from config.toml, on 127.0.0.1:``[wechat].gateway_port``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.account import AccountWatch
from bot.app import App, BotStopped
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.identity import unbound
from bot.instance import Scope, process_id
from bot.journal import Journal
from bot.outbox import Outbox
from bot.render import Renderer, load_labels
from bot.schedule.scheduler import ScheduledJob, build_jobs, catch_up, start_realtime
from bot.transport import IncomingMessage
from bot.wechat.bot import WechatyBot
from bot.wechat.channel import Tls
from bot.wechat.support import ReadyInfo, Timings
from bot.wechat.transport import WechatyTransport
from handlers.classifier import Intake, build_intake
from storage import Repository, backend_of, display_database, open_repository

if TYPE_CHECKING:
    from bot.gateway import Gateway

WEB_START_TIMEOUT = 15.0
log = logging.getLogger("linggong.run")

LOCAL_HOST = "127.0.0.1"
GATEWAY_HEARTBEAT = 15.0  # seconds between the local gateway's heartbeat events, as real gateways send
STOP_GRACE = 5.0  # seconds the outbox sender gets to finish its current send at shutdown


@dataclass(frozen=True)
class Connection:
    """Where the bot connects: ``endpoint`` None means 'start the local gateway'."""

    endpoint: str | None
    token: str
    source: str  # what decided the endpoint: "environment", "config" or "local gateway"


def connection_settings(config: Config) -> Connection:
    """The gateway endpoint and token (``[wechat]``, or the environment: ``bot.environment``)."""
    token = config.wechat.token
    if config.wechat.endpoint:
        source = "environment" if "WECHATY_PUPPET_SERVICE_ENDPOINT" in config.environment else "config"
        return Connection(config.wechat.endpoint, token, source)
    return Connection(None, token, "local gateway")


def timings_for(config: Config, base: Timings | None = None) -> Timings:
    """The adapter's timings with the configured watchdog deadline (dings well inside it)."""
    base = base or Timings()
    deadline = config.wechat.watchdog_deadline
    return replace(base, event_deadline=deadline, ding_interval=min(base.ding_interval, deadline / 3))


class BotRuntime:
    """Starts and stops everything ``linggong run`` needs, in order, logging each step.

    ``send=False`` leaves the outbox sender off (replies stay committed in the outbox);
    ``scheduler=False`` leaves the scheduled jobs off.  Both are for tests.
    ``console=True`` prints the login QR code on standard output (``linggong run``).
    """

    def __init__(
        self,
        config: Config,
        database: str,
        *,
        timings: Timings | None = None,
        clock: Clock | None = None,
        send: bool = True,
        scheduler: bool = True,
        web: bool = True,
        web_password: str | None = None,
        intake: Intake | None = None,
        console: bool = False,
    ) -> None:
        self.config = config
        self.intake = intake  # the classifier; None: trained at start (or read from data/cache)
        self.database = database
        self.connection = connection_settings(config)
        self.timings = timings or timings_for(config)
        self.clock: Clock = clock or SystemClock(config.tz)
        self.send = send
        self.with_scheduler = scheduler
        self.with_web = web
        self.web_password = web_password
        self.web_app: Any = None
        self.web_url: str | None = None
        self.public_url: str | None = None  # what the posters' QR codes open
        self._web_shutdown = asyncio.Event()
        self._web_task: asyncio.Task[None] | None = None
        self.repo: Repository | None = None
        self.app: App | None = None
        self.outbox: Outbox | None = None
        self.gateway: Gateway | None = None
        self.bot: WechatyBot | None = None
        self.journal: Journal | None = None
        self.account: AccountWatch | None = None
        self.console = console  # print the login QR code for whoever is at the station PC
        self._stop_sending = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._scheduler: Any = None
        self._jobs: list[ScheduledJob] = []
        self._catch_up: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def transport(self) -> WechatyTransport:
        """The Transport port over the bot's WeChat connection (once started)."""
        assert self.bot is not None, "start() first"
        return self.bot.transport

    @property
    def endpoint(self) -> str:
        if self.gateway is not None:
            return self.gateway.endpoint
        assert self.connection.endpoint is not None
        return self.connection.endpoint

    async def start(self) -> None:
        """Open the database, start the gateway if local, connect, start sending and the jobs.

        Returns without waiting for the WeChat login (a real account may need a QR scan);
        use :meth:`wait_ready` for that.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        log.info("opening database %s", display_database(self.database))
        self.repo = await open_repository(self.database)
        # Nothing is known to be reached until the account has logged in (see _ready).
        scope = Scope(self.config, rooms=frozenset(), contacts=frozenset())
        data_dir = "data" if self.shared_database or self.database == ":memory:" else \
            str(Path(self.database.removeprefix("sqlite:///")).resolve().parent)
        intake = self.intake or build_intake(self.config, Path(data_dir) / "cache")
        self.app = App(self.config, self.repo, self.clock, scope=scope, wake=self._wake_outbox, intake=intake)
        await self.app.setup()
        waiting = unbound(self.app.directory.identities)
        if waiting:
            log.warning("%d configured people have not bound their WeChat yet and cannot act until they do "
                        "(linggong bind prints their codes): %s", len(waiting),
                        ", ".join(f"{person.name} ({scope or 'bot admin'})" for scope, person in waiting))
        if self.connection.endpoint is None:
            await self._start_local_gateway()
        log.info("connecting the wechaty client to %s (%s)", self.endpoint, self.connection.source)
        # Which gateway can load the journaled ids again: this host's (or named instance's) endpoint.
        key = f"{self.config.bot.instance or socket.gethostname()}@{self.endpoint}"
        self.journal = Journal(self.repo, key, self.clock)
        self.journal.start()
        self.account = AccountWatch(self.repo, self.clock, key, alert_after=self.config.wechat.alert_after,
                                    console=self._show_qr if self.console else None)
        self.account.start()
        self.bot = WechatyBot(
            self._process, self.app.directory.group_keys, self.endpoint, self.connection.token,
            on_ready=self._ready, on_disconnect=self._disconnected, timings=self.timings, data_dir=data_dir,
            clock=self.clock, logger=logging.getLogger("linggong.wechaty"), seen=self.app.processed,
            group_expected=self._group_expected, tls=self._tls(), journal=self.journal,
            on_account=self._account_event,
        )
        # The only process on a SQLite file: after a crash, its outbox claims are its own to take back.
        instance = process_id(self.config.bot.instance) if self.shared_database else f"{scope.name}/sqlite"
        self.outbox = Outbox.for_config(self.config, self.repo, self.bot.transport, self.clock, instance=instance,
                                        reach=scope if self.shared_database else None,
                                        send_gap=self.config.wechat.send_interval)
        self.bot.start()
        if self.send:
            self._sender = asyncio.create_task(self.outbox.run(self._stop_sending), name="outbox-sender")
            log.info("outbox sender started (per conversation every %.2gs, any two sends %.2gs apart, at most %d "
                     "a minute)", self.config.outbox.min_interval, self.config.wechat.send_interval,
                     self.config.outbox.per_minute)
        else:
            log.info("outbox sender not started: replies stay in the outbox")
        if self.with_scheduler:
            # Jobs run for the communities this instance serves, known at login; the catch-up
            # (reports missed while down) runs then too (_ready).
            self._jobs = build_jobs(self.config)
            self._scheduler = start_realtime(self.app, self._jobs)
            log.info("scheduler started: %d jobs", len(self._jobs))
        if self.with_web:
            await self._start_web()

    async def _start_local_gateway(self) -> None:
        """The simulated WeChat of config.toml (imported only here: production never loads it)."""
        from bot.gateway import Gateway, world_from_config

        world = world_from_config(self.config)
        self.gateway = Gateway(world, LOCAL_HOST, self.config.wechat.gateway_port,
                               heartbeat_interval=GATEWAY_HEARTBEAT)
        try:
            await self.gateway.start()
        except OSError as exc:
            self.gateway = None
            raise OSError(load_labels()["runtime"]["gateway_port_taken"].format(
                address=f"{LOCAL_HOST}:{self.config.wechat.gateway_port}", reason=exc.strerror or exc)) from None
        log.info("local gateway (simulated WeChat: %d contacts, %d groups) listening on %s",
                 len(world.contacts), len(world.rooms), self.gateway.endpoint)

    def _wake_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.wake()

    @property
    def shared_database(self) -> bool:
        """A PostgreSQL database may be shared by several instances; a SQLite file never is."""
        return backend_of(self.database) == "postgresql"

    def _tls(self) -> Tls | None:
        """TLS settings for a configured gateway (never for the local one, which speaks plain HTTP/2)."""
        w = self.config.wechat
        if self.connection.endpoint is None or not w.tls:
            return None
        return Tls(ca_file=w.tls_ca_file, server_name=w.tls_server_name)

    def _group_expected(self, key: str, found: frozenset[str]) -> bool:
        """A configured group the account is not in is an error only for a community it serves."""
        assert self.app is not None
        room = self.app.directory.room(key, key)
        return room is None or self.app.scope.serves(room.community, found)

    async def _start_web(self) -> None:
        """Serve the web pages (simulator with a local gateway, dashboard, board, QR ordering)."""
        from bot.web import create_web_app, open_listener, serve_web, simulator_mode
        from bot.web.address import is_loopback, public_url

        assert self.app is not None
        host, port = self.config.web.host, self.config.web.port
        try:
            sock = open_listener(host, port)
        except OSError as exc:
            raise OSError(load_labels()["runtime"]["web_port_taken"].format(
                address=f"{host}:{port}", reason=exc.strerror or exc)) from None
        self.web_app = create_web_app(self.app, gateway=self.gateway, password=self.web_password,
                                      simulator=simulator_mode(self.config), account=self.account)
        port = sock.getsockname()[1]
        self._web_task = asyncio.create_task(serve_web(self.web_app, host, port, self._web_shutdown, sock=sock),
                                             name="web")
        serving = asyncio.ensure_future(self.web_app.extensions["linggong_serving"].wait())
        done, _ = await asyncio.wait({self._web_task, serving}, timeout=WEB_START_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if serving not in done:
            serving.cancel()
            if self._web_task in done:
                self._web_task.result()  # raises what stopped the server
            raise RuntimeError("the web server did not start")
        self.web_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        web_state = self.web_app.extensions["linggong"]
        web_state.public_url = public_url(self.config.web.public_url, host, port)  # the port it really got
        self.public_url = web_state.public_url
        log.info("web pages at %s; residents' phones open %s", self.web_url, self.public_url)
        if is_loopback(self.public_url):
            log.warning("the QR codes on the posters point at %s, which residents' phones cannot open: set "
                        "[web] host = \"0.0.0.0\" (or [web] public_url); README: 海报", self.public_url)

    async def wait_ready(self, timeout: float | None = None) -> ReadyInfo:
        """Wait until the bot is logged in with its groups resolved."""
        assert self.bot is not None, "start() first"
        return await self.bot.wait_ready(timeout)

    async def _process(self, msg: IncomingMessage) -> None:
        assert self.app is not None
        try:
            await self.app.process(msg)
        except BotStopped:
            log.debug("message %s not taken: storage has stopped", msg.id)  # it stays unprocessed for a restart

    async def wait_handled(self, message_id: str, timeout: float) -> None:
        """Wait until the app has handled message ``message_id``, now or in an earlier process
        (console and tests)."""
        assert self.app is not None
        await self.app.processed.wait(message_id, timeout)

    async def wait_outbox_idle(self, timeout: float, poll: float = 0.02) -> None:
        """Wait until no outbox message is due (everything due has been sent or given up)."""
        assert self.app is not None and self.repo is not None
        async with asyncio.timeout(timeout):
            while True:
                async with self.repo.transaction() as tx:
                    due = await tx.pending_outbox(self.clock.now().timestamp(), limit=1)
                if not due:
                    return
                await asyncio.sleep(poll)

    async def _ready(self, info: ReadyInfo) -> None:
        assert self.app is not None and self.repo is not None
        scope: Scope = self.app.scope
        scope.rooms, scope.contacts = frozenset(info.rooms), info.contacts  # the outbox's reach too
        log.info("WeChat ready (login %d) as %s: %d groups found%s", info.login_count, info.self_name,
                 len(info.rooms), f"; missing: {', '.join(info.missing)}" if info.missing else "")
        standby = scope.standby()
        log.info("instance %s serves %s (%s)%s", scope.name, ", ".join(scope.served()) or "no community",
                 "configured" if scope.configured else "the groups this account is in",
                 f"; runs the jobs of {', '.join(standby)} too (in their market group)" if standby else "")
        # Other instances in the same groups ignore this account's messages (App._process):
        # recorded before anything is sent.
        try:
            await self.app.record_account(info.self_id)
        except Exception:
            log.exception("could not record this instance's WeChat account %s", info.self_id)
        if self.account is not None:
            self.account.logged_in(info.self_name, info.self_id)
        self._wake_outbox()  # replies held during the outage go out now
        if self.with_scheduler and self._catch_up is None:
            self._catch_up = asyncio.create_task(self._run_catch_up(), name="catch-up")

    async def _run_catch_up(self) -> None:
        assert self.app is not None
        try:
            await catch_up(self.app, self._jobs)
        except Exception:
            log.exception("catching up on missed jobs failed")

    def _account_event(self, kind: str, **data: Any) -> None:
        assert self.account is not None
        if kind == "scan":
            self.account.scanned(data["qrcode"], data["status"])
        elif kind == "logout":
            self.account.lost("WeChat logged the account out", logged_out=True)
        elif kind == "ended":
            self.account.lost(data["reason"])

    def _show_qr(self, text: str) -> None:
        url, _, art = text.partition("\n")
        try:
            print(Renderer(self.config.tz).render("wechat_scan", {"url": url, "qr": art}), flush=True)
        except UnicodeEncodeError:  # a console that cannot show the block characters: the link alone
            print(Renderer(self.config.tz).render("wechat_scan", {"url": url, "qr": ""}), flush=True)

    def _disconnected(self, reason: str) -> None:
        log.warning("WeChat connection lost (%s); replies wait in the outbox until it is back", reason)

    async def stop(self) -> None:
        """Stop the jobs and the sender, then intake (disconnect); stop the local gateway; close storage.

        Replies not yet sent stay in the outbox and go out at the next start."""
        if self._stopped:
            return
        self._stopped = True
        log.info("stopping")
        if self._web_task is not None:  # no new actions from the pages while shutting down
            self._web_shutdown.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._web_task, STOP_GRACE)
            self._web_task = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._catch_up is not None and not self._catch_up.done():
            self._catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catch_up
        if self._sender is not None:  # before disconnecting, so a send in progress can finish
            self._stop_sending.set()
            self._wake_outbox()
            done, _ = await asyncio.wait({self._sender}, timeout=STOP_GRACE)
            if not done:
                self._sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sender
            self._sender = None
        if self.bot is not None:
            await self.bot.stop()
        if self.account is not None:
            await self.account.stop()
        if self.journal is not None:  # the last removals (what is left is found handled at the next login)
            with contextlib.suppress(Exception):
                await self.journal.stop()
        if self.gateway is not None:
            await self.gateway.stop()
        if self.repo is not None:
            await self.repo.close()
            self.repo = None
        log.info("stopped")

    async def __aenter__(self) -> BotRuntime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
