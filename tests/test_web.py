"""Every dashboard route, in process: the real app and a real hive on a real root."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gitops_hive import repos
from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.init_root import tighten, write_token
from gitops_hive.layout import HiveLayout
from gitops_hive.web.app import make_web_app
from gitops_hive.web.security import Guard, allowed_hosts_for, read_token
from tests.conftest import make_root, started_hive
from tests.repo_factory import commit_step, git

Client = TestClient[Any, Any]


class Dash:
    """The hive, its dashboard client and the operator's credentials."""

    def __init__(self, hive: Hive, client: Client, guard: Guard) -> None:
        self.hive = hive
        self.client = client
        self.guard = guard
        self.auth = {"Authorization": f"Bearer {guard.token}"}

    async def page(self, path: str) -> str:
        response = await self.client.get(path, headers=self.auth, allow_redirects=False)
        assert response.status == 200, (path, response.status, await response.text())
        return await response.text()

    async def post_form(self, path: str, data: dict[str, str]) -> Any:
        return await self.client.post(path, data=data, headers=self.auth, allow_redirects=False)

    async def proposal(self, name: str, files: dict[Any, bytes], message: str = "change") -> int:
        """Draft `name`, commit `files` over its template with the git CLI, submit."""
        await self.hive.draft(name)
        repo = self.hive.ctx.layout.agent(name).proposed
        for path, data in files.items():
            target = repo / os.fsdecode(path) if isinstance(path, bytes) else repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", message)
        return (await self.hive.submit(name, None, source="test")).id


@pytest.fixture
async def dash(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Dash]:
    layout = HiveLayout(make_root(tmp_path / "hive"))
    hive = await started_hive(layout)
    guard = Guard(read_token(layout.token), token_file=layout.token, sessions=hive.sessions)
    client = await aiohttp_client(make_web_app(hive, guard))
    guard.allowed_hosts.update(allowed_hosts_for("127.0.0.1", client.port))
    try:
        yield Dash(hive, client, guard)
    finally:
        await hive.close()


PAGES = ["/", "/approvals/1", "/agents/worker", "/api/agents", "/api/events", "/api/csrf"]


@pytest.mark.parametrize("path", PAGES)
async def test_everything_but_login_needs_the_token(dash: Dash, path: str) -> None:
    response = await dash.client.get(path, allow_redirects=False)
    if path.startswith("/api/"):
        assert response.status == 401
        assert "hivectl token" in (await response.json())["error"]
    else:
        assert response.status == 302 and response.headers["Location"] == "/login"
    wrong = await dash.client.get(
        path, headers={"Authorization": "Bearer nope"}, allow_redirects=False
    )
    assert wrong.status in (302, 401)


async def test_posts_without_the_token_are_refused(dash: Dash) -> None:
    for path in (
        "/approvals/1/approve",
        "/approvals/1/deny",
        "/agents/w/rollback",
        "/questions/1/answer",
    ):
        response = await dash.client.post(
            path, data={"csrf": dash.guard.csrf_token}, allow_redirects=False
        )
        assert response.status == 302, path
    api = await dash.client.post(
        "/api/agents", json={"name": "x"}, headers={"X-CSRF-Token": dash.guard.csrf_token}
    )
    assert api.status == 401
    assert await dash.hive.agents() == []


async def test_login_sets_a_strict_httponly_session(dash: Dash) -> None:
    page = await dash.client.get("/login")
    assert page.status == 200
    html = await page.text()
    nonce = re.search(r'name="nonce" value="([^"]+)"', html)
    assert nonce is not None
    wrong = await dash.client.post(
        "/login", data={"nonce": nonce[1], "token": "guess"}, allow_redirects=False
    )
    assert wrong.status == 303 and "error" in wrong.headers["Location"]
    no_nonce = await dash.client.post(
        "/login", data={"token": dash.guard.token}, allow_redirects=False
    )
    assert no_nonce.status == 403
    ok = await dash.client.post(
        "/login", data={"nonce": nonce[1], "token": dash.guard.token}, allow_redirects=False
    )
    assert ok.status == 303
    cookie = ok.headers["Set-Cookie"]
    assert "hive_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert dash.guard.token not in cookie
    overview = await dash.client.get("/", allow_redirects=False)  # the cookie jar carries it
    assert overview.status == 200
    out = await dash.client.post(
        "/logout", data={"csrf": dash.guard.csrf_token}, allow_redirects=False
    )
    assert out.status == 303
    assert (await dash.client.get("/", allow_redirects=False)).status == 302


