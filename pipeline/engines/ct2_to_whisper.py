"""Convert a CTranslate2 Whisper `model.bin` into an openai-whisper checkpoint.

So that the reference implementation runs offline on the very weights faster-whisper uses.
The file layout (ctranslate2/specs/model_spec.py `_serialize`, binary version 6):

    u32 version, str spec name, u32 revision, u32 n_variables,
    n x (str name, u8 rank, rank x u32 dim, u8 dtype id, u32 n_bytes, bytes),
    u32 n_aliases, n x (str alias, str target)

where a str is u16 length (including a trailing NUL), the UTF-8 bytes, then the NUL.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TranscribeError

# ctranslate2 `_dtype_to_type_id`: the index in this tuple is the id stored in the file.
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
CHECKPOINT_VERSION = 1  # bump when the mapping below changes, so cached checkpoints are redone


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """Every variable in a CTranslate2 model.bin by name; aliases resolved to their targets."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def text() -> str:
        nonlocal pos
        (length,) = take("H")
        value = data[pos: pos + length - 1].decode("utf-8")
        pos += length
        return value

    try:
        (version,) = take("I")
        if version < 5:  # older layouts have no per-variable dtype id
            raise TranscribeError(f"{path}: CTranslate2 binary version {version} is not supported")
        spec = text()
        take("I")  # spec revision
        if spec != "WhisperSpec":
            raise TranscribeError(f"{path}: a {spec}, not a Whisper model")
        (count,) = take("I")
        tensors: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = text()
            (rank,) = take("B")
            shape = take("I" * rank)
            (type_id,) = take("B")
            (size,) = take("I")
            dtype = _DTYPES[type_id]
            if dtype == "bfloat16":
                raw = np.frombuffer(data, np.uint16, size // 2, pos).astype(np.uint32) << 16
                array = raw.view(np.float32)
            else:
                array = np.frombuffer(data, dtype, size // np.dtype(dtype).itemsize, pos)
            tensors[name] = array.reshape(shape)
            pos += size
        (aliases,) = take("I")
        for _ in range(aliases):
            alias, target = text(), text()
            tensors[alias] = tensors[target]
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise TranscribeError(f"{path}: not a readable CTranslate2 model ({exc})") from exc
    return tensors


def _layer_count(tensors: dict[str, np.ndarray], prefix: str) -> int:
    layers = {m.group(1) for k in tensors if (m := re.match(rf"{prefix}/layer_(\d+)/", k))}
    return len(layers)


def _split_qkv(weight: np.ndarray, bias: np.ndarray, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(zip(np.split(weight, parts), np.split(bias, parts)))


def convert(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """An openai-whisper checkpoint: {"dims": ..., "model_state_dict": ...} as float32 tensors.

    CTranslate2 fuses the self-attention q/k/v into one linear (`linear_0`), the cross-attention
    k/v into `linear_1`, keeps the key bias as zeros (Whisper's key projection has none),
    names layer norms gamma/beta, and stores both positional tables as `position_encodings`.
    The output projection is an alias of the token embedding, as in Whisper (tied weights).
    """
    import torch

    sd: dict[str, np.ndarray] = {}

    def linear(dst: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
        sd[f"{dst}.weight"] = weight
        if bias is not None:
            sd[f"{dst}.bias"] = bias

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = tensors[f"{src}/gamma"]
        sd[f"{dst}.bias"] = tensors[f"{src}/beta"]

    def attention(dst: str, src: str, cross: bool) -> None:
        if cross:
            q = (tensors[f"{src}/linear_0/weight"], tensors[f"{src}/linear_0/bias"])
            k, v = _split_qkv(tensors[f"{src}/linear_1/weight"], tensors[f"{src}/linear_1/bias"], 2)
            out = 2
        else:
            q, k, v = _split_qkv(tensors[f"{src}/linear_0/weight"], tensors[f"{src}/linear_0/bias"], 3)
            out = 1
        linear(f"{dst}.query", *q)
        linear(f"{dst}.key", k[0], None)  # zeros in the fused bias; Whisper has no key bias
        linear(f"{dst}.value", *v)
        linear(f"{dst}.out", tensors[f"{src}/linear_{out}/weight"], tensors[f"{src}/linear_{out}/bias"])

    def mlp(dst: str, src: str) -> None:
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", tensors[f"{src}/ffn/linear_0/weight"], tensors[f"{src}/ffn/linear_0/bias"])
        linear(f"{dst}.mlp.2", tensors[f"{src}/ffn/linear_1/weight"], tensors[f"{src}/ffn/linear_1/bias"])

    n_audio_layer = _layer_count(tensors, "encoder")
    n_text_layer = _layer_count(tensors, "decoder")
    for name in ("conv1", "conv2"):
        linear(f"encoder.{name}", tensors[f"encoder/{name}/weight"], tensors[f"encoder/{name}/bias"])
    sd["encoder.positional_embedding"] = tensors["encoder/position_encodings/encodings"]
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        attention(f"{dst}.attn", f"{src}/self_attention", cross=False)
        mlp(dst, src)
    norm("encoder.ln_post", "encoder/layer_norm")

    sd["decoder.token_embedding.weight"] = tensors["decoder/embeddings/weight"]
    sd["decoder.positional_embedding"] = tensors["decoder/position_encodings/encodings"]
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        attention(f"{dst}.attn", f"{src}/self_attention", cross=False)
        norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        attention(f"{dst}.cross_attn", f"{src}/attention", cross=True)
        mlp(dst, src)
    norm("decoder.ln", "decoder/layer_norm")

    vocab, n_text_state = tensors["decoder/embeddings/weight"].shape
    dims = {
        "n_mels": int(tensors["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(tensors["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(tensors["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(tensors["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(vocab),
        "n_text_ctx": int(tensors["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(n_text_state),
        "n_text_head": int(tensors["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()}
    return {"dims": dims, "model_state_dict": state}


def cached_checkpoint(model_dir: Path, cache_dir: Path) -> Path:
    """Convert `model_dir/model.bin` once; later calls return the saved checkpoint."""
    import torch

    source = Path(model_dir) / "model.bin"
    if not source.is_file():
        raise TranscribeError(f"{source}: no CTranslate2 model.bin there")
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CHECKPOINT_VERSION}"
                         .encode()).hexdigest()[:16]
    target = Path(cache_dir) / "openai-whisper" / f"{key}.pt"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        torch.save(convert(read_ct2(source)), partial)
        partial.replace(target)  # atomic: a crash never leaves a half-written checkpoint
    return target
