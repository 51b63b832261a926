"""`OMS_FAKE_NOW=<ISO instant> make test` runs the suite, and every process of the local stacks it
starts, as if it were then (oms_local.clock): the proof that it passes at any hour."""

from oms_local.clock import shift_from_env

shift_from_env()