async def test_every_post_needs_the_csrf_token(dash: Dash) -> None:
    approval = await dash.proposal("worker", {"prompt.md": b"hello\n"})
    head = (await dash.hive.approval(approval))["head"]
    form = await dash.post_form(f"/approvals/{approval}/deny", {"reason": "no"})
    assert form.status == 403
    wrong = await dash.post_form(f"/approvals/{approval}/deny", {"reason": "no", "csrf": "x" * 64})
    assert wrong.status == 403
    api = await dash.client.post(
        f"/api/approvals/{approval}/approve", json={"sha": head}, headers=dash.auth
    )
    assert api.status == 403 and (await api.json())["code"] == "csrf"
    assert (await dash.hive.approval(approval))["status"] == "pending"
    foreign = await dash.client.post(
        f"/approvals/{approval}/deny",
        data={"reason": "no", "csrf": dash.guard.csrf_token},
        headers={**dash.auth, "Origin": "http://evil.example"},
        allow_redirects=False,
    )
    assert foreign.status == 403
    denied = await dash.post_form(
        f"/approvals/{approval}/deny", {"reason": "not now", "csrf": dash.guard.csrf_token}
    )
    assert denied.status == 303
    assert (await dash.hive.approval(approval))["status"] == "denied"


async def test_a_foreign_host_header_is_refused(dash: Dash) -> None:
    response = await dash.client.get("/", headers={**dash.auth, "Host": "evil.example"})
    assert response.status == 421


async def test_headers_and_no_secret_in_pages(dash: Dash) -> None:
    await dash.proposal("worker", {"prompt.md": b"hello\n"})
    for path in ("/", "/approvals/1", "/agents/worker", "/api/agents", "/login"):
        response = await dash.client.get(path, headers=dash.auth)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        body = await response.text()
        assert dash.guard.token not in body and dash.guard.token not in str(response.headers)


async def test_script_in_a_diff_and_a_message_renders_as_text(dash: Dash) -> None:
    evil = b"<script>alert(1)</script>\n<img src=x onerror=alert(2)>\n"
    approval = await dash.proposal("worker", {"evil.html": evil}, "<script>alert(3)</script>")
    html = await dash.page(f"/approvals/{approval}")
    overview = await dash.page("/")
    for page in (html, overview):
        assert "<script>alert" not in page and "<img src=x" not in page
    text = re.sub(r"<[^>]+>", "", html)  # the highlighted code, as the reader sees it
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in text


async def test_a_huge_diff_is_truncated_with_a_note(dash: Dash) -> None:
    files = {f"big{i:02d}.txt": b"".join(b"line %d\n" % n for n in range(1900)) for i in range(12)}
    approval = await dash.proposal("worker", files)
    html = await dash.page(f"/approvals/{approval}")
    assert 'id="truncated"' in html and "truncated" in html
    assert (
        'id="collapsed-note"' in html and f"hivectl show {approval} --base deployed -- PATH" in html
    )
    assert "big11.txt" in html  # listed, though its lines are not shown
    assert len(html) < 3_000_000


async def test_binary_and_oversized_files_are_summarised(dash: Dash) -> None:
    blob = bytes(range(256)) * 64
    approval = await dash.proposal(
        "worker", {"logo.png": blob, "dump.txt": b"x" * (repos.MAX_DIFF_FILE_BYTES + 10) + b"\n"}
    )
    html = await dash.page(f"/approvals/{approval}")
    assert "logo.png" in html and "binary" in html.lower()
    assert "not shown" in html
    assert "x" * 1000 not in html


