"""proposed/ main as a rescan reads it: the ref files' stamp, main, and the model note nearest
it, in one visit to the untrusted repo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops_hive.errors import HiveError
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.repos.notes import proposed_note_in
from gitops_hive.repos.objects import MAIN, MODEL_NOTES_REF
from gitops_hive.repos.opening import open_untrusted
from gitops_hive.repos.refs import PROPOSED_REFS, RefStamp, get_ref, ref_stamps

STAMPED_REFS = (*PROPOSED_REFS, MODEL_NOTES_REF)  # and packed-refs


@dataclass(frozen=True)
class ProposedMain:
    """What a rescan saw: `stamp` changes whenever main or the notes ref moves; `deployed` is
    applied.git's main then; `note_error` says why the note could not be read (the proposal
    is then invalid, never blocked)."""

    stamp: RefStamp
    deployed: str | None
    head: str | None
    note: str | None = None
    note_error: str | None = None


@translated("read refs/heads/main", PROPOSED_ADVICE)
def read_main(git_dir: Path, applied: Path, unless: RefStamp | None = None) -> ProposedMain | None:
    """Main and its model note, walking back no further than the deployed commit (applied's
    main, the controller's own repo). The stamp is taken first, so a move after the reads
    changes it; None when it equals `unless` (nothing moved since that was taken)."""
    stamp = ref_stamps([str(git_dir)], STAMPED_REFS)[0]
    if stamp == unless:
        return None
    deployed = get_ref(applied, MAIN)
    with open_untrusted(git_dir) as repo:
        head = repo.refs.target(MAIN)
        if head is None:
            return ProposedMain(stamp, deployed, None)
        try:
            note = proposed_note_in(repo, git_dir, head, deployed)
        except HiveError as exc:
            return ProposedMain(stamp, deployed, head, None, exc.message)
    return ProposedMain(stamp, deployed, head, note)
