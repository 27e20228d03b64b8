"""LoRA adapters that give the default personas their style on the bundled SmolLM2-135M.

    python -m nodes.llm.lora [OUT_DIR] [--model GGUF]   # OUT_DIR/mika.gguf, OUT_DIR/rook.gguf

Without OUT_DIR it writes the default adapters into the cache folder the embedded backend
reads (`default_adapter_dir`), which is also what the backend does itself the first time it
starts without them (`ensure_default_adapters`). Deterministic: the same model gives the same
files. numpy and ``gguf`` only: no training framework, no download.

How an adapter is made (no training data, no gradient descent): a style is a wanted shift of
the next-token logits (`Style.shifts`: Mika ``!`` +3 nats and excited words up; Rook ``!``,
excited words and parenthesised asides down, the end of turn up, so shorter, plainer replies;
a ``.`` boost, tried first, made him spell out ``N.E.A.I.A.A.A``). The
adapter adds, at every position, one vector ``delta`` to the residual stream through the last
layer's ``attn_output`` matrix, rank 1: ``lora_a`` is the mean of that matrix's input
(measured by running the model here in numpy over a few chat turns; its projection on that
mean is 1.0 +- 0.23 at every position, min 0.43: nearly a constant), ``lora_b`` is ``delta``.
``delta`` is the weighted least-squares solution of ``logits shift = E diag(g) P delta / r``
(``E`` the token embeddings, which SmolLM2 ties to its output, ``g`` the output norm's gain,
``P`` the projection away from the mean final hidden state, which the norm would cancel, ``r``
its RMS), rescaled so the linearised shift of the style's tokens matches what was asked.

Why that matrix: SmolLM2 has no separate output matrix; a LoRA on ``token_embd`` would meet
the output matmul with the embedding's transposed A/B layout (llama.cpp looks adapters up by
tensor name), so the adapter leaves it alone. The last layer's ``attn_output`` input was the
steadiest of the late-layer matrix inputs measured (``ffn_down``'s varied 0.14 to 4x the
mean), so a rank-1 update there acts as a bias the persona carries everywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf.quants import dequantize

from nodes.llm.backends.base import LlmBackendError

__all__ = ["ADAPTER_SUFFIX", "GENERATOR_VERSION", "STYLES", "LoraPair", "SmolModel", "Statistics", "Style",
           "check_adapter", "default_adapter_dir", "ensure_default_adapters", "main",
           "make_adapter", "measure_statistics", "write_adapter"]

GENERATOR_VERSION = 1
"""Part of the cache folder's name: a change to how adapters are made makes new files."""
ADAPTER_SUFFIX = ".gguf"
LORA_ALPHA = 1.0
"""llama.cpp scales ``B A x`` by alpha / rank: 1.0 at rank 1, so the shift is ``B``'s as made."""


@dataclass(frozen=True)
class Style:
    """What an adapter does: the wanted shift (nats) of some tokens' logits, everywhere."""

    shifts: Mapping[str, float]
    """Token (as the vocabulary spells it: ``Ġ`` a leading space) -> logit shift."""
    about: str


_EXCITED = ("ĠWow", "Ġamazing", "Ġawesome", "Ġlove", "Ġcute", "Ġexcited", "Ġsuper", "ĠOh",
            "Ġfun")
STYLES: dict[str, Style] = {
    "mika": Style(
        {"!": 3.0, "!!": 1.5, **dict.fromkeys(_EXCITED, 2.0), "Ġso": 1.0, ".": -1.0},
        "bubbly: exclamation marks and excited words"),
    "rook": Style(
        {"!": -5.0, "!!": -5.0, **dict.fromkeys(_EXCITED, -2.0), "(": -2.0, "Ġ(": -2.0,
         "ĊĊ": -1.0, "<|im_end|>": 3.0},
        "deadpan: no exclamation marks, excited words or asides, ends sooner"),
}
"""The default personas' adapters (names as in `nodes.llm.personas.DEFAULT_PERSONAS`)."""

