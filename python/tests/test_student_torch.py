"""scripts/student_torch.py, the plain-PyTorch reader of exported students, on hybrid students of the
families whose kept attention has parts of its own (a sliding window, llama3 RoPE scaling, q/k norms, q/k/v
biases): its float64 mean NLL equals this package's forward of the same files (f32) to 1e-5 relative.
scripts/student/check.sh holds it to `mohawk eval` and the float64 reference as well."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import torch

from helpers import FIXTURES, ROOT
from mohawk_torch.export import export_student
from mohawk_torch.model import MixerShape, Model, mean_nll, student_shapes
from mohawk_torch.student_init import initial_student
from mohawk_torch.teacher import Teacher

SCRIPT = os.path.join(ROOT, "scripts", "student_torch.py")


class StudentTorch(unittest.TestCase):
    def check(self, fixture, layers):
        with tempfile.TemporaryDirectory() as d:
            folder = os.path.join(FIXTURES, fixture)
            t = Teacher(folder, torch.device("cpu"), "own")
            a = t.arch
            mixer = MixerShape.default(a, 32)
            w = initial_student(a, mixer, layers, t.read, 3)
            # Initialised mixers are the teacher's attention rewritten; nudge them so the mixers matter too.
            g = torch.Generator().manual_seed(0)
            w = {n: v + 0.02 * torch.randn(v.shape, generator=g) if ".mixer." in n else v for n, v in w.items()}
            export_student(d, w, student_shapes(a, mixer, layers), folder, t.config_json, mixer, layers, {"test": True})
            docs = [torch.randint(3, a.vocab, (n,), generator=g).tolist() for n in (24, 17)]
            ids = os.path.join(d, "ids.json")
            with open(ids, "w") as f:
                json.dump(docs, f)
            want, count = mean_nll(Model(a, mixer, layers).load(w), docs, torch.device("cpu"))
            r = subprocess.run([sys.executable, SCRIPT, "--model", d, "--ids", ids, "--max-tokens", "24", "--device", "cpu"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            got = json.loads(r.stdout.strip().splitlines()[-1])
            self.assertEqual(got["tokens"], count)
            self.assertLess(abs(got["mean_nll"] - want), 1e-5 * want, (fixture, got, want))

    def test_mistral_window(self):  # the fixture's window (8) is narrower than the documents
        self.check("mistral-swa", {0})

    def test_llama3_rope_scaling(self):
        self.check("llama3-rope", {1})

    def test_qwen3_qk_norms(self):
        self.check("qwen3", {1})

    def test_qwen2_qkv_biases(self):
        self.check("qwen2", {0})


if __name__ == "__main__":
    unittest.main()
