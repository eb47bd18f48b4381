"""The operator's buttons beyond a review, in process: the real app on a real hive root.
Each post needs the CSRF token, does what the CLI does, and a refusal is an HTML page."""

from __future__ import annotations

import asyncio
import html
import time

from gitops_hive.web import actions
from tests.repo_factory import commit_step
from tests.test_web import Dash, dash

__all__ = ["dash"]  # the fixture, used by name


async def html_error(dash: Dash, path: str, data: dict[str, str], status: int) -> str:
    response = await dash.post_form(path, data)
    assert response.status == status, await response.text()
    assert response.content_type == "text/html"
    return html.unescape(await response.text())


async def deployed(dash: Dash, name: str) -> None:
    spawn = await dash.hive.spawn(name)
    await dash.hive.approve(spawn.id, spawn.head, "test", wait=True)


async def test_spawn_from_the_overview_queues_it_and_refuses_a_bad_name(dash: Dash) -> None:
    csrf = dash.guard.csrf_token
    overview = await dash.page("/")
    assert 'id="spawn-form"' in overview and "Spawn {name}: a draft" in overview
    refused = await dash.post_form("/agents", {"name": "scout"})
    assert refused.status == 403
    assert await dash.hive.agent_names() == []
    page = await html_error(dash, "/agents", {"csrf": csrf, "name": "Bad Name"}, 400)
    assert "Bad Name" in page and "a lowercase letter first" in page
    assert await dash.hive.agent_names() == []

    spawned = await dash.post_form("/agents", {"csrf": csrf, "name": "scout"})
    assert spawned.status == 303
    (pending,) = await dash.hive.pending()
    assert spawned.headers["Location"] == f"/approvals/{pending['id']}"
    assert (pending["agent"], pending["kind"], pending["source"]) == ("scout", "spawn", "web")
    again = await html_error(dash, "/agents", {"csrf": csrf, "name": "scout"}, 409)
    assert "scout" in again


async def test_a_drafts_page_fits_a_draft_and_submits_it(dash: Dash) -> None:
    await dash.hive.draft("scout")
    page = await dash.page("/agents/scout")
    assert "A draft is an agent that exists only as a repo" in page
    assert 'id="submit-button"' in page and "is not checked yet" in page
    meaningless_for_a_draft = (
        'id="telemetry"',
        "Auto-submit",
        'id="model-state"',
        'id="terminal"',
        "<h2>Deployments</h2>",
        "<h2>Proposals</h2>",
    )
    for meaningless in meaningless_for_a_draft:
        assert meaningless not in page, meaningless
    overview = await dash.page("/")
    assert 'id="submit-scout"' in overview and "hivectl submit scout" not in overview

    assert (await dash.post_form("/agents/scout/submit", {})).status == 403
    submitted = await dash.post_form("/agents/scout/submit", {"csrf": dash.guard.csrf_token})
    assert submitted.status == 303
    (pending,) = await dash.hive.pending()
    assert submitted.headers["Location"] == f"/approvals/{pending['id']}"
    page = await dash.page("/agents/scout")
    assert "is not checked yet" not in page and "valid" in page
    assert f'href="/approvals/{pending["id"]}"' in page and 'id="submit-button"' not in page


async def test_stop_start_and_resume_from_the_agent_page(dash: Dash) -> None:
    await deployed(dash, "worker")
    csrf = dash.guard.csrf_token
    page = await dash.page("/agents/worker")
    assert 'id="stop-button"' in page and "stays down until you start it" in page
    assert (await dash.post_form("/agents/worker/stop", {})).status == 403
    stopped = await dash.post_form("/agents/worker/stop", {"csrf": csrf})
    assert (stopped.status, stopped.headers["Location"]) == (303, "/agents/worker")
    assert (await dash.hive.agent("worker"))["status"] == "stopped"
    assert 'id="start-button"' in await dash.page("/agents/worker")
    assert (await dash.post_form("/agents/worker/start", {"csrf": csrf})).status == 303
    assert (await dash.hive.agent("worker"))["status"] == "running"

    assert 'id="resume-button"' not in await dash.page("/agents/worker")
    ghost = await html_error(dash, "/agents/ghost/stop", {"csrf": csrf}, 404)
    assert "ghost" in ghost


async def test_resume_auto_submit_after_a_rollback(dash: Dash) -> None:
    await deployed(dash, "worker")
    repo = dash.hive.ctx.layout.agent("worker").proposed
    commit_step(repo, "worker", "02-add-tool")
    second = await dash.hive.submit("worker", None, source="test")
    await dash.hive.approve(second.id, second.head, "test", wait=True)
    await dash.hive.rollback("worker", None, "test")
    page = await dash.page("/agents/worker")
    assert 'id="resume-button"' in page and "the watcher submits proposed/ main" in page
    resumed = await dash.post_form("/agents/worker/resume", {"csrf": dash.guard.csrf_token})
    assert resumed.status == 303
    assert (await dash.hive.agent("worker"))["auto_submit"] is True
    assert 'id="resume-button"' not in await dash.page("/agents/worker")


