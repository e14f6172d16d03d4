#!/usr/bin/env python3
"""make_goldens.py — reference data from transformers for trit's model tests (issue 2 item 8). Runs on a GPU host
with PyTorch, transformers 5.x, tokenizers, safetensors, numpy (and tiktoken for --check-tokenizer); no network.

  --tiny OUT     tiny random BitNet (hidden 96, FFN 200, 3 layers, 6 heads / 2 KV heads, head_dim 16, untied, vocab
                 ~300 from a byte-level BPE trained here) saved in both forms as OUT/tiny-bf16 and OUT/tiny-packed,
                 goldens OUT/golden-tiny-bf16.bin and OUT/golden-tiny-packed.bin, report OUT/tiny-report.json
  --full OUT     the 2B-4T shapes (spec §1.1) with random weights, in both forms: OUT/2b4t-bf16, OUT/2b4t-packed,
                 OUT/golden-2b4t-{bf16,packed}.bin, OUT/2b4t-report.json (several GB; stays on the GPU host)
  --check-tokenizer RANKS   re-encodes tests/data/tokenizer-golden.inp with Python tiktoken (Llama 3 ranks file,
                 e.g. .cache/llama3/tokenizer.model) and compares with tests/data/tokenizer-golden.out
  --smoke        every code path at small sizes, in seconds (a shrunken "full" config included)

Why two goldens per model: the packed form carries gamma rounded to bf16 (weight_scale), the bf16 form lets
transformers ternarize in f32 (gamma = 1/s in f32). The ternary codes are identical (asserted), the scales differ in
the last bits, so each form has its own reference logits.

Reference numerics: float32, TF32 off, eager attention, the saved folders loaded back with
AutoModelForCausalLM.from_pretrained (so the files trit reads are the ones transformers reads). bf16 figures (same
folders loaded in bf16) go into the report only.
"""
import argparse
import json
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitnet_common as bc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------------------------- random models

def random_latent(cfg, seed, device):
    """HF-named f32 tensors. Linear masters ~ N(0, 1/K) (so activations stay O(1); the ternary codes do not depend on
    the scale), norm weights ~ 1 + 0.1 N(0,1), embeddings ~ N(0, 1), untied head ~ N(0, 16/hidden)."""
    g = torch.Generator(device=device).manual_seed(seed)

    def rn(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=g, device=device) * std + mean

    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    nq, nkv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    t = {"model.embed_tokens.weight": rn(v, h)}
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        shapes = {"self_attn.q_proj": (nq, h), "self_attn.k_proj": (nkv, h), "self_attn.v_proj": (nkv, h),
                  "self_attn.o_proj": (h, nq), "mlp.gate_proj": (f, h), "mlp.up_proj": (f, h),
                  "mlp.down_proj": (h, f)}
        for name in bc.LINEAR_NAMES:
            n, k = shapes[name]
            t[p + name + ".weight"] = rn(n, k, std=k ** -0.5)
        t[p + "input_layernorm.weight"] = rn(h, std=0.1, mean=1.0)
        t[p + "self_attn.attn_sub_norm.weight"] = rn(h, std=0.1, mean=1.0)
        t[p + "post_attention_layernorm.weight"] = rn(h, std=0.1, mean=1.0)
        t[p + "mlp.ffn_sub_norm.weight"] = rn(f, std=0.1, mean=1.0)
    t["model.norm.weight"] = rn(h, std=0.1, mean=1.0)
    if not cfg["tie_word_embeddings"]:
        t["lm_head.weight"] = rn(v, h, std=4 * h ** -0.5)  # logits std ~4: clear top-1 gaps
    # the masters are stored as bf16: round now so that every later step sees exactly the stored values
    return {k: x.to(torch.bfloat16).float() for k, x in t.items()}


