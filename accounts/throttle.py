"""The sign-in throttle's rules, without HTTP: how long a failed sign-in waits before it
is answered, and what a locked sign-in is told."""

import math
from dataclasses import dataclass
from datetime import datetime


def slow_down_seconds(failures: int, *, limit: int, step: float, cap: float) -> float:
    """From half the failure limit on, each further failure waits `step` seconds longer
    than the one before, at most `cap`: a person who mistyped barely notices, a script
    guessing passwords slows to a crawl well before the lock."""
    slow_from = limit // 2
    if step <= 0 or failures <= slow_from:
        return 0.0
    return min((failures - slow_from) * step, cap)


@dataclass(frozen=True)
class SignInLock:
    """What refuses a sign-in: the account's lock or the address's, and until when."""

    ACCOUNT = "account"
    ADDRESS = "address"

    locked: str
    until: datetime

    def minutes_left(self, now: datetime) -> int:
        return max(1, math.ceil((self.until - now).total_seconds() / 60))

    def message(self, now: datetime) -> str:
        when = f"{self.until:%H:%M} UTC (about {self.minutes_left(now)} minutes)"
        if self.locked == self.ACCOUNT:
            return (
                f"Too many failed sign-ins for this account: it is locked until {when}. "
                "The right password will not work before then; an admin can unlock it sooner."
            )
        return (
            f"Too many failed sign-ins from this address: signing in from it is locked until "
            f"{when}. An admin can unlock it sooner."
        )
