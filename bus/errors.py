"""Every error the runtime raises, one class per failure, each message saying what to do.

    VtError
    ├── BusConfigError        the bus address or its keys are unusable
    ├── WireError             a frame on the bus is not ours or does not decode
    │   └── PcmError          audio bytes are not whole frames of their declared format
    ├── ParameterError        a parameter value has the wrong type or was refused
    ├── CallbackError         a callback has the wrong number of arguments
    ├── CredentialError       a secret (token, key) is missing; names the variable to set
    ├── BagError              a bag file is missing, damaged, or cannot be written
    ├── PluginError           a backend, source or game is unknown, misconfigured or cannot load
    └── ServiceError          a service call failed
        ├── ServiceTimeout    no answer within the timeout, after every retry
        ├── ServiceUnavailable no node serves that name
        └── ServiceFailed     the server answered with an error
"""

from __future__ import annotations

__all__ = [
    "BagError",
    "BusConfigError",
    "CallbackError",
    "CredentialError",
    "ParameterError",
    "PcmError",
    "PluginError",
    "ServiceError",
    "ServiceFailed",
    "ServiceTimeout",
    "ServiceUnavailable",
    "VtError",
    "WireError",
]


class VtError(Exception):
    """Base of every error raised by this project."""


class BusConfigError(VtError):
    """The bus address, its folder or its CURVE keys cannot be used."""


class WireError(VtError):
    """A message on the bus is not in our framing, or its payload does not decode."""


class PcmError(WireError):
    """Audio bytes cannot be read as declared: an unknown sample format, a channel count below
    one, or a length that is not a whole number of frames (see `messages.pcm`)."""


class ParameterError(VtError):
    """A parameter was given a value of the wrong type, or its validator refused it."""


class CallbackError(VtError):
    """A callback does not take the arguments its registration promises."""


class CredentialError(VtError):
    """A secret is missing; the message names the environment variable or file to provide."""


class BagError(VtError):
    """A bag cannot be read or written; the message names the file and what is wrong."""


class PluginError(VtError):
    """A plug-in (a TTS, LLM or STT backend, a chat source, a game) is unknown, its settings
    are refused, its package is missing, or it cannot load; the message names the family,
    the kind and the fix. Each family derives its own (``TtsBackendError``...)."""


class ServiceError(VtError):
    """A service call did not succeed."""


class ServiceTimeout(ServiceError):
    """The service did not answer in time, even after retrying."""


class ServiceUnavailable(ServiceError):
    """No node on the bus serves this name (yet)."""


class ServiceFailed(ServiceError):
    """The service ran and reported an error."""
