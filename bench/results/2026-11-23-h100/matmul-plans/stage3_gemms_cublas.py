# cuBLAS (f32, TF32 off) times for the sweep's stage-3 GEMM shapes; column sums as x.sum(0).
import json, torch
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = 'cuda'
shapes = [
  ('fwd qkv', 4096, 2304, 768, 'NT'), ('fwd out', 4096, 768, 768, 'NT'), ('fwd fc', 4096, 3072, 768, 'NT'),
  ('fwd proj', 4096, 768, 3072, 'NT'), ('fwd in_proj', 4096, 3084, 768, 'NT'), ('fwd head', 4096, 50257, 768, 'NT'),
  ('dX proj', 4096, 3072, 768, 'NN'), ('dX fc', 4096, 768, 3072, 'NN'), ('dX out', 4096, 768, 768, 'NN'),
  ('dX in_proj', 4096, 768, 3084, 'NN'), ('dX head', 4096, 768, 50257, 'NN'),
  ('dW proj', 768, 3072, 4096, 'TN'), ('dW fc', 3072, 768, 4096, 'TN'), ('dW out', 768, 768, 4096, 'TN'),
  ('dW in_proj', 3084, 768, 4096, 'TN'), ('dW head', 50257, 768, 4096, 'TN'),
  ('colsum 768', 1, 768, 4096, 'NN'), ('colsum 3072', 1, 3072, 4096, 'NN'),
  ('nn 256x1024x1024', 256, 1024, 1024, 'NN'), ('nn 1024^3', 1024, 1024, 1024, 'NN'),
]
def timeit(fn):
    fn(); torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); fn(); e.record(); torch.cuda.synchronize()
    once = s.elapsed_time(e)
    rep = max(1, min(64, int(5 / max(once, 1e-3)) + 1))
    ts = []
    for _ in range(5):
        s.record()
        for _ in range(rep): fn()
        e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) / rep)
    ts.sort(); return ts[len(ts) // 2]
x = torch.randn(4096, 4096, device=dev)
for _ in range(200): x @ x
for (id_, M, N, K, t) in shapes:
    a = torch.rand(K, M, device=dev).T if t[0] == 'T' else torch.rand(M, K, device=dev)
    b = torch.rand(N, K, device=dev).T if t[1] == 'T' else torch.rand(K, N, device=dev)
    if id_.startswith('colsum'):
        y = torch.rand(K, N, device=dev); ms = timeit(lambda: y.sum(0))
    else:
        ms = timeit(lambda: a @ b)
    print(json.dumps({'id': id_, 'M': M, 'N': N, 'K': K, 't': t, 'torch_ms': ms}), flush=True)
