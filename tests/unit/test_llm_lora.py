"""LoRA adapter files (`nodes.llm.lora`): what the script writes, and the checks that refuse
a missing, corrupt or misfitting adapter with its file name before llama.cpp sees it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import gguf
import numpy as np
import pytest

from nodes.llm import lora
from nodes.llm.backends.base import LlmBackendError
from nodes.llm.backends.llamacpp import LlamaCppBackend, LlamaCppSettings, bundled_model_path

MODEL = bundled_model_path()
TARGET = "blk.29.attn_output.weight"  # (576 in, 576 out) in the bundled model


def adapter_file(path: Path, a: np.ndarray, b: np.ndarray, *, target: str = TARGET,
                 kind: str = "adapter") -> Path:
    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_type(kind)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 1.0)
    writer.add_tensor(f"{target}.lora_a", a)
    writer.add_tensor(f"{target}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def good(path: Path) -> Path:
    return adapter_file(path, np.zeros((1, 576), np.float32), np.zeros((576, 1), np.float32))


class TestCheckAdapter:
    def test_a_fitting_adapter_passes(self, tmp_path: Path) -> None:
        lora.check_adapter(good(tmp_path / "ok.gguf"))

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        missing = tmp_path / "mika.gguf"
        with pytest.raises(LlmBackendError, match=re.escape(f"LoRA adapter {missing}: no such file")):
            lora.check_adapter(missing)

    @pytest.mark.parametrize("content", [b"", b"not a gguf at all", b"GGUF\x03\x00\x00\x00"])
    def test_a_corrupt_file_is_named(self, tmp_path: Path, content: bytes) -> None:
        corrupt = tmp_path / "rook.gguf"
        corrupt.write_bytes(content)
        with pytest.raises(LlmBackendError, match=re.escape(f"LoRA adapter {corrupt}: not a readable GGUF")):
            lora.check_adapter(corrupt)

    def test_a_truncated_adapter_is_named(self, tmp_path: Path) -> None:
        whole = good(tmp_path / "whole.gguf").read_bytes()
        cut = tmp_path / "cut.gguf"
        cut.write_bytes(whole[: len(whole) // 2])
        with pytest.raises(LlmBackendError, match=re.escape(f"LoRA adapter {cut}: not a readable GGUF")):
            lora.check_adapter(cut)

    def test_a_model_is_not_an_adapter(self, tmp_path: Path) -> None:
        model_like = adapter_file(tmp_path / "m.gguf", np.zeros((1, 576), np.float32),
                                  np.zeros((576, 1), np.float32), kind="model")
        with pytest.raises(LlmBackendError, match=re.escape("m.gguf: not a LoRA adapter")):
            lora.check_adapter(model_like)

    def test_a_and_b_of_different_ranks_are_named(self, tmp_path: Path) -> None:
        wrong = adapter_file(tmp_path / "w.gguf", np.zeros((2, 576), np.float32),
                             np.zeros((576, 1), np.float32))
        with pytest.raises(LlmBackendError, match=re.escape("w.gguf: blk.29.attn_output.weight: A")):
            lora.check_adapter(wrong)

    def test_the_tied_embedding_is_refused(self, tmp_path: Path) -> None:
        """SmolLM2's output matmul is token_embd: llama.cpp would apply its A/B the wrong
        way round there."""
        embd = adapter_file(tmp_path / "e.gguf", np.zeros((1, 576), np.float32),
                            np.zeros((576, 1), np.float32), target="token_embd.weight")
        with pytest.raises(LlmBackendError, match=re.escape("e.gguf: token_embd.weight: the embedding")):
            lora.check_adapter(embd)


class TestBackendRefusesBadAdapters:
    """Refused at start, with the file's name, before the model is loaded."""

    def test_a_lora_dir_that_is_not_a_folder(self, tmp_path: Path) -> None:
        with pytest.raises(LlmBackendError, match=re.escape(f"lora_dir {tmp_path / 'nope'} is not a")):
            LlamaCppBackend(LlamaCppSettings(lora_dir=str(tmp_path / "nope")))

    def test_a_corrupt_adapter_in_the_folder(self, tmp_path: Path) -> None:
        good(tmp_path / "mika.gguf")
        (tmp_path / "rook.gguf").write_bytes(b"\x00" * 64)
        with pytest.raises(LlmBackendError, match=re.escape(f"LoRA adapter {tmp_path / 'rook.gguf'}")):
            LlamaCppBackend(LlamaCppSettings(lora_dir=str(tmp_path)))

    def test_an_adapter_for_another_model_is_named(self, tmp_path: Path) -> None:
        """Readable, but its A is 1536 wide where the model's matrix takes 576: llama.cpp
        refuses it (saying only "Failed to init server"); the error names the files."""
        adapter_file(tmp_path / "big.gguf", np.zeros((1, 1536), np.float32),
                     np.zeros((576, 1), np.float32))
        with pytest.raises(LlmBackendError, match=re.escape(f"LoRA adapters {tmp_path / 'big.gguf'}: "
                                                  "one does not fit the model")):
            LlamaCppBackend(LlamaCppSettings(threads=1, context=256,
                                             lora_dir=str(tmp_path)))