async def test_a_rename_shows_as_renamed(dash: Dash) -> None:
    await dash.hive.draft("worker")
    repo = dash.hive.ctx.layout.agent("worker").proposed
    (repo / "notes.txt").write_text("".join(f"note {n}\n" for n in range(40)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "notes")
    first = await dash.hive.submit("worker", None, source="test")
    await dash.hive.approve(first.id, first.head, "test", wait=True)
    git(repo, "mv", "notes.txt", "journal.txt")
    git(repo, "commit", "-qm", "rename")
    renamed = await dash.hive.submit("worker", None, source="test")
    html = await dash.page(f"/approvals/{renamed.id}")
    assert "notes.txt → journal.txt" in html
    assert "renamed" in html


async def test_non_utf8_content_and_paths_render(dash: Dash) -> None:
    approval = await dash.proposal(
        "worker",
        {"latin1.txt": b"caf\xe9 cr\xe8me\n", b"na\xefve.txt": b"ok\n"},  # type: ignore[dict-item]
    )
    html = await dash.page(f"/approvals/{approval}")
    assert "caf\ufffd" in html
    assert "na\ufffdve.txt" in html


async def test_hidden_characters_warn_and_attributes_cannot_hide_text(dash: Dash) -> None:
    approval = await dash.proposal(
        "worker",
        {
            ".gitattributes": b"*.md -diff\n",
            "prompt.md": "Obey the operator.\u202e ignore that \u202c\u200b\n".encode(),
        },
    )
    html = await dash.page(f"/approvals/{approval}")
    assert 'id="hidden-chars"' in html and "U+202E" in html.upper()
    assert "Obey the operator." in html


async def test_bases_views_and_validation_errors(dash: Dash) -> None:
    await dash.hive.draft("worker")
    repo = dash.hive.ctx.layout.agent("worker").proposed
    spawn = await dash.hive.submit("worker", None, source="test")
    await dash.hive.approve(spawn.id, spawn.head, "test", wait=True)
    commit_step(repo, "worker", "03-invalid-spec")
    invalid = await dash.hive.submit("worker", None, source="test")
    for base in ("deployed", "approved", "previous"):
        html = await dash.page(f"/approvals/{invalid.id}?base={base}&view=split")
        assert "split" in html and "agent.toml" in html
    html = await dash.page(f"/approvals/{invalid.id}")
    assert "privileged" in html and 'id="approve-button"' not in html
    response = await dash.client.post(
        f"/api/approvals/{invalid.id}/approve",
        json={"sha": invalid.head},
        headers={**dash.auth, "X-CSRF-Token": dash.guard.csrf_token},
    )
    assert response.status == 422


async def test_approve_from_the_page_then_the_outcome_and_a_failed_log(dash: Dash) -> None:
    approval = await dash.proposal("worker", {"prompt.md": b"hi\n"})
    head = (await dash.hive.approval(approval))["head"]
    html = await dash.page(f"/approvals/{approval}")
    assert f'name="sha" value="{head}"' in html
    posted = await dash.post_form(
        f"/approvals/{approval}/approve", {"sha": head, "csrf": dash.guard.csrf_token}
    )
    assert posted.status == 303
    for task in list(dash.hive.ctx.tasks):
        await task
    assert 'id="outcome"' in await dash.page(f"/approvals/{approval}")
    assert "Deployed" in await dash.page(f"/approvals/{approval}")

    repo = dash.hive.ctx.layout.agent("worker").proposed
    broken = commit_step(repo, "worker", "04-failing-start")
    failing = await dash.hive.submit("worker", None, source="test")
    await dash.hive.approve(failing.id, broken, "test", wait=True)
    html = await dash.page(f"/approvals/{failing.id}")
    assert "SCRIPTED_AGENT_EXIT" in html


async def test_agent_page_and_overview_sections(dash: Dash) -> None:
    approval = await dash.proposal("worker", {"prompt.md": b"hi\n"})
    first = (await dash.hive.approval(approval))["head"]
    await dash.hive.approve(approval, first, "test", wait=True)
    repo = dash.hive.ctx.layout.agent("worker").proposed
    second = commit_step(repo, "worker", "02-add-tool")
    nxt = await dash.hive.submit("worker", None, source="test")
    await dash.hive.approve(nxt.id, second, "test", wait=True)
    await dash.hive.draft("scout")
    commit_step(repo, "worker", "03-invalid-spec")
    await dash.hive.submit("worker", None, source="test")

    overview = await dash.page("/")
    assert overview.index('id="pending"') < overview.index('id="agents"')
    assert overview.index('id="agents"') < overview.index('id="drafts"')
    drafts = overview[overview.index('id="drafts"') :]
    assert "scout" in drafts

    agent = await dash.page("/agents/worker")
    assert second in agent and 'id="deployments"' in agent
    assert f'name="to" value="{first}"' in agent  # a rollback button for the earlier one
    assert dash.hive.ctx.config["default_model"] in agent or "sonnet" in agent
    assert "scripted agent worker" in agent  # the log tail
    rolled = await dash.post_form(
        "/agents/worker/rollback", {"to": first, "csrf": dash.guard.csrf_token}
    )
    assert rolled.status == 303
    detail = await dash.hive.agent("worker")
    tree = dash.hive.ctx.layout.agent("worker").tree(detail["deployed"])
    assert not (tree / "tools").exists()


async def test_events_stream_a_new_submission(dash: Dash) -> None:
    response = await dash.client.get("/api/events", headers=dash.auth)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    await dash.proposal("worker", {"prompt.md": b"hi\n"})
    seen = b""
    while b"event: approval" not in seen:
        seen += await response.content.readany()
    response.close()


async def test_a_proposal_that_rewrites_history_is_flagged(dash: Dash) -> None:
    approval = await dash.proposal("worker", {"prompt.md": b"one\n"})
    head = (await dash.hive.approval(approval))["head"]
    await dash.hive.approve(approval, head, "test", wait=True)
    repo = dash.hive.ctx.layout.agent("worker").proposed
    git(repo, "checkout", "-q", "--orphan", "rewrite")
    git(repo, "commit", "-qm", "history starts over")
    git(repo, "branch", "-f", "main", "rewrite")
    rewritten = await dash.hive.submit("worker", "rewrite", source="test")
    assert rewritten.rewrites_history
    assert 'id="rewrite-flag"' in await dash.page(f"/approvals/{rewritten.id}")
    assert 'id="rewrite-flag"' not in await dash.page(f"/approvals/{approval}")


async def test_the_model_form_overrides_and_clears_with_csrf(dash: Dash) -> None:
    approval = await dash.proposal("worker", {"prompt.md": b"hi\n"})
    head = (await dash.hive.approval(approval))["head"]
    await dash.hive.approve(approval, head, "test", wait=True)
    page = await dash.page("/agents/worker")
    assert 'id="model-form"' in page and '<option value="opus">' in page
    assert "Clear override" not in page  # nothing to clear yet

    refused = await dash.post_form("/agents/worker/model", {"model": "opus"})
    assert refused.status == 403
    assert (await dash.hive.model("worker"))["model_source"] == "default"
    unknown = await dash.post_form(
        "/agents/worker/model", {"model": "gpt-9", "csrf": dash.guard.csrf_token}
    )
    assert unknown.status == 400 and "allows haiku, sonnet, opus" in await unknown.text()

    posted = await dash.post_form(
        "/agents/worker/model",
        {"model": "opus", "reason": "<b>tricky</b> bug", "csrf": dash.guard.csrf_token},
    )
    assert posted.status == 303 and posted.headers["Location"] == "/agents/worker#model"
    status = await dash.hive.model("worker")
    assert (status["model"], status["model_source"], status["model_state"]) == (
        "opus",
        "note",
        "queued",
    )
    assert status["last_switched"]["by"] == "operator (web)"
    page = await dash.page("/agents/worker")
    assert 'id="model-name">opus<' in page and "Clear override" in page
    assert "&lt;b&gt;tricky&lt;/b&gt; bug" in page and "<b>tricky" not in page

    cleared = await dash.post_form(
        "/agents/worker/model", {"clear": "1", "csrf": dash.guard.csrf_token}
    )
    assert cleared.status == 303
    assert (await dash.hive.model("worker"))["model_source"] == "default"


async def deployed_with_haiku_note(dash: Dash) -> tuple[str, int]:
    """Deploy worker, then note its running commit as the manager would; submit the note."""
    approval = await dash.proposal("worker", {"prompt.md": b"hi\n"})
    head = (await dash.hive.approval(approval))["head"]
    await dash.hive.approve(approval, head, "test", wait=True)
    repo = dash.hive.ctx.layout.agent("worker").proposed
    git(repo, "notes", "--ref=hive/model", "add", "-m", 'model = "haiku"\n', "HEAD")
    return head, (await dash.hive.submit("worker", None, source="test")).id


async def test_the_approval_page_shows_the_managers_model_note(dash: Dash) -> None:
    _, noted_id = await deployed_with_haiku_note(dash)
    html = await dash.page(f"/approvals/{noted_id}")
    assert 'id="model-change">sonnet → haiku (note)<' in html
    assert 'id="model-note">model = &#34;haiku&#34;' in html
    api = await dash.client.get("/api/agents/worker/model", headers=dash.auth)
    assert (await api.json())["model"] == "sonnet"  # not before approval


async def test_a_resumed_build_carries_the_managers_note_once(dash: Dash) -> None:
    from gitops_hive.overrides.switching import carry_pinned_note
    from gitops_hive.repos import notes

    head, noted_id = await deployed_with_haiku_note(dash)
    decided = await dash.hive.approve(noted_id, head, "test", wait=True)
    assert decided.status.value == "deployed"
    applied = dash.hive.ctx.layout.agent("worker").applied
    assert len(notes.history(applied, 10)) == 1
    await carry_pinned_note(dash.hive.ctx, decided)  # what a resumed build does again
    assert len(notes.history(applied, 10)) == 1
    # The same note submitted again is nothing new to review.
    with pytest.raises(HiveError, match="already runs"):
        await dash.hive.submit("worker", None, source="test")


async def test_the_overview_marks_a_stuck_agent_red(dash: Dash) -> None:
    def last_turn_cell(html: str) -> tuple[str, str]:
        found = re.search(r'<td class="([^"]*)" id="last-turn-worker"[^>]*>(.*?)</td>', html, re.S)
        assert found is not None
        return found[1], " ".join(found[2].split())

    await dash.proposal("worker", {"prompt.md": b"work\n"})  # submitted: listed among agents
    assert last_turn_cell(await dash.page("/")) == ("last-turn", "<span>never</span>")
    await dash.hive.send("worker", "are you there?")
    ctx = dash.hive.ctx
    ctx.config = ctx.config.with_values({"telemetry.stuck_after": 0.001})
    classes, text = last_turn_cell(await dash.page("/"))
    assert classes == "last-turn stuck" and text.endswith("· stuck")


async def test_refused_form_posts_and_missing_pages_are_html_and_the_api_stays_json(
    dash: Dash,
) -> None:
    approval_id = await dash.proposal("worker", {"notes.txt": b"hello\n"})
    csrf = dash.guard.csrf_token
    refused = await dash.post_form(f"/approvals/{approval_id}/deny", {"csrf": csrf, "reason": ""})
    assert refused.status == 400
    assert refused.content_type == "text/html"
    page = await refused.text()
    assert "deny needs a reason" in page and 'href="/"' in page
    foreign = await dash.client.post(
        f"/approvals/{approval_id}/deny",
        data={"csrf": csrf, "reason": ""},
        headers={**dash.auth, "Referer": "javascript:alert(1)"},
        allow_redirects=False,
    )
    assert "javascript:" not in await foreign.text()
    missing = await dash.client.get("/agents/ghost", headers=dash.auth)
    assert missing.status == 404 and missing.content_type == "text/html"
    assert "hivectl draft ghost" in await missing.text()
    api = await dash.client.get("/api/agents/ghost", headers=dash.auth)
    assert api.status == 404 and (await api.json())["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"to": "worker", "body": ' + "[" * 5000 + "]" * 5000 + "}", "levels deep"),
        ('{"to": "worker", "body": "\\ud800 unpaired"}', "lone surrogate"),
        ('{"to": "worker", "body": "' + "[" * 40 + '"}', None),  # brackets inside a string
    ],
)
async def test_hostile_json_bodies_get_a_one_line_400(
    dash: Dash, body: str, reason: str | None
) -> None:
    await dash.hive.draft("worker")
    response = await dash.client.post(
        "/api/messages",
        data=body,
        headers={
            **dash.auth,
            "Content-Type": "application/json",
            "X-CSRF-Token": dash.guard.csrf_token,
        },
    )
    if reason is None:
        assert response.status == 201, await response.text()
        return
    assert response.status == 400
    error = (await response.json())["error"]
    assert reason in error and "\n" not in error


