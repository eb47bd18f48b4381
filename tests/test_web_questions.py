"""The manager's questions on the dashboard: listed on the overview, answered by form."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.conftest import ServedHive

pytestmark = pytest.mark.e2e


def deploy(served: ServedHive, name: str) -> None:
    assert served.cli("spawn", name).returncode == 0
    pending = served.pending_for(name)
    assert pending is not None
    assert served.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0


async def ask(served: ServedHive, question: str, options: list[str]) -> int:
    """ask_operator on the manager's own socket, as hive-mcp would."""
    connector = aiohttp.UnixConnector(path=str(served.layout.agent("manager").socket))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(
            "http://hive/v1/manager/ask_operator",
            json={"question": question, "options": options},
        ) as reply,
    ):
        assert reply.status == 201, await reply.text()
        return int((await reply.json())["id"])


async def test_a_question_is_listed_escaped_and_answered_by_form(served: ServedHive) -> None:
    deploy(served, "manager")
    question_id = await ask(served, "Ship <script>alert(1)</script> today?", ["yes", "no"])
    base = served.layout.dashboard_url.read_text().strip().rstrip("/")
    assert base.startswith("http://127.0.0.1:")
    token = served.layout.token.read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as web:
        async with web.get(f"{base}/") as page:
            html = await page.text()
        assert f'id="question-{question_id}"' in html
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert csrf is not None

        async with web.post(
            f"{base}/questions/{question_id}/answer",
            data={"answer": "yes"},
            allow_redirects=False,
        ) as refused:
            assert refused.status == 403
        assert served.json("questions")[0]["answer"] is None

        async with web.post(
            f"{base}/questions/{question_id}/answer",
            data=[("csrf", csrf[1]), ("answer", "no"), ("answer", "")],
            allow_redirects=False,
        ) as answered:
            assert answered.status == 303

        async with web.get(f"{base}/") as page:
            assert f'id="question-{question_id}"' not in await page.text()
    everything = served.json("questions", "--all")
    assert everything[0]["answer"] == "no"
    assert everything[0]["answered_by"]
    inbox = served.json("recv", "manager")["messages"]
    answers = [m for m in inbox if m["kind"] == "answer"]
    assert [(a["body"], a["data"]["question_id"]) for a in answers] == [("no", question_id)]
