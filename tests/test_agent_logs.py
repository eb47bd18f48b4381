"""Reading an agent's log from its end: the tail, whole lines after an offset, bounded reads of
a huge log, and a log that is a link or a FIFO refused rather than followed or waited on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitops_hive import repos
from gitops_hive.agent_logs import LINE_CHARS, MAX_LINES, READ_BYTES, check_lines, read_log
from gitops_hive.config import load_config
from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from gitops_hive.web.control_api import make_control_app
from tests.conftest import make_root


def test_the_tail_is_the_last_lines_and_the_offset_is_the_end(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    read = read_log(log, 3, None)
    assert read.lines == ["line 97", "line 98", "line 99"]
    assert read.offset == read.size == log.stat().st_size and read.exists


def test_a_missing_log_reads_as_none(tmp_path: Path) -> None:
    read = read_log(tmp_path / "agent.log", 50, None)
    assert (read.lines, read.exists, read.offset) == ([], False, 0)
    assert not read_log(tmp_path / "agent.log", 50, 0).exists


def test_after_an_offset_only_whole_lines_come_and_a_partial_one_waits(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_bytes(b"one\n")
    offset = read_log(log, 50, None).offset
    with log.open("ab") as out:
        out.write(b"two\nthr")
    read = read_log(log, 50, offset)
    assert read.lines == ["two"]
    with log.open("ab") as out:
        out.write(b"ee\n")
    assert read_log(log, 50, read.offset).lines == ["three"]


def test_a_log_shorter_than_the_offset_was_started_anew(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_bytes(b"a long first life\n" * 10)
    offset = read_log(log, 50, None).offset
    log.write_bytes(b"again\n")
    read = read_log(log, 50, offset)
    assert read.restarted and read.lines == ["again"]


def test_a_huge_log_is_read_from_its_end_within_one_bounded_read(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        out.write(b"old\n" * (3 * READ_BYTES // 4))  # 3 MiB of lines nobody will read
        out.write(b"newest\n")
    read = read_log(log, MAX_LINES, None)
    assert read.lines[-1] == "newest" and "old" in read.lines[0]
    assert len(read.lines) <= READ_BYTES // 4 and read.skipped > 0
    after = read_log(log, 50, 0)  # a follower far behind skips to the last read's worth
    assert after.skipped >= 2 * READ_BYTES and after.lines[-1] == "newest"


def test_a_line_longer_than_a_read_shows_its_start_and_moves_on(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_bytes(b"x" * (READ_BYTES + 10))
    read = read_log(log, 50, 0)
    assert len(read.lines) == 1 and len(read.lines[0]) == LINE_CHARS
    assert read.lines[0].endswith("…") and read.offset == READ_BYTES + 10


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_log_that_is_a_link_or_a_fifo_is_refused(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not the agent's\n")
    log = tmp_path / "agent.log"
    if kind == "symlink":
        log.symlink_to(secret)
    else:
        os.mkfifo(log)  # nothing writes it: an open without O_NONBLOCK would hang here
    with pytest.raises(HiveError) as refused:
        read_log(log, 50, None)
    assert "\n" not in refused.value.message and "secret" not in refused.value.message


@pytest.mark.parametrize("bad", [0, -1, MAX_LINES + 1])
def test_a_line_count_out_of_range_is_refused_in_one_line(bad: int) -> None:
    with pytest.raises(HiveError, match=f"1 to {MAX_LINES}"):
        check_lines(bad)


async def test_the_routes_refuse_bad_input_with_one_line_and_its_status(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    layout = HiveLayout(make_root(tmp_path / "hive"))
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    try:
        await hive.draft("scout")
        client = await aiohttp_client(make_control_app(hive))
        refused = {
            "/api/agents/scout/log?since=-1": 400,
            "/api/agents/scout/log?since=%C2%B2": 400,  # a digit to str.isdigit, not to int
            "/api/agents/scout/log?lines=0": 400,
            f"/api/agents/scout/log?lines={10**30}": 400,
            "/api/agents/Scout/log": 400,  # the one validator: not a name at all
            "/api/agents/ghost/log": 404,
        }
        for path, status in refused.items():
            answer = await client.get(path)
            body = await answer.json()
            assert (answer.status, "\n" in body["error"]) == (status, False), path
        answer = await client.post("/api/hooks/install", json={"agents": "scout"})
        assert answer.status == 400 and "list" in (await answer.json())["error"]
        answer = await client.get("/api/agents/scout/log?since=0")
        assert (await answer.json())["exists"] is False
    finally:
        await hive.close()