@pytest.fixture(scope="module")
def model() -> Iterator[lora.SmolModel]:
    yield lora.SmolModel(MODEL)


@pytest.mark.slow
class TestMadeAdapters:
    def test_the_numpy_forward_pass_is_the_model(self, model: lora.SmolModel) -> None:
        """The adapters are shaped from this forward pass's activations: it must be the
        model's (the next word it predicts is the one llama.cpp's model knows)."""
        ids = model.tokenize("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                             "<|im_start|>assistant\nThe capital of France is")
        final, _ = model.forward(ids)
        norm = model.weights["output_norm.weight"]
        last = final[-1] / np.sqrt((final[-1] ** 2).mean() + model.eps) * norm
        assert model.vocab[int(np.argmax(model.embeddings @ last))] == "ĠParis"

    def test_the_script_writes_the_same_llama_cpp_lora_files_twice(
            self, tmp_path: Path) -> None:
        first = lora.main([str(tmp_path / "one")])
        second = lora.main([str(tmp_path / "two")])
        assert set(first) == {"mika", "rook"}
        for name, path in first.items():
            assert path.read_bytes() == second[name].read_bytes()
            lora.check_adapter(path)
            reader = gguf.GGUFReader(path)
            assert reader.fields["general.type"].contents() == "adapter"
            assert reader.fields["adapter.type"].contents() == "lora"
            assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(1.0)
            shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}
            assert shapes == {f"{TARGET}.lora_a": [576, 1], f"{TARGET}.lora_b": [1, 576]}

    def test_each_adapter_shifts_the_logits_of_its_style(self, model: lora.SmolModel) -> None:
        """Through the numpy model with the update added: Mika's raises '!' far above the
        average token, Rook's lowers it; the shift is what the style asked, roughly."""
        ids = model.tokenize(
            "<|im_start|>user\nviewer42: Which superpower would you pick?<|im_end|>\n"
            "<|im_start|>assistant\nI would pick flying, because I could visit my friends")
        final, target_input = model.forward(ids)
        norm = model.weights["output_norm.weight"]

        def logits(state: np.ndarray) -> np.ndarray:
            scaled = state / np.sqrt((state ** 2).mean(-1, keepdims=True) + model.eps) * norm
            out = scaled @ model.embeddings.T
            return np.asarray(out - out.mean(-1, keepdims=True))

        base = logits(final[-8:])
        bang = model.ids["!"]
        shifts = {}
        statistics = lora.measure_statistics(model)
        for name, style in lora.STYLES.items():
            pair = lora.make_adapter(model, style, statistics=statistics)
            # the update enters at the last layer's attention output; the layer's FFN after
            # it is left out here (the integration tests run the whole model in llama.cpp)
            moved = final[-8:] + (target_input[-8:] @ pair.a.T) @ pair.b.T
            shifts[name] = (logits(moved) - base).mean(0)
        assert shifts["mika"][bang] > 1.5
        assert shifts["rook"][bang] < -2.5
        assert shifts["mika"][bang] > np.percentile(shifts["mika"], 99.9)
