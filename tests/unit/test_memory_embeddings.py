"""The MiniLM encoder (its BERT graph run by onnxruntime) against published
sentence-transformers outputs and known properties."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from nodes.memory.embeddings import DIMENSION, MiniLmEncoder


@pytest.fixture(scope="module")
def encoder() -> MiniLmEncoder:
    return MiniLmEncoder()


# First six values of sentence-transformers' all-MiniLM-L6-v2 embeddings of these sentences,
# as published with an independent reference implementation (its tests compare against
# SentenceTransformers.encode to 1e-6): an empty text and non-ASCII text included.
REFERENCE = [
    ("This is an example sentence",
     [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273]),
    ("Each sentence is converted.",
     [0.07853645, 0.08856265, -0.00209270, -0.00717247, -0.01252624, 0.01881747]),
    ("", [-0.11883835, 0.04829856, -0.00254805, -0.01101118, 0.05195070, 0.01029179]),
    ("Café déjà vu — 東京",
     [0.05083271, 0.00967685, 0.09635572, -0.00997369, -0.01987603, 0.01692343]),
]


class TestAgainstSentenceTransformers:
    def test_matches_published_values(self, encoder: MiniLmEncoder) -> None:
        vectors = encoder.encode([text for text, _ in REFERENCE])
        expected = np.array([values for _, values in REFERENCE])
        assert np.abs(vectors[:, :6] - expected).max() < 1e-6

    def test_tokenizer_gives_bert_ids(self, encoder: MiniLmEncoder) -> None:
        assert encoder.tokenizer.encode("This is an example sentence").ids == [
            101, 2023, 2003, 2019, 2742, 6251, 102]


class TestProperties:
    def test_unit_length_float32(self, encoder: MiniLmEncoder) -> None:
        vectors = encoder.encode(["short", "a somewhat longer sentence about streaming games"])
        assert vectors.shape == (2, DIMENSION)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)

    @pytest.mark.parametrize(("anchor", "paraphrase", "unrelated"), [
        # a pet's name asked another way
        ("My cat is called Biscuit.", "What is the name of your cat?",
         "The stock market fell sharply today."),
        # where someone lives
        ("I live in Lisbon, Portugal.", "Which city are you from?",
         "Add two eggs and whisk the batter."),
        # a favourite game
        ("My favourite game is Minecraft.", "Which video game do you like best?",
         "The train to Berlin was delayed."),
    ])
    def test_paraphrase_closer_than_unrelated(self, encoder: MiniLmEncoder, anchor: str,
                                              paraphrase: str, unrelated: str) -> None:
        a, p, u = encoder.encode([anchor, paraphrase, unrelated])
        assert a @ p > a @ u + 0.2

    def test_batch_equals_one_by_one(self, encoder: MiniLmEncoder) -> None:
        texts = ["hi", "a much longer text that forces padding of the shorter ones in a batch",
                 "medium length text here"]
        batched = encoder.encode(texts)
        single = np.stack([encoder.encode_one(t) for t in texts])
        assert np.abs(batched - single).max() < 1e-6

    def test_calls_from_several_threads_agree(self, encoder: MiniLmEncoder) -> None:
        # the node embeds a batch and a search's query at the same time
        texts = [f"viewer {i}: a line of chat number {i} about games" for i in range(40)]
        expected = encoder.encode(texts)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: encoder.encode(texts), range(4)))
        for result in results:
            assert np.abs(result - expected).max() < 1e-6

    def test_long_text_is_truncated_not_refused(self, encoder: MiniLmEncoder) -> None:
        vector = encoder.encode_one("word " * 2000)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-6

    def test_empty_list(self, encoder: MiniLmEncoder) -> None:
        assert encoder.encode([]).shape == (0, DIMENSION)


class TestErrors:
    def test_missing_model_file_names_it(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=r"model\.safetensors is missing"):
            MiniLmEncoder(tmp_path)
