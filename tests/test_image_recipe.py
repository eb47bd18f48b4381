"""What an image is made of, without building one: the mirror and suite apt names, dpkg's
record of the base, the folders a container's paths come from, staging left behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_hive.deploy.launch import agent_cli_binds
from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime import debian
from gitops_hive.runtime.images import Image, ImageCache, installed, remove_staging

STATUS = """Package: jq
Status: install ok installed
Version: 1.6

Package: gone
Status: deinstall ok config-files

Package: git
Status: install ok installed
"""


def test_the_mirror_comes_from_apts_sources_deb822_first(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm\n"
    )
    (sources / "security.sources").write_text("URIs: http://mirror.test/debian-security\n")
    legacy = tmp_path / "sources.list"
    legacy.write_text("deb http://legacy.test/debian bookworm main\n")
    assert debian.host_mirror(sources, legacy) == "http://mirror.test/debian"
    (sources / "debian.sources").unlink()
    assert debian.host_mirror(sources, legacy) == "http://legacy.test/debian"
    legacy.write_text("# nothing\n")
    assert debian.host_mirror(sources, legacy) is None


def test_the_suite_is_the_hosts_codename(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian GNU/Linux"\nVERSION_CODENAME=bookworm\n')
    assert debian.host_suite(release) == "bookworm"
    release.write_text("NAME=Other\n")
    assert debian.host_suite(release) is None


def test_installed_reads_dpkgs_status(tmp_path: Path) -> None:
    status = tmp_path / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True)
    status.write_text(STATUS)
    assert installed(tmp_path) == {"jq", "git"}


def test_an_image_stacks_its_layer_over_the_base(tmp_path: Path) -> None:
    base, layer = tmp_path / "base", tmp_path / "layer"
    (base / "usr" / "bin").mkdir(parents=True)
    (base / "usr" / "bin" / "sh").write_text("")
    (layer / "usr" / "bin").mkdir(parents=True)
    (layer / "usr" / "bin" / "jq").write_text("")
    image = Image(base, layer, ("jq",), cached=True)
    assert image.lowers("/usr") == [base / "usr", layer / "usr"]
    assert image.lowers("/opt") == [base / "opt"]  # the layer adds nothing there
    assert image.holds(Path("/usr/bin/jq")) and image.holds(Path("/usr/bin/sh"))
    assert not image.holds(Path("/usr/local/bin/claude"))
    assert Image(base, None, (), cached=True).lowers("/usr") == [base / "usr"]


def test_the_same_package_set_in_any_order_is_one_layer(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path, "http://mirror.test/debian", "bookworm")
    assert cache.base_path(["b", "a"]) == cache.base_path(["a", "b"])
    other = ImageCache(tmp_path, "http://other.test/debian", "bookworm")
    assert other.base_path(["a"]) != cache.base_path(["a"])


def test_no_mirror_is_a_one_line_error_naming_the_settings(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path, "", "bookworm")
    with pytest.raises(RuntimeFailure, match=r"set nspawn\.mirror and nspawn\.suite"):
        asyncio.run(cache.ensure(["jq"], lambda line: None))


def test_staging_is_removed_but_never_through_a_mount(tmp_path: Path) -> None:
    staging = tmp_path / "layer-x.staging"
    (staging / "upper" / "usr").mkdir(parents=True)
    remove_staging(staging)
    assert not staging.exists()
    remove_staging(staging)  # nothing there: nothing to do
    with pytest.raises(RuntimeFailure, match="is not an image build's staging folder"):
        remove_staging(tmp_path)
    if os.geteuid() != 0:
        return
    mounted = staging / "merged"
    mounted.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mounted)], check=True)
    try:
        (mounted / "kept").write_text("a file behind a mount\n")
        with pytest.raises(RuntimeFailure, match="has mounts inside"):
            remove_staging(staging)
        assert (mounted / "kept").exists()
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


def test_the_agent_cli_is_bound_in_only_when_the_image_lacks_it(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "usr" / "bin").mkdir(parents=True)
    image = Image(base, None, (), cached=True)
    tool = tmp_path / "host-bin" / "claude"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    [bind] = agent_cli_binds(str(tool), image)
    assert (bind.host, bind.inside, bind.writable) == (tool, "/opt/hive/bin/claude", False)
    (base / str(tool).lstrip("/")).parent.mkdir(parents=True)
    (base / str(tool).lstrip("/")).write_text("")  # the image has it at that path
    assert agent_cli_binds(str(tool), image) == ()
    assert agent_cli_binds("no-such-agent-cli-here", image) == ()
    assert agent_cli_binds(sys.executable, image) == ()  # the venv is bound in anyway
