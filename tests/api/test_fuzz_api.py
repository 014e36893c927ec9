"""Every route of the OpenAPI document, fuzzed with the tokens of no one, a reader, a
member and an admin (tests/support/fuzz.py says what must hold). CI sends two requests
per operation and role, drawn from a fixed seed (the same every run);
``NIMBUS_FUZZ_EXAMPLES=N`` sends N, and ``NIMBUS_FUZZ_SEED`` draws other ones (``make
fuzz`` runs such a campaign on both databases)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from api.openapi import document
from tests.api.test_policy_walk import SHARED_PARAMS, build_world
from tests.support import paas
from tests.support.fuzz import ROLES, Fuzzer
from tests.support.stack import Stack

#: The stack with the PaaS router's and droplets' fakes, so that app workflows end.
stack = paas.stack

#: Requests per operation and role (the simplest first): CI's sample, or the long
#: campaign's; and what the requests are drawn from (another seed, other requests).
EXAMPLES = int(os.environ.get("NIMBUS_FUZZ_EXAMPLES", "2"))
SEED = os.environ.get("NIMBUS_FUZZ_SEED", "0")


def test_no_route_answers_5xx_or_changes_rows_it_refused(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    world = build_world(stack)
    known = {**SHARED_PARAMS, **world.ids, "target_id": world.demo_project}
    doc = document(stack.client.application)
    began = time.monotonic()
    figures = Fuzzer(stack, doc, known, EXAMPLES, SEED).run()
    record_property("campaign", figures.line(time.monotonic() - began))
    assert figures.findings == [], "\n".join(figures.findings)
    operations = sum(len(ops) for ops in doc["paths"].values())
    assert len(figures.covered) == len(ROLES) * operations  # every one, as every role