async def test_send_a_message_from_the_agent_page(dash: Dash) -> None:
    await dash.hive.draft("scout")  # a draft has an inbox too: the message waits there
    csrf = dash.guard.csrf_token
    empty = await html_error(dash, "/agents/scout/send", {"csrf": csrf, "body": "  "}, 400)
    assert "the message must be a non-empty string" in empty
    sent = await dash.post_form("/agents/scout/send", {"csrf": csrf, "body": "<b>read</b> this"})
    assert sent.status == 303
    (message,) = (await dash.hive.peek_inbox("scout", 0)).messages
    assert (message.sender, message.body) == ("operator", "<b>read</b> this")
    assert sent.headers["Location"] == f"/agents/scout?sent={message.id}#inbox"
    page = await dash.page(sent.headers["Location"])
    assert f"Message #{message.id} queued for scout" in page
    assert "&lt;b&gt;read&lt;/b&gt; this" in page and "<b>read</b>" not in page


async def test_an_invalid_proposal_can_be_denied_with_what_to_fix(dash: Dash) -> None:
    await deployed(dash, "worker")
    commit_step(dash.hive.ctx.layout.agent("worker").proposed, "worker", "03-invalid-spec")
    invalid = await dash.hive.submit("worker", None, source="test")
    assert not invalid.valid
    page = await dash.page(f"/approvals/{invalid.id}")
    assert 'id="approve-button"' not in page and 'id="deny-button"' in page
    denied = await dash.post_form(
        f"/approvals/{invalid.id}/deny", {"csrf": dash.guard.csrf_token, "reason": "fix the typo"}
    )
    assert denied.status == 303
    assert (await dash.hive.approval(invalid.id))["reason"] == "fix the typo"


async def test_wrong_addresses_are_html_pages_that_say_what_to_do(dash: Dash) -> None:
    approval_id = await dash.proposal("worker", {"notes.txt": b"hello\n"})
    for path, status, words in (
        ("/approvals/999", 404, "no approval #999"),
        ("/approvals/abc", 404, "no such approval"),
        (f"/approvals/{approval_id}?base=bogus", 400, "unknown base 'bogus'"),
    ):
        response = await dash.client.get(path, headers=dash.auth)
        text = html.unescape(await response.text())
        assert (response.status, response.content_type) == (status, "text/html"), path
        assert words in text and 'href="/"' in text, (path, text)
    bogus = await (
        await dash.client.get(f"/approvals/{approval_id}?base=bogus", headers=dash.auth)
    ).text()
    assert (
        "deployed, approved, previous" in bogus
        and f"/approvals/{approval_id}?base=deployed" in bogus
    )
    api = await dash.client.get("/api/approvals/999", headers=dash.auth)
    assert api.content_type == "application/json" and (await api.json())["code"] == "not_found"


async def test_the_event_stream_beats_every_two_seconds(dash: Dash) -> None:
    response = await dash.client.get("/api/events", headers=dash.auth)
    started = time.monotonic()
    seen = b""
    while b"event: heartbeat" not in seen:
        seen += await asyncio.wait_for(response.content.readany(), timeout=5)
    assert time.monotonic() - started < 4
    response.close()


async def test_an_answer_typed_wins_over_no_option_and_an_option_pressed_wins(dash: Dash) -> None:
    await deployed(dash, "manager")
    calls = dash.hive.agent_calls("manager")
    first = await calls.ask_operator("Ship today?", ["go", "wait"])
    second = await calls.ask_operator("Which day?", ["go", "wait"])
    csrf = dash.guard.csrf_token
    typed = {"csrf": csrf, "answer": "no, wait until Monday"}
    assert (await dash.post_form(f"/questions/{first.id}/answer", typed)).status == 303
    pressed = {"csrf": csrf, "answer": "", "option": "wait"}
    assert (await dash.post_form(f"/questions/{second.id}/answer", pressed)).status == 303
    answers = {q.id: q.answer for q in await dash.hive.questions(open_only=False)}
    assert answers == {first.id: "no, wait until Monday", second.id: "wait"}
    overview = await dash.page("/")
    assert f'id="answered-{first.id}"' in overview and "no, wait until Monday" in overview
    assert f'id="question-{first.id}"' not in overview
    assert "by operator (web)" in overview


async def test_every_action_refuses_a_post_without_csrf_or_from_another_origin(dash: Dash) -> None:
    await deployed(dash, "worker")
    paths = [
        route.resource.canonical.replace("{name}", "worker")
        for route in dash.client.app.router.routes()
        if route.method == "POST"
        and route.handler.__module__ == actions.__name__
        and route.resource is not None
    ]
    assert len(paths) == 6, paths
    form = {"name": "scout", "body": "hi"}
    for path in paths:
        assert (await dash.post_form(path, form)).status == 403, path
        foreign = await dash.client.post(
            path,
            data={**form, "csrf": dash.guard.csrf_token},
            headers={**dash.auth, "Origin": "http://evil.example"},
            allow_redirects=False,
        )
        assert foreign.status == 403, path
    assert await dash.hive.agent_names() == ["worker"]
    assert (await dash.hive.agent("worker"))["status"] == "running"
    assert (await dash.hive.peek_inbox("worker", 0)).messages == []


async def test_the_overview_lists_every_open_question_and_the_ten_latest_answers(
    dash: Dash,
) -> None:
    await deployed(dash, "manager")
    calls = dash.hive.agent_calls("manager")
    oldest_open = await calls.ask_operator("Still open?", [])
    asked = [await calls.ask_operator(f"Question {i}?", []) for i in range(12)]
    for question in asked:
        await dash.hive.answer(question.id, f"answer {question.id}", "test")
    overview = await dash.page("/")
    assert f'id="question-{oldest_open.id}"' in overview
    shown = [q.id for q in asked if f'id="answered-{q.id}"' in overview]
    assert shown == [q.id for q in asked[2:]]  # the ten latest
