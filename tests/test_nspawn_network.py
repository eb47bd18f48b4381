"""Real containers against the host's services: what each `[container] network` reaches.

"The outside" is a network namespace this test makes and wires to the host with a veth of its
own (198.18.0.0/15, the benchmarking range): no packet leaves this machine, and there is no
real internet to test against.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_hive.client import ControlClient
from tests.conftest import ServedHive, need_nspawn, serving
from tests.repo_factory import git
from tests.test_nspawn import log_of, nspawn_root

pytestmark = [pytest.mark.e2e, pytest.mark.nspawn]

IP_FREEBIND = 15  # bind an address the host will have once the agent's bridge is up

# The agent command inside: list the links, try each TCP target, send each UDP datagram (from
# the container's own address, or from one root inside claims), then stay up. What to try is
# in /state/probe.json, written by the test once it knows the addresses.
PROBE = r"""
import json, socket, subprocess, sys, time
spec = json.load(open("/state/probe.json"))
links = [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
print("links:", " ".join(sorted(links)), flush=True)
for route in open("/proc/net/route").read().splitlines()[1:]:
    fields = route.split()
    if fields[1] == "00000000":
        print("gateway:", socket.inet_ntoa(bytes.fromhex(fields[2])[::-1]), flush=True)
for name, host, port in spec["tcp"]:
    probe = socket.socket()
    probe.settimeout(3)
    try:
        probe.connect((host, port))
        result = "connected"
    except ConnectionRefusedError:
        result = "refused"
    except TimeoutError:
        result = "timeout"
    except OSError as exc:
        result = f"error {exc.errno}"
    print(f"tcp {name}: {result}", flush=True)
for name in spec.get("abstract", []):  # abstract unix sockets belong to the net namespace
    peer = socket.socket(socket.AF_UNIX)
    try:
        peer.connect("\0" + name)
        print(f"unix {name}: connected", flush=True)
    except ConnectionRefusedError:
        print(f"unix {name}: refused", flush=True)
for name, host, port, source in spec["udp"]:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if source:
        subprocess.run([spec["ip"], "addr", "add", f"{source}/32", "dev", "host0"], check=True)
        sender.bind((source, 0))
    sender.sendto(name.encode(), (host, port))
    print(f"udp {name}: sent", flush=True)
print("probe done", flush=True)
time.sleep(100000)
"""

# The outside's servers: each TCP peer and each UDP datagram, one line each.
OUTSIDE = r"""
import socket, sys, threading
host, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((host, port))
tcp.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((host, port))
def datagrams():
    while True:
        data, peer = udp.recvfrom(100)
        log.write(f"udp {peer[0]} {data.decode()}\n")
threading.Thread(target=datagrams, daemon=True).start()
log.write("listening\n")
while True:
    conn, peer = tcp.accept()
    log.write(f"tcp {peer[0]}\n")
    conn.close()
"""


def ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


@dataclass(frozen=True)
class Outside:
    """A server in a namespace of its own, reached from the host through a veth."""

    host_side: str  # the host's address on the veth: what masquerading rewrites sources to
    address: str
    port: int
    log: Path

    def seen(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    need_nspawn()
    tag = f"{random.randrange(16**6):06x}"
    netns, link = f"ghtest-out-{tag}", f"ghto{tag}"
    net = ipaddress.IPv4Network((0xC6120000 + 4 * random.randrange(2**15), 30))  # 198.18/15
    found = Outside(str(net[1]), str(net[2]), random.randrange(20_000, 60_000), tmp_path / "out")
    server = None
    try:
        ip("netns", "add", netns)
        ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        ip("addr", "add", f"{found.host_side}/30", "dev", link)
        ip("link", "set", link, "up")
        ip("-n", netns, "addr", "add", f"{found.address}/30", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        in_outside = ["ip", "netns", "exec", netns, sys.executable, "-c", OUTSIDE]
        server = subprocess.Popen([*in_outside, found.address, str(found.port), str(found.log)])
        deadline = time.monotonic() + 10
        while "listening" not in found.seen() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "listening" in found.seen(), "the outside's server did not start"
        yield found
    finally:
        if server is not None:
            server.kill()
            server.wait()
        ip("netns", "del", netns, check=False)
        ip("link", "del", link, check=False)


@pytest.fixture
def other_host_address() -> Iterator[str]:
    """An address of the host's own besides loopback and the agent's bridge (on a veth)."""
    link = f"ghtd{random.randrange(16**6):06x}"
    address = f"198.19.{random.randrange(256)}.{random.randrange(1, 255)}"
    try:
        ip("link", "add", link, "type", "veth", "peer", "name", f"{link}p")
        ip("addr", "add", f"{address}/32", "dev", link)
        ip("link", "set", link, "up")
        yield address
    finally:
        ip("link", "del", link, check=False)


def listener(stack: ExitStack, address: str) -> tuple[socket.socket, int]:
    """A TCP port the host listens on at `address` (which may not be up yet)."""
    server = stack.enter_context(socket.socket())
    server.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    server.bind((address, 0))
    server.listen()
    server.setblocking(False)
    return server, server.getsockname()[1]


def abstract_listener(stack: ExitStack) -> str:
    """A unix socket the host listens on in the abstract namespace; its name."""
    name = f"gitops-hive-test-{random.randrange(16**8):08x}"
    server = stack.enter_context(socket.socket(socket.AF_UNIX))
    server.bind("\0" + name)
    server.listen()
    return name


def accepted_nothing(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return True
    return False


def probe_root(tmp_path: Path) -> Path:
    return nspawn_root(tmp_path / "hive", json.dumps(["{python}", "-c", PROBE]))


def network_range(root: Path) -> ipaddress.IPv4Network:
    found = re.search(r'network_range = "([^"]+)"', (root / "hive.toml").read_text())
    assert found, "hive.toml has no nspawn.network_range"
    return ipaddress.IPv4Network(found.group(1))


def table_names() -> list[str]:
    listed = json.loads(subprocess.check_output(["nft", "-j", "list", "tables"]))
    return [item["table"]["name"] for item in listed["nftables"] if "table" in item]


def deploy_with(
    hive: ServedHive, agent: str, network: str | None, probe: dict[str, object]
) -> dict[str, object]:
    """Draft `agent` with `[container] network` set (or left out), submit and approve it."""
    assert hive.cli("draft", agent).returncode == 0
    (hive.layout.agent(agent).state / "probe.json").write_text(json.dumps(probe))
    repo = hive.proposed(agent)
    if network is not None:
        spec = repo / "agent.toml"
        spec.write_text(
            spec.read_text().replace("[container]\n", f'[container]\nnetwork = "{network}"\n')
        )
        git(repo, "commit", "-qam", f"network {network}")
    submitted = hive.json("submit", agent)
    assert submitted["valid"], submitted
    approved = hive.cli("approve", str(submitted["id"]), "--sha", submitted["head"], "--json")
    assert approved.returncode == 0, approved.stderr + approved.stdout
    result: dict[str, object] = json.loads(approved.stdout)
    assert result["status"] == "deployed", result
    return result


def probe_log(hive: ServedHive, agent: str) -> dict[str, str]:
    hive.wait_for(lambda: "probe done" in log_of(hive, agent), timeout=40, what="the probe")
    lines = [line.split(": ", 1) for line in log_of(hive, agent).splitlines() if ": " in line]
    return {key: value for key, value in lines}


def test_by_default_a_container_gets_out_but_reaches_no_host_service(
    tmp_path: Path, outside: Outside, other_host_address: str
) -> None:
    root = probe_root(tmp_path)
    bridge = str(network_range(root)[1])  # the host's end of the first agent's /29
    table = "gitops_hive_" + re.sub(r"[./]", "_", str(network_range(root)))
    spoofed = str(ipaddress.IPv4Address(outside.address) + 4)  # an address root inside claims
    forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    with ExitStack() as stack:
        loopback, loopback_port = listener(stack, "127.0.0.1")
        on_bridge, bridge_port = listener(stack, bridge)
        other, other_port = listener(stack, other_host_address)
        probe = {
            "ip": str(Path(shutil.which("ip") or "ip").resolve()),
            "abstract": [abstract_listener(stack)],
            "tcp": [
                ["loopback", "127.0.0.1", loopback_port],
                ["bridge", bridge, bridge_port],
                ["other", other_host_address, other_port],
                ["outside", outside.address, outside.port],
            ],
            "udp": [
                ["spoofed", outside.address, outside.port, spoofed],
                ["own", outside.address, outside.port, None],
            ],
        }
        with serving(root) as hive:
            deploy_with(hive, "worker", None, probe)
            seen = probe_log(hive, "worker")
            assert seen["links"] == "host0 lo"  # its own namespace, not the host's links
            assert seen["gateway"] == bridge
            assert seen["tcp loopback"] == "refused"  # its own loopback, where nothing listens
            assert seen["tcp bridge"] == "timeout"  # the host's end of its own link: dropped
            assert seen["tcp other"] == "timeout"  # any other address of the host: dropped
            assert seen["tcp outside"] == "connected"
            assert seen[f"unix {probe['abstract'][0]}"] == "refused"  # not the host's either
            assert all(accepted_nothing(s) for s in (loopback, on_bridge, other))
            own = f"udp {outside.host_side} own"
            hive.wait_for(lambda: own in outside.seen(), what="the datagram from its address")
            # Out through NAT: the outside sees the host, never an agent's address, nor one
            # root inside made up (sent before the one that arrived, and dropped).
            assert f"tcp {outside.host_side}" in outside.seen()
            assert not [line for line in outside.seen() if line.endswith(" spoofed")]
            assert table in table_names()
    # Stopping the controller takes its table and bridges away, and puts forwarding back.
    assert table not in table_names()
    assert f" {bridge}/" not in subprocess.check_output(["ip", "-br", "addr"], text=True)
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forwarding


def test_none_has_loopback_only(tmp_path: Path, outside: Outside) -> None:
    root = probe_root(tmp_path)
    with ExitStack() as stack, serving(root) as hive:
        loopback, port = listener(stack, "127.0.0.1")
        tcp = [["loopback", "127.0.0.1", port], ["outside", outside.address, outside.port]]
        abstract = abstract_listener(stack)
        deploy_with(hive, "worker", "none", {"tcp": tcp, "udp": [], "abstract": [abstract]})
        seen = probe_log(hive, "worker")
        assert seen["links"] == "lo"
        assert "gateway" not in seen
        assert seen["tcp loopback"] == "refused"
        assert seen["tcp outside"] == f"error {errno.ENETUNREACH}"
        assert seen[f"unix {abstract}"] == "refused"
        assert accepted_nothing(loopback)
        assert outside.seen() == ["listening"]


def test_host_shares_the_hosts_network_and_is_flagged_in_review(tmp_path: Path) -> None:
    root = probe_root(tmp_path)
    dev = Path("/proc/net/dev").read_text().splitlines()[2:]
    host_links = {line.split(":")[0].strip() for line in dev} - {"lo"}
    with ExitStack() as stack, serving(root) as hive:
        _, port = listener(stack, "127.0.0.1")
        abstract = abstract_listener(stack)
        deployed = deploy_with(
            hive,
            "worker",
            "host",
            {"tcp": [["loopback", "127.0.0.1", port]], "udp": [], "abstract": [abstract]},
        )
        seen = probe_log(hive, "worker")
        assert seen["tcp loopback"] == "connected"
        assert seen[f"unix {abstract}"] == "connected"
        assert set(seen["links"].split()) & host_links
        approval = ControlClient.of(hive.layout).approval(int(str(deployed["id"])))
        assert [w["code"] for w in approval["warnings"]] == ["network_host"]
        assert approval["network"]["mode"] == "host"
        assert approval["network"]["isolated"] is False
        shown = hive.cli("show", str(deployed["id"])).stdout
        assert "WARNING (network_host): agent.toml asks for the host's network" in shown
