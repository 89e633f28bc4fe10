"""Resemblyzer's speaker encoder without torch: its weights read from the wheel, run by onnxruntime.

The network is small (three LSTM layers 40 -> 256, a 256 -> 256 linear layer, ReLU, unit
length), but running it through torch cost the driver process torch itself: about 250 MB
resident and seconds of import, next to an engine process that already holds its own model.
onnxruntime is already installed (faster-whisper's VAD runs on it); on one thread it costs
about what torch does (4.8-5.1 ms of CPU against 5.0 ms per 1.6 s partial in batches of 32; the
60-minute bench episode's 1094 stretches, mel included, 21.5 s against 19.8 s), its import 0.2 s
against torch's 2.2 s, and it gives the same embeddings (within 1e-6; tests/test_speakers.py
compares them with resemblyzer's own encoder).

`pretrained.pt` is in torch's legacy format: a pickle whose tensors point at raw storages that
follow it in the file. `_read_checkpoint` unpickles only what that format needs (an ordered dict
and tensors), so nothing in the file can run code, and needs no torch. The ONNX model is written
here with a few lines of protobuf encoding, so the `onnx` package is not needed either.
"""

from __future__ import annotations

import collections
import functools
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

HIDDEN = 256
LAYERS = 3
N_MELS = 40
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch's legacy serialization format
_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "LongStorage": np.int64, "IntStorage": np.int32}
# torch orders an LSTM's gates i, f, g, o; ONNX i, o, f, c (c is torch's g)
_ONNX_GATES = np.r_[0:HIDDEN, 3 * HIDDEN : 4 * HIDDEN, HIDDEN : 2 * HIDDEN, 2 * HIDDEN : 3 * HIDDEN]


class VoiceEncoder:
    """`encoder(mels)`: (batch, frames, 40) mel power -> (batch, 256) unit-length embeddings."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        # One thread: this small LSTM gains nothing from more, and with the cores busy (Whisper,
        # other jobs) spinning worker threads made the torch version ten times slower.
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # No arena: it grew by ~20 MB a batch and kept all of it (350 MB after six batches).
        opts.enable_cpu_mem_arena = False
        opts.enable_mem_pattern = False
        self.session = onnxruntime.InferenceSession(_onnx_model(weights), opts,
                                                    providers=["CPUExecutionProvider"])
        self.linear_w = np.ascontiguousarray(weights["linear.weight"].T, dtype=np.float32)
        self.linear_b = weights["linear.bias"].astype(np.float32)

    def __call__(self, mels: np.ndarray) -> np.ndarray:
        time_major = np.ascontiguousarray(np.asarray(mels, dtype=np.float32).transpose(1, 0, 2))
        (hidden,) = self.session.run(["hidden"], {"mels": time_major})
        raw = np.maximum(hidden[0] @ self.linear_w + self.linear_b, 0)
        return np.asarray(raw / np.linalg.norm(raw, axis=1, keepdims=True), dtype=np.float32)


@functools.lru_cache(maxsize=1)
def load() -> VoiceEncoder:
    """The encoder with resemblyzer's bundled weights (the wheel is installed for them alone)."""
    return VoiceEncoder(read_weights(weights_path()))


def weights_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        raise ConfigError("speaker labels need resemblyzer's encoder weights: pip install --no-deps resemblyzer==0.1.4")
    return Path(spec.origin).parent / "pretrained.pt"


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """The `model_state` tensors of a legacy-format torch checkpoint, as numpy arrays."""
    state: dict[str, np.ndarray] = _read_checkpoint(path)["model_state"]
    return state


class _Storage:
    def __init__(self, dtype: Any, numel: int) -> None:
        self.dtype, self.numel = np.dtype(dtype), numel
        self.data = np.zeros(0, self.dtype)


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        item = self.storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(self.storage.data[self.offset :], self.size,
                                               [s * item for s in self.stride])
        return view.copy()


