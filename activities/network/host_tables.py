"""The host's two nftables tables of one driver: network zones and isolation, port filters,
group member sets.

Every change is one transaction made under one lock. It is first tried the quick way, from
what the driver's records say the tables hold (a port whose tag did not change only re-adds
the same map entries, which nftables accepts); if the kernel refuses that, or the records
cannot tell, the change is rebuilt from what the tables really hold (the careful way: list
the maps, delete what points at the object, add it again). So the usual change costs the
same with 1 port or 1000, and a wrong record or a crash halfway costs only a retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from activities.network import nft
from activities.network import nft_filter as rules
from activities.network.base import PortFilter, bridge_name, tap_name
from nimbus.errors import InvalidSpec

Commands = list[str]


@dataclass(frozen=True)
class NetworkEntry:
    """What the tables hold for a network: its bridge's zone, or its isolation."""

    zone: int | None
    isolated: bool


@dataclass(frozen=True)
class FilterEntry:
    """What the tables hold for a port: its tag's map entries, if it is filtered."""

    tag: int
    filtered: bool


def _target(verdict: object) -> str | None:
    """The chain a ``jump`` verdict in a map element goes to."""
    if isinstance(verdict, dict) and "jump" in verdict:
        return str(verdict["jump"]["target"])
    return None


def _key(key: object) -> str:
    return f'"{key}"' if isinstance(key, str) else f"{key:#x}" if isinstance(key, int) else str(key)