def quantize_all(latent):
    """codes + gamma of every linear, from the (bf16-exact) masters, as transformers' WeightQuant computes them"""
    quant, srcs = {}, set()
    for name, w in latent.items():
        base = name[:-len(".weight")]
        if base.split(".", 3)[-1] in bc.LINEAR_NAMES:
            codes, gamma, src = bc.hf_weight_quant(w)
            c2, s2 = bc.weight_quant_f32(w)
            # the eager rule and transformers' compiled kernel may differ only at an exact .5 boundary
            nd = int((c2 != codes).sum())
            if nd:
                log("  note: %s: the eager f32 rule and transformers' WeightQuant differ in %d of %d codes "
                    "(exact .5 boundary); the file holds transformers' codes" % (base, nd, codes.numel()))
            frac = [float((codes == c).float().mean()) for c in (-1, 0, 1)]
            bc.check(min(frac) > 0.15, "%s: degenerate ternarization %s" % (base, frac))
            quant[base] = (codes, gamma)
            srcs.add(src)
    return quant, sorted(srcs)


# ---------------------------------------------------------------------------------------------- tokenizers

def tiny_tokenizer(vocab_size):
    """byte-level BPE with ~vocab_size entries trained on the first 6 KB of tests/data/other.txt (committed)"""
    path = os.path.join(REPO, "tests", "data", "other.txt")
    with open(path, encoding="utf-8", newline="") as f:  # bytes as trit reads them (no \r translation)
        text = f.read()[:6000]
    bc.check(len(text) >= 5000, "tests/data/other.txt missing or short (run scripts/fetch-data.sh)")
    paras = [p for p in text.split("\n\n") if p.strip()]
    tok = bc.train_bpe_tokenizer(paras, vocab_size)
    return tok, text


def hf_tokenizer_json_for_full(path):
    if path and os.path.exists(path):
        with open(path, encoding="utf-8", newline="") as f:  # bytes as trit reads them (no \r translation)
            data = f.read()
        j = json.loads(data)
        bc.check(len(j["model"]["vocab"]) + len(j.get("added_tokens", [])) >= 128256,
                 "%s does not look like the Llama 3 tokenizer.json" % path)
        return data
    return None


# ---------------------------------------------------------------------------------------------- reference

def load_checked(path, form, quant, device, dtype=torch.float32):
    """model through transformers' quantizer; if it cannot load the folder, or loads it with other effective
    weights than those written, the fallback (transformers' model + RefBitLinear) is used and the reason recorded.
    Tolerance on W_eff: f32: 1e-6 of gamma (W_eff = codes / s vs codes * (1/s): one rounding); bf16: 1e-2 of gamma
    (transformers rounds W_eff, i.e. gamma, to bf16: relative 2^-9)."""
    tol = 1e-6 if dtype == torch.float32 else 1e-2
    model, how = bc.load_hf(path, dtype, device)
    try:
        eff = bc.check_effective(model, quant, form, tol_rel=tol)
    except AssertionError as e:
        if how != "quantizer":
            raise
        log("  %s: transformers' quantizer loaded different weights (%s); using the fallback" % (form, e))
        del model
        torch.cuda.empty_cache()
        model = bc._load_fallback(path, dtype, device, "eager")
        how = "fallback: quantizer load gave wrong weights: %s" % str(e)[:200]
        eff = bc.check_effective(model, quant, form, tol_rel=tol)
    return model, how, eff


def check_rope(model, cfg):
    rot = getattr(model.model, "rotary_emb", None)
    if rot is None or not hasattr(rot, "inv_freq"):
        log("  (no model.model.rotary_emb.inv_freq in this transformers version: RoPE theta not checked)")
        return
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    want = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    got = rot.inv_freq.float().cpu()
    bc.check(torch.allclose(got, want, rtol=1e-6, atol=0), "transformers RoPE inv_freq differs from theta=%g" %
             cfg["rope_theta"])


