"""Embedded local runtime: the real Lambda handlers against moto, wired from template.yaml."""

from .clock import shift_from_env

shift_from_env()  # OMS_FAKE_NOW: every process of the stack at the same other instant

from .runtime import LocalRuntime  # noqa: E402 - after the clock, which must move before anything reads it
from .workers import FunctionError, InvokeResult  # noqa: E402

__all__ = ["FunctionError", "InvokeResult", "LocalRuntime"]