class HostTables:
    """``inet <table>`` and ``bridge <table>`` on the host."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._lock = threading.Lock()
        #: Whether this instance laid out the tables (skeleton) since they were last dropped.
        self._ready = False

    # -- applying ---------------------------------------------------------------------------

    def _run(self, commands: Commands) -> None:
        """Run ``commands``, after the skeleton the first time (redoing the base chains'
        rules costs a walk of every port's chains, so it is not done every time)."""
        nft.run(commands if self._ready else rules.skeleton(self.table) + commands)
        self._ready = True

    def _change(self, quick: Commands | None, careful: Callable[[], Commands]) -> None:
        with self._lock:
            if quick is not None:
                try:
                    self._run(quick)
                    return
                except nft.NftError:
                    self._ready = False  # the tables may have gone; lay them out again
            self._run(careful())

    # -- reading ----------------------------------------------------------------------------

    def _elements(self, family: str, name: str) -> list[tuple[object, object]]:
        found = nft.listing(f"list map {family} {self.table} {name}")
        return [(k, v) for k, v in found[0]["map"].get("elem", [])] if found else []

    def _deletions(self, family: str, name: str, chain: str) -> Commands:
        """``delete element`` commands for the entries of map ``name`` jumping to ``chain``."""
        return [
            f"delete element {family} {self.table} {name} {{ {_key(key)} }}"
            for key, value in self._elements(family, name)
            if _target(value) == chain
        ]

    def chains(self) -> set[str]:
        """This driver's chains, as ``family name``."""
        found: set[str] = set()
        for family in ("inet", "bridge"):
            for item in nft.listing(f"list chains {family}") or []:
                if item["chain"]["table"] == self.table:
                    found.add(f"{family} {item['chain']['name']}")
        return found

    def zoned_bridges(self) -> set[str]:
        """The bridges the zone map gives a conntrack zone."""
        return {str(key) for key, _ in self._elements("inet", "zones")}

    def sets(self) -> set[str]:
        return {
            item["set"]["name"]
            for item in nft.listing("list sets inet") or []
            if item["set"]["table"] == self.table
        }

    # -- networks ---------------------------------------------------------------------------

    def add_network(
        self, network_id: str, entry: NetworkEntry, previous: NetworkEntry | None
    ) -> None:
        """Give a bridge its conntrack zone (tenant networks) or cut it off (external)."""
        adds = self._network_adds(network_id, entry)
        quick = adds if previous in (None, entry) else None
        self._change(quick, lambda: self._network_cleanup(network_id) + adds)

    def remove_network(self, network_id: str, previous: NetworkEntry | None) -> None:
        quick = None if previous is None else self._network_deletes(network_id, previous)
        self._change(quick, lambda: self._network_cleanup(network_id))

    def _network_adds(self, network_id: str, entry: NetworkEntry) -> Commands:
        bridge = f'"{bridge_name(network_id)}"'
        commands = []
        if entry.zone is not None:
            commands.append(f"add element inet {self.table} zones {{ {bridge} : {entry.zone} }}")
        if entry.isolated:
            commands += rules.isolation(self.table, network_id)
        return commands

    def _network_deletes(self, network_id: str, entry: NetworkEntry) -> Commands:
        inet, bridge = f"inet {self.table}", f'"{bridge_name(network_id)}"'
        commands = [f"delete element {inet} zones {{ {bridge} }}"] if entry.zone else []
        if entry.isolated:
            commands += [f"delete element {inet} {m} {{ {bridge} }}" for m in ("ext_in", "ext_out")]
            commands.append(f"delete chain {inet} {rules.isolation_chain(network_id)}")
        return commands

    def _network_cleanup(self, network_id: str) -> Commands:
        bridge = bridge_name(network_id)
        chain = rules.isolation_chain(network_id)
        commands = [
            f'delete element inet {self.table} zones {{ "{bridge}" }}'
            for key, _ in self._elements("inet", "zones")
            if key == bridge
        ]
        commands += self._deletions("inet", "ext_in", chain)
        commands += self._deletions("inet", "ext_out", chain)
        if f"inet {chain}" in self.chains():
            commands.append(f"delete chain inet {self.table} {chain}")
        return commands

    # -- port filters -----------------------------------------------------------------------

    def add_filter(self, spec: PortFilter, previous: FilterEntry | None) -> None:
        """Install or replace a port's filter. A tag held by another port is ``InvalidSpec``."""
        adds = (
            rules.port_filter(self.table, spec)
            if spec.port_security
            else rules.unfiltered_port(self.table, spec.port_id)
        )
        same_tag = previous is None or (previous.filtered and previous.tag == spec.tag)
        quick = adds if spec.port_security and same_tag else None
        self._change(quick, lambda: self._filter_replacement(spec, adds))

    def _filter_replacement(self, spec: PortFilter, adds: Commands) -> Commands:
        mine = rules.egress_chain(spec.port_id)
        for key, value in self._elements("inet", "egress"):
            if key == spec.tag << rules.SOURCE_SHIFT and _target(value) != mine:
                raise InvalidSpec(f"tag {spec.tag} is held by another port ({_target(value)})")
        # Without port security the chains go too, and an empty marker chain remains.
        return self._filter_cleanup(spec.port_id, delete_chains=not spec.port_security) + adds

    def remove_filter(self, port_id: str, previous: FilterEntry | None) -> None:
        quick = None if previous is None else self._filter_deletes(port_id, previous)
        self._change(quick, lambda: self._filter_cleanup(port_id, delete_chains=True))

    def _filter_deletes(self, port_id: str, entry: FilterEntry) -> Commands:
        inet, bridge, tap = f"inet {self.table}", f"bridge {self.table}", f'"{tap_name(port_id)}"'
        if not entry.filtered:
            return [f"delete chain {inet} {rules.ingress_chain(port_id)}"]
        return [
            f"delete element {bridge} from_port {{ {tap} }}",
            f"delete element {bridge} to_port {{ {tap} }}",
            f"delete element {inet} egress {{ {entry.tag << rules.SOURCE_SHIFT:#010x} }}",
            f"delete element {inet} ingress {{ {entry.tag:#06x} }}",
            f"delete chain {inet} {rules.egress_chain(port_id)}",
            f"delete chain {inet} {rules.ingress_chain(port_id)}",
            f"delete chain {bridge} {rules.from_chain(port_id)}",
            f"delete chain {bridge} {rules.to_chain(port_id)}",
        ]

    def _filter_cleanup(self, port_id: str, delete_chains: bool) -> Commands:
        commands = [
            *self._deletions("bridge", "from_port", rules.from_chain(port_id)),
            *self._deletions("bridge", "to_port", rules.to_chain(port_id)),
            *self._deletions("inet", "egress", rules.egress_chain(port_id)),
            *self._deletions("inet", "ingress", rules.ingress_chain(port_id)),
        ]
        if delete_chains:
            commands += rules.delete_port_chains(self.table, port_id, self.chains())
        return commands

    # -- groups and the tables themselves ---------------------------------------------------

    def set_members(self, group_id: str, addresses: tuple[str, ...]) -> None:
        commands = rules.members(self.table, group_id, addresses)
        self._change(commands, lambda: commands)

    def drop_unused_sets(self, keep: Callable[[], set[str]]) -> None:
        """Delete the member sets of groups not in ``keep()`` (asked under the lock, so a
        group being set right now is kept) that no rule refers to any more; a set still in
        use cannot be deleted, so it is emptied instead."""
        with self._lock:
            kept = keep()
            for name in self.sets():
                if name.split("-", 1)[1] in kept:
                    continue
                try:
                    nft.run([f"delete set inet {self.table} {name}"])
                except nft.NftError:
                    nft.run([f"flush set inet {self.table} {name}"])

    def drop_tables(self, idle: Callable[[], bool]) -> None:
        """Delete both tables if ``idle()`` (asked under the lock); the next change lays
        them out again."""
        with self._lock:
            if idle():
                families = ("inet", "bridge")
                nft.run(
                    [f"{v} table {f} {self.table}" for f in families for v in ("add", "delete")]
                )
                self._ready = False
