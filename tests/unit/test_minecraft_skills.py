"""nodes.game.minecraft.skills: shipped skills read (bad files skipped with the reason),
verified skills written atomically and read back, ranked by the real MiniLM encoder,
refusals with their reasons, the library bounded."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nodes.game.minecraft.skills import MAX_CODE_BYTES, SkillLibrary, SkillRefused
from nodes.memory.embeddings import MiniLmEncoder

SHIPPED_DIR = Path(__file__).parents[2] / "nodes" / "game" / "minecraft" / "skills"


@pytest.fixture(scope="module")
def encoder() -> MiniLmEncoder:
    return MiniLmEncoder()  # one per module: loading takes seconds


def skill_source(name: str, description: str, body: str = "return bot.state();") -> str:
    return f"// {description}\nasync function {name}(bot) {{\n  {body}\n}}\n"


SAMPLES = {
    "collectBlocks": "Collect a number of blocks of one kind and keep them in the inventory",
    "goToPlayer": "Walk up to a player and stand next to them",
    "placeBlock": "Place a block from the inventory next to the bot",
    "buildTower": "Build a tower by stacking blocks under the bot while jumping",
}


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "shipped"
    folder.mkdir()
    for name, description in SAMPLES.items():
        (folder / f"{name}.js").write_text(skill_source(name, description))
    return folder


def library(shipped: Path | None, user: Path, encoder: MiniLmEncoder, **options: int) -> SkillLibrary:
    return SkillLibrary(shipped, user, encoder, **options)


class TestShipped:
    def test_reads_names_descriptions_code(self, shipped: Path, tmp_path: Path,
                                           encoder: MiniLmEncoder) -> None:
        skills = library(shipped, tmp_path / "user", encoder).all()
        assert [s.name for s in skills] == sorted(SAMPLES)
        first = skills[0]
        assert (first.description, first.shipped, first.task) == (SAMPLES[first.name], True, "")
        assert first.code == skill_source(first.name, SAMPLES[first.name])

    # file name -> content: each is skipped, the reason logged
    @pytest.mark.parametrize(("file", "content", "reason"), [
        # no description comment on the first line
        ("noComment", "async function noComment(bot) {}\n", "has no description"),
        # the function is not named like the file
        ("misnamed", skill_source("other", "Does a thing"), "must define `async function misnamed"),
        # a file name that is no identifier
        ("bad-name", skill_source("bad_name", "Does a thing"), "is not a skill name"),
        # too large for the sandbox's library
        ("huge", skill_source("huge", "Big", "//" + "x" * MAX_CODE_BYTES), "larger than 32768"),
    ])
    def test_bad_files_are_skipped(self, shipped: Path, tmp_path: Path, encoder: MiniLmEncoder,
                                   caplog: pytest.LogCaptureFixture, file: str, content: str,
                                   reason: str) -> None:
        (shipped / f"{file}.js").write_text(content)
        with caplog.at_level(logging.WARNING):
            skills = library(shipped, tmp_path / "user", encoder).all()
        assert [s.name for s in skills] == sorted(SAMPLES)
        assert f"{file}.js" in caplog.text
        assert reason in caplog.text

    def test_not_utf8_is_skipped(self, shipped: Path, tmp_path: Path, encoder: MiniLmEncoder,
                                 caplog: pytest.LogCaptureFixture) -> None:
        (shipped / "latin.js").write_bytes(b"// caf\xe9\nasync function latin(bot) {}\n")
        with caplog.at_level(logging.WARNING):
            lib = library(shipped, tmp_path / "user", encoder)
        assert lib.get("latin") is None
        assert "not UTF-8 text" in caplog.text

    def test_missing_folder_has_none(self, tmp_path: Path, encoder: MiniLmEncoder) -> None:
        assert library(tmp_path / "absent", tmp_path / "user", encoder).all() == []
        assert library(None, tmp_path / "user", encoder).all() == []

    def test_the_shipped_library_loads(self, tmp_path: Path, encoder: MiniLmEncoder,
                                       caplog: pytest.LogCaptureFixture) -> None:
        files = sorted(SHIPPED_DIR.glob("*.js"))
        if not files:
            pytest.skip(f"no shipped skills in {SHIPPED_DIR} yet")
        with caplog.at_level(logging.WARNING):
            skills = library(SHIPPED_DIR, tmp_path / "user", encoder).all()
        assert "skipped" not in caplog.text
        assert [s.name for s in skills] == [f.stem for f in files]
        assert all(s.shipped and s.description for s in skills)


class TestClosest:
    # task -> the closest sample skill
    @pytest.mark.parametrize(("task", "best"), [
        ("get 5 dirt", "collectBlocks"),
        ("mine some oak logs for me", "collectBlocks"),
        ("come over to Alice", "goToPlayer"),
        ("place a block beside you", "placeBlock"),
        ("make a tall pillar", "buildTower"),
    ])
    def test_ranks_by_meaning(self, shipped: Path, tmp_path: Path, encoder: MiniLmEncoder,
                              task: str, best: str) -> None:
        assert library(shipped, tmp_path / "user", encoder).closest(task, 1)[0].name == best

    def test_k_bounds(self, shipped: Path, tmp_path: Path, encoder: MiniLmEncoder) -> None:
        lib = library(shipped, tmp_path / "user", encoder)
        assert lib.closest("get dirt", 0) == []
        assert len(lib.closest("get dirt", 2)) == 2
        assert {s.name for s in lib.closest("get dirt", 99)} == set(SAMPLES)
        assert library(None, tmp_path / "empty", encoder).closest("get dirt", 3) == []


class TestAdd:
    def test_written_then_found_again_after_a_restart(self, shipped: Path, tmp_path: Path,
                                                      encoder: MiniLmEncoder) -> None:
        user = tmp_path / "user"
        code = skill_source("digHole", "Dig a hole three blocks deep under the bot")
        lib = library(shipped, user, encoder)
        added = lib.add("digHole", "Dig a hole three blocks deep under the bot", code,
                        "dig a hole", now_ns=123)
        assert (added.shipped, added.task, added.verified_ns) == (False, "dig a hole", 123)
        assert (user / "digHole.js").read_text() == code
        stored = json.loads((user / "digHole.json").read_text())
        assert (stored["description"], stored["task"], stored["verified_ns"]) == (
            "Dig a hole three blocks deep under the bot", "dig a hole", 123)
        assert len(stored["embedding"]) == encoder.dimension
        assert sorted(p.name for p in user.iterdir()) == ["digHole.js", "digHole.json"]

        again = library(shipped, user, encoder)
        assert again.get("digHole") == added
        assert again.closest("dig a deep pit in the ground", 1)[0].name == "digHole"
        assert json.loads((user / "digHole.json").read_text()) == stored  # not re-embedded

    def test_replaces_a_written_skill(self, tmp_path: Path, encoder: MiniLmEncoder) -> None:
        lib = library(None, tmp_path / "user", encoder)
        lib.add("hop", "Jump once", skill_source("hop", "Jump once"), "jump")
        newer = skill_source("hop", "Jump twice", "await bot.chat('hop'); return 2;")
        lib.add("hop", "Jump twice", newer, "jump twice")
        assert [s.code for s in lib.all()] == [newer]
        assert library(None, tmp_path / "user", encoder).get("hop") is not None

    # (name, description, code) -> the refusal
    @pytest.mark.parametrize(("name", "description", "code", "reason"), [
        ("9lives", "Does a thing", skill_source("9lives", "x"), "'9lives' is not a skill name"),
        ("../../etc/x", "Does a thing", "async function x(bot) {}", "is not a skill name"),
        ("a" * 65, "Does a thing", skill_source("a" * 65, "x"), "is not a skill name"),
        ("collectBlocks", "Mine", skill_source("collectBlocks", "x"),
         "collectBlocks is a shipped skill and cannot be replaced"),
        ("big", "Big", skill_source("big", "x", "//" + "é" * MAX_CODE_BYTES),
         "bytes of code; at most 32768"),
        ("nameless", "Does a thing", "async function other(bot) {}",
         "must define `async function nameless(bot, ...)`"),
        ("quiet", "   ", skill_source("quiet", "x"), "skill quiet has no description"),
    ])
    def test_refused(self, shipped: Path, tmp_path: Path, encoder: MiniLmEncoder, name: str,
                     description: str, code: str, reason: str) -> None:
        lib = library(shipped, tmp_path / "user", encoder)
        with pytest.raises(SkillRefused, match=reason.replace("(", r"\(").replace(")", r"\)")
                           .replace(".", r"\.")):
            lib.add(name, description, code, "a task")
        assert list((tmp_path / "user").iterdir()) == []
        assert not (tmp_path / "etc").exists()

    def test_oldest_dropped_past_the_bound(self, tmp_path: Path, encoder: MiniLmEncoder) -> None:
        user = tmp_path / "user"
        lib = library(None, user, encoder, max_skills=3)
        for stamp, name in enumerate(["first", "second", "third", "fourth"]):
            lib.add(name, f"Skill number {stamp}", skill_source(name, "x"), "t", now_ns=stamp)
        assert sorted(s.name for s in lib.all()) == ["fourth", "second", "third"]
        assert not (user / "first.js").exists()
        assert not (user / "first.json").exists()
        assert sorted(s.name for s in library(None, user, encoder, max_skills=3).all()) == [
            "fourth", "second", "third"]


class TestWrittenFilesOnLoad:
    def test_embedding_of_another_length_is_recomputed(self, tmp_path: Path,
                                                       encoder: MiniLmEncoder) -> None:
        user = tmp_path / "user"
        library(None, user, encoder).add("hop", "Jump once", skill_source("hop", "x"), "jump")
        stored = json.loads((user / "hop.json").read_text())
        (user / "hop.json").write_text(json.dumps(stored | {"embedding": [0.5, 0.5, 0.7]}))
        lib = library(None, user, encoder)
        assert lib.closest("jump", 1)[0].name == "hop"
        assert json.loads((user / "hop.json").read_text())["embedding"] == pytest.approx(
            stored["embedding"], abs=1e-6)

    # what is on disk -> the reason it is skipped
    @pytest.mark.parametrize(("files", "reason"), [
        # an add cut short between the code and its .json
        ({"hop.js": skill_source("hop", "x")}, "its .json is missing"),
        ({"hop.js": skill_source("hop", "x"), "hop.json": "{not json"}, "JSON is malformed"),
        ({"hop.js": skill_source("hop", "x"), "hop.json": '{"description": "x"}'},
         "missing required field"),
        # a written skill may not shadow a shipped one
        ({"placeBlock.js": skill_source("placeBlock", "x"),
          "placeBlock.json": json.dumps({"description": "x", "task": "", "embedding": [],
                                         "verified_ns": 1})}, "a shipped skill has that name"),
    ])
    def test_bad_written_skills_are_skipped(self, shipped: Path, tmp_path: Path,
                                            encoder: MiniLmEncoder,
                                            caplog: pytest.LogCaptureFixture,
                                            files: dict[str, str], reason: str) -> None:
        user = tmp_path / "user"
        user.mkdir()
        for name, text in files.items():
            (user / name).write_text(text)
        with caplog.at_level(logging.WARNING):
            lib = library(shipped, user, encoder)
        assert [s.name for s in lib.all() if not s.shipped] == []
        assert reason in caplog.text