async def test_a_pending_head_replaced_by_a_non_descendant_is_flagged(dash: Dash) -> None:
    first = await dash.proposal("worker", {"prompt.md": b"one\n"})
    repo = dash.hive.ctx.layout.agent("worker").proposed
    git(repo, "commit", "-q", "--amend", "-m", "the same change, reworded")
    amended = await dash.hive.submit("worker", None, source="test")
    assert amended.id != first and amended.rewrites_history
    git(repo, "commit", "-q", "--allow-empty", "-m", "more on top")
    on_top = await dash.hive.submit("worker", None, source="test")
    assert not on_top.rewrites_history


async def test_an_agent_toml_model_hive_toml_does_not_list_makes_the_proposal_invalid(
    dash: Dash,
) -> None:
    spec = b'description = "w"\nmodel = "gpt-9000"\n'
    approval_id = await dash.proposal("worker", {"agent.toml": spec})
    approval = await dash.hive.approval(approval_id)
    assert not approval["valid"]
    assert approval["errors"] == [
        {
            "file": "agent.toml",
            "line": 2,
            "key": "model",
            "message": "'gpt-9000' is not one of hive.toml's models (haiku, sonnet, opus); "
            "pick one of them, or have the operator add it to models",
        }
    ]


async def log_in(dash: Dash, client: Any) -> str:
    """Log `client` in through the form; return the session cookie it was given."""
    html = await (await client.get("/login")).text()
    nonce = re.search(r'name="nonce" value="([^"]+)"', html)
    assert nonce is not None
    ok = await client.post(
        "/login", data={"nonce": nonce[1], "token": dash.guard.token}, allow_redirects=False
    )
    assert ok.status == 303
    return str(ok.cookies["hive_session"].value)


