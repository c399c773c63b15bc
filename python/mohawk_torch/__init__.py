"""mohawk_torch: a Mohawk Studio plan (src/mohawk/plan-file.ts) run by PyTorch, step for step as the studio
runs it; `python -m mohawk_torch.distill --help`, and python/README.md."""
