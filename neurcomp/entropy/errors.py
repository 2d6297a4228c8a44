"""The errors of the coding layer."""


class CodingError(ValueError):
    """The symbols or the stream do not fit the tables (or a code is malformed or truncated)."""


class TruncatedCode(CodingError):
    """The data ends in the middle of a code."""


__all__ = ["CodingError", "TruncatedCode"]
