"""Errors the pipeline raises on purpose. Each one carries a message fit for a user."""


class PipelineError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class ConfigError(PipelineError):
    """The configuration is invalid (unknown key, wrong type, bad value)."""


class InputError(PipelineError):
    """The input cannot be read at all (missing path, unknown format)."""


class JobError(PipelineError):
    """A job cannot be started or resumed (bad id, conflicting configuration, no documents)."""
