"""The skill library (Voyager's): JavaScript functions over the bots' primitives, found again
by what they do.

Two folders: the hand-written skills that ship with the project (read only; each
``<name>.js`` starts with a ``// description`` line and defines ``async function <name>``)
and the skills the LLM wrote that passed their check (``<name>.js`` with the code as
written, ``<name>.json`` with the description, the task it solved, its MiniLM embedding and
when it was verified). `SkillLibrary.closest` ranks them all by the cosine between a task and
each skill's description (and task), so the closest ones can be offered for the next task.

A skill is written code first, then its ``.json``, each atomically: a crash between the two
leaves a ``.js`` without a ``.json``, which loading skips. A file that cannot be a skill is
skipped with the reason logged, never a crash. The library keeps at most ``max_skills``
written skills: adding one more drops the one verified longest ago (kept simple: no use
counts are kept, and a skill in use is re-added, which renews it).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import msgspec
import numpy as np

from bus.files import replace_durably

__all__ = ["MAX_CODE_BYTES", "MAX_SKILLS", "NAME", "Encoder", "Skill", "SkillLibrary",
           "SkillRefused"]

log = logging.getLogger(__name__)

NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,63}")
"""What a skill's name must match in full (a JavaScript identifier and a safe file name)."""
MAX_CODE_BYTES = 32 * 1024
"""Largest skill source (UTF-8); the sandbox gets every library skill's code on each run."""
MAX_SKILLS = 500
"""Written skills kept; one more drops the one verified longest ago."""
MAX_DESCRIPTION = 500
"""Characters of a description (or task) kept."""


class Encoder(Protocol):
    """Sentence embeddings of unit length (`nodes.memory.embeddings.MiniLmEncoder`)."""

    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class SkillRefused(ValueError):
    """`SkillLibrary.add` refused a skill; the message says why and what would be taken."""


class Skill(msgspec.Struct, frozen=True, kw_only=True):
    """One skill.

    Attributes
    ----------
    name:
        The function's name, also the file's (`NAME`).
    description:
        What it does, in a sentence.
    code:
        JavaScript source defining ``async function <name>(bot, ...args)``.
    shipped:
        Hand-written and shipped with the project (never overwritten).
    task:
        The task the LLM wrote it for ("" for shipped skills).
    verified_ns:
        When it passed its check, ``time.time_ns()``; 0 for shipped skills.
    """

    name: str
    description: str
    code: str
    shipped: bool
    task: str = ""
    verified_ns: int = 0


class _Stored(msgspec.Struct, kw_only=True):
    """A written skill's ``.json`` (unknown fields ignored: a newer version may add some)."""

    description: str
    task: str
    embedding: list[float]
    verified_ns: int


