"""The tokenized corpus and the windows each step trains on, as the studio draws them.

A token store is the folder `mohawk tokenize` / `mohawk distill` keep under --token-cache (src/io/
token-cache.ts): ids.bin (u16, or u32 for vocabularies over 65,536, little-endian), ends.bin (f64 end of
each document), meta.json {"version": 1, "wide", "tokens", "documents", ...}. This package reads and writes
the same layout, so a corpus tokenized once serves both engines.

The split and the sampler are src/mohawk/corpus-split.ts and token-stream.ts: 'whole' holds out the last
documents, 'streaming' one document in every 1/f spread over the corpus with each stage sampling from a
prefix of 4 × the tokens the plan trains through it; the sampler is the same xorshift32 from the plan's
seed, so the same store and plan give the same windows, step by step, on either side.
"""
import json
import os
import time

import numpy as np

STORE_VERSION = 1
STREAM_BYTES = 64 * 2 ** 20
STREAM_PREFIX_FACTOR = 4


class StoreError(Exception):
    pass


class TokenStore:
    def __init__(self, ids, ends):
        self.ids = ids  # np.uint16 or np.uint32 (memory-mapped when read)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.tokens = int(self.ends[-1]) if len(self.ends) else 0
        if len(ids) != self.tokens:
            raise StoreError(f"the token store holds {len(ids)} ids but its documents end at {self.tokens}")

    @property
    def documents(self):
        return len(self.ends)

    def doc_start(self, i):
        return 0 if i == 0 else int(self.ends[i - 1])

    def doc_end(self, i):
        return int(self.ends[i])

    def cut(self, docs):
        """The first `docs` documents."""
        if docs is None or docs >= self.documents:
            return self
        return TokenStore(self.ids[: int(self.ends[docs - 1])], self.ends[:docs])


def is_store(path):
    return all(os.path.isfile(os.path.join(path, f)) for f in ("meta.json", "ids.bin", "ends.bin"))


def find_store(path):
    """`path` itself when it is a store, else the one store among its subfolders (a --token-cache folder)."""
    if is_store(path):
        return path
    subs = sorted(os.path.join(path, d) for d in os.listdir(path) if is_store(os.path.join(path, d)))
    if len(subs) == 1:
        return subs[0]
    if not subs:
        raise StoreError(f"{path} is neither a token store (meta.json, ids.bin, ends.bin) nor a folder holding one")
    listing = "; ".join(f"{s} ({json.load(open(os.path.join(s, 'meta.json'))).get('documents')} documents)" for s in subs)
    raise StoreError(f"{path} holds {len(subs)} token stores: give one of them to --data ({listing})")


def read_store(path):
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    if meta.get("version") != STORE_VERSION or not isinstance(meta.get("wide"), bool):
        raise StoreError(f"{path}/meta.json: version {meta.get('version')!r} is not a token store this package reads ({STORE_VERSION})")
    dt = np.dtype("<u4") if meta["wide"] else np.dtype("<u2")
    size = os.path.getsize(os.path.join(path, "ids.bin"))
    if size != meta["tokens"] * dt.itemsize:
        raise StoreError(f"{path}/ids.bin holds {size} bytes, meta.json says {meta['tokens']} tokens")
    ids = np.memmap(os.path.join(path, "ids.bin"), dtype=dt, mode="r") if size else np.zeros(0, dt)
    ends = np.fromfile(os.path.join(path, "ends.bin"), dtype="<f8")
    if len(ends) != meta["documents"]:
        raise StoreError(f"{path}/ends.bin holds {len(ends)} document ends, meta.json says {meta['documents']}")
    return TokenStore(ids, ends.astype(np.int64))


def write_store(path, docs, vocab, notes=()):
    """Documents (lists of ids) as a store the studio reads too; written whole, then renamed into place."""
    wide = vocab > 65536
    dt = np.dtype("<u4") if wide else np.dtype("<u2")
    tmp = f"{path}.part-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    with open(os.path.join(tmp, "ids.bin"), "wb") as f:
        for d in docs:
            f.write(np.asarray(d, dtype=dt).tobytes())
    np.cumsum(lengths).astype("<f8").tofile(os.path.join(tmp, "ends.bin"))
    meta = {"version": STORE_VERSION, "wide": wide, "tokens": int(lengths.sum()), "documents": len(docs),
            "info": {"notes": list(notes)}, "savedAt": int(time.time() * 1000)}
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump(meta, f)
    if os.path.exists(path):
        import shutil
        shutil.rmtree(path)
    os.replace(tmp, path)


class WholeSplit:
    mode = "whole"

    def __init__(self, store, held_out):
        n = store.documents
        self.store = store
        self.held = max(1, int(np.floor(n * held_out))) if n > 1 else 0
        self.train_docs = n - self.held
        self.train_tokens = store.doc_start(self.train_docs)

    def held_out_doc(self, i):
        return self.train_docs + i

    @property
    def held_out_count(self):
        return self.held

    def train_doc_list(self, limit):
        for d in range(self.train_docs):
            if self.store.doc_end(d) > limit:
                return
            yield d

    def copy_train(self, start, length, out):
        if start + length > self.train_tokens:
            raise IndexError(f"training tokens end at {self.train_tokens}")
        out[:] = self.store.ids[start:start + length]


