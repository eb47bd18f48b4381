"""The package's boundary: whatever libgit2 or a damaged repo raises leaves it as a HiveError."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import pygit2

from gitops_hive.errors import HiveError, RepoUnreadable
from gitops_hive.repos.confined import UNSAFE_ADVICE, UnsafeEntry
from gitops_hive.text import UNSHOWABLE

P = ParamSpec("P")
R = TypeVar("R")

# What libgit2 and the filesystem raise on a repo they cannot read: a missing or corrupt
# object (KeyError, GitError), a malformed id or ref (ValueError), a file in the way (OSError).
LIBGIT2_ERRORS = (pygit2.GitError, LookupError, ValueError, OSError)
PROPOSED_ADVICE = "repair or recommit the repo (git fsck there names what is broken)"
APPLIED_ADVICE = "this is the controller's own repo: check the disk and run git fsck there"
MAX_DETAIL = 160
HEX_ID = re.compile("[0-9a-f]{4,40}")


def repo_label(path: Path) -> str:
    """The repo as people name it: a work tree rather than its .git folder."""
    return str(path.parent if path.name == ".git" else path)


def detail(exc: BaseException) -> str:
    """What libgit2 said, on one short line, with nothing a terminal would interpret."""
    if isinstance(exc, KeyError) and exc.args:
        # pygit2 raises KeyError with an object id, libgit2's message, or a path.
        key = str(exc.args[0])
        text = f"no object {key}" if HEX_ID.fullmatch(key) else key
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(UNSHOWABLE.sub("?", text).split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


def unreadable(path: Path, doing: str, exc: BaseException, advice: str) -> RepoUnreadable:
    """The one-line error for a repo that failed `doing`: which repo, what, what to do."""
    return RepoUnreadable(f"{repo_label(path)}: cannot {doing} ({detail(exc)}); {advice}")


@contextmanager
def reading(path: Path, doing: str, advice: str) -> Iterator[None]:
    """Let HiveErrors through untouched; turn what libgit2 raised, or an entry of .git that
    is not a plain file or folder, into RepoUnreadable."""
    try:
        yield
    except HiveError:
        raise
    except UnsafeEntry as exc:
        raise unreadable(path, doing, exc, UNSAFE_ADVICE) from exc
    except LIBGIT2_ERRORS as exc:
        raise unreadable(path, doing, exc, advice) from exc


def translated(
    doing: str, advice: str = APPLIED_ADVICE
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a public function of the package raise only HiveErrors, naming the repo that is
    its first argument."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            path = args[0] if args and isinstance(args[0], Path) else Path("repo")
            with reading(path, doing, advice):
                return func(*args, **kwargs)

        return wrapper

    return decorate
