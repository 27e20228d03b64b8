"""What every backend shares: reading a server's refusal of a prompt longer than its context."""

from __future__ import annotations

import pytest

from nodes.llm.backends.base import context_overflow


class TestContextOverflow:
    @pytest.mark.parametrize(
        ("message", "found"),
        [
            # llama.cpp (xllamacpp and llama-server), as the issue 14 soak logged it
            ("the model server reported an error: request (13547 tokens) exceeds the available "
             "context size (4096 tokens), try increasing it", (13547, 4096)),
            # vLLM, older and newer wording
            ("the LLM server answered HTTP 400 for model 'm': This model's maximum context "
             "length is 4096 tokens. However, you requested 13747 tokens (13547 in the "
             "messages, 200 in the completion).", (13747, 4096)),
            ("This model's maximum context length is 8192 tokens. However, your request has "
             "9000 input tokens.", (9000, 8192)),
            # anything else is not an overflow
            ("the LLM stream broke after 3 token(s): ReadTimeout", None),
            ("request (12 tokens) is fine", None),
        ],
    )
    def test_reads_the_figures(self, message: str, found: tuple[int, int] | None) -> None:
        assert context_overflow(message) == found
