"""A build's progress lines: published as `build` notices as they come, the last ones kept
for a page opened mid-build, dropped when the build ends."""

from __future__ import annotations

from gitops_hive.bus import EventBus, ProgressLines


async def test_lines_are_published_and_kept_until_the_build_ends() -> None:
    bus = EventBus()
    progress = ProgressLines(bus, keep=2)
    async with bus.subscribe() as queue:
        report = progress.reporter(7, "worker")
        for line in ("Reading package lists...", "Unpacking jq", "Setting up jq"):
            report(line)
        notices = [queue.get_nowait() for _ in range(3)]
    assert notices[0] == {
        "kind": "build",
        "id": 7,
        "agent": "worker",
        "line": "Reading package lists...",
    }
    assert [n["line"] for n in notices] == [
        "Reading package lists...",
        "Unpacking jq",
        "Setting up jq",
    ]
    assert progress.lines(7) == ["Unpacking jq", "Setting up jq"]  # the last `keep`
    assert progress.lines(8) == []
    progress.end(7)
    assert progress.lines(7) == []
