"""API keys: random, shown once, stored as SHA-256 with roles.

A key has 256 bits of entropy, so an unsalted SHA-256 is as strong as a
slow hash here and lets the lookup be one GetItem.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from oms.errors import Forbidden, Unauthorized
from oms.models.apikey import ApiKey, Role
from oms.models.order import Channel
from oms.ports import ApiKeyRepository

KEY_PREFIX = "oms_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(
    name: str,
    roles: list[Role],
    now: datetime,
    channels: list[Channel] | None = None,
    key: str | None = None,
    nodes: list[str] | None = None,
) -> tuple[str, ApiKey]:
    """A new key and its stored record; the key itself is returned once and never stored."""
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(key)
    record = ApiKey(
        key_hash=digest, key_id=digest[:10], name=name, roles=roles, channels=channels, nodes=nodes, created_at=now
    )
    return key, record


def authenticate(repo: ApiKeyRepository, presented: str | None) -> ApiKey:
    if not presented:
        raise Unauthorized("missing x-api-key header")
    record = repo.get(hash_key(presented.strip()))
    if record is None or record.disabled:
        raise Unauthorized("unknown or disabled API key")
    return record


def authorize(key: ApiKey, allowed: frozenset[Role], channel: Channel | None = None) -> None:
    if not allowed.intersection(key.roles):
        names = ", ".join(sorted(role.value for role in allowed))
        raise Forbidden(f"this key's roles ({', '.join(r.value for r in key.roles)}) may not do this; needs {names}")
    if channel is not None and key.channels is not None and channel not in key.channels:
        raise Forbidden(f"this key may not act for channel '{channel.value}'")


def nodes_acted_for(key: ApiKey) -> set[str] | None:
    """The nodes a key may act for; None = any (ops, cs, or a node key not limited)."""
    if Role.ops in key.roles or Role.cs in key.roles or key.nodes is None:
        return None
    return set(key.nodes)


def require_nodes(key: ApiKey, *node_ids: str, what: str = "act for") -> None:
    """403 naming the first of node_ids a node key limited to its nodes may not act for;
    ops, cs and unlimited keys pass."""
    allowed = nodes_acted_for(key)
    if allowed is None:
        return
    for node_id in node_ids:
        if node_id not in allowed:
            raise Forbidden(
                f"this key may not {what} node {node_id}: it acts for {', '.join(sorted(allowed))} only",
                details={"node_id": node_id, "key_nodes": sorted(allowed)},
            )


def channels_acted_for(key: ApiKey) -> set[Channel] | None:
    """The channels a key may change orders of; None = any (ops, cs, or a channel key not limited)."""
    if Role.ops in key.roles or Role.cs in key.roles or key.channels is None:
        return None
    return set(key.channels)


def actor(key: ApiKey) -> str:
    """Who, for the timeline and the records: the key's first role of ops, cs, node, channel and its name."""
    for role in (Role.ops, Role.cs, Role.node, Role.channel):
        if role in key.roles:
            return f"{role.value}:{key.name}"
    return f"key:{key.key_id}"
