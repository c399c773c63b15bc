"""Safetensors read and written over numpy and torch alone (CI has neither the safetensors package nor
transformers): F32, F16 and BF16 tensors, one file or a sharded checkpoint (model.safetensors.index.json).

The header is checked whole before a tensor is read, as src/io/safetensors.ts does: a bad offset is a
named error, not garbage weights. Files are memory-mapped, so a multi-gigabyte teacher is read tensor by
tensor. Writing follows the studio's safetensorsParts byte for byte (F32, the header padded with spaces to
a multiple of 8, tensors in the order given), so a file either side writes the other reads.
"""
import json
import os
import struct

import numpy as np
import torch

DTYPES = {"F32": (4, np.float32), "F16": (2, np.float16), "BF16": (2, np.int16)}
MAX_HEADER_BYTES = 100_000_000


class SafetensorsError(Exception):
    pass


class SafetensorsFile:
    """One .safetensors file: `tensors` maps each name to (dtype, shape); `metadata` is the header's."""

    def __init__(self, path):
        self.path = path
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise SafetensorsError(f"{path} is not a safetensors file: {size} bytes")
            n = struct.unpack("<Q", head)[0]
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise SafetensorsError(f"{path} is not a safetensors file (or is truncated): header of {n} bytes in a file of {size}")
            try:
                header = json.loads(f.read(n).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise SafetensorsError(f"{path} is not a safetensors file: its header is not JSON ({e})") from None
        if not isinstance(header, dict):
            raise SafetensorsError(f"{path}: the header is not a JSON object")
        self.metadata = header.pop("__metadata__", None) or {}
        self.data_start = 8 + n
        self.tensors = {}
        self._offsets = {}
        for name, info in header.items():
            dt = info.get("dtype") if isinstance(info, dict) else None
            if dt not in DTYPES:
                raise SafetensorsError(f"{path}: tensor {name} has dtype {dt!r}; F32, F16 and BF16 are read")
            shape = info.get("shape")
            offs = info.get("data_offsets")
            if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
                raise SafetensorsError(f"{path}: tensor {name} has shape {shape!r}")
            count = int(np.prod(shape)) if shape else 1
            if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)
                    and 0 <= offs[0] <= offs[1] and offs[1] - offs[0] == count * DTYPES[dt][0]):
                raise SafetensorsError(f"{path}: tensor {name} ({dt} {shape}) has data_offsets {offs!r}")
            if self.data_start + offs[1] > size:
                raise SafetensorsError(f"{path} is truncated: tensor {name} ends at byte {self.data_start + offs[1]} of {size}")
            self.tensors[name] = (dt, list(shape))
            self._offsets[name] = offs
        self._map = None

    def header_bytes(self):
        """The first 8 + N bytes (what the studio's teacher fingerprint reads)."""
        with open(self.path, "rb") as f:
            return f.read(self.data_start)

    def get(self, name):
        """The tensor as stored (torch float32, float16 or bfloat16), a copy independent of the file."""
        dt, shape = self.tensors[name]
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        b, e = self._offsets[name]
        raw = np.array(self._map[self.data_start + b: self.data_start + e])
        arr = raw.view(DTYPES[dt][1]).reshape(shape)
        t = torch.from_numpy(arr)
        return t.view(torch.bfloat16) if dt == "BF16" else t


class Checkpoint:
    """The tensors of a folder: model.safetensors.index.json (sharded), model.safetensors, or the only
    .safetensors file; `names` maps each tensor to (dtype, shape)."""

    def __init__(self, folder):
        files = sorted(os.listdir(folder))
        index = "model.safetensors.index.json"
        self.files = {}
        self.owner = {}
        if index in files:
            with open(os.path.join(folder, index)) as f:
                wm = json.load(f).get("weight_map")
            if not isinstance(wm, dict) or not wm:
                raise SafetensorsError(f"{folder}/{index}: weight_map is missing or empty")
            for tensor, file in wm.items():
                if file not in self.files:
                    if "/" in file or file not in files:
                        raise SafetensorsError(f"{folder}/{index}: shard {file!r} (for {tensor}) is not in the folder")
                    self.files[file] = SafetensorsFile(os.path.join(folder, file))
                if tensor not in self.files[file].tensors:
                    raise SafetensorsError(f"{folder}/{index}: {tensor} is mapped to {file}, which does not hold it")
                self.owner[tensor] = self.files[file]
        else:
            st = [n for n in files if n.endswith(".safetensors")]
            pick = "model.safetensors" if "model.safetensors" in st else (st[0] if len(st) == 1 else None)
            if pick is None:
                raise SafetensorsError(f"{folder}: no model.safetensors (nor one .safetensors file, nor {index}); found {st or 'none'}")
            self.files[pick] = SafetensorsFile(os.path.join(folder, pick))
            self.owner = {n: self.files[pick] for n in self.files[pick].tensors}
        self.names = {n: f.tensors[n] for n, f in self.owner.items()}

    def get(self, name):
        if name not in self.owner:
            raise SafetensorsError(f"the checkpoint has no tensor {name}")
        return self.owner[name].get(name)


def write_f32(path, tensors, metadata=None):
    """`tensors`: (name, tensor) pairs, written as F32 in that order, as the studio's safetensorsParts."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    arrays = []
    for name, t in tensors:
        if name == "__metadata__" or name in header:
            raise SafetensorsError(f"write: duplicate or reserved name {name!r}")
        a = np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy()).astype("<f4", copy=False)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.partial-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays:
            f.write(memoryview(a.reshape(-1)).cast("B"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return os.path.getsize(path)
