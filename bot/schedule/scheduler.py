"""When jobs run.  One set of trigger definitions (APScheduler cron triggers from config.toml)
drives two schedulers: APScheduler's AsyncIOScheduler in real time, and ``SimulatedScheduler``
that fires the same triggers on a fake clock (replay and tests).  ``catch_up`` runs at start
(``linggong run``: at the first login, when the instance knows which communities it serves):
a report whose time passed while the bot was down is posted once, marked late (补发).

With several instances on one database every instance that serves a community (or reaches its
market group) schedules its jobs; ``job_runs`` claims a report once per period, in real time
and in the catch-up alike, so it is posted once, and by a survivor when an instance died."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.config import CRON_KEYS, Community, Config
from bot.prune import prune
from bot.schedule.jobs import next_sweep_deadline, run_report, sweep

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SWEEP_CRONTAB = "* * * * *"  # escalation, stale reminders and follow-ups are checked every minute
FIRST_START = "first_start"


@dataclass(frozen=True)
class ScheduledJob:
    name: str  # daily_tally | weekly_ranking | monthly_ranking | yearly_ranking | sweep
    community: Community
    trigger: CronTrigger

    @property
    def id(self) -> str:
        return f"{self.name}:{self.community.name}"


def build_jobs(config: Config) -> list[ScheduledJob]:
    jobs = []
    for community in config.communities:
        for name in CRON_KEYS:
            trigger = CronTrigger.from_crontab(getattr(community.schedule, name), timezone=config.tz)
            jobs.append(ScheduledJob(name, community, trigger))
        jobs.append(ScheduledJob("sweep", community, CronTrigger.from_crontab(SWEEP_CRONTAB, timezone=config.tz)))
    return jobs


async def fire(app: "App", job: ScheduledJob, due: datetime, *, late: bool = False) -> None:
    """Run one job for its due time; errors are logged, never raised into the scheduler.

    Only for a community this instance runs jobs for (``Scope.runs_jobs_for``); other instances
    may run the same job at the same time, and the claims in the database decide."""
    if not app.scope.runs_jobs_for(job.community):
        log.debug("job %s skipped: %s is not served here", job.id, job.community.name)
        return
    try:
        if job.name == "sweep":
            await sweep(app, job.community)
            await prune(app)  # at most hourly, whichever community's sweep comes first
        else:
            await run_report(app, job.name, job.community, due, late=late)
    except Exception:
        log.exception("job %s due %s failed", job.id, due.isoformat())
    app.wake()


def last_fire(trigger: CronTrigger, now: datetime, lookback: timedelta = timedelta(days=370)) -> datetime | None:
    """The most recent fire time at or before ``now``."""
    previous, t = None, trigger.get_next_fire_time(None, now - lookback)
    while t is not None and t <= now:
        previous, t = t, trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return previous


async def catch_up(app: "App", jobs: list[ScheduledJob]) -> None:
    """At start: post missed reports once (late), and do the sweeps that fell due while down."""
    now = app.clock.now()
    async with app.repo.transaction() as tx:  # the first instance ever to start sets it
        first_start = float(await tx.setdefault_meta(FIRST_START, str(now.timestamp())))
    for job in jobs:
        if job.name == "sweep":
            await fire(app, job, now)
            continue
        due = last_fire(job.trigger, now)
        if due is not None and due.timestamp() >= first_start:
            await fire(app, job, due, late=due < now - timedelta(minutes=1))


class SimulatedScheduler:
    """Fires the jobs' triggers in simulated time; the replay moves the clock between them."""

    def __init__(self, app: "App", jobs: list[ScheduledJob]) -> None:
        self.app, self.jobs = app, jobs
        now = app.clock.now()
        # A trigger fires at or after "now"; a job due exactly at the start instant is the
        # catch-up's business, so start just after it.
        self._next = {job.id: job.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
                      for job in jobs if job.name != "sweep"}
        self._sweeps = [job for job in jobs if job.name == "sweep"]
        self._last_sweep: dict[str, datetime] = {}

    async def _sweep_time(self, job: ScheduledJob) -> datetime | None:
        deadline = await next_sweep_deadline(self.app, job.community)
        if deadline is None:
            return None
        now = self.app.clock.now()
        at = max(datetime.fromtimestamp(deadline, now.tzinfo), now)
        last = self._last_sweep.get(job.id)
        if last is not None:
            at = max(at, last + timedelta(microseconds=1))  # a tick never fires twice
        return job.trigger.get_next_fire_time(None, at)

    async def next_due(self) -> tuple[datetime, ScheduledJob] | None:
        candidates = [(t, job) for job in self.jobs if job.name != "sweep" and (t := self._next[job.id])]
        for job in self._sweeps:
            if (t := await self._sweep_time(job)) is not None:
                candidates.append((t, job))
        return min(candidates, key=lambda c: c[0]) if candidates else None

    async def run(self, due: datetime, job: ScheduledJob) -> None:
        await fire(self.app, job, due)
        if job.name == "sweep":
            self._last_sweep[job.id] = due
        else:
            self._next[job.id] = job.trigger.get_next_fire_time(due, due + timedelta(microseconds=1))


def start_realtime(app: "App", jobs: list[ScheduledJob]) -> AsyncIOScheduler:
    """Schedule the jobs with APScheduler on the running event loop."""
    scheduler = AsyncIOScheduler(timezone=app.config.tz)

    async def run(job: ScheduledJob) -> None:
        now = app.clock.now()
        due = now if job.name == "sweep" else (last_fire(job.trigger, now + timedelta(seconds=5)) or now)
        await fire(app, job, due)

    for job in jobs:
        scheduler.add_job(run, trigger=job.trigger, args=[job], id=job.id, coalesce=True, max_instances=1,
                          misfire_grace_time=300, replace_existing=True)
    scheduler.start()
    return scheduler
