"""Against the studio itself (`node bin/mohawk.mjs`, WebGPU on SwiftShader here): from the same plan file,
token store and seed, the studio and this trainer give the same loss at every step of every stage; the
studio resumes this trainer's checkpoint and goes on as this trainer does; `mohawk eval` loads the
exported student and measures the NLL this trainer measures. Skipped without node."""
import os
import shutil
import subprocess
import tempfile
import unittest

import torch

from helpers import FIXTURES, ROOT, json_lines, load_json, run_distill
from mohawk_torch.model import MixerShape, Model, mean_nll
from mohawk_torch.config import parse_config
from mohawk_torch.safetensors_io import SafetensorsFile
from mohawk_torch.tokens import find_store, read_store

NODE = shutil.which("node")
TEACHER = os.path.join(FIXTURES, "gpt2")
PLAN_FLAGS = ["--tokens", "1:128,2:128,3:128", "--seq", "32", "--batch", "2"]


def mohawk(*args, timeout=600):
    r = subprocess.run([NODE, os.path.join(ROOT, "bin", "mohawk.mjs"), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b))


@unittest.skipUnless(NODE, "node is not installed")
class Studio(unittest.TestCase):
    def test_same_steps_resume_across_engines_and_eval(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(ROOT, "public", "corpus", "tinystories-2MiB.txt"), encoding="utf-8") as f:
                stories = f.read().split("<|endoftext|>")[:40]
            corpus = os.path.join(d, "corpus.txt")
            with open(corpus, "w", encoding="utf-8") as f:
                f.write("<|endoftext|>".join(stories))
            cache = os.path.join(d, "tokens")
            rc, _, err = mohawk("tokenize", "--teacher", TEACHER, "--data", corpus, "--token-cache", cache)
            self.assertEqual(rc, 0, err)
            plan = os.path.join(d, "plan.json")
            rc, _, err = mohawk("plan", "--teacher", TEACHER, "--out", plan, *PLAN_FLAGS)
            self.assertEqual(rc, 0, err)

            rc, out, err = mohawk("distill", "--teacher", TEACHER, "--data", corpus, "--token-cache", cache, "--out", os.path.join(d, "studio"),
                                  "--json", "--eval-docs", "4", *PLAN_FLAGS)
            self.assertEqual(rc, 0, err)
            studio = [x for x in json_lines(out) if "loss" in x]
            torch_out = os.path.join(d, "torch")
            out, err, rcs = run_distill(["--plan", plan, "--teacher", TEACHER, "--data", cache, "--out", torch_out, "--json", "--teacher-impl", "own"])
            self.assertEqual(rcs, [0], err)
            mine = [x for x in json_lines(out) if "loss" in x]
            self.assertEqual([(x["stage"], x["step"]) for x in mine], [(x["stage"], x["step"]) for x in studio])
            for s, t in zip(studio, mine):
                self.assertTrue(close(s["loss"], t["loss"], 1e-5), (s, t))

            # Stages 1 and 2 here, stage 3 in the studio from this trainer's checkpoint.
            cut = os.path.join(d, "cut")
            _, err, rcs = run_distill(["--plan", plan, "--teacher", TEACHER, "--data", cache, "--out", cut, "--teacher-impl", "own", "--stop-after-stage", "2"])
            self.assertEqual(rcs, [0], err)
            rc, out, err = mohawk("distill", "--teacher", TEACHER, "--data", corpus, "--token-cache", cache, "--out", cut, "--resume",
                                  "--json", "--eval-docs", "4", *PLAN_FLAGS)
            self.assertEqual(rc, 0, err)
            resumed = [x for x in json_lines(out) if "loss" in x]
            self.assertEqual([x["stage"] for x in resumed], [3, 3])
            for s, t in zip(resumed, [x for x in mine if x["stage"] == 3]):
                self.assertTrue(close(s["loss"], t["loss"], 1e-5), (s, t))

            # The exported student in `mohawk eval`, against this package's own forward of the same files.
            rc, out, err = mohawk("eval", "--model", torch_out, "--data", corpus, "--max-tokens", "48", "--docs", "6", "--json")
            self.assertEqual(rc, 0, err)
            ev = json_lines(out)[0]
            cfg = load_json(os.path.join(torch_out, "config.json"))
            a = parse_config(cfg["teacher_config"])
            m = cfg["mixer"]
            shape = MixerShape(a.d, m["d_inner"], m["n_v"], m["n_qk"], m["state_size"], m["chunk_size"], m["out_proj_bias"])
            f = SafetensorsFile(os.path.join(torch_out, "model.safetensors"))
            model = Model(a, shape, set(cfg["attention_layers"])).load({n: f.get(n) for n in f.tensors})
            store = read_store(find_store(cache))
            docs = [store.ids[store.doc_start(i):store.doc_end(i)][:48].astype("int64").tolist() for i in range(6)]
            nll, count = mean_nll(model, docs, torch.device("cpu"))
            self.assertEqual(count, ev["tokens"])
            self.assertTrue(close(nll, ev["mean_nll"], 2e-6), (nll, ev))


if __name__ == "__main__":
    unittest.main()
