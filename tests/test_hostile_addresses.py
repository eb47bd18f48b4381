"""Ids and counts in addresses that are no record: a page or a one-line JSON error, never a
500 (an id past sqlite's INTEGER, a digit int() does not read)."""

from __future__ import annotations

import pytest

from gitops_hive.controller import parse_listen
from gitops_hive.errors import ConfigError
from gitops_hive.numbers import whole_number
from tests.test_web import Dash, dash  # noqa: F401  (the real app on a real hive)

HUGE = "9" * 25
SUPERSCRIPT_TWO = "%C2%B2"


@pytest.mark.parametrize(
    "path",
    [
        f"/approvals/{HUGE}",
        f"/approvals/{SUPERSCRIPT_TWO}",
        f"/?offset={SUPERSCRIPT_TWO}",
        f"/agents/worker?sent={SUPERSCRIPT_TWO}",
    ],
)
async def test_a_page_address_that_names_no_record_is_a_page(
    dash: Dash,  # noqa: F811
    path: str,
) -> None:
    await dash.hive.draft("worker")
    response = await dash.client.get(path, headers=dash.auth, allow_redirects=False)
    assert response.status < 500, (path, await response.text())
    assert response.content_type == "text/html"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/approvals/{HUGE}"),
        ("GET", f"/api/approvals/{SUPERSCRIPT_TWO}"),
        ("GET", f"/api/agents?offset={SUPERSCRIPT_TWO}"),
        ("POST", f"/api/questions/{HUGE}/answer"),
        ("POST", f"/api/approvals/{HUGE}/deny"),
    ],
)
async def test_an_api_address_that_names_no_record_is_one_json_line(
    dash: Dash,  # noqa: F811
    method: str,
    path: str,
) -> None:
    headers = {**dash.auth, "X-CSRF-Token": dash.guard.csrf_token}
    response = await dash.client.request(
        method, path, json={"answer": "a", "reason": "r"}, headers=headers
    )
    body = await response.json()
    assert 400 <= response.status < 500, (path, body)
    assert "\n" not in body["error"]


async def test_a_form_answering_a_question_no_sqlite_id_names_is_not_found(
    dash: Dash,  # noqa: F811
) -> None:
    data = {"csrf": dash.guard.csrf_token, "answer": "yes"}
    response = await dash.post_form(f"/questions/{HUGE}/answer", data)
    assert response.status == 404


@pytest.mark.parametrize(("raw", "number"), [("12", 12), ("#7", 7), ("²", None), (HUGE, None)])
def test_a_whole_number_is_ascii_digits_that_fit_sqlite(raw: str, number: int | None) -> None:
    assert whole_number(raw) == number


@pytest.mark.parametrize("listen", ["127.0.0.1:²", "127.0.0.1:65536", f"127.0.0.1:{HUGE}"])
def test_a_listen_port_that_is_no_port_is_a_config_error(listen: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen(listen)
