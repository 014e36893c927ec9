"""The host's two nftables tables of one driver: network zones and isolation, port filters,
group member sets. Every change is one transaction, made under one lock, after reading what
it replaces, so concurrent activities never interleave half-changes to the shared tables."""

from __future__ import annotations

import threading
from collections.abc import Callable

from activities.network import nft
from activities.network import nft_filter as rules
from activities.network.base import PortFilter, bridge_name
from nimbus.errors import InvalidSpec


def _target(verdict: object) -> str | None:
    """The chain a ``jump`` verdict in a map element goes to."""
    if isinstance(verdict, dict) and "jump" in verdict:
        return str(verdict["jump"]["target"])
    return None


class HostTables:
    """``inet <table>`` and ``bridge <table>`` on the host."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._lock = threading.Lock()

    def _apply(self, commands: list[str]) -> None:
        nft.run(rules.skeleton(self.table) + commands)

    def _elements(self, family: str, name: str) -> list[tuple[object, object]]:
        found = nft.listing(f"list map {family} {self.table} {name}")
        if not found:
            return []
        return [(key, value) for key, value in found[0]["map"].get("elem", [])]

    def _deletions(self, family: str, name: str, chain: str) -> list[str]:
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
                chain = item["chain"]
                if chain["table"] == self.table:
                    found.add(f"{family} {chain['name']}")
        return found

    def sets(self) -> set[str]:
        return {
            item["set"]["name"]
            for item in nft.listing("list sets inet") or []
            if item["set"]["table"] == self.table
        }

    def add_network(self, network_id: str, zone: int | None, isolated: bool) -> None:
        """Give a bridge its conntrack zone (tenant networks) or cut it off (external)."""
        bridge = f'"{bridge_name(network_id)}"'
        with self._lock:
            commands = self._network_cleanup(network_id)
            if zone is not None:
                commands.append(f"add element inet {self.table} zones {{ {bridge} : {zone} }}")
            if isolated:
                commands += rules.isolation(self.table, network_id)
            self._apply(commands)

    def remove_network(self, network_id: str) -> None:
        with self._lock:
            self._apply(self._network_cleanup(network_id))

    def _network_cleanup(self, network_id: str) -> list[str]:
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

    def add_filter(self, spec: PortFilter) -> None:
        """Install or replace a port's filter; its old map entries go in the same
        transaction. A tag held by another port is ``InvalidSpec``."""
        with self._lock:
            self._check_tag_free(spec)
            # Without port security the chains go too, and an empty marker chain remains.
            commands = self._filter_cleanup(spec.port_id, delete_chains=not spec.port_security)
            if spec.port_security:
                commands += rules.port_filter(self.table, spec)
            else:
                commands += rules.unfiltered_port(self.table, spec.port_id)
            self._apply(commands)

    def _check_tag_free(self, spec: PortFilter) -> None:
        mine = rules.egress_chain(spec.port_id)
        for key, value in self._elements("inet", "egress"):
            if key == spec.tag << rules.SOURCE_SHIFT and _target(value) != mine:
                raise InvalidSpec(f"tag {spec.tag} is held by another port ({_target(value)})")

    def remove_filter(self, port_id: str) -> None:
        with self._lock:
            self._apply(self._filter_cleanup(port_id, delete_chains=True))

    def _filter_cleanup(self, port_id: str, delete_chains: bool) -> list[str]:
        commands = [
            *self._deletions("bridge", "from_port", rules.from_chain(port_id)),
            *self._deletions("bridge", "to_port", rules.to_chain(port_id)),
            *self._deletions("inet", "egress", rules.egress_chain(port_id)),
            *self._deletions("inet", "ingress", rules.ingress_chain(port_id)),
        ]
        if delete_chains:
            commands += rules.delete_port_chains(self.table, port_id, self.chains())
        return commands

    def set_members(self, group_id: str, addresses: tuple[str, ...]) -> None:
        with self._lock:
            self._apply(rules.members(self.table, group_id, addresses))

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
        """Delete both tables if ``idle()`` (asked under the lock): the next change brings
        them back, since every change starts with the skeleton."""
        with self._lock:
            if idle():
                nft.run(
                    [
                        f"{verb} table {family} {self.table}"
                        for family in ("inet", "bridge")
                        for verb in ("add", "delete")
                    ]
                )


def _key(key: object) -> str:
    return f'"{key}"' if isinstance(key, str) else f"{key:#x}" if isinstance(key, int) else str(key)
