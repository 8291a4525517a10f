"""Cron expressions as APScheduler triggers, with crontab's weekday numbers.

APScheduler 3.x numbers weekdays from Monday (0) while crontab numbers them from
Sunday (0 or 7), so ``CronTrigger.from_crontab("0 3 * * 1")`` would fire on Tuesdays.
Numeric weekdays are therefore rewritten as names before APScheduler sees them.
"""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

from visionops.errors import ConfigError

# Index = crontab's weekday number.
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^(?P<start>\*|\d+)(?:-(?P<end>\d+))?(?:/(?P<step>\d+))?$")


def _weekday_part(part: str) -> str:
    match = _PART.match(part)
    if match is None:
        return part  # names such as "mon-fri" mean the same to both
    start, end, step = match["start"], match["end"], match["step"]
    if start == "*":
        if step is None:
            return "*"
        first, last = 0, 7
    else:
        first = int(start)
        # crontab reads "a/n" as "a-7/n"
        last = int(end) if end is not None else 7 if step is not None else first
    if not 0 <= first <= last <= 7:
        raise ValueError(f"weekday {part!r} is out of range 0-7")
    days = range(first, last + 1, int(step or 1))
    return ",".join(dict.fromkeys(WEEKDAYS[day] for day in days))


def crontab_weekdays(field: str) -> str:
    """Rewrites a crontab day-of-week field (``1-5``, ``0,6``, ``*/2``) with day names."""
    return ",".join(_weekday_part(part) for part in field.split(","))


def cron_trigger(expression: str, timezone: str | None = None) -> CronTrigger:
    """An APScheduler trigger for ``expression``.

    Args:
        expression: Five crontab fields (minute hour day month weekday), or six with a
            seconds field first, e.g. ``"*/5 * * * * *"`` for every five seconds.
        timezone: An IANA zone name; None for the machine's local time.

    Raises:
        ConfigError: The expression does not have 5 or 6 valid fields.
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ConfigError(
            f"cron {expression!r} has {len(fields)} field(s); give 5 (minute hour day month "
            "weekday, e.g. '0 3 * * *') or 6 with seconds first (e.g. '*/10 * * * * *')"
        )
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(weekday),
            timezone=timezone,
        )
    except ValueError as error:
        raise ConfigError(f"cron {expression!r} is not valid: {error}") from error