def _rebuild_tensor(storage: _Storage, offset: int, size: Any, stride: Any, *_: Any) -> _Tensor:
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Only an ordered dict, tensors and their storages: anything else in the file is refused."""

    def __init__(self, fh: Any, storages: dict[str, _Storage]) -> None:
        super().__init__(fh)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return name
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, numel, view = pid
        if kind != "storage" or view is not None or storage_type not in _STORAGES:
            raise pickle.UnpicklingError(f"unexpected storage record {pid[:2]!r}")
        return self.storages.setdefault(key, _Storage(_STORAGES[storage_type], numel))


def _read_checkpoint(path: Path) -> Any:
    def tensors(obj: Any) -> Any:
        if isinstance(obj, _Tensor):
            return obj.array()
        if isinstance(obj, dict):
            return {k: tensors(v) for k, v in obj.items()}
        return obj

    try:
        with open(path, "rb") as fh:
            if pickle.load(fh) != LEGACY_MAGIC:
                raise ValueError("not a legacy-format torch file")
            pickle.load(fh)  # protocol version
            pickle.load(fh)  # the writer's type sizes
            storages: dict[str, _Storage] = {}
            obj = _Unpickler(fh, storages).load()
            for key in pickle.load(fh):
                storage = storages[key]
                (numel,) = struct.unpack("<q", fh.read(8))
                raw = fh.read(numel * storage.dtype.itemsize)
                if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
                    raise ValueError(f"storage {key} is truncated")
                storage.data = np.frombuffer(raw, dtype=storage.dtype)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, struct.error, EOFError) as exc:
        raise ConfigError(f"{path}: cannot read the speaker encoder's weights: {exc}") from exc
    return tensors(obj)


# ---- the ONNX model, encoded by hand --------------------------------------------------------

def _onnx_model(weights: dict[str, np.ndarray]) -> bytes:
    """Three ONNX LSTM nodes in a row; the last one's final hidden state is the output."""
    nodes, inits = [], []
    x = "mels"
    for n in range(LAYERS):
        w = weights[f"lstm.weight_ih_l{n}"][_ONNX_GATES][None]
        r = weights[f"lstm.weight_hh_l{n}"][_ONNX_GATES][None]
        b = np.concatenate([weights[f"lstm.bias_ih_l{n}"][_ONNX_GATES],
                            weights[f"lstm.bias_hh_l{n}"][_ONNX_GATES]])[None]
        inits += [_tensor(f"W{n}", w), _tensor(f"R{n}", r), _tensor(f"B{n}", b)]
        last = n == LAYERS - 1
        # the last layer's sequence output is not needed: "" leaves it out
        outputs = ["", "hidden"] if last else [f"Y{n}", f"H{n}"]
        nodes.append(_node("LSTM", [x, f"W{n}", f"R{n}", f"B{n}"], outputs, _attr_int("hidden_size", HIDDEN)))
        if not last:  # Y is (frames, directions = 1, batch, hidden): drop the directions
            x = f"X{n + 1}"
            nodes.append(_node("Reshape", [f"Y{n}", "shape"], [x]))
    inits.append(_tensor("shape", np.array([0, -1, HIDDEN], np.int64)))
    graph = (b"".join(_field(1, node) for node in nodes) + _field(2, "voice_encoder")
             + b"".join(_field(5, t) for t in inits)
             + _field(11, _value_info("mels", ["frames", "batch", N_MELS]))
             + _field(12, _value_info("hidden", [1, "batch", HIDDEN])))
    # ir_version 7, the graph, opset 13 of the default domain
    return _varint_field(1, 7) + _field(7, graph) + _field(8, _field(1, "") + _varint_field(2, 13))


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | 0x80 if n else low)
        if not n:
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field(number: int, data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def _tensor(name: str, array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    data_type = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}[array.dtype]
    return (b"".join(_varint_field(1, d) for d in array.shape) + _varint_field(2, data_type)
            + _field(8, name) + _field(9, array.tobytes()))


def _value_info(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(_field(1, _varint_field(1, d) if isinstance(d, int) else _field(2, d)) for d in dims)
    return _field(1, name) + _field(2, _field(1, _varint_field(1, 1) + _field(2, shape)))


def _node(op: str, inputs: list[str], outputs: list[str], attributes: bytes = b"") -> bytes:
    return (b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs)
            + _field(4, op) + attributes)


def _attr_int(name: str, value: int) -> bytes:
    return _field(5, _field(1, name) + _varint_field(3, value) + _varint_field(20, 2))  # type INT
