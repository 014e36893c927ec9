"""The memoized URL builders (``tests.support.routes``) build what Werkzeug's own do, for
every route of the API, with and without unknown arguments appended."""

from __future__ import annotations

from pathlib import Path

from activities.storage.fake_block import FakeBlockStore
from api import create_app
from nimbus.config import Settings
from tests.support import routes


def test_every_route_builds_the_same_url_as_werkzeugs_own_builder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = create_app(settings, block_store=FakeBlockStore(), observe=False)
    second = create_app(settings, block_store=FakeBlockStore(), observe=False)
    rules = list(second.url_map.iter_rules())
    assert len(rules) > 200
    shared = 0
    for rule, earlier in zip(rules, first.url_map.iter_rules(), strict=True):
        values = {name: f"v-{name}" for name in rule.arguments}
        own = routes._original(rule, True).__get__(rule, None)
        bare = routes._original(rule, False).__get__(rule, None)
        assert rule.build({**values, "extra": "x y"}) == own(**values, extra="x y"), rule
        assert rule.build(values, append_unknown=False) == bare(**values), rule
        shared += rule._build_unknown.__func__ is earlier._build_unknown.__func__
    assert shared == len(rules)  # the second app made none of its own
