"""What a hostile manager can put through its socket's calls: bounded, one-line refusals."""

from __future__ import annotations

import pytest

from gitops_hive.errors import HiveError
from gitops_hive.messaging import questions
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