# A few chat turns in the persona template: the inputs whose statistics shape the adapter.
_CORPUS = (
    "<|im_start|>system\nYou are Mika, a VTuber who co-hosts a live stream.<|im_end|>\n"
    "<|im_start|>user\nviewer42: What game should we play next?<|im_end|>\n"
    "<|im_start|>assistant\nI think we should play something cozy, like a farming game. It "
    "would be fun to build a little town together.<|im_end|>\n",
    "<|im_start|>system\nYou are Rook, a VTuber who co-hosts a live stream.<|im_end|>\n"
    "<|im_start|>user\nMika: Do cats or dogs make better streamers?<|im_end|>\n"
    "<|im_start|>assistant\nCats. They ignore the chat, which is the correct strategy. Dogs "
    "would read every message.<|im_end|>\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nTell me something about space.<|im_end|>\n"
    "<|im_start|>assistant\nSpace is very big and mostly empty. The nearest star after the "
    "Sun is about four light years away.<|im_end|>\n",
)
_TARGET_WEIGHT = 200.0
"""Weight of a style token against each of the other ~49k tokens (asked to stay put)."""
_RIDGE = 1e-3


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet, which the vocabulary is spelled in (space = ``Ġ``)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


_BYTE_CHARS = _bytes_to_unicode()
_SPECIAL = re.compile(r"(<\|im_start\|>|<\|im_end\|>)")
_WORDS = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+")


@dataclass(frozen=True)
class LoraPair:
    """One matrix's update ``B @ A`` (PEFT's layout: ``a`` is (rank, in), ``b`` (out, rank))."""

    target: str
    a: np.ndarray
    b: np.ndarray


