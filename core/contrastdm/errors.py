"""Errors the user can act on. The CLI prints their message as one line; anything else is a bug."""


class ContrastDMError(Exception):
    """A problem with the user's input or environment, reported as one clear line."""

    exit_code = 1


class InputError(ContrastDMError):
    """A raster, vector or parameter that cannot be used."""


class ModelFileError(ContrastDMError):
    """A model file that is not a ContrastDM model or does not fit the raster."""


class OutputError(ContrastDMError):
    """An output that cannot be written."""


class DeviceError(ContrastDMError):
    """A compute device that was asked for but is not available."""


CANCELLED_MESSAGE = "cancelled by the user; no output was written"


class Cancelled(ContrastDMError):
    """The user cancelled the job; outputs were not written. ``Cancelled()`` carries the standard message."""

    exit_code = 130

    def __init__(self, message: str = CANCELLED_MESSAGE) -> None:
        super().__init__(message)