class SpreadSplit:
    """Document i is held out when floor((i+1)·f) > floor(i·f)."""
    mode = "streaming"

    def __init__(self, store, fraction):
        if not (0 < fraction <= 0.5):
            raise ValueError(f"a held-out fraction spread over the corpus must be in (0, 0.5], not {fraction}")
        self.store, self.f = store, fraction
        n = store.documents
        idx = np.arange(n + 1, dtype=np.float64)
        before = np.floor(idx * fraction).astype(np.int64)  # held-out documents among the first i
        self.is_held = before[1:] > before[:-1]
        lengths = np.diff(np.concatenate([[0], store.ends]))
        held_cum = np.concatenate([[0], np.cumsum(np.where(self.is_held, lengths, 0))])
        starts = np.concatenate([[0], store.ends[:-1]]) if n else np.zeros(0, np.int64)
        # Where each document (n: the end) starts in the training sequence.
        self.train_start = np.concatenate([starts, [store.tokens]]) - held_cum
        self.held_ids = np.nonzero(self.is_held)[0]
        self.train_tokens = int(self.train_start[n])
        self.train_idx = np.nonzero(~self.is_held)[0]

    def held_out_doc(self, i):
        return int(self.held_ids[i])

    @property
    def held_out_count(self):
        return len(self.held_ids)

    def train_doc_list(self, limit):
        s = self.store
        for i in self.train_idx:
            if s.doc_end(i) - s.doc_start(i) + int(self.train_start[i]) > limit:
                return
            yield int(i)

    def copy_train(self, start, length, out):
        if start < 0 or start + length > self.train_tokens:
            raise IndexError(f"training tokens end at {self.train_tokens}")
        k = int(np.searchsorted(self.train_start[self.train_idx], start, side="right")) - 1
        done, off = 0, start - int(self.train_start[self.train_idx[k]])
        while done < length:
            i = int(self.train_idx[k])
            b = self.store.doc_start(i) + off
            n = max(0, min(length - done, self.store.doc_end(i) - b))
            out[done:done + n] = self.store.ids[b:b + n]
            done += n
            off = 0
            k += 1


def stage_prefixes(plan):
    out, through = {1: 0, 2: 0, 3: 0}, 0
    for s in plan.stages:
        through += plan.steps[s] * plan.tokens_per_step
        out[s] = STREAM_PREFIX_FACTOR * through
    return out


class Sampler:
    """TokenStream.sample: `batch` windows of L training tokens at offsets from xorshift32."""

    def __init__(self, split, plan):
        self.split, self.plan = split, plan
        self.seed = ((0x2545F491 + ((plan.seed - 1) * 0x9E3779B9)) & 0xFFFFFFFF) or 0x2545F491
        self.prefixes = stage_prefixes(plan)
        self.limit = split.train_tokens if split.mode == "whole" else None
        self.within = None
        if plan.packing == "within" and split.mode == "whole":
            self.within = self._within_table(plan.seq_len, self.limit, None)

    def _within_table(self, L, limit, stage):
        docs, cum, total = [], [], 0
        st = self.split.store
        for d in self.split.train_doc_list(limit):
            n = st.doc_end(d) - st.doc_start(d)
            if n < L:
                continue
            total += n - L + 1
            docs.append(d)
            cum.append(total)
        if total == 0:
            where = "training document" if stage is None else f"training document of stage {stage}'s first {limit} training tokens"
            raise ValueError(f"no {where} has {L} tokens: no sequence fits within one")
        return np.array(docs, dtype=np.int64), np.array(cum, dtype=np.int64)

    def enter_stage(self, stage):
        if self.split.mode == "whole":
            return
        L = self.plan.seq_len
        limit = min(self.prefixes[stage], self.split.train_tokens)
        if L + 1 > limit:
            raise ValueError(f"plan: the corpus has {limit} training tokens, fewer than one sequence of {L}")
        self.limit = limit
        if self.plan.packing == "within":
            self.within = self._within_table(L, limit, stage)

    def _next(self):
        s = self.seed
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.seed = s
        return s

    def skip(self, sequences):
        for _ in range(sequences):
            self._next()
        return self

    def sample(self, batch, L):
        if self.limit is None:
            raise RuntimeError("a streaming corpus is sampled only within a stage (enter_stage)")
        top = self.limit - L
        if top < 0:
            raise ValueError(f"need {L} tokens per sequence, the corpus has {self.limit}")
        out = np.empty((batch, L), dtype=np.int64)
        st = self.split.store
        for b in range(batch):
            r = self._next()
            if self.within is not None:
                docs, cum = self.within
                x = r % int(cum[-1])
                lo = int(np.searchsorted(cum, x, side="right"))
                start = st.doc_start(int(docs[lo])) + x - (int(cum[lo - 1]) if lo > 0 else 0)
                out[b] = st.ids[start:start + L]
            else:
                self.split.copy_train(r % (top + 1), L, out[b])
        return out
