"""The pieces that must match the studio value for value: its seeded normal draw, its sampler, the WSD
schedule, plan files, safetensors, the checkpoint layout, the SSD (chunked and as a matrix) against the
plain recurrence, and the teacher against transformers' logits for every family."""
import json
import math
import os
import tempfile
import unittest

import numpy as np
import torch

from helpers import FAMILIES, FIXTURES, load_json, plan_file, random_store
from mohawk_torch import checkpoint as ck
from mohawk_torch import ssd
from mohawk_torch.plan import PlanError, read_plan_file, wsd
from mohawk_torch.safetensors_io import Checkpoint, SafetensorsFile, write_f32
from mohawk_torch.student_init import normal
from mohawk_torch.teacher import Teacher
from mohawk_torch.tokens import Sampler, SpreadSplit, WholeSplit, read_store


class Draws(unittest.TestCase):
    def test_normal_is_the_studios(self):
        # src/models/params.ts normal(1001, 0.5, 12345) under Node gives these first four values.
        a = normal(1001, 0.5, 12345)
        self.assertEqual(a[:4].tolist(), [-0.28093236684799194, 0.2174256443977356, -0.44131678342819214, 0.12732578814029694])
        # A tail is the same drawn by jumping ahead as by walking there.
        self.assertTrue(np.array_equal(a[601:], normal(1001, 0.5, 12345, start=601)))
        self.assertTrue(np.array_equal(a[600:], normal(1001, 0.5, 12345, start=600)))

    def test_wsd(self):
        self.assertEqual([wsd(k, 10, 0.2, 0.2) for k in (1, 2, 3, 8, 9, 10)], [0.5, 1.0, 1.0, 1.0, 1 - 0.9 * 0.5, 1 - 0.9])
        # Math.round rounds halves up: 10 × 0.05 = 0.5 warms up over one step, 30 × 0.05 = 1.5 over two.
        self.assertEqual(wsd(1, 10, 0.05, 0), 1.0)
        self.assertEqual(wsd(1, 30, 0.05, 0), 0.5)

    def test_sampler_whole_and_streaming(self):
        with tempfile.TemporaryDirectory() as d:
            store = read_store(random_store(os.path.join(d, "s"), docs=20))
            plan, *_ = read_plan_file(plan_file(os.path.join(d, "p.json"), seed=3))
            split = WholeSplit(store, 0.1)
            self.assertEqual(split.held_out_count, 2)
            s = Sampler(split, plan)
            # The xorshift stream from seed 3: 0x2545f491 + 2·0x9e3779b9 (mod 2³²), then x ^= x<<13, x>>17, x<<5.
            x = (0x2545F491 + 2 * 0x9E3779B9) & 0xFFFFFFFF
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            w = s.sample(1, 32)
            start = x % (split.train_tokens - 32 + 1)
            self.assertEqual(w[0].tolist(), store.ids[start:start + 32].astype(int).tolist())
            s2 = Sampler(split, plan).skip(1)
            s.sample(2, 32)
            self.assertEqual(s.sample(1, 32).tolist(), Sampler(split, plan).skip(3).sample(1, 32).tolist())
            self.assertNotEqual(s2.seed, Sampler(split, plan).seed)
            # Streaming: one document in ten held out, spread; training windows never hold a held-out one.
            sp = SpreadSplit(store, 0.1)
            self.assertEqual(sp.held_out_count, 2)
            held = {sp.held_out_doc(i) for i in range(2)}
            self.assertEqual(held, {9, 19})
            train = np.concatenate([store.ids[store.doc_start(i):store.doc_end(i)] for i in range(20) if i not in held])
            out = np.empty(50, dtype=np.int64)
            for start in (0, 7, 300, sp.train_tokens - 50):
                sp.copy_train(start, 50, out)
                self.assertEqual(out.tolist(), train[start:start + 50].astype(int).tolist())


