"""The OMS layer: settings, observability, models, domain, ports and adapters.

Importing it first raises the garbage collector's first threshold (700 -> 25,000 new container
objects). Building the pydantic models' schemas allocates some 180,000 objects, and with the default
the collector ran so often that it cost a cold start about 100 ms (bench cold_start, side by side).
A Lambda process is short-lived and runs one event at a time: collecting less often costs it a few
hundred kilobytes at most, and each invocation's collections get fewer too.
"""

import gc

_FIRST, _SECOND, _THIRD = gc.get_threshold()
gc.set_threshold(max(_FIRST, 25_000), _SECOND, _THIRD)