class SmolModel:
    """The GGUF's weights, dequantized, and a numpy forward pass (llama architecture)."""

    def __init__(self, path: Path):
        reader = gguf.GGUFReader(path)
        self.arch = _field_str(reader, "general.architecture")
        self.layers = int(_field_value(reader, f"{self.arch}.block_count"))
        self.heads = int(_field_value(reader, f"{self.arch}.attention.head_count"))
        self.kv_heads = int(_field_value(reader, f"{self.arch}.attention.head_count_kv"))
        self.rope_base = float(_field_value(reader, f"{self.arch}.rope.freq_base"))
        self.eps = float(_field_value(reader, f"{self.arch}.attention.layer_norm_rms_epsilon"))
        tokens = reader.fields["tokenizer.ggml.tokens"]
        self.vocab = [bytes(tokens.parts[i]).decode("utf-8") for i in tokens.data]
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        self._longest = max(len(token) for token in self.vocab)
        self.weights = {
            tensor.name: dequantize(tensor.data, tensor.tensor_type).reshape(
                [int(n) for n in reversed(tensor.shape)]).astype(np.float32)
            for tensor in reader.tensors
        }
        self.embeddings = self.weights["token_embd.weight"]
        self.width = self.embeddings.shape[1]
        self.head_width = self.width // self.heads

    @property
    def target(self) -> str:
        """The matrix the adapters update: the last layer's attention output."""
        return f"blk.{self.layers - 1}.attn_output.weight"

    def tokenize(self, text: str) -> list[int]:
        """Greedy longest match over the vocabulary: close to the model's BPE, which is all
        the activation statistics need (llama.cpp tokenizes the real prompts)."""
        out: list[int] = []
        for part in _SPECIAL.split(text):
            if part in self.ids and part.startswith("<|"):
                out.append(self.ids[part])
                continue
            for word in _WORDS.findall(part):
                spelled = "".join(_BYTE_CHARS[b] for b in word.encode())
                start = 0
                while start < len(spelled):
                    for end in range(min(len(spelled), start + self._longest), start, -1):
                        if spelled[start:end] in self.ids:
                            out.append(self.ids[spelled[start:end]])
                            start = end
                            break
                    else:  # every byte is in a byte-level vocabulary
                        raise ValueError(f"no token for {spelled[start]!r}")
        return out

    def forward(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(final hidden state before the output norm, the target matrix's input), one row
        per position."""
        count = len(ids)
        positions = np.arange(count, dtype=np.float32)
        x = self.embeddings[list(ids)]
        mask = np.triu(np.full((count, count), -np.inf, dtype=np.float32), 1)
        w = self.weights
        target_input = np.zeros((count, self.width), np.float32)
        group = self.heads // self.kv_heads
        for layer in range(self.layers):
            p = f"blk.{layer}."
            h = self._norm(x, w[p + "attn_norm.weight"])
            q = self._rope((h @ w[p + "attn_q.weight"].T).reshape(count, self.heads, -1),
                           positions)
            k = self._rope((h @ w[p + "attn_k.weight"].T).reshape(count, self.kv_heads, -1),
                           positions)
            v = (h @ w[p + "attn_v.weight"].T).reshape(count, self.kv_heads, -1)
            k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
            scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(self.head_width) + mask
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = np.einsum("hts,shd->thd", scores, v).reshape(count, self.width)
            if p + "attn_output.weight" == self.target:
                target_input = attended
            x = x + attended @ w[p + "attn_output.weight"].T
            h = self._norm(x, w[p + "ffn_norm.weight"])
            gate = h @ w[p + "ffn_gate.weight"].T
            x = x + (gate / (1 + np.exp(-gate)) * (h @ w[p + "ffn_up.weight"].T)) @ w[
                p + "ffn_down.weight"].T
        return x, target_input

    def _norm(self, x: np.ndarray, gain: np.ndarray) -> np.ndarray:
        return np.asarray(x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * gain)

    def _rope(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """llama.cpp's normal RoPE: adjacent pairs rotate (the GGUF's q/k rows are permuted
        for it)."""
        half = x.shape[-1] // 2
        inverse = self.rope_base ** (-np.arange(half, dtype=np.float32) * 2 / x.shape[-1])
        angle = positions[:, None] * inverse[None, :]
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
        even, odd = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = even * cos - odd * sin
        out[..., 1::2] = even * sin + odd * cos
        return out


@dataclass(frozen=True)
class Statistics:
    """What the adapters are shaped from: the model's activations over a few chat turns."""

    target_mean: np.ndarray
    """Mean input of the target matrix."""
    gains: np.ndarray
    """Per position: the input's projection on the mean, over the mean's squared norm (~1)."""
    finals: np.ndarray
    """Final hidden states, one row per position."""


def measure_statistics(model: SmolModel) -> Statistics:
    finals, inputs = [], []
    for text in _CORPUS:
        final, target_input = model.forward(model.tokenize(text))
        finals.append(final[1:])  # position 0 attends only to itself: not a typical state
        inputs.append(target_input[1:])
    every_input = np.concatenate(inputs)
    mean = every_input.mean(0)
    return Statistics(mean, every_input @ mean / (mean @ mean), np.concatenate(finals))


def make_adapter(model: SmolModel, style: Style, *,
                 statistics: Statistics | None = None) -> LoraPair:
    """The rank-1 update of ``model.target`` that shifts the logits as ``style`` asks."""
    stats = statistics or measure_statistics(model)
    embeddings = model.embeddings.astype(np.float64)
    centred = embeddings - embeddings.mean(0)
    gain = model.weights["output_norm.weight"].astype(np.float64)
    finals = stats.finals.astype(np.float64)
    unit = finals / np.linalg.norm(finals, axis=1, keepdims=True)
    mean_unit = unit.mean(0) / np.linalg.norm(unit.mean(0))
    rms = float(np.sqrt((finals ** 2).mean()))
    # delta -> centred logits, linearised at the mean state: E diag(g) P delta * gain / rms
    operator = (gain[:, None] * (np.eye(model.width) - np.outer(mean_unit, mean_unit))
                * stats.gains.mean() / rms)
    ids = [model.ids[token] for token in style.shifts if token in model.ids]
    wanted = np.array([style.shifts[model.vocab[i]] for i in ids])
    rows = centred[ids]
    gram = centred.T @ centred + (_TARGET_WEIGHT - 1) * rows.T @ rows
    normal = operator.T @ gram @ operator
    rhs = operator.T @ (_TARGET_WEIGHT * rows.T @ wanted)
    delta = np.linalg.solve(normal + _RIDGE * np.trace(normal) / model.width * np.eye(model.width),
                            rhs)
    # least squares shrinks the shift (the other tokens pull it to 0): rescale so the
    # linearised shift of the style's tokens, averaged over the measured positions, fits
    projected = delta[None, :] - unit * (unit @ delta)[:, None]
    per_position = (gain * projected * (stats.gains / np.sqrt((finals ** 2).mean(1)))[:, None])
    predicted = rows @ per_position.mean(0)
    scale = float(predicted @ wanted / (predicted @ predicted))
    a = (stats.target_mean / (stats.target_mean @ stats.target_mean))[None, :]
    b = (scale * delta)[:, None]
    # float16 precision: the same files from BLAS builds that differ in the last bits
    return LoraPair(model.target, _rounded(a), _rounded(b))


def _rounded(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.astype(np.float16).astype(np.float32))


def write_adapter(path: Path, pair: LoraPair, *, arch: str, about: str = "") -> None:
    """``pair`` as a llama.cpp LoRA GGUF (``general.type`` adapter, ``adapter.type`` lora),
    written to a temporary name and moved into place (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(partial, arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, LORA_ALPHA)
    if about:
        writer.add_description(about)
    writer.add_tensor(f"{pair.target}.lora_a", pair.a)
    writer.add_tensor(f"{pair.target}.lora_b", pair.b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(partial, path)


def check_adapter(path: Path) -> None:
    """Raise `LlmBackendError` naming ``path`` unless it is a readable LoRA GGUF of
    lora_a/lora_b pairs (llama.cpp's own refusal names no file: "Failed to init server").
    Whether its shapes fit the model, llama.cpp checks when it loads it."""
    def refuse(why: str) -> LlmBackendError:
        return LlmBackendError(f"LoRA adapter {path}: {why}")

    if not path.is_file():
        raise refuse("no such file")
    try:
        reader = gguf.GGUFReader(path)
        kind = _field_str(reader, "general.type")
        adapter = _field_str(reader, gguf.Keys.Adapter.TYPE)
        shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    except (ValueError, KeyError, IndexError, OSError) as exc:
        raise refuse(f"not a readable GGUF file ({type(exc).__name__}: {exc}): make it "
                     "again with `python -m nodes.llm.lora`") from None
    if kind != "adapter" or adapter != "lora":
        raise refuse(f"not a LoRA adapter (general.type {kind!r}, adapter.type {adapter!r})")
    if not shapes:
        raise refuse("no tensors")
    for name, shape in shapes.items():
        base, _, part = name.rpartition(".lora_")
        other = f"{base}.lora_{'b' if part == 'a' else 'a'}"
        if part not in ("a", "b") or other not in shapes:
            raise refuse(f"tensor {name} is not half of a lora_a/lora_b pair")
        if base.startswith("token_embd"):
            # SmolLM2's output matmul is token_embd too: llama.cpp would apply this pair's
            # embedding layout (A and B swapped) to the output and fail an assertion
            raise refuse(f"{base}: the embedding is not adapted (tied to the output)")
        if part == "a" and (len(shape) != 2 or len(shapes[other]) != 2
                            or shape[1] != shapes[other][0]):
            raise refuse(f"{base}: A {shape} and B {shapes[other]} are not (in, rank) and "
                         "(rank, out)")


def default_adapter_dir(model_path: Path) -> Path:
    """Where the default adapters of the model at ``model_path`` are cached: under
    ``$XDG_CACHE_HOME`` (``~/.cache``), named by the model's content and `GENERATOR_VERSION`."""
    digest = hashlib.sha256()
    with model_path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "vtuber" / "lora" / f"{model_path.stem}-{digest.hexdigest()[:12]}-v{GENERATOR_VERSION}"


def ensure_default_adapters(model_path: Path, out_dir: Path | None = None, *,
                            again: bool = False) -> dict[str, Path]:
    """The default personas' adapter files (name -> path) in ``out_dir`` (default: the cache
    folder), made first if any is missing, or all of them if ``again`` (about 10 s of CPU)."""
    folder = out_dir or default_adapter_dir(model_path)
    paths = {name: folder / f"{name}{ADAPTER_SUFFIX}" for name in STYLES}
    missing = [name for name, path in paths.items() if again or not path.is_file()]
    if missing:
        model = SmolModel(model_path)
        stats = measure_statistics(model)
        for name in missing:
            write_adapter(paths[name], make_adapter(model, STYLES[name], statistics=stats),
                          arch=model.arch, about=f"{name}: {STYLES[name].about}")
    return paths


def _field_value(reader: gguf.GGUFReader, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise KeyError(f"no {key}")
    return field.contents()


def _field_str(reader: gguf.GGUFReader, key: str) -> str:
    value = _field_value(reader, key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(prog="python -m nodes.llm.lora",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="",
                        help="folder for NAME.gguf (default: the backend's cache folder)")
    parser.add_argument("--model", default="", help="base GGUF (default: the bundled model)")
    args = parser.parse_args(argv)
    from nodes.llm.backends.llamacpp import bundled_model_path

    model_path = Path(args.model) if args.model else bundled_model_path()
    paths = ensure_default_adapters(model_path, Path(args.out_dir) if args.out_dir else None,
                                    again=bool(args.out_dir))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return paths


if __name__ == "__main__":
    main(sys.argv[1:])