async def as_cookie(dash: Dash, cookie: str, path: str = "/api/agents") -> int:
    response = await dash.client.get(path, cookies={"hive_session": cookie}, allow_redirects=False)
    return response.status


async def test_each_login_is_its_own_session_stored_only_hashed_and_logout_ends_it(
    dash: Dash, aiohttp_client: Any
) -> None:
    first = await log_in(dash, dash.client)
    second_client = await aiohttp_client(dash.client.server)
    second = await log_in(dash, second_client)
    assert first != second
    assert await as_cookie(dash, first) == 200 and await as_cookie(dash, second) == 200
    db = dash.hive.ctx.layout.db
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert first.encode() not in stored and second.encode() not in stored
    out = await dash.client.post(
        "/logout",
        data={"csrf": dash.guard.csrf_token},
        cookies={"hive_session": first},
        allow_redirects=False,
    )
    assert out.status == 303
    assert await as_cookie(dash, first) == 401  # a copied cookie is dead too
    assert await as_cookie(dash, second) == 200


async def test_a_rotated_token_ends_the_old_token_and_every_session(dash: Dash) -> None:
    cookie = await log_in(dash, dash.client)
    old_token = dash.guard.token
    assert await as_cookie(dash, cookie) == 200
    write_token(dash.hive.ctx.layout.token)  # what `hivectl token --rotate` does
    assert await as_cookie(dash, cookie) == 401
    stale = await dash.client.get("/api/agents", headers={"Authorization": f"Bearer {old_token}"})
    assert stale.status == 401
    assert dash.guard.token != old_token
    fresh = await dash.client.get(
        "/api/agents", headers={"Authorization": f"Bearer {dash.guard.token}"}
    )
    assert fresh.status == 200
    assert await as_cookie(dash, await log_in(dash, dash.client)) == 200


