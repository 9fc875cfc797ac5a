-- Scheduled jobs: escalation, stale reminders and follow-ups are remembered per order;
-- every run of a periodic report is recorded with the period it covers (its primary key
-- makes a run happen once, also across several bot instances).

ALTER TABLE orders ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN escalated_at REAL;
ALTER TABLE orders ADD COLUMN stale_reminded_at REAL;
ALTER TABLE orders ADD COLUMN followup_sent_at REAL;

CREATE TABLE job_runs (
    job       TEXT    NOT NULL,
    community TEXT    NOT NULL,
    period    TEXT    NOT NULL,
    due_at    REAL    NOT NULL,
    ran_at    REAL    NOT NULL,
    late      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job, community, period)
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