def run_reference(folder, form, quant, cfg, cases, greedy, device, golden_path, strict_greedy):
    t0 = time.time()
    model, how, eff = load_checked(folder, form, quant, device)
    check_rope(model, cfg)
    log("  %s: loaded via %s in %.1fs; W_eff check %s" % (form, how, time.time() - t0, eff))
    gw = bc.GoldenWriter(cfg["vocab_size"])
    rep = {"load": how, "weights": eff, "cases": []}
    prefill = {}
    for toks in cases:
        lp = bc.ref_prefill(model, toks, device)
        ld = bc.ref_decode(model, toks, device)
        rng = float((lp.max(-1).values - lp.min(-1).values).max())
        d = float((lp - ld).abs().max())
        top = float((lp.argmax(-1) == ld.argmax(-1)).float().mean())
        rep["cases"].append({"n_tokens": len(toks), "logit_range": rng, "prefill_vs_decode_max_abs": d,
                             "prefill_vs_decode_top1": top})
        gw.add_logits(bc.KIND_PREFILL, toks, lp)
        gw.add_logits(bc.KIND_DECODE, toks, ld)
        prefill[tuple(toks)] = lp.cpu()
    # greedy: the first candidate prompt whose continuation never has a top-2 gap under 0.5% of the logit range, so
    # that an engine within the logit tolerance (0.2% of the range, so a gap moves by <= 0.4%) must reproduce it
    # token for token
    need = 0.005 * max(c["logit_range"] for c in rep["cases"])
    best = None
    for cand in greedy[0][:int(os.environ.get("TRIT_GREEDY_CANDIDATES", "64"))]:
        gen, margin = bc.ref_greedy(model, cand, greedy[1], device)
        if best is None or margin > best[2]:
            best = (cand, gen, margin)
        if margin >= need:
            break
    prompt, gen, margin = best
    if margin < need:
        msg = "no greedy prompt with a top-1 margin >= %.3g among %d candidates (best %.3g)" % (
            need, len(greedy[0]), margin)
        bc.check(not strict_greedy, msg)
        log("  WARNING: " + msg)
    gw.add_greedy(prompt, gen)
    rep["greedy"] = {"prompt": prompt, "gen": gen, "min_top1_margin": margin, "margin_required": need}
    gw.write(golden_path)
    vocab, back = bc.read_golden(golden_path)
    bc.check(vocab == cfg["vocab_size"] and len(back) == 2 * len(cases) + 1, "golden re-read mismatch")
    log("  %s: %d cases -> %s (%d bytes); greedy %s (min top-1 margin %.4g)" % (
        form, len(back), golden_path, os.path.getsize(golden_path), gen, margin))
    del model
    torch.cuda.empty_cache()

    # bf16 figures for the note: the same folder loaded in bf16
    mb, howb, _ = load_checked(folder, form, quant, device, torch.bfloat16)
    st = []
    for toks in cases:
        lb = bc.ref_prefill(mb, toks, device).cpu()
        lp = prefill[tuple(toks)]
        rng = (lp.max(-1).values - lp.min(-1).values)
        st.append({"n_tokens": len(toks), "max_abs": float((lb - lp).abs().max()),
                   "max_rel_range": float(((lb - lp).abs().max(-1).values / rng).max()),
                   "top1_agree": float((lb.argmax(-1) == lp.argmax(-1)).float().mean())})
    genb, _ = bc.ref_greedy(mb, prompt, greedy[1], device)
    first_div = next((i for i, (a, b) in enumerate(zip(gen, genb)) if a != b), None)
    rep["bf16_vs_f32"] = {"load": howb, "cases": st, "greedy_first_divergence": first_div}
    del mb
    torch.cuda.empty_cache()
    return rep


# ---------------------------------------------------------------------------------------------- drivers

