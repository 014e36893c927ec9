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


def test_every_route_parses_as_werkzeugs_own_compile_and_urls_match_alike(
    tmp_path: Path,
) -> None:
    """A second app's rules take the first's parsing: the same parts, trace, arguments and
    converters (new ones, bound to the second app's map) as Werkzeug's own ``compile``
    gives, so that URLs match the same endpoints with the same values."""
    settings = Settings(data_dir=tmp_path)
    first = create_app(settings, block_store=FakeBlockStore(), observe=False)
    second = create_app(settings, block_store=FakeBlockStore(), observe=False)
    adapter = second.url_map.bind("localhost")
    own_endpoint = 0
    for rule, earlier in zip(second.url_map.iter_rules(), first.url_map.iter_rules(), strict=True):
        assert rule._parts[-1] is earlier._parts[-1], rule  # parsed once, for the first app
        memoized = (list(rule._parts), list(rule._trace), set(rule.arguments))
        converters = {name: (type(c), c.regex) for name, c in rule._converters.items()}
        assert all(c.map is second.url_map for c in rule._converters.values())
        routes._original_compile(rule)
        assert memoized == (rule._parts, rule._trace, rule.arguments), rule
        assert converters == {name: (type(c), c.regex) for name, c in rule._converters.items()}
        values = {name: f"v-{name}" for name in rule.arguments if name not in (rule.defaults or {})}
        path = rule.build(values, append_unknown=False)
        assert path is not None, rule
        method = sorted(rule.methods or {"GET"})[0]
        endpoint, matched = adapter.match(path[1], method=method)
        if endpoint == rule.endpoint:  # else an equal path of another route came first
            assert matched == {**(rule.defaults or {}), **values}, rule
            own_endpoint += 1
    assert own_endpoint > 200
