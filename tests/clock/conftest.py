from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clock.world import ClockWorld, make_world


@pytest.fixture
def world(db, db_url, encryption_key) -> Iterator[ClockWorld]:
    w = make_world(db, db_url, encryption_key=encryption_key)
    yield w
    w.close()