class SkillLibrary:
    """The shipped skills and the verified ones, ranked by closeness to a task.

    Parameters
    ----------
    shipped_dir:
        The hand-written skills (``nodes/game/minecraft/skills``); a missing folder has none.
    user_dir:
        Where written skills are kept (created when missing).
    encoder:
        The embedding model; shipped skills are embedded at start, written ones once when
        added (the vector is kept in their ``.json`` and recomputed when its length is not
        the encoder's, i.e. another model wrote it).
    max_skills:
        Written skills kept (`MAX_SKILLS`).
    """

    def __init__(self, shipped_dir: Path | None, user_dir: Path, encoder: Encoder, *,
                 max_skills: int = MAX_SKILLS):
        self.user_dir = user_dir
        self.encoder = encoder
        self.max_skills = max_skills
        self._skills: dict[str, Skill] = {}
        self._vectors: dict[str, np.ndarray] = {}
        user_dir.mkdir(parents=True, exist_ok=True)
        shipped = _read_shipped(shipped_dir) if shipped_dir is not None else []
        vectors = encoder.encode([_embedded_text(s) for s in shipped])
        for skill, vector in zip(shipped, vectors, strict=True):
            self._keep(skill, vector)
        for path in sorted(user_dir.glob("*.js")):
            self._load_written(path)

    def all(self) -> list[Skill]:
        """Every skill, shipped ones first, each group by name."""
        return sorted(self._skills.values(), key=lambda s: (not s.shipped, s.name))

    def get(self, name: str) -> Skill | None:
        """The skill called ``name``, if there is one."""
        return self._skills.get(name)

    def closest(self, task: str, k: int) -> list[Skill]:
        """The ``k`` skills whose description (and task) is closest to ``task``, closest first
        (cosine of MiniLM embeddings; ties by name)."""
        if k <= 0 or not self._skills:
            return []
        query = self.encoder.encode([task[:MAX_DESCRIPTION]])[0]
        names = sorted(self._skills)
        scores = np.stack([self._vectors[name] for name in names]) @ query
        ranked = sorted(range(len(names)), key=lambda i: -float(scores[i]))  # stable: by name
        return [self._skills[names[i]] for i in ranked[:k]]

    def add(self, name: str, description: str, code: str, task: str, *,
            now_ns: int | None = None) -> Skill:
        """Keep a verified skill (replacing a written one of the same name).

        Raises
        ------
        SkillRefused
            The name is not an identifier, names a shipped skill, the code is too large or
            does not define ``async function <name>``, or the description is empty.
        OSError
            The folder cannot be written.
        """
        description = " ".join(description.split())[:MAX_DESCRIPTION]
        _check_skill(name, description, code)
        existing = self._skills.get(name)
        if existing is not None and existing.shipped:
            raise SkillRefused(f"{name} is a shipped skill and cannot be replaced: choose "
                               "another name")
        skill = Skill(name=name, description=description, code=code, shipped=False,
                      task=task[:MAX_DESCRIPTION],
                      verified_ns=time.time_ns() if now_ns is None else now_ns)
        vector = self.encoder.encode([_embedded_text(skill)])[0]
        code_path = self.user_dir / f"{name}.js"
        replace_durably(code_path, code.encode(), self.user_dir / f".{name}.js.tmp")
        self._write_stored(skill, vector)
        self._keep(skill, vector)
        self._drop_oldest()
        return skill

    def _keep(self, skill: Skill, vector: np.ndarray) -> None:
        self._skills[skill.name] = skill
        self._vectors[skill.name] = np.asarray(vector, dtype=np.float32)

    def _write_stored(self, skill: Skill, vector: np.ndarray) -> None:
        stored = _Stored(description=skill.description, task=skill.task,
                         embedding=[float(x) for x in vector], verified_ns=skill.verified_ns)
        replace_durably(self.user_dir / f"{skill.name}.json", msgspec.json.encode(stored),
                        self.user_dir / f".{skill.name}.json.tmp")

    def _load_written(self, code_path: Path) -> None:
        """Load one written skill, or log why it was skipped."""
        name = code_path.stem
        try:
            if name in self._skills:
                raise SkillRefused("a shipped skill has that name")
            if not code_path.with_suffix(".json").is_file():
                raise SkillRefused("its .json is missing (an add cut short)")
            code = _read_code(code_path)
            stored = msgspec.json.decode(code_path.with_suffix(".json").read_bytes(), type=_Stored)
            _check_skill(name, stored.description, code)
        except (msgspec.ValidationError, msgspec.DecodeError, SkillRefused) as error:
            log.warning("skipped written skill %s: %s", code_path, error)
            return
        skill = Skill(name=name, description=stored.description, code=code, shipped=False,
                      task=stored.task, verified_ns=stored.verified_ns)
        vector = np.asarray(stored.embedding, dtype=np.float32)
        if vector.shape != (self.encoder.dimension,):
            log.info("re-embedding skill %s: its vector has %d values, the encoder gives %d",
                     name, vector.size, self.encoder.dimension)
            vector = self.encoder.encode([_embedded_text(skill)])[0]
            self._write_stored(skill, vector)
        self._keep(skill, vector)

    def _drop_oldest(self) -> None:
        written = sorted((s for s in self._skills.values() if not s.shipped),
                         key=lambda s: (s.verified_ns, s.name))
        for skill in written[:max(0, len(written) - self.max_skills)]:
            # the .json first: a crash between leaves a .js that loading skips
            (self.user_dir / f"{skill.name}.json").unlink(missing_ok=True)
            (self.user_dir / f"{skill.name}.js").unlink(missing_ok=True)
            del self._skills[skill.name], self._vectors[skill.name]
            log.info("dropped skill %s: the library keeps %d written skills", skill.name,
                     self.max_skills)


def _read_shipped(folder: Path) -> list[Skill]:
    """The shipped skills in ``folder``; bad files are logged and skipped."""
    skills = []
    for path in sorted(folder.glob("*.js")):
        try:
            code = _read_code(path)
            first = code.split("\n", 1)[0].strip()
            description = first[2:].strip() if first.startswith("//") else ""
            _check_skill(path.stem, description, code)
        except SkillRefused as error:
            log.warning("skipped shipped skill %s: %s", path, error)
            continue
        skills.append(Skill(name=path.stem, description=description, code=code, shipped=True))
    return skills


def _read_code(path: Path) -> str:
    """A skill file's code; `SkillRefused` when it cannot be one (the size checked first)."""
    if not path.is_file():
        raise SkillRefused("not a file")
    if path.stat().st_size > MAX_CODE_BYTES:
        raise SkillRefused(f"larger than {MAX_CODE_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SkillRefused(f"not UTF-8 text ({error.reason} at byte {error.start})") from error


def _check_skill(name: str, description: str, code: str) -> None:
    """Raise `SkillRefused` unless these can make a skill."""
    if not NAME.fullmatch(name):
        raise SkillRefused(f"{name[:80]!r} is not a skill name: use letters, digits and _, "
                           "not starting with a digit, at most 64")
    if not description:
        raise SkillRefused(f"skill {name} has no description: the first line must be a "
                           "// comment saying what it does")
    size = len(code.encode())
    if size > MAX_CODE_BYTES:
        raise SkillRefused(f"skill {name} is {size} bytes of code; at most {MAX_CODE_BYTES}")
    if not re.search(rf"\basync\s+function\s+{name}\s*\(", code):
        raise SkillRefused(f"skill {name} must define `async function {name}(bot, ...)`")


def _embedded_text(skill: Skill) -> str:
    """What a skill is found by: its description, and the task it was written for."""
    return f"{skill.description} {skill.task}".strip()
