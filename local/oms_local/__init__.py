"""Embedded local runtime: the real Lambda handlers against moto, wired from template.yaml."""

from .runtime import LocalRuntime
from .workers import FunctionError, InvokeResult

__all__ = ["FunctionError", "InvokeResult", "LocalRuntime"]
