"""Errors the pipeline raises on purpose. Each one carries a message fit for a user."""

# Longest error message kept in a failure row or in the job state: enough to diagnose, and a
# pathological message (a whole document in an exception) cannot bloat the output.
MAX_ERROR_MESSAGE = 500


def error_message(exc: BaseException) -> str:
    return (str(exc) or repr(exc))[:MAX_ERROR_MESSAGE]


class PipelineError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class ConfigError(PipelineError):
    """The configuration is invalid (unknown key, wrong type, bad value)."""


class InputError(PipelineError):
    """The input cannot be read at all (missing path, unknown format)."""


class JobError(PipelineError):
    """A job cannot be started or resumed (bad id, conflicting configuration, no documents)."""
