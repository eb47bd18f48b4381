"""The containers' network without booting one: addresses, the nft table, the nspawn command
line each `[container] network` gets, and what the review says of it."""

from __future__ import annotations

import logging
import shutil
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from gitops_hive.approvals.risks import network_review, network_warnings
from gitops_hive.config import default_config
from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime import registry
from gitops_hive.runtime.base import AgentLaunch, CrashReport
from gitops_hive.runtime.network import (
    Attachment,
    HostNetwork,
    agent_subnet,
    attachment,
    bridge_name,
    ours,
    overlap,
    resolv_conf,
    ruleset,
    table_name,
)
from gitops_hive.runtime.nspawn import ContainerLauncher
from gitops_hive.settings import UID_RANGE
from gitops_hive.spec import NetworkMode

RANGE = IPv4Network("10.213.0.0/21")
POOL = 16 * UID_RANGE


def test_each_agent_has_its_own_29_at_its_place_in_the_pool() -> None:
    subnets = [agent_subnet(RANGE, POOL, POOL + i * UID_RANGE) for i in range(256)]
    assert subnets[0] == IPv4Network("10.213.0.0/29")
    assert subnets[1] == IPv4Network("10.213.0.8/29")
    assert subnets[255] == IPv4Network("10.213.7.248/29")
    assert len(set(subnets)) == 256 and all(s.subnet_of(RANGE) for s in subnets)
    assert agent_subnet(RANGE, POOL, POOL + 3 * UID_RANGE) == subnets[3]  # stable


@pytest.mark.parametrize("base", [POOL + 256 * UID_RANGE, POOL - UID_RANGE, POOL + 5])
def test_a_base_without_a_29_in_the_range_is_refused(base: int) -> None:
    with pytest.raises(RuntimeFailure, match=r"has no /29 in nspawn\.network_range"):
        agent_subnet(RANGE, POOL, base)


def test_consecutive_containers_of_an_agent_take_turns_on_its_two_addresses() -> None:
    subnet = IPv4Network("10.213.0.8/29")
    first, second, third = (attachment(subnet, turn) for turn in range(3))
    assert first == Attachment("hive0ad50008", IPv4Interface("10.213.0.10/29"), subnet[1])
    assert second.address == IPv4Interface("10.213.0.11/29") and third == first
    assert len(bridge_name(IPv4Network("255.255.255.248/29"))) <= 15  # IFNAMSIZ - 1


def test_the_bridges_of_a_range_are_told_from_every_other_link() -> None:
    assert ours(RANGE, "hive0ad50008")
    assert not ours(RANGE, "hive0ad60008")  # another hive's range
    assert not any(ours(RANGE, name) for name in ("hive", "hivexyz00000", "eth0", "hive0ad5"))


def test_an_address_of_the_host_inside_the_range_is_a_clash_unless_on_our_bridge() -> None:
    mine = ("hive0ad50000", IPv4Interface("10.213.0.1/29"))
    assert overlap(RANGE, [mine, ("eth0", IPv4Interface("192.0.2.2/24"))]) is None
    lan = ("eth1", IPv4Interface("10.213.4.7/16"))
    assert overlap(RANGE, [mine, lan]) == "eth1's 10.213.4.7/16"


def test_the_table_drops_what_comes_in_from_agents_and_nats_what_goes_out() -> None:
    rules = ruleset(RANGE, guard_forwarding=False)
    name = table_name(RANGE)
    assert name == "gitops_hive_10_213_0_0_21"
    # Replaced whole in one transaction: made if missing, then deleted and written anew.
    assert rules.startswith(f"table inet {name}\ndelete table inet {name}\ntable inet {name} {{")
    input_chain = rules[rules.index("chain input") : rules.index("chain forward")]
    # Keyed on the bridge a packet came in on: root inside may claim any source address.
    assert 'iifname "hive*" ct state established,related accept' in input_chain
    assert 'iifname "hive*" drop' in input_chain
    assert 'iifname "hive*" fib saddr . iif oif missing drop' in rules
    assert "ip daddr 10.213.0.0/21 drop" in rules and "169.254.0.0/16 drop" in rules
    assert 'ip saddr 10.213.0.0/21 oifname != "hive*" masquerade' in rules
    assert "forwarding was off" not in rules and 'iifname != "hive*"' not in rules
    guarded = ruleset(RANGE, guard_forwarding=True)
    assert 'iifname != "hive*" oifname != "hive*" drop' in guarded
    assert "forwarding was off" in guarded