class Files(unittest.TestCase):
    def test_plan_file_errors_are_named(self):
        with tempfile.TemporaryDirectory() as d:
            p, *_ = read_plan_file(plan_file(os.path.join(d, "a.json")))
            self.assertEqual(p.steps, {1: 2, 2: 2, 3: 2})
            for over, msg in (({"seq_len": 1}, "plan.seq_len"), ({"packing": "no"}, "plan.packing"),
                              ({"stages": [4]}, "plan.stages"), ({"lr": {"1": 2, "2": 1e-3, "3": 1e-3}}, "plan.lr")):
                with self.assertRaisesRegex(PlanError, msg):
                    read_plan_file(plan_file(os.path.join(d, "b.json"), **over))

    def test_safetensors_roundtrip_and_checkpoint_layout(self):
        with tempfile.TemporaryDirectory() as d:
            t = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1.5])}
            write_f32(os.path.join(d, "x.safetensors"), list(t.items()), {"k": "v"})
            f = SafetensorsFile(os.path.join(d, "x.safetensors"))
            self.assertEqual(f.metadata, {"k": "v"})
            self.assertTrue(torch.equal(f.get("a"), t["a"]))
            self.assertEqual(f.data_start % 8, 0)
            lay, size = ck.layout({"a": [2, 3], "b": [1], "c": [70]})
            self.assertEqual((lay["a"][0], lay["b"][0], lay["c"][0], size), (0, 64, 128, 256))

    def test_bf16_checkpoint_reads_exactly(self):
        c = Checkpoint(os.path.join(FIXTURES, "llama-bf16"))
        w = c.get("model.embed_tokens.weight")
        self.assertEqual(w.dtype, torch.bfloat16)
        self.assertTrue(torch.isfinite(w.float()).all())


class Ssd(unittest.TestCase):
    def test_chunked_and_matrix_equal_the_recurrence(self):
        g = torch.Generator().manual_seed(0)
        b, L, h, p, n = 2, 13, 3, 4, 5
        X = torch.randn(b, L, h, p, generator=g, dtype=torch.float64)
        A = -torch.rand(b, L, h, generator=g, dtype=torch.float64)
        B = torch.randn(b, L, h, n, generator=g, dtype=torch.float64)
        C = torch.randn(b, L, h, n, generator=g, dtype=torch.float64)
        S = torch.zeros(b, h, p, n, dtype=torch.float64)
        ys = []
        for t in range(L):
            S = A[:, t, :, None, None].exp() * S + X[:, t, :, :, None] * B[:, t, :, None, :]
            ys.append(torch.einsum("bhpn,bhn->bhp", S, C[:, t]))
        ref = torch.stack(ys, 1)
        for chunk in (1, 4, 5, 13, 16):
            self.assertLess((ssd.chunked(X, A, B, C, chunk) - ref).abs().max().item(), 1e-12, chunk)
        M = ssd.matrix(A, B, C)  # (b, h, L, L)
        self.assertLess((torch.einsum("bhij,bjhp->bihp", M, X) - ref).abs().max().item(), 1e-12)


class Teachers(unittest.TestCase):
    def test_plain_teacher_gives_transformers_logits_for_every_family(self):
        for fx in FAMILIES:
            d = os.path.join(FIXTURES, fx)
            exp = load_json(os.path.join(d, "expected.json"))
            ref = SafetensorsFile(os.path.join(d, "expected_logits.safetensors")).get("logits")
            t = Teacher(d, torch.device("cpu"), "own")
            lg = t.logits(torch.tensor(exp["input_ids"]))
            self.assertLess(((lg - ref).abs().max() / ref.abs().max()).item(), 3e-6, fx)

    @unittest.skipUnless(__import__("importlib").util.find_spec("transformers"), "transformers is not installed")
    def test_transformers_teacher_taps_equal_the_plain_ones(self):
        for fx in FAMILIES:
            d = os.path.join(FIXTURES, fx)
            ids = torch.tensor(load_json(os.path.join(d, "expected.json"))["input_ids"])
            got = {}
            for impl in ("own", "hf"):
                rec = []
                Teacher(d, torch.device("cpu"), impl).taps(ids, lambda l, u, p, m: rec.append((u, p, m)), probs=True)
                got[impl] = rec
            for (u1, p1, m1), (u2, p2, m2) in zip(got["own"], got["hf"]):
                for x, y in ((u1, u2), (p1, p2), (m1, m2)):
                    self.assertLess(((x - y).abs().max() / y.abs().max()).item(), 1e-5, fx)


if __name__ == "__main__":
    unittest.main()
