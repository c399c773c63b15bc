"""The trainer on CPU with tiny teachers: one step of each stage trains what the stage trains and lowers its
loss on the batch it took; two gloo processes give the same losses and the same student as one; a run
stopped after a stage and resumed from its checkpoint goes on exactly as one never stopped."""
import os
import tempfile
import unittest

import torch

from helpers import FIXTURES, json_lines, plan_file, random_store, run_distill
from mohawk_torch.model import MixerShape, student_shapes
from mohawk_torch.parallel import Parallel
from mohawk_torch.plan import read_plan_file
from mohawk_torch.safetensors_io import SafetensorsFile
from mohawk_torch.stages import StageRun
from mohawk_torch.student_init import initial_student
from mohawk_torch.teacher import Teacher


def student_tensors(folder):
    f = SafetensorsFile(os.path.join(folder, "model.safetensors"))
    return {n: f.get(n) for n in f.tensors}


class OneStep(unittest.TestCase):
    def check(self, fixture, **over):
        with tempfile.TemporaryDirectory() as d:
            plan, *_ = read_plan_file(plan_file(os.path.join(d, "p.json"), **over))
            t = Teacher(os.path.join(FIXTURES, fixture), torch.device("cpu"), "own")
            a = t.arch
            mixer = MixerShape.default(a, plan.seq_len)
            layers = set(plan.attention_layers)
            w0 = initial_student(a, mixer, layers, t.read, plan.seed)
            self.assertEqual(set(w0), set(student_shapes(a, mixer, layers)))
            ids = torch.randint(3, a.vocab, (plan.batch * plan.accumulate, plan.seq_len), generator=torch.Generator().manual_seed(0))
            par = Parallel("cpu")
            for stage in (1, 2, 3):
                run = StageRun(stage, plan, a, mixer, t, dict(w0), par)
                first = run.step(ids, plan.lr[stage])
                second = run.step(ids, plan.lr[stage])
                self.assertTrue(first["loss"] > 0 and first["grad_norm"] > 0, (fixture, stage, first))
                self.assertLess(second["loss"], first["loss"], (fixture, stage))
                w = run.weights_back()
                changed = {n for n in w if not torch.equal(w[n], w0[n])}
                if stage == 1:
                    self.assertTrue(changed and all(n.split(".mixer.")[1] in ("in_proj.weight", "conv1d.weight", "conv1d.bias", "D") for n in changed), changed)
                elif stage == 2:
                    self.assertTrue(changed and all(".mixer." in n for n in changed), changed)
                else:
                    self.assertTrue(any(".mixer." in n for n in changed) and any(".attn." in n for n in changed) == bool(layers))
                    self.assertEqual(any(".mlp." in n for n in changed), not plan.freeze_mlp)

    def test_gpt2(self):
        self.check("gpt2")

    def test_llama_gqa_hybrid_with_accumulation_and_frozen_mlps(self):
        self.check("llama-gqa", attention_layers=[1], accumulate=2, batch=1, freeze_mlp=True)

    def test_gemma3_post_norms_and_windows(self):
        self.check("gemma3", weight_decay=0.1)


class Runs(unittest.TestCase):
    def test_triton_scan_without_mamba_ssm_is_refused_by_name(self):
        with tempfile.TemporaryDirectory() as d:
            store = random_store(os.path.join(d, "store"))
            plan = plan_file(os.path.join(d, "p.json"))
            out, err, rc = run_distill(["--plan", plan, "--teacher", os.path.join(FIXTURES, "gpt2"), "--data", store,
                                        "--teacher-impl", "own", "--ssd", "triton", "--out", os.path.join(d, "o")])
            self.assertNotEqual(rc, [0])
            self.assertIn("--ssd triton needs mamba_ssm's Triton kernels on a CUDA device (this process runs on cpu)", err)
            self.assertNotIn("Traceback", err)

    def test_two_processes_equal_one_and_a_resumed_run_equals_a_whole_one(self):
        with tempfile.TemporaryDirectory() as d:
            store = random_store(os.path.join(d, "store"))
            plan = plan_file(os.path.join(d, "p.json"), tokens={"1": 384, "2": 384, "3": 384}, batch=2, accumulate=2)
            base = ["--plan", plan, "--teacher", os.path.join(FIXTURES, "phi"), "--data", store, "--json", "--teacher-impl", "own"]
            one, err1, rc1 = run_distill(base + ["--out", os.path.join(d, "one")])
            self.assertEqual(rc1, [0], err1)
            two, err2, rc2 = run_distill(base + ["--out", os.path.join(d, "two")], processes=2)
            self.assertEqual(rc2, [0, 0], err2)
            a, b = json_lines(one), json_lines(two)
            self.assertEqual(len(a), 3 * 3 + 1)
            for x, y in zip(a, b):
                self.assertEqual((x.get("stage"), x.get("step")), (y.get("stage"), y.get("step")))
                if "loss" in x:
                    self.assertLess(abs(x["loss"] - y["loss"]) / abs(x["loss"]), 1e-5, (x, y))
            s1, s2 = student_tensors(os.path.join(d, "one")), student_tensors(os.path.join(d, "two"))
            self.assertEqual(set(s1), set(s2))
            for n in s1:
                self.assertLess((s1[n] - s2[n]).abs().max().item(), 1e-5 * max(1.0, s1[n].abs().max().item()), n)

            cut = os.path.join(d, "cut")
            part, err3, rc3 = run_distill(base + ["--out", cut, "--stop-after-stage", "2"])
            self.assertEqual(rc3, [0], err3)
            self.assertFalse(os.path.exists(os.path.join(cut, "model.safetensors")))
            rest, err4, rc4 = run_distill(base + ["--out", cut, "--resume"])
            self.assertEqual(rc4, [0], err4)
            again = json_lines(part) + json_lines(rest)
            self.assertEqual([(x.get("stage"), x.get("step"), x.get("loss")) for x in again[:-1]],
                             [(x.get("stage"), x.get("step"), x.get("loss")) for x in a[:-1]])
            s3 = student_tensors(cut)
            for n in s1:
                self.assertTrue(torch.equal(s1[n], s3[n]), n)
            refused, err5, rc5 = run_distill(base + ["--out", cut])
            self.assertEqual(rc5, [1])
            self.assertIn("already holds a checkpoint", err5)


if __name__ == "__main__":
    unittest.main()
