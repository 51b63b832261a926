"""Fixtures for the oms_local tests: every test gets its own runtime on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from local_helpers import FIXTURE_TEMPLATE

from oms_local import LocalRuntime


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[Callable[..., LocalRuntime]]:
    started: list[LocalRuntime] = []

    def factory(**kwargs: Any) -> LocalRuntime:
        kwargs.setdefault("data_dir", tmp_path / "oms")
        rt = LocalRuntime(FIXTURE_TEMPLATE, port=0, moto_port=0, **kwargs).start()
        started.append(rt)
        return rt

    yield factory
    for rt in started:
        rt.stop(drain_timeout=2)


@pytest.fixture
def rt(make_runtime: Callable[..., LocalRuntime]) -> LocalRuntime:
    return make_runtime()
