"""HAProxy's runtime API over its admin stats socket, one command per connection.

Socket errors become ``BackendUnavailable``; an answer that says the command failed does
too, naming the command, since it means the running HAProxy and our files disagree (a
reload that has not happened yet), which the next call mends.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from nimbus.errors import BackendUnavailable
from paas.router.base import STATUS_CLASSES, MemberStats

#: Answers of commands that did nothing.
_FAILURES = ("No such", "Can't find", "Unknown", "unknown", "Require", "Invalid")

# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced, inherited or resolver maintenance;
# forced or inherited drain. A slot disabled in the configuration (0x04) leaves maintenance
# once the runtime API sets another state.
_MAINT = 0x01 | 0x02 | 0x20
_DRAIN = 0x08 | 0x10


@dataclass(frozen=True)
class ServerState:
    """One server slot as ``show servers state`` reports it."""

    name: str
    address: str
    port: int
    running: bool
    admin: int
    check_passed: bool

    @property
    def maint(self) -> bool:
        return bool(self.admin & _MAINT)

    @property
    def drain(self) -> bool:
        return bool(self.admin & _DRAIN)


class Runtime:
    """Commands to the HAProxy whose admin socket is at ``path``."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def raw(self, command: str) -> str:
        """Send one command and return HAProxy's whole answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.path))
                sock.sendall(command.encode() + b"\n")
                return _read_all(sock)
        except OSError as exc:
            raise BackendUnavailable(f"HAProxy at {self.path}: {command!r}: {exc}") from exc

    def run(self, command: str) -> str:
        """Send one command; ``BackendUnavailable`` if HAProxy says it failed."""
        answer = self.raw(command)
        if answer.strip().startswith(_FAILURES):
            raise BackendUnavailable(f"HAProxy refused {command!r}: {answer.strip()}")
        return answer

    def worker_pid(self) -> int:
        """The PID of the worker answering on the socket (it changes on each reload)."""
        for line in self.run("show info").splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        raise BackendUnavailable(f"HAProxy at {self.path} did not tell its PID")

    def servers(self, backend: str) -> dict[str, ServerState] | None:
        """The backend's server slots by name, or ``None`` if HAProxy has no such backend."""
        answer = self.raw(f"show servers state {backend}")
        if answer.startswith("Can't find backend"):
            return None
        rows = [line.split() for line in answer.splitlines()[1:] if line and line[0] != "#"]
        return {row[3]: _server(row) for row in rows}

    def stats(self, backend: str) -> dict[str, MemberStats] | None:
        """Each server slot's response counts (``show stat``), or ``None`` if HAProxy
        has no such backend."""
        lines = self.run("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            raise BackendUnavailable(f"HAProxy at {self.path} answered no statistics")
        columns = lines[0][2:].split(",")
        found, slots = False, {}
        for line in lines[1:]:
            row = dict(zip(columns, line.split(","), strict=False))
            if row.get("pxname") != backend:
                continue
            found = True
            if row.get("svname") in ("FRONTEND", "BACKEND"):
                continue
            responses = {c: _int(row.get(f"hrsp_{c}")) for c in STATUS_CLASSES}
            slots[row["svname"]] = MemberStats(responses, _int(row.get("rtime")))
        return slots if found else None

    def map_entries(self, map_file: Path) -> dict[str, str]:
        """The host map HAProxy holds in memory: host name -> backend."""
        answer = self.run(f"show map {map_file}")
        entries = (line.split() for line in answer.splitlines() if line.strip())
        return {fields[1]: fields[2] for fields in entries if len(fields) == 3}


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _read_all(sock: socket.socket) -> str:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _server(row: list[str]) -> ServerState:
    # Columns of "show servers state" (version 1): srv_op_state 2 is running; a
    # srv_check_result of 3 (passed) or 4 (conditionally passed) is a passing last check.
    return ServerState(
        name=row[3],
        address=row[4],
        port=int(row[18]),
        running=row[5] == "2",
        admin=int(row[6]),
        check_passed=row[11] in ("3", "4"),
    )
