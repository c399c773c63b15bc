"""Documents of a corpus as the studio reads them (src/io/corpus*.ts, src/cli/data-files.ts): plain text
split on <|endoftext|> when the file holds one, else on blank lines; JSONL (and .json: one array or JSON
lines) whose values are strings or objects with a text column; each also gzipped; parquet when pyarrow is
installed. Each document has its line ends made \\n and is trimmed; empty ones are dropped. Tokenizing
(the `tokenizers` package) places BOS and EOS where the teacher's tokenizer files say, as
src/io/tokenizer.ts does.
"""
import glob
import gzip
import json
import os
import re

SEPARATOR = "<|endoftext|>"
_BLANK = re.compile(r"\n[ \t\f\v]*\n")
# JavaScript's String.prototype.trim: Unicode white space and the byte-order mark.
_TRIM = "\t\n\v\f\r \u00a0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
SUFFIXES = ((re.compile(r"\.(txt|text|md)$", re.I), "text"), (re.compile(r"\.(jsonl|ndjson)$", re.I), "jsonl"),
            (re.compile(r"\.json$", re.I), "json"), (re.compile(r"\.parquet$", re.I), "parquet"))


class CorpusError(Exception):
    pass


def clean(text):
    return re.sub(r"\r\n?", "\n", text).strip(_TRIM)


def split_documents(text):
    t = re.sub(r"\r\n?", "\n", text)
    parts = t.split(SEPARATOR) if SEPARATOR in t else _BLANK.split(t)
    return [p for p in (x.strip(_TRIM) for x in parts) if p]


def file_format(name):
    gz = name.lower().endswith(".gz")
    base = name[:-3] if gz else name
    for rx, fmt in SUFFIXES:
        if rx.search(base):
            return None if (fmt == "parquet" and gz) else (fmt, gz)
    return None


def corpus_files(paths):
    """The files --data names: files (any other suffix is plain text), folders (their corpus files, in
    path order, plain text beside JSON or parquet left out) and globs."""
    out = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            hits = sorted(h for h in glob.glob(p, recursive=True) if os.path.isfile(h))
            if not hits:
                raise CorpusError(f"--data {p}: the pattern matches no file")
            out.extend(hits)
        elif os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".") and file_format(f)]
            found.sort()
            if any(file_format(f)[0] != "text" for f in found):
                found = [f for f in found if file_format(f)[0] != "text"]
            if not found:
                raise CorpusError(f"--data {p}: the folder holds no corpus file (.txt, .md, .jsonl, .json, .gz, .parquet)")
            out.extend(found)
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise CorpusError(f"cannot read --data {p}: no such file")
    return out


def _text(path, gz):
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        data = f.read()
    nul = data.find(b"\0")
    if nul >= 0:
        raise CorpusError(f"{path} is not a text file (a NUL byte at offset {nul}: it looks like binary data); give plain text or JSONL")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorpusError(f"{path} is not UTF-8 text; give plain text or JSONL in UTF-8") from None


def _record(value, column, where):
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        t = value.get(column)
        if isinstance(t, str):
            return clean(t)
        if column in value and t is None:
            return ""
        if column in value:
            raise CorpusError(f'{where}: "{column}" is not a string')
        raise CorpusError(f'{where}: no "{column}" field (it has {", ".join(repr(k) for k in value) or "none"})')
    raise CorpusError(f'{where}: a JSON {type(value).__name__}, not an object with a "{column}" field')


