"""The cast: who the personas are, as the director needs to know them.

The same persona file as the LLM node's (``[[persona]]`` tables) works here: the director
reads the fields below and ignores the LLM's (prompt, adapter, sampling), so one file
describes a persona for every node.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

__all__ = ["DEFAULT_CAST", "CastError", "CastMember", "load_cast"]


class CastError(ValueError):
    """A persona file is unusable; the message names the file and the field."""


class CastMember(msgspec.Struct, frozen=True):
    """One persona, from the director's side."""

    name: str
    """The id every node uses (LlmRequest.persona, AudioChunk.persona)."""
    display_name: str = ""
    aliases: list[str] = []
    """Other names chat uses for this persona (matched as whole words, any case)."""
    traits: list[str] = []
    voice: str = ""
    avatar: str = ""
    topics: list[str] = []
    """Things this persona brings up when chat is quiet."""

    @property
    def speaker(self) -> str:
        return self.display_name or self.name.capitalize()

    def names(self) -> list[str]:
        return [self.name, self.speaker, *self.aliases]


DEFAULT_CAST: tuple[CastMember, ...] = (
    CastMember(
        name="mika", display_name="Mika", aliases=["mikachan"], traits=["bubbly", "excitable"],
        voice="mika", avatar="mika",
        topics=["the cutest animal you have ever seen", "the best game you played this year",
                "what snack chat should try tonight"],
    ),
    CastMember(
        name="rook", display_name="Rook", traits=["dry", "deadpan", "strategic"],
        voice="rook", avatar="rook",
        topics=["a strategy tip nobody asked for", "an underrated fact about space",
                "why the last boss fight was badly designed"],
    ),
)


class _CastFile(msgspec.Struct):
    persona: list[CastMember] = []


def load_cast(path: str | Path | None = None) -> list[CastMember]:
    """The cast from a persona file, or the two default personas.

    Raises
    ------
    CastError
        The file is missing, not TOML, has a mistyped field, fewer than two personas, or two
        personas with one name.
    """
    if not path:
        return list(DEFAULT_CAST)
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text())
        cast = msgspec.convert(raw, _CastFile).persona
    except OSError as exc:
        raise CastError(f"persona file {source}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CastError(f"persona file {source}: not TOML: {exc}") from None
    except msgspec.ValidationError as exc:
        raise CastError(f"persona file {source}: {exc}") from None
    names = [member.name for member in cast]
    if len(cast) < 2:
        raise CastError(f"persona file {source}: a show needs two personas, found {len(cast)}")
    if len(set(names)) != len(names):
        raise CastError(f"persona file {source}: persona names repeat: {names}")
    return cast
