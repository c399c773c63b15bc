"""The student in the studio's export format (src/models/student-files.ts), which `mohawk eval`, the page
and scripts/student_torch.py load: model.safetensors (F32, canonical names, studentShapes order, metadata
{format: pt, producer: mohawk-studio}), config.json (model_type "mohawk_student": the teacher's config.json
verbatim under "teacher_config", the mixer's shape, the kept attention layers, how it was made under
"mohawk") and the teacher's tokenizer.json and tokenizer_config.json.
"""
import json
import os
import shutil

from .safetensors_io import write_f32

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def student_config(teacher_config, mixer, attention_layers, provenance):
    return {
        "model_type": "mohawk_student",
        "architectures": ["MohawkStudentForCausalLM"],
        "teacher_config": teacher_config,
        "mixer": mixer.json(),
        "attention_layers": sorted(attention_layers),
        "mohawk": provenance,
    }


def export_student(out, tensors, shapes, teacher_folder, teacher_config, mixer, attention_layers, provenance):
    """Writes the student's files into `out`; every tensor of `shapes` must be in `tensors`."""
    missing = [n for n in shapes if n not in tensors]
    wrong = [n for n in shapes if n in tensors and list(tensors[n].shape) != list(shapes[n])]
    if missing or wrong:
        raise ValueError(f"export: missing {missing[:5]}, wrong shapes {wrong[:5]}")
    if not os.path.exists(os.path.join(teacher_folder, "tokenizer.json")):
        raise ValueError("export: the teacher's tokenizer.json is missing")
    os.makedirs(out, exist_ok=True)
    write_f32(os.path.join(out, "model.safetensors"), [(n, tensors[n]) for n in shapes], {"format": "pt", "producer": "mohawk-studio"})
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(student_config(teacher_config, mixer, attention_layers, provenance), indent=2) + "\n")
    for name in TOKENIZER_FILES:
        src = os.path.join(teacher_folder, name)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(out, name))
    return ["model.safetensors", "config.json"] + [n for n in TOKENIZER_FILES if os.path.exists(os.path.join(teacher_folder, n))]
