"""The seller's shops: connecting one (an API call, not a deploy), changing its settings, and how each
stands (its tokens' expiry: an expired token is a named cause of overselling, so it shows before it
runs out)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from oms.errors import Conflict, NotFound
from oms.models.common import Channel
from oms.models.shops import Shop, ShopCreate, ShopCredentials, ShopState, ShopUpdate, ShopView
from oms.ports.shops import ShopSecretStore, ShopStore

EXPIRING_WITHIN = timedelta(days=1)


def shop_secret_name(shop_id: str, name: str) -> str:
    """A shop's own secret under its channel's: <channel>/shops/<shop id>/<name>."""
    return f"shops/{shop_id}/{name}"


class ShopService:
    def __init__(self, store: ShopStore, secrets: ShopSecretStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.secrets = secrets
        self.clock = clock

    def create(self, body: ShopCreate) -> ShopView:
        if self.store.get(body.channel, body.shop_id) is not None:
            raise Conflict(f"{body.channel.value} shop {body.shop_id} is connected already: PATCH it")
        now = self.clock()
        shop = Shop(**body.model_dump(exclude={"credentials"}), created_at=now, updated_at=now, version=1)
        # The secrets first: a shop row without its tokens would look connected and fail every call.
        self._keep(shop, body.credentials)
        self.store.put(shop, expected_version=None)
        return self.view(shop)

    def update(self, channel: Channel, shop_id: str, body: ShopUpdate) -> ShopView:
        shop = self.get(channel, shop_id)
        if body.version != shop.version:
            raise Conflict(f"shop changed since version {body.version} (now {shop.version}): read it again")
        if body.credentials is not None:
            self._keep(shop, body.credentials)
        settings = body.model_dump(exclude={"version", "credentials"})
        changed = shop.model_copy(update={**settings, "updated_at": self.clock(), "version": shop.version + 1})
        self.store.put(changed, expected_version=shop.version)
        return self.view(changed)

    def get(self, channel: Channel, shop_id: str) -> Shop:
        shop = self.store.get(channel, shop_id)
        if shop is None:
            raise NotFound(f"no {channel.value} shop {shop_id}")
        return shop

    def list(self) -> list[ShopView]:
        return [self.view(shop) for shop in sorted(self.store.shops(), key=lambda s: (s.channel.value, s.name))]

    def view(self, shop: Shop) -> ShopView:
        """The shop and its connection: disconnected without a token or past its expiry, expiring within a day."""
        channel = shop.channel.value
        token = self.secrets.channel_secret(channel, shop_secret_name(shop.shop_id, "access_token"))
        expires = _moment(
            self.secrets.channel_secret(channel, shop_secret_name(shop.shop_id, "access_token_expires_at"))
        )
        refresh = _moment(
            self.secrets.channel_secret(channel, shop_secret_name(shop.shop_id, "refresh_token_expires_at"))
        )
        now = self.clock()
        state, reason = ShopState.connected, None
        if not token:
            state, reason = ShopState.disconnected, "no access token: authorize the shop again"
        elif expires is not None and expires <= now:
            state, reason = ShopState.disconnected, "its access token ran out: authorize the shop again"
        elif refresh is not None and refresh <= now + EXPIRING_WITHIN:
            state, reason = ShopState.expiring, "its refresh token runs out within a day: authorize the shop again"
        elif expires is not None and expires <= now + EXPIRING_WITHIN and not self._renews(shop):
            state, reason = ShopState.expiring, "its access token runs out within a day and has no refresh token"
        if not shop.enabled:
            reason = "disabled" + (f"; {reason}" if reason else "")
        return ShopView(**shop.model_dump(), state=state, access_token_expires_at=expires,
                        refresh_token_expires_at=refresh, reason=reason)  # fmt: skip

    def _secret(self, shop: Shop, name: str) -> str | None:
        return self.secrets.channel_secret(shop.channel.value, shop_secret_name(shop.shop_id, name))

    def _renews(self, shop: Shop) -> bool:
        return bool(self._secret(shop, "refresh_token"))

    def _keep(self, shop: Shop, credentials: ShopCredentials) -> None:
        channel = shop.channel.value
        # The refresh token first: a crash between the writes leaves a pair that still renews.
        if credentials.refresh_token:
            self.secrets.put(channel, shop_secret_name(shop.shop_id, "refresh_token"), credentials.refresh_token)
        self.secrets.put(channel, shop_secret_name(shop.shop_id, "access_token"), credentials.access_token)
        for name in ("access_token_expires_at", "refresh_token_expires_at"):
            moment = getattr(credentials, name)
            if moment is not None:
                self.secrets.put(channel, shop_secret_name(shop.shop_id, name), str(int(moment.timestamp())))


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