def build_and_check(out, name, cfg_kw, seed, tok_json, cases, greedy, device):
    t0 = time.time()
    bos, eos = cfg_kw["bos"], cfg_kw["eos"]
    eot = cfg_kw.pop("eot")
    cfgs = {m: bc.bitnet_config_dict(mode=m, **cfg_kw) for m in ("online", "offline")}
    cfg = cfgs["online"]
    latent = random_latent(cfg, seed, device)
    quant, srcs = quantize_all(latent)
    log("%s: %d tensors, %.1fM parameters, ternarized by %s (%.1fs)" % (
        name, len(latent), sum(t.numel() for t in latent.values()) / 1e6, srcs, time.time() - t0))
    tk_cfg = bc.tokenizer_config_dict(cfg["max_position_embeddings"])
    gen_cfg = bc.generation_config_dict(bos, [eos, eot], cfg["max_position_embeddings"])
    report = {"name": name, "seed": seed, "config": cfg, "ternarized_by": srcs, "forms": {}}
    import transformers
    report["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                          "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    forms = os.environ.get("TRIT_GOLDEN_FORMS", "bf16,packed").split(",")  # a subset when device time is short
    for form, mode in (("bf16", "online"), ("packed", "offline")):
        if form not in forms:
            continue
        folder = os.path.join(out, "%s-%s" % (name, form))
        tensors = bc.folder_tensors(latent, cfgs[mode], mode, quant)
        bc.write_folder(folder, cfgs[mode], tensors, tok_json, tk_cfg, gen_cfg)
        if form == "packed":  # the packed bytes decode to the same codes (independent of transformers)
            from safetensors.torch import load_file
            back = load_file(os.path.join(folder, "model.safetensors"))
            for base, (codes, gamma) in quant.items():
                bc.check(torch.equal(bc.unpack_rows(back[base + ".weight"]), codes.cpu()),
                         "%s: packed bytes do not decode to the codes" % base)
                bc.check(back[base + ".weight_scale"].dtype == torch.bfloat16, "weight_scale not bf16")
        log("%s: wrote %s (%.1f MB) in %.1fs" % (name, folder,
            os.path.getsize(os.path.join(folder, "model.safetensors")) / 1e6, time.time() - t0))
        del tensors
        golden = os.path.join(out, "golden-%s-%s.bin" % (name, form))
        report["forms"][form] = run_reference(folder, form, quant, cfg, cases, greedy, device, golden,
                                              name == "tiny")
        report["forms"][form]["golden"] = os.path.basename(golden)
    # the two forms must agree closely (only gamma's last bits differ)
    with open(os.path.join(out, "%s-report.json" % name), "w") as f:
        json.dump(report, f, indent=1)
    log("%s: report %s (%.1fs total)" % (name, os.path.join(out, "%s-report.json" % name), time.time() - t0))
    return report


def greedy_candidates(first, vocab, bos, n):
    rnd = random.Random(99)
    return [first] + [[bos] + [rnd.randrange(vocab) for _ in range(n - 1)] for _ in range(63)]


def cases_for(vocab, bos, lengths, text_ids, seed):
    rnd = random.Random(seed)
    cases = []
    for i, n in enumerate(lengths):
        if n == 1:
            cases.append([bos])
        elif i % 2 == 1 or len(text_ids) < n:
            cases.append([bos] + [rnd.randrange(vocab) for _ in range(n - 1)])
        else:
            off = rnd.randrange(0, max(1, len(text_ids) - n))
            cases.append([bos] + text_ids[off:off + n - 1])
        bc.check(len(cases[-1]) == n, "case length")
    return cases


def do_tiny(out, device, smoke):
    tok, text = tiny_tokenizer(300)
    vocab = tok.get_vocab_size()
    bc.check(250 < vocab <= 300, "tiny vocab %d" % vocab)
    tok_json = tok.to_str(pretty=False)
    cfg_kw = dict(vocab=vocab, hidden=96, inter=200, layers=3, heads=6, kv_heads=2, max_pos=256, theta=10000.0,
                  tied=False, bos=0, eos=1, eot=2)
    text_ids = tok.encode(text, add_special_tokens=False).ids
    lengths = [1, 5] if smoke else [1, 7, 33, 100]
    cases = cases_for(vocab, 0, lengths, text_ids, 1234)
    greedy = (greedy_candidates(cases[1], vocab, 0, 7), 4 if smoke else 20)
    return build_and_check(out, "tiny", cfg_kw, 20251123, tok_json, cases, greedy, device)


def do_full(out, device, smoke, tokenizer_json):
    if smoke:  # the full-config code path (tied, 128256 vocab, GQA 4:1) at a small width
        cfg_kw = dict(vocab=128256, hidden=256, inter=640, layers=2, heads=4, kv_heads=1, max_pos=4096,
                      theta=500000.0, tied=True, bos=128000, eos=128001, eot=128009)
        lengths = [1, 9]
    else:
        cfg_kw = dict(vocab=128256, hidden=2560, inter=6912, layers=30, heads=20, kv_heads=5, max_pos=4096,
                      theta=500000.0, tied=True, bos=128000, eos=128001, eot=128009)
        lengths = [1, 17, 64]
    tok_json = hf_tokenizer_json_for_full(tokenizer_json)
    if tok_json is None:
        log("2b4t: no Llama 3 tokenizer.json given (--tokenizer-json); the folders get none (the golden test feeds ids)")
    cases = cases_for(128256, 128000, lengths, [], 4321)
    greedy = (greedy_candidates(cases[1], 128256, 128000, 17), 4 if smoke else 20)
    return build_and_check(out, "2b4t", cfg_kw, 20251124, tok_json, cases, greedy, device)


def check_tokenizer(ranks_path, inp, outp):
    """Python tiktoken (Llama 3 ranks + pattern) against the committed goldens"""
    import base64
    import tiktoken
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    ranks = {}
    with open(ranks_path, "rb") as f:
        for line in f:
            if line.strip():
                b64, r = line.split()
                ranks[base64.b64decode(b64)] = int(r)
    bc.check(len(ranks) == 128000, "%s: %d ranks, expected 128000" % (ranks_path, len(ranks)))
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
             "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>",
             "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    names += ["<|reserved_special_token_%d|>" % i for i in range(5, 251)]
    enc = tiktoken.Encoding(name="llama3", pat_str=bc.LLAMA3_PAT, mergeable_ranks=ranks,
                            special_tokens={n: 128000 + i for i, n in enumerate(names)})
    with open(inp, encoding="utf-8", newline="") as f:  # newline="": keep \r and \r\n as they are
        cases = f.read().split("\n__ggml_vocab_test__\n")
    bc.check(cases[-1] == "", "%s: does not end with the separator" % inp)
    cases = cases[:-1]
    with open(outp, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    bc.check(lines[-1] == "" and len(lines) - 1 == len(cases), "%s: %d lines for %d cases" % (outp, len(lines) - 1,
                                                                                              len(cases)))
    bad = []
    for i, (text, line) in enumerate(zip(cases, lines)):
        want = [int(x) for x in line.split()] if line.strip() else []
        got = enc.encode(text, allowed_special=set(), disallowed_special=())
        if got != want:
            bad.append({"case": i, "text": text, "tiktoken_py": got, "golden": want})
    res = {"tiktoken": tiktoken.__version__, "cases": len(cases), "mismatches": len(bad), "first": bad[:5]}
    log("tokenizer goldens vs Python tiktoken %s: %d cases, %d mismatches" % (tiktoken.__version__, len(cases),
                                                                                len(bad)))
    for b in bad[:5]:
        log("  case %d %r: tiktoken %s, golden %s" % (b["case"], b["text"][:60], b["tiktoken_py"][:20],
                                                      b["golden"][:20]))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", metavar="OUT")
    ap.add_argument("--full", metavar="OUT")
    ap.add_argument("--tokenizer-json", help="Llama 3 tokenizer.json to put into the 2B-4T folders (optional)")
    ap.add_argument("--check-tokenizer", metavar="RANKS", help="Llama 3 tiktoken rank file (tokenizer.model)")
    ap.add_argument("--tok-inp", default=os.path.join(REPO, "tests/data/tokenizer-golden.inp"),
                    help="comma-separated .inp files (the .out beside each)")
    ap.add_argument("--tok-report", help="write the tokenizer check result (JSON) here")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    if not (a.tiny or a.full or a.check_tokenizer):
        ap.error("nothing to do: give --tiny, --full and/or --check-tokenizer")
    bc.set_exact_f32()
    torch.manual_seed(0)
    device = torch.device(a.device)
    if device.type == "cuda":
        bc.check(torch.cuda.is_available(), "no CUDA device (use --device cpu for a slow run)")
    rc = 0
    if a.check_tokenizer:
        for inp in a.tok_inp.split(","):
            outp = inp[:-4] + ".out"
            res = check_tokenizer(a.check_tokenizer, inp, outp)
            if a.tok_report:
                with open(a.tok_report, "a") as f:
                    f.write(json.dumps({"file": os.path.basename(inp), **res}) + "\n")
            rc |= 1 if res["mismatches"] else 0
    if a.tiny:
        os.makedirs(a.tiny, exist_ok=True)
        do_tiny(a.tiny, device, a.smoke)
    if a.full:
        os.makedirs(a.full, exist_ok=True)
        do_full(a.full, device, a.smoke, a.tokenizer_json)
    return rc


if __name__ == "__main__":
    sys.exit(main())