def read_documents(paths, text_column="text", skip_bad_lines=False, max_docs=None):
    """Every document of the files, in order (the first `max_docs` when given), and notes on what was skipped."""
    docs, skipped = [], []
    for path in corpus_files(paths):
        fmt = file_format(os.path.basename(path)) or ("text", False)
        kind, gz = fmt
        if kind == "text":
            docs.extend(split_documents(_text(path, gz)))
        elif kind == "parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise CorpusError(f"{path}: reading parquet needs pyarrow (or convert it to JSONL)") from None
            col = pq.read_table(path, columns=[text_column]).column(text_column).to_pylist()
            docs.extend(clean(t) for t in col if isinstance(t, str))
        else:
            text = _text(path, gz)
            lines = text.split("\n")
            if kind == "json" and text.lstrip(_TRIM).startswith("["):
                try:
                    records = [(v, 1) for v in json.loads(text)]
                except json.JSONDecodeError as e:
                    raise CorpusError(f"{path}: not valid JSON ({e})") from None
            else:
                records = [(ln, i + 1) for i, ln in enumerate(lines) if ln.strip(_TRIM)]
            for rec, line in records:
                where = f"{path}, line {line}"
                try:
                    value = json.loads(rec) if isinstance(rec, str) else rec
                    docs.append(_record(value, text_column, where))
                except (json.JSONDecodeError, CorpusError) as e:
                    if not skip_bad_lines:
                        raise CorpusError(f"{where}: {e if isinstance(e, CorpusError) else 'not valid JSON'}") from None
                    skipped.append(where)
        docs = [d for d in docs if d]
        if max_docs is not None and len(docs) >= max_docs:
            return docs[:max_docs], skipped
    return docs, skipped


def _template_id(pp, last=False):
    if not isinstance(pp, dict):
        return None
    if pp.get("type") == "Sequence" and isinstance(pp.get("processors"), list):
        for p in pp["processors"]:
            i = _template_id(p, last)
            if i is not None:
                return i
        return None
    single = pp.get("single")
    if pp.get("type") != "TemplateProcessing" or not isinstance(single, list) or not single:
        return None
    first = single[-1] if last else single[0]
    key = (first.get("SpecialToken") or {}).get("id") if isinstance(first, dict) else None
    ids = (pp.get("special_tokens") or {}).get(key, {}).get("ids") if isinstance(key, str) else None
    return ids[0] if isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], int) else None


class DocumentTokenizer:
    """The teacher's tokenizer (the `tokenizers` package) with BOS/EOS placed as TeacherTokenizer does."""

    def __init__(self, folder, bos_fallback=None, eos_fallback=None):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise CorpusError("tokenizing text needs the `tokenizers` package; without it give --data the token store "
                              "`mohawk tokenize --teacher DIR --data FILE --token-cache DIR` writes") from None
        path = os.path.join(folder, "tokenizer.json")
        if not os.path.exists(path):
            raise CorpusError(f"{folder} has no tokenizer.json")
        self.tk = Tokenizer.from_file(path)
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        cp = os.path.join(folder, "tokenizer_config.json")
        cfg = {}
        if os.path.exists(cp):
            with open(cp, encoding="utf-8") as f:
                cfg = json.load(f)

        def id_of(key):
            v = cfg.get(key)
            content = v if isinstance(v, str) else (v.get("content") if isinstance(v, dict) else None)
            if content is None:
                return None
            i = self.tk.token_to_id(content)
            if i is None:
                raise CorpusError(f'tokenizer_config.json: {key} "{content}" is not in the vocabulary')
            return i

        leading = _template_id(tj.get("post_processor"))
        b = id_of("bos_token")
        self.bos = b if b is not None else (bos_fallback if bos_fallback is not None else leading)
        e = id_of("eos_token")
        self.eos = e if e is not None else eos_fallback
        self.adds_bos = cfg["add_bos_token"] if isinstance(cfg.get("add_bos_token"), bool) else (leading is not None and leading == self.bos)
        trailing = _template_id(tj.get("post_processor"), last=True)
        self.adds_eos = cfg["add_eos_token"] if isinstance(cfg.get("add_eos_token"), bool) else (trailing is not None and trailing == self.eos)
        if self.adds_bos and self.bos is None:
            raise CorpusError("tokenizer_config.json: add_bos_token is set but no BOS token is named")
        if self.adds_eos and self.eos is None:
            raise CorpusError("tokenizer_config.json: add_eos_token is set but no EOS token is named")

    def encode_documents(self, texts):
        out = []
        for enc in self.tk.encode_batch(list(texts), add_special_tokens=False):
            ids = list(enc.ids)
            out.append(([self.bos] if self.adds_bos else []) + ids + ([self.eos] if self.adds_eos else []))
        return out
