"""Errors that mean "the input is wrong" (exit code 2). Anything else that escapes a command is a failure (1)."""


class ConfigError(ValueError):
    """A config key is unknown or has a bad value. The message names the key and the allowed range."""


class DataError(ValueError):
    """Input data is missing or malformed. The message names the file (and line, when known)."""
