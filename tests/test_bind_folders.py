"""An agent's bind folders on the host, made in a temp hive: one safe name per container path,
handed to the agent's uid, and never a link where nspawn would follow it."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import pytest

from gitops_hive.errors import RuntimeFailure
from gitops_hive.layout import HiveLayout, bind_folder_name
from gitops_hive.runtime.bind_folders import make_bind_folders

UID = 3_000_000_000 % (1 << 31)  # an unused uid: the agent's root, as the host sees it


@pytest.fixture
def agent(tmp_path: Path) -> HiveLayout:
    if os.geteuid() != 0:
        pytest.skip("needs root (bind folders are handed to the agent's uid)")
    layout = HiveLayout(tmp_path / "hive")
    layout.agent("worker").dir.mkdir(parents=True)
    return layout


@pytest.mark.parametrize(
    "paths",
    [
        ["/data", "/data2", "/var/cache/tool", "/var%2Fcache/tool", "/var/cache%2Ftool"],
        ["/a.b", "/a/b", "/a%2Fb", "/..a", "/.x"],
    ],
)
def test_each_container_path_gets_one_folder_name_of_its_own(paths: list[str]) -> None:
    names = [bind_folder_name(path) for path in paths]
    assert len(set(names)) == len(paths)
    for path, name in zip(paths, names, strict=True):
        assert "/" not in name and name not in ("", ".", "..") and unquote(name) == path
    with pytest.raises(ValueError, match="not an absolute container path"):
        bind_folder_name("../etc")


def test_bind_folders_are_made_once_for_the_agent_to_write(agent: HiveLayout) -> None:
    worker = agent.agent("worker")
    binds = make_bind_folders(worker, ("/data", "/var/cache/tool"), UID)
    assert [(b.host, b.inside, b.writable, b.hand_over) for b in binds] == [
        (worker.binds / "%2Fdata", "/data", True, False),
        (worker.binds / "%2Fvar%2Fcache%2Ftool", "/var/cache/tool", True, False),
    ]
    parent = worker.binds.stat()
    assert (parent.st_uid, parent.st_mode & 0o777) == (0, 0o700)
    for bind in binds:
        assert (bind.host.stat().st_uid, bind.host.stat().st_gid) == (UID, UID)
    (binds[0].host / "kept").write_text("data\n")
    assert make_bind_folders(worker, ("/data",), UID) == binds[:1]
    assert (binds[0].host / "kept").read_text() == "data\n"
    assert make_bind_folders(worker, (), UID) == ()
    assert (binds[1].host).is_dir()  # a bind dropped from the spec keeps its folder


def test_a_link_where_a_bind_folder_goes_is_refused_and_its_target_untouched(
    agent: HiveLayout, tmp_path: Path
) -> None:
    worker = agent.agent("worker")
    host = tmp_path / "host-secrets"
    host.mkdir()
    worker.binds.mkdir(mode=0o700)
    worker.bind_folder("/data").symlink_to(host)
    with pytest.raises(RuntimeFailure) as refused:
        make_bind_folders(worker, ("/data",), UID)
    message = str(refused.value)
    assert "bind /data" in message and "not a plain folder" in message and "\n" not in message
    assert host.stat().st_uid == 0 and list(host.iterdir()) == []
    worker.bind_folder("/data").unlink()
    worker.bind_folder("/data").write_text("a file\n")
    with pytest.raises(RuntimeFailure, match="not a plain folder"):
        make_bind_folders(worker, ("/data",), UID)


def test_a_link_in_place_of_the_binds_folder_is_refused(agent: HiveLayout, tmp_path: Path) -> None:
    worker = agent.agent("worker")
    host = tmp_path / "host-folder"
    (host / "%2Fdata").mkdir(parents=True)
    worker.binds.symlink_to(host)
    with pytest.raises(RuntimeFailure, match="binds is not a plain folder"):
        make_bind_folders(worker, ("/data",), UID)
    assert (host / "%2Fdata").stat().st_uid == 0


def test_a_binds_folder_others_may_write_is_refused(agent: HiveLayout) -> None:
    worker = agent.agent("worker")
    worker.binds.mkdir(mode=0o700)
    os.chown(worker.binds, UID, UID)  # as if the agent owned it: it could plant links there
    with pytest.raises(RuntimeFailure, match="must be the controller's own"):
        make_bind_folders(worker, ("/data",), UID)
    os.chown(worker.binds, 0, 0)
    worker.binds.chmod(0o777)
    with pytest.raises(RuntimeFailure, match="chmod it 700"):
        make_bind_folders(worker, ("/data",), UID)


def test_a_bind_over_a_path_the_runtime_mounts_is_refused_before_any_folder(
    agent: HiveLayout,
) -> None:
    worker = agent.agent("worker")
    with pytest.raises(RuntimeFailure, match="'/srv/py' would cover or sit inside /srv/py/venv"):
        make_bind_folders(worker, ("/data", "/srv/py"), UID, ["/srv/py/venv"])
    assert not worker.binds.exists()
