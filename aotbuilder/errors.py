"""User-facing errors: each prints as one line, `aotbuilder: error: <message>`, exit status 2."""


class GuestError(Exception):
    """Base class of every error aotbuilder reports to the user (not a bug)."""


class BuildError(GuestError):
    """A build step failed for a reason outside the guest (no C compiler, linker failure, ...)."""
