"""The host's side of outbound containers: each agent's bridge and addresses, and the nft
table that lets agents out through NAT but never in to the host.

An agent's /29 of `nspawn.network_range` sits at its uid range's place in the pool, so it
never changes. The host holds .1 on a bridge of the agent's own (`hive` + the /29's address in
hex); `systemd-nspawn --network-bridge` plugs each container in, and the container gives
itself .2 or .3 (a new deploy overlaps the one it replaces, so the two alternate). Root in a
container owns its network namespace and may claim any address, so every rule here keys on
the bridge a packet came in on, and a source its bridge does not route to is dropped first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from gitops_hive.errors import RuntimeFailure
from gitops_hive.settings import AGENT_SUBNET, UID_RANGE

log = logging.getLogger(__name__)
BRIDGE_PREFIX = "hive"  # + 8 hex digits: 12 characters, within IFNAMSIZ
TABLE_PREFIX = "gitops_hive_"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
FORWARD_MARK = "forwarding was off"  # in the table's comment: we turned it on
LINK_LOCAL = "169.254.0.0/16"  # cloud metadata services answer here: never the agents'


@dataclass(frozen=True)
class Attachment:
    """Where one container joins its agent's network: bridge, own address, gateway."""

    bridge: str
    address: IPv4Interface
    gateway: IPv4Address


def agent_subnet(network_range: IPv4Network, pool_start: int, uid_base: int) -> IPv4Network:
    """The agent's /29: the one at its uid range's place in the pool."""
    slot, misaligned = divmod(uid_base - pool_start, UID_RANGE)
    first = int(network_range.network_address) + slot * AGENT_SUBNET
    if misaligned or slot < 0 or first + AGENT_SUBNET > int(network_range.broadcast_address) + 1:
        raise RuntimeFailure(
            f"uid base {uid_base} has no /29 in nspawn.network_range {network_range}: widen "
            "the range to hold nspawn.uid_pool_size agents"
        )
    return IPv4Network((first, 32 - (AGENT_SUBNET - 1).bit_length()))


def bridge_name(subnet: IPv4Network) -> str:
    """The bridge of the agent whose /29 this is."""
    return f"{BRIDGE_PREFIX}{int(subnet.network_address):08x}"


def attachment(subnet: IPv4Network, turn: int) -> Attachment:
    """The container's side: address .2 or .3 by `turn`, the bridge's .1 as gateway."""
    return Attachment(
        bridge_name(subnet),
        IPv4Interface((int(subnet.network_address) + 2 + turn % 2, subnet.prefixlen)),
        subnet[1],
    )


def table_name(network_range: IPv4Network) -> str:
    """The nft table of the hive that owns this range (one range, one table, per hive)."""
    return TABLE_PREFIX + str(network_range).replace(".", "_").replace("/", "_")


def ruleset(network_range: IPv4Network, guard_forwarding: bool) -> str:
    """The table, replaced whole in one nft transaction (so loading it twice is harmless)."""
    table = f"inet {table_name(network_range)}"
    agents = f'iifname "{BRIDGE_PREFIX}*"'
    mark = f"; {FORWARD_MARK}" if guard_forwarding else ""
    guard = (
        f'\t\tiifname != "{BRIDGE_PREFIX}*" oifname != "{BRIDGE_PREFIX}*" drop '
        'comment "the host forwarded nothing before: only agents\' traffic"\n'
        if guard_forwarding
        else ""
    )
    return (
        f"table {table}\ndelete table {table}\n"
        f"table {table} {{\n"
        f'\tcomment "gitops-hive: {network_range} out through NAT, never in to the host{mark}"\n'
        "\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n"
        f'\t\t{agents} fib saddr . iif oif missing drop comment "a source its bridge '
        'does not route to: spoofed"\n\t}\n'
        "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
        f"\t\t{agents} ct state established,related accept\n"
        f'\t\t{agents} drop comment "no host service, on any address, is the agents\'"\n\t}}\n'
        "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
        f"\t\t{agents} meta nfproto ipv6 drop\n"
        f"\t\t{agents} ip daddr {LINK_LOCAL} drop\n"
        f"\t\tip daddr {network_range} ct state established,related accept\n"
        f'\t\tip daddr {network_range} drop comment "nothing opens a connection to an agent"\n'
        f"{guard}\t}}\n"
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        f'\t\tip saddr {network_range} oifname != "{BRIDGE_PREFIX}*" masquerade\n\t}}\n'
        "}\n"
    )


def ours(network_range: IPv4Network, interface: str) -> bool:
    """Whether `interface` is the bridge of an agent in this range."""
    digits = interface.removeprefix(BRIDGE_PREFIX)
    if interface == digits or len(digits) != 8:
        return False
    try:
        return IPv4Address(int(digits, 16)) in network_range
    except ValueError:
        return False


def overlap(
    network_range: IPv4Network, addresses: Iterable[tuple[str, IPv4Interface]]
) -> str | None:
    """The first host address (not on our bridges) whose network meets the range."""
    for interface, address in addresses:
        if not ours(network_range, interface) and address.network.overlaps(network_range):
            return f"{interface}'s {address}"
    return None


