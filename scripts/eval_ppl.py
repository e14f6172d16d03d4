#!/usr/bin/env python3
"""eval_ppl.py — perplexity of a model folder with transformers, chunked exactly as llama.cpp's llama-perplexity
(and `trit ppl`) do; writes the goldens CI compares `trit ppl` with (issue 3 item 4). GPU host; no network.

Chunking rule (llama.cpp tools/perplexity/perplexity.cpp, perplexity()):
  1. tokens = [BOS] + tokenize(whole file, no special tokens)        (common_tokenize(..., add_special=true))
  2. n_chunks = len(tokens) // ctx; chunk i covers tokens[i*ctx : (i+1)*ctx]; leftover tokens are dropped
  3. the chunk's first token is replaced by BOS for the forward pass (add_bos); every chunk starts a fresh context
  4. first = ctx // 2; logits at chunk positions j = first .. ctx-2 are scored against tokens[i*ctx + j + 1]
     (ctx - 1 - first tokens per chunk)
  5. nll_k = -log softmax(logits_j)[target]; ppl = exp(mean nll); stderr of ppl = ppl * sqrt((mean(nll^2) -
     mean(nll)^2) / (N - 1)) with N the number of scored tokens (llama.cpp's "± ..." figure)

  python3 scripts/eval_ppl.py --model models/NAME --file tests/data/heldout.txt --file tests/data/other.txt \
      --ctx 512 --ctx 2048 --out tests/data/ppl-golden.json
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitnet_common as bc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE = ("llama-perplexity: tokens = [BOS] + tokenize(file, no special tokens); n_chunks = len(tokens) // ctx "
        "(remainder dropped); chunk i = tokens[i*ctx:(i+1)*ctx] evaluated from an empty cache with its first token "
        "replaced by BOS; positions j = ctx/2 .. ctx-2 of each chunk scored against tokens[i*ctx+j+1] "
        "(ctx-1-ctx/2 per chunk); ppl = exp(mean nll); stderr = ppl*sqrt((mean(nll^2)-mean(nll)^2)/(N-1))")


def log(*a):
    print(*a, flush=True)


def tokenize_file(model_dir, path, limit=None):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    with open(os.path.join(model_dir, "config.json")) as f:
        bos = json.load(f)["bos_token_id"]
    with open(path, encoding="utf-8", newline="") as f:  # bytes as trit reads them (no \r translation)
        text = f.read()
    if limit:
        text = text[:limit]
    ids = tok.encode(text, add_special_tokens=False).ids
    bc.check(bos not in ids, "%s: BOS id appears inside the text's tokens" % path)
    return [bos] + ids, bos


@torch.no_grad()
def perplexity(model, tokens, bos, ctx, dev, batch):
    n_chunks = len(tokens) // ctx
    bc.check(n_chunks >= 1, "text has %d tokens, fewer than ctx %d" % (len(tokens), ctx))
    first = ctx // 2
    t = torch.tensor(tokens[:n_chunks * ctx], dtype=torch.long).view(n_chunks, ctx)
    s1, s2, n = 0.0, 0.0, 0
    for i in range(0, n_chunks, batch):
        w = t[i:i + batch].clone()
        tgt = w[:, first + 1:].to(dev)             # tokens[i*ctx + j + 1] for j = first .. ctx-2
        w[:, 0] = bos
        lg = model(input_ids=w.to(dev), use_cache=False).logits[:, first:ctx - 1].double()
        nll = -torch.log_softmax(lg, dim=-1).gather(-1, tgt[..., None])[..., 0]
        s1 += float(nll.sum())
        s2 += float((nll * nll).sum())
        n += nll.numel()
    bc.check(n == n_chunks * (ctx - 1 - first), "scored-token count")
    mean = s1 / n
    var = s2 / n - mean * mean
    ppl = math.exp(mean)
    se = ppl * math.sqrt(var / (n - 1)) if n > 1 and var > 0 else 0.0
    return {"n_chunks": n_chunks, "n_scored": n, "ppl": ppl, "stderr": se, "mean_nll": mean}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--file", action="append", required=True)
    ap.add_argument("--ctx", type=int, action="append")
    ap.add_argument("--out", help="JSON goldens to write")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--smoke", action="store_true", help="first 20000 characters of each file, ctx 64")
    a = ap.parse_args()
    ctxs = a.ctx or [512]
    if a.smoke:
        ctxs = [64]
    bc.set_exact_f32()
    dev = torch.device("cuda")
    res = []
    models = {}
    for dtype, tag in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        t0 = time.time()
        model, how = bc.load_hf(a.model, dtype, dev)
        models[tag] = how
        for path in a.file:
            tokens, bos = tokenize_file(a.model, path, 20000 if a.smoke else None)
            for ctx in ctxs:
                if len(tokens) < 2 * ctx:  # llama-perplexity needs at least 2*ctx tokens
                    log("%s: %d tokens < 2*ctx %d, skipped" % (path, len(tokens), ctx))
                    continue
                r = perplexity(model, tokens, bos, ctx, dev, max(1, a.batch * 512 // ctx))
                rel = os.path.relpath(os.path.abspath(path), REPO)
                row = next((x for x in res if x["file"] == rel and x["ctx"] == ctx), None)
                if row is None:
                    row = {"model": os.path.basename(os.path.normpath(a.model)), "file": rel, "ctx": ctx,
                           "n_tokens": len(tokens), "n_chunks": r["n_chunks"], "n_scored": r["n_scored"],
                           "tokens_sha256": hashlib.sha256(
                               b"".join(int(x).to_bytes(4, "little") for x in tokens)).hexdigest()}
                    res.append(row)
                if tag == "f32":
                    row.update(ppl_f32=r["ppl"], stderr=r["stderr"], mean_nll_f32=r["mean_nll"])
                else:
                    row.update(ppl_bf16=r["ppl"], stderr_bf16=r["stderr"])
                log("%-5s %s ctx %d: ppl %.4f ± %.4f (%d chunks, %d scored tokens) [%s]" % (
                    tag, rel, ctx, r["ppl"], r["stderr"], r["n_chunks"], r["n_scored"], how))
        del model
        torch.cuda.empty_cache()
        log("%s pass %.1fs" % (tag, time.time() - t0))
    for row in res:
        d = abs(row["ppl_bf16"] - row["ppl_f32"]) / row["ppl_f32"]
        row["bf16_rel_diff"] = d
    out = {"chunking": RULE, "reference": "transformers BitNetForCausalLM, float32, TF32 off, eager attention",
           "load": models, "tolerance_note": "CI requires trit ppl within 0.05% relative of ppl_f32",
           "results": res}
    import transformers
    out["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                       "device": torch.cuda.get_device_name(0)}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        log("wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
