"""Where the shops are kept (the catalog table) and their secrets (SSM, per shop)."""

from __future__ import annotations

from typing import Protocol

from oms.models.common import Channel
from oms.models.shops import Shop


class ShopStore(Protocol):
    def shops(self) -> list[Shop]: ...

    def get(self, channel: Channel, shop_id: str) -> Shop | None: ...

    def put(self, shop: Shop, expected_version: int | None) -> None:
        """Write it; expected_version None: only if new (else Conflict); a number: only over that version
        (else Conflict: someone saved meanwhile)."""
        ...


class ShopSecretStore(Protocol):
    """A channel's secrets by name; a shop's are named shops/<shop id>/<name>."""

    def channel_secret(self, channel: str, name: str) -> str | None: ...

    def put(self, channel: str, name: str, value: str) -> None: ...