def _without_loopback(text: str) -> str:
    kept = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            try:
                if ipaddress.ip_address(words[1].split("%")[0]).is_loopback:
                    continue
            except ValueError:
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def resolv_conf(host_files: list[str]) -> str:
    """The first of the host's resolv.conf files that names a nameserver off its loopback
    (a container cannot reach the host's), with the loopback ones left out."""
    usable = [_without_loopback(text) for text in host_files]
    for text in usable:
        if any(line.split()[:1] == ["nameserver"] for line in text.splitlines()):
            return text
    return usable[0] if usable else ""


def container_command(attach: Attachment, command: list[str]) -> list[str]:
    """`command` after a shell that gives the container its address on host0 and the way out."""
    ip_tool = tool("ip", "iproute2")
    if not Path(ip_tool).is_relative_to("/usr"):
        raise RuntimeFailure(f"{ip_tool} is outside /usr, so containers cannot run it")
    setup = (
        f"set -e; {ip_tool} link set lo up; {ip_tool} addr add {attach.address} dev host0; "
        f"{ip_tool} link set host0 up; {ip_tool} route add default via {attach.gateway}; "
        'exec "$@"'
    )
    return ["/bin/sh", "-c", setup, "hive-network", *command]


async def run(*argv: str, stdin: str | None = None, check: bool = True) -> str:
    """Run a host tool (ip, nft); a failure is a RuntimeFailure with its output."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    if check and process.returncode:
        detail = err.decode(errors="replace").strip()
        first = detail.splitlines()[0] if detail else f"exit status {process.returncode}"
        raise RuntimeFailure(f"{' '.join(argv[:3])} ... failed: {first}", log=detail)
    return out.decode(errors="replace")


def tool(name: str, package: str) -> str:
    """A host tool's real path (links resolved: a container, which sees /usr, runs that file)."""
    found = shutil.which(name)
    if found is None:
        raise RuntimeFailure(
            f"{name} is not installed: apt install {package} (outbound containers need it), "
            'or set [container] network = "none" in agent.toml'
        )
    return str(Path(found).resolve())


class HostNetwork:
    """The bridges and the nft table of one hive's outbound agents: made on demand, undone
    by close()."""

    def __init__(self, network_range: IPv4Network, pool_start: int) -> None:
        self.network_range = network_range
        self.pool_start = pool_start
        self._lock = asyncio.Lock()
        self._loaded = False
        self._turned_on_forwarding = False
        self._turns: dict[str, int] = {}

    async def _host_addresses(self, ip_tool: str) -> list[tuple[str, IPv4Interface]]:
        found = json.loads(await run(ip_tool, "-j", "-4", "addr", "show") or "[]")
        return [
            (link["ifname"], IPv4Interface(f"{info['local']}/{info['prefixlen']}"))
            for link in found
            for info in link.get("addr_info", [])
            if info.get("family") == "inet"
        ]

    async def _load_table(self, ip_tool: str) -> None:
        nft = tool("nft", "nftables")
        clash = overlap(self.network_range, await self._host_addresses(ip_tool))
        if clash:
            raise RuntimeFailure(
                f"nspawn.network_range {self.network_range} overlaps {clash}: choose a free "
                "private range in hive.toml"
            )
        table = f"inet {table_name(self.network_range)}"
        previous = await run(nft, "list", "table", *table.split(), check=False)
        was_off = IP_FORWARD.read_text().strip() == "0"
        self._turned_on_forwarding = was_off or FORWARD_MARK in previous
        await run(nft, "-f", "-", stdin=ruleset(self.network_range, self._turned_on_forwarding))
        if was_off:
            IP_FORWARD.write_text("1\n")
            log.warning(
                "turned net.ipv4.ip_forward on for outbound agents; nft table %s forwards "
                "only agents' traffic",
                table,
            )
        self._loaded = True

    async def attach(self, agent: str, uid_base: int) -> Attachment:
        """The table loaded, the agent's bridge up, and the address its next container takes."""
        ip_tool = tool("ip", "iproute2")
        subnet = agent_subnet(self.network_range, self.pool_start, uid_base)
        bridge = bridge_name(subnet)
        async with self._lock:
            if not self._loaded:
                await self._load_table(ip_tool)
            await run(ip_tool, "link", "add", bridge, "type", "bridge", check=False)
            await run(ip_tool, "addr", "replace", f"{subnet[1]}/{subnet.prefixlen}", "dev", bridge)
            await run(ip_tool, "link", "set", bridge, "up")
            turn = self._turns[agent] = self._turns.get(agent, -1) + 1
        return attachment(subnet, turn)

    async def close(self) -> None:
        """Remove this hive's bridges and table; turn forwarding off if we turned it on and
        no other hive's table is left. A failure is logged: it must not hold the shutdown."""
        async with self._lock:
            if not self._loaded:
                return
            self._loaded = False
            try:
                await self._remove()
            except (RuntimeFailure, OSError, ValueError) as exc:
                log.warning("could not undo the agents' network: %s", exc)

    async def _remove(self) -> None:
        ip_tool, nft = tool("ip", "iproute2"), tool("nft", "nftables")
        links = json.loads(await run(ip_tool, "-j", "link", "show", "type", "bridge") or "[]")
        for link in links:
            if ours(self.network_range, link["ifname"]):
                await run(ip_tool, "link", "del", link["ifname"], check=False)
        await run(nft, "delete", "table", "inet", table_name(self.network_range), check=False)
        tables = (await run(nft, "list", "tables")).splitlines()
        if self._turned_on_forwarding and not any(TABLE_PREFIX in line for line in tables):
            IP_FORWARD.write_text("0\n")
