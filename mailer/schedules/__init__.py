"""The schedules step: when poll, digest and housekeeping run, and running each fire time once.

One job: keep the ``schedules`` table (cron expression + time zone per schedule) and
fire it — every fire time claimed, run and recorded exactly once across however many
scheduler processes run, missed ones caught up within grace or recorded as skipped.

- how staff change a schedule: :mod:`mailer.schedules.edit` (cron text via ``crontab``;
  the role check and the audit row of each change; the command line acts as ``cli``);
- when a schedule fires, what was missed, run or skip: :mod:`mailer.schedules.fire_times`;
- how a schedule fires, exactly once: :mod:`mailer.schedules.firing`, driven by the
  APScheduler runner :mod:`mailer.schedules.runner`;
- is any scheduler alive: :mod:`mailer.schedules.liveness`; a job's lease: ``leases``;
  is this host's scheduler or worker beating (a container healthcheck): ``host_liveness``.

May import: the leaves (config, errors, models, context, roles), ``store`` and APScheduler 3.
It does not import another step, nor the jobs: what each kind of schedule does comes
in as a job table (``mailer.jobs.JOBS``, an entry point). Other packages use only
the names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # editing and listing schedules
        "COMMAND_LINE": "edit",
        "Operator": "edit",
        "ScheduleView": "edit",
        "get_schedule_view": "edit",
        "list_schedule_views": "edit",
        "next_fire_time": "edit",
        "next_runs": "edit",
        "pause_schedule": "edit",
        "resume_schedule": "edit",
        "set_schedule": "edit",
        # cron expressions and fire times
        "cron_for": "cron_words",
        "describe_cron": "cron_words",
        "WEEKDAYS": "cron_words",
        "weekdays_of": "cron_words",
        "check_timezone": "crontab",
        "cron_trigger": "crontab",
        "describe_seconds": "fire_times",
        "format_local": "fire_times",
        "next_fire_times": "fire_times",
        # liveness
        "SCHEDULER_ROLE": "liveness",
        "SchedulerLiveness": "liveness",
        "scheduler_liveness": "liveness",
        "beating_here": "host_liveness",
        # running
        "JobFunction": "job_run",
        "JobRun": "job_run",
        "JobTable": "job_run",
        "RunOutcome": "firing",
        "TAKEN": "firing",
        "Scheduler": "runner",
        "SchedulerWhenReady": "runner",
        "run_scheduler": "runner",
        "held_lease": "leases",
    },
)
