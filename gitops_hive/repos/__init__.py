"""The pygit2 adapter: the only package that touches git. proposed/ is read, never executed.

Every public function raises only HiveErrors: what libgit2 or a damaged repo raises becomes
RepoUnreadable at this boundary (`failures.py`), naming the repo and what to do.
"""

from __future__ import annotations

from gitops_hive.repos.commits import (
    commit_exists,
    commit_summary,
    commit_with_tree,
    is_ancestor,
    list_commits,
    match_prefix,
    range_fingerprints,
)
from gitops_hive.repos.copying import copy_commit
from gitops_hive.repos.diffing import (
    DEFAULT_CAPS,
    MAX_DIFF_FILE_BYTES,
    MAX_DIFF_FILE_LINES,
    MAX_DIFF_TOTAL_LINES,
    TRUNCATED_NOTE,
    UNCAPPED,
    diff_commits,
    diff_paths,
)
from gitops_hive.repos.hooks import HookWrite, write_hooks
from gitops_hive.repos.objects import HIVE_SIGNATURE, MAIN, MODEL_NOTES_REF
from gitops_hive.repos.opening import (
    init_applied,
    init_proposed,
    isolate_from_user_config,
    open_applied,
    open_untrusted,
)
from gitops_hive.repos.proposed_main import ProposedMain, read_main
from gitops_hive.repos.proposed_writes import add_to_proposed
from gitops_hive.repos.pushed import (
    check_out_main,
    copy_pushed,
    init_empty_proposed,
    init_push_repo,
    pushed_contains,
)
from gitops_hive.repos.read_pool import ReadPool
from gitops_hive.repos.ref_writes import last_ref_write
from gitops_hive.repos.refs import (
    PROPOSED_REFS,
    RefStamp,
    denied_ref,
    deployed_ref,
    failed_ref,
    get_ref,
    proposal_ref,
    read_head,
    ref_names,
    ref_stamps,
    resolve_commit,
    set_ref,
    write_tag_ref,
)
from gitops_hive.repos.trees import list_tree, materialize, read_blob

__all__ = [
    "DEFAULT_CAPS",
    "HIVE_SIGNATURE",
    "MAIN",
    "MAX_DIFF_FILE_BYTES",
    "MAX_DIFF_FILE_LINES",
    "MAX_DIFF_TOTAL_LINES",
    "MODEL_NOTES_REF",
    "PROPOSED_REFS",
    "TRUNCATED_NOTE",
    "UNCAPPED",
    "HookWrite",
    "ProposedMain",
    "ReadPool",
    "RefStamp",
    "add_to_proposed",
    "check_out_main",
    "commit_exists",
    "commit_summary",
    "commit_with_tree",
    "copy_commit",
    "copy_pushed",
    "denied_ref",
    "deployed_ref",
    "diff_commits",
    "diff_paths",
    "failed_ref",
    "get_ref",
    "init_applied",
    "init_empty_proposed",
    "init_proposed",
    "init_push_repo",
    "is_ancestor",
    "isolate_from_user_config",
    "last_ref_write",
    "list_commits",
    "list_tree",
    "match_prefix",
    "materialize",
    "open_applied",
    "open_untrusted",
    "proposal_ref",
    "pushed_contains",
    "range_fingerprints",
    "read_blob",
    "read_head",
    "read_main",
    "ref_names",
    "ref_stamps",
    "resolve_commit",
    "set_ref",
    "write_hooks",
    "write_tag_ref",
]
