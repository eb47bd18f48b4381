"""The nspawn runtime's settings: its uid pool, supervisor, network range and images."""

from __future__ import annotations

from gitops_hive.setting_types import Setting

NSPAWN_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "nspawn.uid_pool_start",
        int,
        1_048_576,
        "nspawn: the first host uid of the pool agents' uid ranges come from (a multiple of "
        "65536).",
    ),
    Setting(
        "nspawn.uid_pool_size",
        int,
        256,
        "nspawn: how many 65536-uid ranges the pool holds (one per agent, never shared).",
    ),
    Setting(
        "nspawn.supervisor",
        str,
        "auto",
        "nspawn: who supervises containers: systemd (transient units over D-Bus), controller "
        "(systemd-nspawn --register=no --keep-unit as its child), or auto (systemd when it "
        "is PID 1).",
    ),
    Setting(
        "nspawn.network_range",
        str,
        "10.213.0.0/21",
        "nspawn: the private IPv4 range outbound containers are addressed from, a /29 per "
        "agent at its uid range's place in the pool (so it must hold nspawn.uid_pool_size "
        "of them); each hive on a host needs a range of its own.",
    ),
    Setting(
        "nspawn.image_cache",
        str,
        "",
        "nspawn: the folder agent images are cached in (a Debian base, a layer per package "
        'set); "" means the images folder of the hive root.',
    ),
    Setting(
        "nspawn.mirror",
        str,
        "",
        'nspawn: the Debian mirror images are built from; "" means the one apt on this host uses.',
    ),
    Setting(
        "nspawn.suite",
        str,
        "",
        'nspawn: the Debian suite images are built from; "" means this host\'s release.',
    ),
)
