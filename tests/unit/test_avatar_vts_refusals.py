"""Finding the parameters VTS refuses by splitting the refused set: right answer, few requests."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.avatar.puppet import DRIVEN_PARAMETERS
from nodes.avatar.vts.refusals import find_refused

NAMES = list(DRIVEN_PARAMETERS)  # the 13 parameters the avatar drives


class StandIn:
    """Answers as VTS does: the whole request refused with the error of its first refused
    parameter (453 missing, 454 set by another plugin); counts the requests."""

    def __init__(self, refused: dict[str, int]):
        self.refused = refused
        self.requests: list[list[str]] = []

    async def attempt(self, names: Sequence[str]) -> int | None:
        self.requests.append(list(names))
        return next((self.refused[n] for n in names if n in self.refused), None)


class TestFindRefused:
    @pytest.mark.parametrize(
        ("refused", "most_requests"),
        [
            # the most each case takes (measured; one by one would take 13)
            ({"EyeOpenLeft": 453}, 5),
            ({"MouthOpen": 453}, 6),                             # first of the list
            ({"EyeOpenRight": 454}, 5),                          # last of the list
            ({"EyeOpenLeft": 453, "EyeOpenRight": 453}, 6),      # neighbours share halves
            ({"MouthSmile": 454, "EyeOpenLeft": 453}, 11),       # contested and missing
            (dict.fromkeys(NAMES, 453), 2 * len(NAMES) - 2),     # everything: the whole tree
        ],
    )
    async def test_finds_exactly_the_refused(self, refused: dict[str, int],
                                             most_requests: int) -> None:
        vts = StandIn(refused)
        assert await find_refused(NAMES, vts.attempt) == refused
        assert len(vts.requests) <= most_requests
        assert NAMES not in vts.requests  # the refused whole is not sent again

    async def test_known_refused_whole_is_not_asked_again(self) -> None:
        vts = StandIn({"Brows": 453})
        await find_refused(NAMES, vts.attempt)
        assert all(len(r) < len(NAMES) for r in vts.requests)

    async def test_recheck_of_a_set_now_accepted_costs_one_request(self) -> None:
        vts = StandIn({})
        assert await find_refused(["EyeOpenLeft", "EyeOpenRight"], vts.attempt,
                                  known_refused=False) == {}
        assert vts.requests == [["EyeOpenLeft", "EyeOpenRight"]]

    async def test_refusal_gone_meanwhile_finds_nothing(self) -> None:
        vts = StandIn({})  # the other plugin stopped between the refusal and the search
        assert await find_refused(NAMES, vts.attempt) == {}
        assert len(vts.requests) <= math.ceil(math.log2(len(NAMES))) + 1

    async def test_empty(self) -> None:
        vts = StandIn({})
        assert await find_refused([], vts.attempt) == {}
        assert vts.requests == []

    @settings(max_examples=200, derandomize=True, print_blob=True, deadline=None)
    @given(names=st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=24,
                          unique=True),
           data=st.data())
    async def test_any_refused_subset(self, names: list[str], data: st.DataObject) -> None:
        refused = data.draw(st.dictionaries(st.sampled_from(names), st.sampled_from([453, 454]),
                                            min_size=1))
        vts = StandIn(refused)
        assert await find_refused(names, vts.attempt) == refused
        k, n = len(refused), len(names)
        assert len(vts.requests) <= max(1, min(2 * n - 2, 2 * k * math.ceil(math.log2(n))))
