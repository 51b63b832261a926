"""Where a long walk stopped, by name: each run of a scheduled job goes on from there."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Cursors(ABC):
    @abstractmethod
    def get(self, name: str) -> str | None: ...

    @abstractmethod
    def put(self, name: str, cursor: str | None) -> None:
        """None starts the walk over next time."""
