"""User-facing errors: each prints as one line, `aotbuilder: error: <message>`, exit status 2."""


class GuestError(Exception):
    """Base class of every error aotbuilder reports to the user (not a bug)."""

    def __init__(self, message: str) -> None:
        # str(e) must stay one line: messages embed file names, which may contain newlines.
        super().__init__(" ".join(message.splitlines()))


class BuildError(GuestError):
    """A build step failed for a reason outside the guest (no C compiler, linker failure, ...)."""
