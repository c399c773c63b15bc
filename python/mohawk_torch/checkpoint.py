"""Checkpoints in the studio's own format (src/mohawk/checkpoint.ts), so that either engine resumes what
the other saved: OUT/checkpoint/ holds
    student.safetensors    the parameters by canonical name (F32)
    optimizer.safetensors  AdamW's moments "m" and "v", flat, in the parameters' layout
    state.json             {"format": "mohawk-checkpoint", "version": 1, id, savedAt, files (byte sizes),
                           size, layout [{name, offset, shape}], state (the run: stage, step, plan, ...)}
The layout is FlatParams's (src/models/params.ts): the held tensors in studentShapes order, each starting
on a multiple of 64 floats. state.json is removed first and written last, and both tensor files carry the
id it names, so a save cut short is never taken for a checkpoint.
"""
import json
import os
import time
import uuid

import numpy as np
import torch

from .safetensors_io import SafetensorsFile, write_f32

STATE, STUDENT, OPTIMIZER = "state.json", "student.safetensors", "optimizer.safetensors"
FORMAT, VERSION = "mohawk-checkpoint", 1
ALIGN = 64


class CheckpointError(Exception):
    pass


def layout(shapes):
    """{name: (offset, shape)} and the flat size, as FlatParams.of(shapes) lays them out."""
    out, total = {}, 0
    for n, shape in shapes.items():
        count = int(np.prod(shape)) if shape else 1
        out[n] = (total, list(shape))
        total += -(-count // ALIGN) * ALIGN
    return out, total


def flat(values, lay, size):
    buf = torch.zeros(size, dtype=torch.float32)
    for n, (off, shape) in lay.items():
        t = values[n].reshape(-1)
        buf[off: off + t.numel()] = t.to(torch.float32)
    return buf


def save(folder, params, m, v, shapes, state):
    """params, m, v: {name: tensor} over `shapes` (the held tensors, studentShapes order)."""
    lay, size = layout(shapes)
    cid = str(uuid.uuid4())
    meta = {"format": "pt", "producer": "mohawk-studio", "checkpoint": cid}
    os.makedirs(folder, exist_ok=True)
    st = os.path.join(folder, STATE)
    if os.path.exists(st):
        os.remove(st)
    sizes = {
        STUDENT: write_f32(os.path.join(folder, STUDENT), [(n, params[n].reshape(s)) for n, s in shapes.items()], meta),
        OPTIMIZER: write_f32(os.path.join(folder, OPTIMIZER), [("m", flat(m, lay, size)), ("v", flat(v, lay, size))], meta),
    }
    doc = {"format": FORMAT, "version": VERSION, "id": cid, "savedAt": int(time.time() * 1000), "files": sizes, "size": size,
           "layout": [{"name": n, "offset": off, "shape": shape} for n, (off, shape) in lay.items()], "state": state}
    tmp = f"{st}.partial-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, st)


def peek(folder):
    """The run state of the checkpoint in `folder`, or None without one."""
    p = os.path.join(folder, STATE)
    if not os.path.exists(p):
        return None
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def load(folder):
    """(state, params, m, v) with each a {name: f32 tensor}; CheckpointError says what is wrong."""
    doc = peek(folder)
    if doc is None:
        return None

    def fail(msg):
        raise CheckpointError(f"checkpoint {folder}: {msg}")

    if doc.get("format") != FORMAT:
        fail(f'{STATE}: format {doc.get("format")!r} is not "{FORMAT}"')
    if doc.get("version") != VERSION:
        fail(f"{STATE}: version {doc.get('version')!r} is not {VERSION}")
    size = doc.get("size")
    files = {}
    for name in (STUDENT, OPTIMIZER):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            fail(f"{name} is missing although {STATE} names it")
        if os.path.getsize(path) != doc["files"].get(name):
            fail(f"{name} holds {os.path.getsize(path)} bytes, {STATE} says {doc['files'].get(name)} (truncated or from another save)")
        f = SafetensorsFile(path)
        if f.metadata.get("checkpoint") != doc.get("id"):
            fail(f"{name} belongs to another save (id {f.metadata.get('checkpoint')}, {STATE} says {doc.get('id')})")
        files[name] = f
    params, m, v = {}, {}, {}
    mm, vv = files[OPTIMIZER].get("m"), files[OPTIMIZER].get("v")
    if mm.numel() != size or vv.numel() != size:
        fail(f"{OPTIMIZER}: moments of {mm.numel()} floats, the layout has {size}")
    for e in doc["layout"]:
        n, off, shape = e["name"], e["offset"], e["shape"]
        if n not in files[STUDENT].tensors:
            fail(f"{STUDENT} lacks parameter {n}")
        t = files[STUDENT].get(n).to(torch.float32)
        if list(t.shape) != list(shape):
            fail(f"{STUDENT}: {n} has shape {list(t.shape)}, {STATE} says {shape}")
        count = t.numel()
        params[n] = t
        m[n] = mm[off: off + count].reshape(shape).clone()
        v[n] = vv[off: off + count].reshape(shape).clone()
    return doc["state"], params, m, v
