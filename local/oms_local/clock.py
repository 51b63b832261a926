"""The local stack at another instant: `OMS_FAKE_NOW=2027-03-10T08:00:00+07:00 make run` (or
`make test`) runs every process of the stack as if it were then, with time moving on from there.

The first process to see OMS_FAKE_NOW turns it into OMS_CLOCK_OFFSET_S (the fake instant less
its real clock) for its children, so processes started minutes apart still share one clock.
time-machine (a development dependency) patches the clock inside Python; libfaketime's
LD_PRELOAD hangs Python's timed waits (Event.wait, Queue.get) on this Debian.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

OFFSET_VARIABLE = "OMS_CLOCK_OFFSET_S"
_shifted = False


def shift_from_env() -> None:
    """Move this process's clock by the run's offset, once; nothing when no fake instant is set."""
    global _shifted  # noqa: PLW0603 - one shift per process, whoever asks first
    if _shifted:
        return
    fake = os.environ.get("OMS_FAKE_NOW")
    offset = os.environ.get(OFFSET_VARIABLE)
    if fake and not offset:
        instant = datetime.fromisoformat(fake)
        if instant.tzinfo is None:
            raise ValueError(f"OMS_FAKE_NOW needs an offset, e.g. 2026-12-07T17:30:00+00:00: {fake!r}")
        offset = repr(instant.timestamp() - time.time())
        os.environ[OFFSET_VARIABLE] = offset
    if offset:
        import time_machine

        time_machine.travel(time.time() + float(offset), tick=True).start()
    _shifted = True
