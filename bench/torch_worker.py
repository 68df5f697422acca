#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: a long-lived worker driven over stdin/stdout, one JSON object per line.

Why a worker and not one script run per configuration: these machines are shared and noisy, so the
benchmark interleaves blocks of chamlab steps with blocks of PyTorch steps (A B A B ...) and compares
medians; a worker keeps its model, optimizer and batches alive between blocks.

The model is test/ref/chameleon_ref.py's `Reference` (the model engineer's independent PyTorch
implementation of the same architecture, HF parameter names), trained with torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_, eager mode, float32: what a researcher's PyTorch script does.

Requests (one per line) and replies:
  {"op": "info", "device": "cpu"|"cuda"}  -> versions, threads, BLAS, device name
  {"op": "matmul", "n": 2048, "reps": 10, "device": ...}  -> GFLOP/s of an n^3 float32 matmul
  {"op": "setup", "config": HF config.json, "weights": safetensors, "batches": int32 file,
   "steps": S, "batch": B, "seq": T, "lr", "betas", "eps", "weight_decay", "grad_clip",
   "z_loss", "decay": [names of decayed params], "device"}  -> {"params": count}
  {"op": "steps", "n": k}  -> {"ms": [per-step wall ms], "cpu_ms": [per-step process CPU ms, all threads],
                               "loss": [per-step loss], "step": last step}
  {"op": "quit"}
Every reply has "ok": true, or "ok": false with "error".
"""
import ctypes
import importlib.util
import json
import os
import sys
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def find_reference():
    """test/ref/chameleon_ref.py from the source tree (the worker may run from dist/bench)."""
    d = HERE
    for _ in range(4):
        p = os.path.join(d, "test", "ref", "chameleon_ref.py")
        if os.path.exists(p):
            return p
        d = os.path.dirname(d)
    raise FileNotFoundError("test/ref/chameleon_ref.py not found above " + HERE)


def load_reference():
    spec = importlib.util.spec_from_file_location("chameleon_ref", find_reference())
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def device_of(name):
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for but torch.cuda.is_available() is false")
        return torch.device("cuda")
    return torch.device("cpu")


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def blas_info():
    cfg = torch.__config__.show()
    for part in cfg.replace("\n", ",").split(","):
        part = part.strip()
        if part.startswith("BLAS_INFO="):
            return part.split("=", 1)[1]
    return "unknown"


def openblas_core():
    """The kernel family OpenBLAS chose (e.g. Cooperlake = AVX-512, Haswell = AVX2), or None."""
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def info(req):
    dev = req.get("device", "cpu")
    out = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "blas": blas_info(),
        "cuda_available": torch.cuda.is_available(),
    }
    # Debian's libblas.so.3 is an alternative: the reference BLAS (slow) or OpenBLAS. Say which.
    try:
        out["libblas"] = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    except OSError:
        pass
    core = openblas_core()
    if core:
        out["openblas_core"] = core
    if dev == "cuda" and torch.cuda.is_available():
        out["device_name"] = torch.cuda.get_device_name(0)
        out["cuda"] = torch.version.cuda
        out["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return out


def matmul(req):
    dev = device_of(req.get("device", "cpu"))
    n = int(req.get("n", 2048))
    reps = int(req.get("reps", 10))
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g, device="cpu").to(dev)
    b = torch.randn(n, n, generator=g, device="cpu").to(dev)
    c = torch.empty(n, n, device=dev)
    for _ in range(2):
        torch.matmul(a, b, out=c)
    sync(dev)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b, out=c)
        sync(dev)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * n ** 3
    times.sort()
    return {"n": n, "reps": reps, "gflops_best": flops / times[0] / 1e9, "gflops_median": flops / times[len(times) // 2] / 1e9}


def set_default_device(dev):
    """The reference model creates its RoPE tables and causal mask without a device argument (it was
    written for CPU cross-checks); making the run's device the default puts them where the
    activations are instead of failing with a device mismatch on CUDA."""
    if hasattr(torch, "set_default_device"):
        torch.set_default_device(dev)
    elif dev.type == "cuda":
        torch.set_default_tensor_type("torch.cuda.FloatTensor")
    else:
        torch.set_default_tensor_type("torch.FloatTensor")


class Run:
    def __init__(self, req, ref):
        self.dev = device_of(req.get("device", "cpu"))
        set_default_device(self.dev)
        with open(req["config"]) as f:
            cfg = json.load(f)
        params = ref.read_safetensors(req["weights"])
        self.params = {k: v.to(self.dev, torch.float32).requires_grad_(True) for k, v in params.items()}
        self.model = ref.Reference(cfg, self.params, float(req["z_loss"]))
        decay = set(req["decay"])
        groups = [
            {"params": [p for k, p in self.params.items() if k in decay], "weight_decay": float(req["weight_decay"])},
            {"params": [p for k, p in self.params.items() if k not in decay], "weight_decay": 0.0},
        ]
        self.opt = torch.optim.AdamW(groups, lr=float(req["lr"]), betas=tuple(req["betas"]), eps=float(req["eps"]))
        self.clip = float(req.get("grad_clip") or 0)
        B, T, S = int(req["batch"]), int(req["seq"]), int(req["steps"])
        raw = np.fromfile(req["batches"], dtype="<i4").reshape(S, 2, B, T)
        # Batches live on the device before timing starts, as a prefetching data loader would leave them.
        self.ids = torch.from_numpy(raw[:, 0].astype(np.int64)).to(self.dev)
        self.labels = torch.from_numpy(raw[:, 1].astype(np.int64)).to(self.dev)
        self.step = 0

    def steps(self, n):
        ms, cpu, losses = [], [], []
        for _ in range(n):
            if self.step >= self.ids.shape[0]:
                raise RuntimeError(f"out of batches after {self.step} steps")
            t0 = time.perf_counter()
            c0 = time.process_time()
            self.opt.zero_grad(set_to_none=True)
            loss, _ = self.model.forward(self.ids[self.step], self.labels[self.step])
            loss.backward()
            if self.clip > 0:
                torch.nn.utils.clip_grad_norm_(list(self.params.values()), self.clip)
            self.opt.step()
            value = float(loss)  # synchronizes on CUDA, like chamlab reading its loss back each step
            ms.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            losses.append(value)
            self.step += 1
        return {"ms": ms, "cpu_ms": cpu, "loss": losses, "step": self.step}


def main():
    threads = os.environ.get("CHAMLAB_BENCH_THREADS")
    # Debian's torch starts with one OpenMP thread on these machines; the benchmark gives PyTorch the
    # same number of threads as onnxruntime gets (one per core unless told otherwise).
    torch.set_num_threads(int(threads) if threads else os.cpu_count() or 1)
    torch.manual_seed(0)
    ref = load_reference()
    run = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "info":
                out = info(req)
            elif op == "matmul":
                out = matmul(req)
            elif op == "setup":
                run = None
                run = Run(req, ref)
                out = {"params": sum(p.numel() for p in run.params.values())}
            elif op == "steps":
                if run is None:
                    raise RuntimeError("steps before setup")
                out = run.steps(int(req.get("n", 1)))
            elif op == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return 0
            else:
                raise ValueError(f"unknown op {op!r}")
            out["ok"] = True
        except Exception as e:  # reported to the caller, which decides whether to go on
            out = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
