"""Fuzzing the bag reader on damaged copies of a real bag (issue 14, item 14): random byte
flips and cuts. It reads what is intact and raises nothing but `BagError` (and that only
when asked to be strict, or when the file is not a bag at all)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.bag import BagReader, read_messages
from bus.bag.reader import RawRecord
from bus.errors import BagError

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "data" / "golden").glob("*.mcap"))[-1]
ORIGINAL = GOLDEN.read_bytes()
FUZZ = settings(max_examples=300, derandomize=True, print_blob=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def frames_of(reader: BagReader) -> list[tuple[bytes, bytes]]:
    return [(m.raw_header, m.payload) for m in reader.messages()]


INTACT = frames_of(BagReader(GOLDEN))
CHANNEL = next(iter(BagReader(GOLDEN).records())).channel


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz") / "damaged.mcap"


@st.composite
def damage(draw: st.DrawFn) -> bytes:
    """The golden bag with a few bytes changed (anywhere, or all in one region), maybe cut."""
    data = bytearray(ORIGINAL)
    around = draw(st.integers(0, len(data) - 1))
    spread = draw(st.sampled_from([16, 512, len(data)]))
    for _ in range(draw(st.integers(0, 8))):
        at = min(len(data) - 1, max(0, around + draw(st.integers(-spread, spread))))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


@FUZZ
@given(data=damage())
def test_a_damaged_bag_gives_what_is_intact_and_only_bag_error(damaged: Path,
                                                               data: bytes) -> None:
    damaged.write_bytes(data)
    reader = BagReader(damaged)
    try:
        got = frames_of(reader)
    except BagError as exc:  # only when the start of the file is not the MCAP magic
        assert "not an MCAP bag" in str(exc)
        return
    # nothing invented: each message read is one that was recorded (a flipped byte lands in
    # a compressed, CRC-checked chunk, so a damaged message is skipped, not misread)
    assert set(got) <= set(INTACT)
    if data == ORIGINAL:
        assert got == INTACT and reader.problems == []
    elif len(got) < len(INTACT):
        assert reader.problems, "messages were lost without a word"
    # strict reading raises BagError, and nothing else, exactly when there were problems
    try:
        list(read_messages(damaged, strict=True))
    except BagError:
        assert reader.problems
    else:
        assert not reader.problems


def with_header_text(text: bytes) -> bytes:
    """Record data whose header's publisher is ``text``, UTF-8 or not, and an empty payload."""
    return b"\x92\x94" + bytes([0xA0 | len(text)]) + text + b"\x00\x00\xa1x\xc4\x00"


records = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(INTACT).flatmap(lambda frames: st.binary(max_size=12).map(
        lambda junk: b"\x92" + frames[0][:len(frames[0]) // 2] + junk + frames[1])),
    st.binary(min_size=1, max_size=31).map(with_header_text),
)


@FUZZ
@given(data=records)
def test_a_record_that_is_not_a_message_is_a_problem_not_an_exception(data: bytes) -> None:
    reader = BagReader(GOLDEN)
    message = reader.decode(RawRecord(CHANNEL, 0, data, 0))
    assert message is not None or reader.problems

