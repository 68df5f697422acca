#!/usr/bin/env python3
"""An independent PyTorch reference of the Chameleon decoder, for cross-checking chamlab.

Written from the paper (arXiv 2405.09818) and HF transformers' Chameleon, with HF
transformers' parameter names and layouts so the same safetensors file loads in both:

  pre  (7B):  h = x + attn(norm_a(x));   out = h + ffn(norm_f(h))
  swin (34B): h = x + norm_a(attn(x));   out = h + norm_f(ffn(h))
  norm_a = input_layernorm, norm_f = post_attention_layernorm (HF keeps these names in swin order)

  attention: q, k, v = x Wq^T, x Wk^T, x Wv^T; split heads; QK-Norm (LayerNorm over head_dim, eps 1e-5,
             affine per head [heads, head_dim]) BEFORE RoPE; RoPE rotate-half; GQA by repeating each kv
             head heads/kv_heads times (consecutive q heads share one kv head); causal softmax(q k^T /
             sqrt(head_dim)) v; o_proj.
  ffn: down(silu(gate x) * up x)
  loss: mean over tokens with label != -100 of CE(logits, label) + z_loss * logsumexp(logits)^2.
        labels are the targets of the same positions (no shift inside the model).

Usage:
  chameleon_ref.py --config config.json --weights W.safetensors --batch B.json --out OUT.safetensors
                   [--z-loss 1e-5] [--dtype float64|float32]
config.json has HF ChameleonConfig field names (chamlab init writes one). OUT holds `loss` (scalar),
`logits` [batch, seq, vocab], every parameter's gradient under its own name, and the metric taps as
`tap.z`, `tap.max_abs_logit`, `tap.layer_rms.<i>`, `tap.max_attn_logit.<i>`. All outputs are F32
unless --dtype float64 is given, in which case they are F64.

With --adamw OPT.json ({"lr", "betas", "eps", "weight_decay", "grad_clip", "no_decay": [names],
"steps"}) it also trains: `steps` updates on the same batch with torch.nn.utils.clip_grad_norm_ and
torch.optim.AdamW (parameters in `no_decay` get weight_decay 0), and writes `train.loss.<t>`,
`train.grad_norm.<t>` (before clipping) for t = 1..steps and the final parameters as `next.<name>`.

No `safetensors` package is needed: the format is parsed with json + struct here.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            u16 = np.frombuffer(data[b:end], dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(data[b:end], dtype=np.dtype(DTYPES[e["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(arr.copy().reshape(e["shape"]))
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        code = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def layer_norm_per_head(x, weight, bias, eps=1e-5):
    """x: [B, T, heads, head_dim]; statistics over head_dim, affine per (head, channel)."""
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) * torch.rsqrt(var + eps) * weight + bias


def rope_tables(seq, head_dim, theta, dtype):
    # Frequencies in float64, like a careful implementation would; cast at the end.
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = torch.arange(seq, dtype=torch.float64)[:, None] * inv[None, :]  # [T, head_dim/2]
    ang = torch.cat([ang, ang], dim=-1)  # rotate-half pairs i with i + head_dim/2
    return ang.cos().to(dtype), ang.sin().to(dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):
    """x: [B, heads, T, head_dim]."""
    return x * cos + rotate_half(x) * sin


class Reference:
    def __init__(self, cfg, params, z_loss):
        self.cfg, self.p, self.z_loss = cfg, params, z_loss
        self.d = cfg["hidden_size"]
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.K = cfg.get("num_key_value_heads") or self.H
        self.hd = self.d // self.H
        self.eps = cfg.get("rms_norm_eps", 1e-5)
        self.theta = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)
        self.swin = bool(cfg.get("swin_norm", False))
        self.qk_norm = bool(cfg.get("qk_layernorm", True))
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        self.taps = {}

    def attn(self, i, x):
        p, B, T = self.p, x.shape[0], x.shape[1]
        pre = f"model.layers.{i}.self_attn."
        q = (x @ p[pre + "q_proj.weight"].T).view(B, T, self.H, self.hd)
        k = (x @ p[pre + "k_proj.weight"].T).view(B, T, self.K, self.hd)
        v = (x @ p[pre + "v_proj.weight"].T).view(B, T, self.K, self.hd)
        if self.qk_norm:
            q = layer_norm_per_head(q, p[pre + "q_norm.weight"], p[pre + "q_norm.bias"])
            k = layer_norm_per_head(k, p[pre + "k_norm.weight"], p[pre + "k_norm.bias"])
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, heads, T, hd]
        cos, sin = rope_tables(T, self.hd, self.theta, x.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.H // self.K
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        # Max attention logit over the causal (unmasked) entries: the quantity QK-Norm bounds.
        self.taps[f"tap.max_attn_logit.{i}"] = s.masked_fill(~mask, -float("inf")).max().detach()
        s = s.masked_fill(~mask, -float("inf"))
        a = torch.softmax(s, dim=-1) @ v  # [B, H, T, hd]
        a = a.transpose(1, 2).reshape(B, T, self.d)
        return a @ p[pre + "o_proj.weight"].T

    def ffn(self, i, x):
        p, pre = self.p, f"model.layers.{i}.mlp."
        return (torch.nn.functional.silu(x @ p[pre + "gate_proj.weight"].T) * (x @ p[pre + "up_proj.weight"].T)) @ p[
            pre + "down_proj.weight"
        ].T

    def block(self, i, x):
        p = self.p
        norm_a = lambda t: rms_norm(t, p[f"model.layers.{i}.input_layernorm.weight"], self.eps)
        norm_f = lambda t: rms_norm(t, p[f"model.layers.{i}.post_attention_layernorm.weight"], self.eps)
        if self.swin:
            h = x + norm_a(self.attn(i, x))
            return h + norm_f(self.ffn(i, h))
        h = x + self.attn(i, norm_a(x))
        return h + self.ffn(i, norm_f(h))

    def forward(self, ids, labels):
        p = self.p
        x = p["model.embed_tokens.weight"][ids]
        for i in range(self.L):
            x = self.block(i, x)
            self.taps[f"tap.layer_rms.{i}"] = x.detach().pow(2).mean().sqrt()
        x = rms_norm(x, p["model.norm.weight"], self.eps)
        w_out = p["model.embed_tokens.weight"] if self.tied else p["lm_head.weight"]
        logits = x @ w_out.T
        keep = labels != -100
        lse = torch.logsumexp(logits, dim=-1)  # [B, T]
        target = logits.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
        n = keep.sum()
        ce = ((lse - target) * keep).sum() / n
        zsq = ((lse * lse) * keep).sum() / n
        loss = ce + self.z_loss * zsq
        self.taps["tap.z"] = ((lse * keep).sum() / n).detach()
        self.taps["tap.max_abs_logit"] = logits.detach().abs().max()
        return loss, logits


def train(cfg, params, ids, labels, z_loss, opt, dtype):
    """`steps` AdamW updates on one batch, torch's own optimizer and clipping; returns the outputs."""
    no_decay = set(opt.get("no_decay", []))
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    groups = [
        {"params": [t for k, t in p.items() if k not in no_decay], "weight_decay": opt["weight_decay"]},
        {"params": [t for k, t in p.items() if k in no_decay], "weight_decay": 0.0},
    ]
    optim = torch.optim.AdamW(groups, lr=opt["lr"], betas=tuple(opt["betas"]), eps=opt["eps"])
    out = {}
    for t in range(1, opt["steps"] + 1):
        optim.zero_grad()
        loss, _ = Reference(cfg, p, z_loss).forward(ids, labels)
        loss.backward()
        if opt.get("grad_clip"):
            norm = torch.nn.utils.clip_grad_norm_(list(p.values()), opt["grad_clip"])
        else:
            norm = torch.sqrt(sum((t_.grad.detach() ** 2).sum() for t_ in p.values()))
        optim.step()
        out[f"train.loss.{t}"] = loss.detach().to(dtype)
        out[f"train.grad_norm.{t}"] = norm.detach().to(dtype)
    for k, v in p.items():
        out[f"next.{k}"] = v.detach()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--z-loss", type=float, default=1e-5)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ap.add_argument("--adamw", help="optimizer JSON: run training steps on the batch too")
    a = ap.parse_args(argv)
    dtype = {"float32": torch.float32, "float64": torch.float64}[a.dtype]
    torch.manual_seed(0)
    with open(a.config) as f:
        cfg = json.load(f)
    params = {k: v.to(dtype).requires_grad_(True) for k, v in read_safetensors(a.weights).items()}
    with open(a.batch) as f:
        batch = json.load(f)
    ids = torch.tensor(batch["input_ids"], dtype=torch.long)
    labels = torch.tensor(batch["labels"], dtype=torch.long)
    model = Reference(cfg, params, a.z_loss)
    loss, logits = model.forward(ids, labels)
    loss.backward()
    out = {"loss": loss.detach(), "logits": logits.detach()}
    for name, t in params.items():
        out[name] = t.grad if t.grad is not None else torch.zeros_like(t)
    out.update({k: v.to(dtype) for k, v in model.taps.items()})
    if a.adamw:
        with open(a.adamw) as f:
            opt = json.load(f)
        out.update(train(cfg, params, ids, labels, a.z_loss, opt, dtype))
    write_safetensors(a.out, out)
    print(json.dumps({"loss": float(loss), "params": len(params)}))


if __name__ == "__main__":
    sys.exit(main())
