"""Errors that end a run with exit code 2, and the exit codes themselves."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1
    ERROR = 2


class MigsafeError(Exception):
    """migsafe could not do its job; the message is one line for stderr."""


class UsageError(MigsafeError):
    pass


class ConfigError(MigsafeError):
    pass