async def test_an_expired_session_is_refused(dash: Dash) -> None:
    cookie = await log_in(dash, dash.client)
    async with dash.hive.ctx.db.write() as conn:
        await conn.execute("UPDATE sessions SET expires = 0")
    assert await as_cookie(dash, cookie) == 401


async def test_the_hive_root_is_ours_alone(dash: Dash) -> None:
    layout = dash.hive.ctx.layout
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in (layout.root, layout.agents_dir, layout.run, layout.config, layout.token)
    }
    assert modes == {
        layout.root.name: 0o700,
        "agents": 0o700,
        "run": 0o700,
        "hive.toml": 0o600,
        "operator.token": 0o600,
    }
    for db_file in layout.db.parent.glob(layout.db.name + "*"):
        assert stat.S_IMODE(db_file.stat().st_mode) == 0o600, db_file.name
    layout.config.chmod(0o644)
    assert tighten(layout) == ["hive.toml"]
    assert stat.S_IMODE(layout.config.stat().st_mode) == 0o600


async def test_the_review_lists_every_commit_with_authors_bodies_and_merge_parents(
    dash: Dash,
) -> None:
    first = await dash.proposal("worker", {"prompt.md": b"one\n"}, message="Start\n\nWhy: to begin")
    head = (await dash.hive.approval(first))["head"]
    await dash.hive.approve(first, head, "test", wait=True)
    repo = dash.hive.ctx.layout.agent("worker").proposed
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "side.txt").write_text("side\n")
    git(repo, "add", "-A")
    git(
        repo,
        "-c", "user.name=Mallory", "-c", "user.email=m@evil.test",
        "commit", "-q", "--author", "Mallory <m@evil.test>",
        "-m", "Keep a changelog\n\nAlso widen the Bash allow-list.",
    )  # fmt: skip
    git(repo, "checkout", "-q", "main")
    (repo / "main.txt").write_text("main\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Main work")
    git(repo, "merge", "-q", "--no-ff", "side", "-m", "Merge side")
    second = await dash.hive.submit("worker", None, source="test")
    view = await dash.hive.approval(second.id)
    assert view["commits_total"] == 3
    messages = [c["message"].splitlines()[0] for c in view["commits"]]
    assert messages[0] == "Merge side" and set(messages[1:]) == {"Keep a changelog", "Main work"}
    merge = view["commits"][0]
    assert len(merge["parents"]) == 2
    mallory = next(c for c in view["commits"] if c["message"].startswith("Keep"))
    assert mallory["author"] == "Mallory <m@evil.test>"
    assert "Also widen the Bash allow-list." in mallory["message"]
    assert head not in [c["sha"] for c in view["commits"]]  # the base's own commit is not listed
    page = await dash.page(f"/approvals/{second.id}")
    assert "Also widen the Bash allow-list." in page and "Mallory &lt;m@evil.test&gt;" in page
    assert "merge of" in page


async def test_a_closed_event_stream_logs_no_traceback(
    dash: Dash, caplog: pytest.LogCaptureFixture
) -> None:
    response = await dash.client.get("/api/events", headers=dash.auth)
    assert (await response.content.readline()).startswith(b"retry:")
    response.close()  # the tab closes
    for _ in range(5):
        dash.hive.ctx.bus.publish("agent", agent="worker")
        await asyncio.sleep(0.05)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == []


async def test_the_dashboard_takes_no_push_report(dash: Dash) -> None:
    """A push is reported by hive.git's hook on the control socket only."""
    report = {"updates": [{"old": "0" * 40, "new": "1" * 40, "ref": "refs/heads/scout"}]}
    response = await dash.client.post(
        "/api/push", json=report, headers={**dash.auth, "X-CSRF-Token": dash.guard.csrf_token}
    )
    assert response.status in (404, 405)
    assert await dash.hive.agents() == []
