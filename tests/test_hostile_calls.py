"""What a hostile manager can put through its socket's calls: bounded, one-line refusals."""

from __future__ import annotations

import pytest

from gitops_hive.errors import HiveError
from gitops_hive.messaging import questions
from gitops_hive.readable_log import readable
from tests.test_web import Dash, dash  # noqa: F401  (the real app on a real hive)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["go", "x" * 100_000], "option 2 is 100000 characters"),
        (["go", "wait\nno"], "option 2 holds a control character"),
    ],
)
async def test_an_option_the_page_cannot_show_as_one_button_is_refused(
    dash: Dash,  # noqa: F811
    options: list[str],
    said: str,
) -> None:
    with pytest.raises(HiveError) as refused:
        await questions.ask(dash.hive.ctx, "manager", "Ship today?", options)
    assert said in refused.value.message and "\n" not in refused.value.message
    assert await questions.listing(dash.hive.ctx, open_only=True) == []


@pytest.mark.parametrize("route", ["/api/messages", "/api/agents/worker/model"])
async def test_a_number_too_long_for_python_to_read_is_a_bad_request(
    dash: Dash,  # noqa: F811
    route: str,
) -> None:
    await dash.hive.draft("worker")
    headers = {**dash.auth, "X-CSRF-Token": dash.guard.csrf_token}
    body = '{"to": "worker", "model": "haiku", "body": ' + "1" * 5000 + "}"
    response = await dash.client.post(
        route, data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"] == "request body is not JSON"


def test_a_log_line_nested_past_the_parser_shows_as_plain_text() -> None:
    line = '{"type": "assistant", "message": ' + "[" * 100_000
    (shown,) = readable([line])
    assert shown.kind == "plain" and shown.text.startswith('{"type"')
