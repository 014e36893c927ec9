"""Property-based fuzzing of the API from its own OpenAPI document.

schemathesis turns each operation of ``/openapi.json`` into a hypothesis strategy of
requests (path, query, headers, body); each is sent in-process (WSGI) with one role's
token. Path parameters are, three times in four, ids of real resources (so that requests
get past the lookups), and the microversion is the newest; otherwise all is generated.

What must hold for every request:
- no 5xx;
- without a token, every route but the public ones answers 401;
- a request from no one or from a reader changes no row and starts no workflow;
- a refused request (4xx) of a member or an admin changes no row, when it started no
  workflow and none that an earlier request started is still running.

Rows are compared only when an INSERT, UPDATE or DELETE ran on a table that matters since
the last snapshot (a SQLAlchemy event on every engine: the API's and the worker's), so
most requests cost no snapshot. Whatever breaks a rule is kept as a finding, with a curl
line that repeats the request; the run goes on.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from nimbus.db import Base
from nimbus.db_audit import AuditEvent
from tests.support.stack import Stack

#: Tables that change without anyone asking: tokens issued, the audit trail, heartbeats.
VOLATILE_TABLES = frozenset({"tokens", "audit_events", "hosts"})
#: How long to wait for the workflows a write started before comparing rows again.
SETTLE_SECONDS = 10.0
_DML = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_ORDER = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
_VERSIONED = {"/compute/": "compute latest", "/volume/": "volume latest"}

# Glance's JSON patches are JSON.
schemathesis.serializer.alias(
    [
        "application/openstack-images-v2.1-json-patch",
        "application/openstack-images-v2.0-json-patch",
    ],
    "application/json",
)


@dataclass(frozen=True)
class Role:
    """Who sends: a seeded user (``None``: no token), and whether every request of theirs
    must leave the rows as they were (no one and a reader may change nothing)."""

    name: str
    user: str | None
    changes_nothing: bool


ROLES = (
    Role("anonymous", None, True),
    Role("reader", "rita", True),
    Role("member", "alice", False),
    Role("admin", "admin", False),
)


class TableWrites:
    """The tables that matter an INSERT, UPDATE or DELETE ran on since last cleared, in
    any engine and thread: the sign that a snapshot is worth comparing."""

    def __init__(self) -> None:
        self.tables: set[str] = set()

    def __enter__(self) -> TableWrites:
        event.listen(Engine, "after_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "after_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        found = _DML.match(statement)
        if found and found.group(1).lower() not in VOLATILE_TABLES:
            self.tables.add(found.group(1).lower())


@dataclass
class Figures:
    """What a campaign did: answers by role and status class, and the rows it compared."""

    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (role, method, path template) of every request sent.
    covered: set[tuple[str, str, str]] = field(default_factory=set)
    row_checks: int = 0
    unchecked: int = 0  # refused while a workflow ran, or having started one
    findings: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.answers.values())

    def line(self, seconds: float) -> str:
        """One line for the terminal summary."""
        by_role = ", ".join(
            f"{role} {sum(n for (r, _), n in self.answers.items() if r == role)}"
            for role in [r.name for r in ROLES]
        )
        classes = Counter[str]()
        for (_, cls), n in self.answers.items():
            classes[cls] += n
        statuses = " ".join(f"{c}:{classes[c]}" for c in sorted(classes))
        return (
            f"{self.sent} requests in {seconds:.0f} s ({by_role}); {statuses};"
            f" 5xx {classes['5xx']}; rows compared after {self.row_checks} requests"
            f" ({self.unchecked} refused writes not compared: a workflow ran);"
            f" findings {len(self.findings)}"
        )


class Fuzzer:
    """Sends generated requests as each role and keeps what breaks the rules above."""

    def __init__(
        self,
        stack: Stack,
        document: dict[str, Any],
        known: dict[str, str],
        examples: int,
        seed: str = "0",
    ) -> None:
        self.stack, self.known, self.examples, self.seed = stack, known, examples, seed
        self.app = stack.client.application
        self.schema = schemathesis.openapi.from_dict(document)
        self.public = {
            (method.upper(), path)
            for path, ops in document["paths"].items()
            for method, op in ops.items()
            if op.get("security") == []
        }
        self.figures = Figures()
        self.writes = TableWrites()
        self.baseline: dict[str, list[str]] = {}
        self.pending: set[str] = set()
        self.waited: set[str] = set()

    def run(self, roles: tuple[Role, ...] = ROLES) -> Figures:
        """Every operation, ``examples`` times, as each role in turn: reads first, then
        writes, deletes last (so that the ids stay real for as long as they can)."""
        with self.writes:
            self._settle()
            for role in roles:
                token = self.stack.token(role.user) if role.user else None
                for operation in self._operations():
                    self._fuzz(operation, role, token)
        self._terminate(self._running(self.pending))
        return self.figures

    def _terminate(self, workflow_ids: set[str]) -> None:
        """End what still runs: the next test's worker polls the same queues."""

        async def terminate(client: Any) -> None:
            for workflow_id in workflow_ids:
                await client.get_workflow_handle(workflow_id).terminate("fuzzing ended")

        if workflow_ids:
            self.stack.bridge.run(terminate)

    def _operations(self) -> list[Any]:
        found = [result.ok() for result in self.schema.get_all_operations()]
        return sorted(found, key=lambda op: (_ORDER.get(op.method.upper(), 1), op.path))

    def _strategy(self, operation: Any) -> st.SearchStrategy[Any]:
        """Real ids three times in four (when every parameter has one), else anything."""
        anything = operation.as_strategy()
        names = re.findall(r"{(\w+)}", operation.path)
        if not all(n in self.known for n in names):
            return anything
        versioned = any(p.name == "OpenStack-API-Version" for p in operation.headers)
        newest = [v for prefix, v in _VERSIONED.items() if operation.path.startswith(prefix)]
        headers = {"OpenStack-API-Version": newest[0]} if versioned and newest else None
        real = operation.as_strategy(
            path_parameters={n: self.known[n] for n in names}, headers=headers
        )
        return st.integers(0, 3).flatmap(lambda pick: anything if pick == 3 else real)

    def _fuzz(self, operation: Any, role: Role, token: str | None) -> None:
        """``examples`` requests for one operation: the simplest first, then random ones,
        from a seed of the operation's own (reproducible, and not the same for all)."""

        def send(case: Any) -> None:
            self._send(case, role, token)

        test = given(case=self._strategy(operation))(send)
        label = f"{self.seed} {role.name} {operation.method} {operation.path}"
        seed(zlib.crc32(label.encode()))(self._settings(test))()

    def _settings(self, test: Any) -> Any:
        return settings(
            max_examples=self.examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(test)

    def _send(self, case: Any, role: Role, token: str | None) -> None:
        if self.writes.tables:
            self._settle()
        self.figures.covered.add((role.name, case.method, case.path))
        case.headers = {k: v for k, v in (case.headers or {}).items() if k != "X-Auth-Token"}
        try:
            response = case.call(app=self.app, headers={"X-Auth-Token": token} if token else {})
        except Exception as exc:  # noqa: BLE001 - an exception the app let out is a finding
            self.figures.answers[(role.name, "5xx")] += 1
            self._found(case, role, f"raised {exc!r}")
            return
        status = response.status_code
        self.figures.answers[(role.name, f"{status // 100}xx")] += 1
        if status >= 500:
            self._found(case, role, f"{status} {response.text[:300]}")
        if token is None and (case.method, case.path) not in self.public and status != 401:
            self._found(case, role, f"{status} without a token")
        started = self._started(response.headers) if case.method != "GET" else set()
        if role.changes_nothing and started:
            self._found(case, role, f"{status} started {sorted(started)}")
        if role.changes_nothing or (400 <= status < 500 and not started and not self.pending):
            self._compare_rows(case, role, status)
        elif 400 <= status < 500:
            self.figures.unchecked += 1
        self.pending |= started

    def _started(self, headers: dict[str, list[str]]) -> set[str]:
        """The workflows the request started, from its audit record (writes only)."""
        request_id = (headers.get("x-openstack-request-id") or [""])[0]
        with self.stack.db.session() as s:
            rows = s.scalars(
                select(AuditEvent.workflow_ids).where(AuditEvent.request_id == request_id)
            )
            return {w for ids in rows for w in (ids or [])}

    def _compare_rows(self, case: Any, role: Role, status: int) -> None:
        self.figures.row_checks += 1
        if not self.writes.tables:
            return
        after = table_rows(self.stack)
        changed = sorted(t for t in after if after[t] != self.baseline.get(t))
        if changed:
            self._found(case, role, f"{status} changed rows of {', '.join(changed)}")
        self.baseline = after
        self.writes.tables.clear()

    def _settle(self) -> None:
        """Wait a while for the workflows writes started since the last wait (not again
        for those that outlived one); then take the rows as they are as the baseline."""
        fresh = self.pending - self.waited
        deadline = time.monotonic() + SETTLE_SECONDS
        self.pending = self._running(self.pending)
        while self.pending & fresh and time.monotonic() < deadline:
            time.sleep(0.05)
            self.pending = self._running(self.pending)
        self.waited |= self.pending
        self.baseline = table_rows(self.stack)
        self.writes.tables.clear()

    def _running(self, workflow_ids: set[str]) -> set[str]:
        async def running(client: Any) -> set[str]:
            out = set()
            for workflow_id in workflow_ids:
                try:
                    described = await client.get_workflow_handle(workflow_id).describe()
                except RPCError:
                    continue
                if described.status == WorkflowExecutionStatus.RUNNING:
                    out.add(workflow_id)
            return out

        return set(self.stack.bridge.run(running)) if workflow_ids else set()

    def _found(self, case: Any, role: Role, what: str) -> None:
        curl = case.as_curl_command(headers={"X-Auth-Token": "<token>"} if role.user else {})
        self.figures.findings.append(f"{role.name} {case.method} {case.path}: {what}\n  {curl}")


def table_rows(stack: Stack) -> dict[str, list[str]]:
    """Every row of every table that matters, as text, by table."""
    out: dict[str, list[str]] = {}
    with stack.db.session() as s:
        for table in Base.metadata.sorted_tables:
            if table.name not in VOLATILE_TABLES:
                rows = s.execute(select(table)).all()
                out[table.name] = sorted(json.dumps(list(r), default=str) for r in rows)
    return out