def test_a_container_keeps_the_hosts_resolvers_but_not_those_on_its_loopback() -> None:
    stub = "nameserver 127.0.0.53\noptions edns0\n"
    upstream = "# from resolved\nnameserver 10.0.0.2\nnameserver ::1\nsearch lan\n"
    assert resolv_conf([stub, upstream]) == "# from resolved\nnameserver 10.0.0.2\nsearch lan\n"
    assert resolv_conf(["nameserver 192.0.2.53\n"]) == "nameserver 192.0.2.53\n"
    assert resolv_conf([stub]) == "options edns0\n"
    assert resolv_conf([]) == ""


class FakeNetwork(HostNetwork):
    """The host's side, without touching the host."""

    def __init__(self) -> None:
        super().__init__(RANGE, POOL)
        self.closed = False

    async def attach(self, agent: str, uid_base: int) -> Attachment:
        return attachment(agent_subnet(RANGE, POOL, uid_base), 0)

    async def close(self) -> None:
        self.closed = True


async def argv_for(network: NetworkMode, tmp_path: Path) -> list[str]:
    fake = FakeNetwork()
    launcher = ContainerLauncher(["agent", "--run"], fake)
    launcher.nspawn = "/usr/bin/systemd-nspawn"
    launcher._prepare = lambda launch: tmp_path  # type: ignore[method-assign]
    launch = AgentLaunch(
        "worker", "a" * 40, tmp_path, tmp_path, tmp_path, uid_base=POOL, network=network
    )
    argv = (await launcher.invocation(launch)).argv
    await launcher.close()
    assert fake.closed
    return argv


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip")
async def test_outbound_plugs_the_container_into_its_bridge_and_addresses_it(
    tmp_path: Path,
) -> None:
    argv = await argv_for(NetworkMode.OUTBOUND, tmp_path)
    assert "--network-bridge=hive0ad50000" in argv and "--private-network" not in argv
    command = argv[argv.index("--") + 1 :]
    assert command[:2] == ["/bin/sh", "-c"] and command[-2:] == ["agent", "--run"]
    assert "addr add 10.213.0.2/29 dev host0" in command[2]
    assert "route add default via 10.213.0.1" in command[2]


async def test_none_is_a_namespace_of_its_own_and_host_is_todays(tmp_path: Path) -> None:
    none = await argv_for(NetworkMode.NONE, tmp_path)
    assert "--private-network" in none and none[none.index("--") + 1 :] == ["agent", "--run"]
    host = await argv_for(NetworkMode.HOST, tmp_path)
    assert not [arg for arg in host if arg.startswith(("--private-network", "--network"))]


async def ignore(report: CrashReport) -> None:
    pass


def test_the_process_runtime_says_once_that_it_cannot_isolate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=registry.__name__):
        registry.make_runtime(default_config(), ignore)
    said = [r.getMessage() for r in caplog.records if "host's network" in r.getMessage()]
    assert len(said) == 1 and "[container] network" in said[0]


@pytest.mark.parametrize(
    ("mode", "kind", "isolated", "summary"),
    [
        (NetworkMode.OUTBOUND, "nspawn", True, "out through NAT, the host's services refused"),
        (NetworkMode.NONE, "nspawn", True, "loopback only"),
        (NetworkMode.HOST, "nspawn", False, "reaches the dashboard, the control API"),
        (NetworkMode.OUTBOUND, "process", False, "not isolated: the process runtime"),
        (NetworkMode.NONE, "process", False, "not isolated: the process runtime"),
    ],
)
def test_the_review_says_what_the_network_amounts_to(
    mode: NetworkMode, kind: str, isolated: bool, summary: str
) -> None:
    review = network_review(mode, kind)
    assert (review.mode, review.isolated) == (mode, isolated)
    assert summary in review.summary


def test_only_the_hosts_network_is_a_warning() -> None:
    assert [w.code for w in network_warnings(NetworkMode.HOST)] == ["network_host"]
    assert network_warnings(NetworkMode.OUTBOUND) == network_warnings(NetworkMode.NONE) == []
