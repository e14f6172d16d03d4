"""bitnet_common.py — shared pieces of trit's reference scripts (GPU host; PyTorch + transformers 5.x + tokenizers).

What it holds: the BitNet b1.58 quantization rules exactly as transformers' AutoBitLinear applies them
(integrations/bitnet.py: WeightQuant = per-tensor absmean ternary in f32, ActQuant = per-token absmax int8 in f32,
both with straight-through gradients), the HF packed uint8 layout ([N/4, K], four row-blocks, code = w + 1, spec §3.5),
a writer for Hugging Face model folders in both published forms (bf16 masters "online" / packed "offline"), the golden
file writer (format read by tests/golden.c), the byte-level BPE tokenizer builder (Llama 3 pre-tokenizer pattern), and
the loader that runs a saved folder through transformers' own BitNetForCausalLM.

What it is not: part of trit. Nothing here touches the network.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
LINEAR_NAMES = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
GOLDEN_MAGIC = 0x4C475254  # "TRGL" little-endian
GOLDEN_VERSION = 1
KIND_PREFILL, KIND_DECODE, KIND_GREEDY = 0, 1, 2


def check(cond, msg):
    """assert that survives python -O and says what went wrong"""
    if not cond:
        raise AssertionError(msg)


def set_exact_f32():
    """f32 reference numerics: no TF32 anywhere (matmul and cuDNN)"""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        torch.set_float32_matmul_precision("highest")
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------- quantization

def weight_quant_f32(w):
    """WeightQuant.forward of transformers in eager f32: returns (codes int8 [N,K], s f32 scalar) with
    W_eff = codes / s; s = 1 / max(mean|W|, 1e-5); codes = clamp(round_half_even(W * s), -1, 1)."""
    x = w.detach().float()
    s = 1.0 / x.abs().mean().clamp(min=1e-5)
    codes = (x * s).round().clamp(-1, 1).to(torch.int8)
    return codes, s


def hf_weight_quant(w):
    """W_eff exactly as transformers' own WeightQuant computes it (its torch.compile'd forward) when importable;
    else the eager rule. Returns (codes int8, gamma f32 scalar tensor, source string)."""
    try:
        from transformers.integrations.bitnet import WeightQuant  # noqa: WPS433
        with torch.no_grad():
            weff = WeightQuant.apply(w.detach().float())
        src = "transformers.integrations.bitnet.WeightQuant"
    except Exception as e:  # older/newer layout: fall back to the documented rule
        codes, s = weight_quant_f32(w)
        return codes, (1.0 / s).float(), "eager rule (%s)" % type(e).__name__
    weff = weff.float()
    gamma = weff.abs().max()
    codes = torch.sign(weff).to(torch.int8)
    # every non-zero entry of W_eff is the same +-1/s, so codes * gamma reproduces W_eff bit for bit
    check(torch.equal(codes.float() * gamma, weff), "WeightQuant output is not of the form codes * gamma")
    return codes, gamma, src


def act_quant_f32(x):
    """ActQuant.forward of transformers (f32): per-token absmax int8, returned dequantized in f32"""
    xf = x.float()
    s = 127.0 / xf.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return (xf * s).round().clamp(-128, 127) / s


def pack_rows(codes):
    """int8 ternary [N, K] -> uint8 [N/4, K]; byte [r, c] holds rows r, R+r, 2R+r, 3R+r in bits 1:0, 3:2, 5:4, 7:6
    (code = w + 1), the layout of transformers' pack_weights (spec §3.5)."""
    n = codes.shape[0]
    check(n % 4 == 0, "pack_rows: out_features %d is not a multiple of 4" % n)
    check(int(codes.min()) >= -1 and int(codes.max()) <= 1, "pack_rows: codes outside {-1,0,1}")
    r = n // 4
    u = (codes.to(torch.int16) + 1).to(torch.uint8)
    packed = torch.zeros((r, codes.shape[1]), dtype=torch.uint8, device=codes.device)
    for i in range(4):
        packed |= u[i * r:(i + 1) * r] << (2 * i)
    return packed


def unpack_rows(packed):
    """inverse of pack_rows: uint8 [R, K] -> int8 [4R, K]"""
    parts = [((packed >> (2 * i)) & 3).to(torch.int8) - 1 for i in range(4)]
    return torch.cat(parts, dim=0)


def to_bf16_exact(t):
    return t.detach().to(torch.bfloat16).contiguous().cpu()


# ---------------------------------------------------------------------------------------------- HF folders

def bitnet_config_dict(*, vocab, hidden, inter, layers, heads, kv_heads, max_pos, theta, tied, bos, eos, mode,
                       eps=1e-5):
    """config.json of the published 2B-4T form (keys as in microsoft/bitnet-b1.58-2B-4T, spec §1.1)"""
    check(mode in ("online", "offline"), "mode must be online or offline")
    check(hidden % heads == 0 and heads % kv_heads == 0, "bad head counts")
    return {
        "architectures": ["BitNetForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "hidden_act": "relu2",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "max_position_embeddings": max_pos,
        "model_type": "bitnet",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "quantization_config": {"linear_class": "autobitlinear", "quant_method": "bitnet",
                                "quantization_mode": mode},
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": float(theta),
        "tie_word_embeddings": bool(tied),
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": vocab,
    }


def folder_tensors(latent, cfg, mode, quant):
    """Tensors of one folder form. latent: name -> f32 tensor (HF names, masters for linears). quant: name ->
    (codes, gamma) of every linear (derived once from the bf16 masters, shared by both forms).
    online: masters as bf16. offline: packed uint8 + weight_scale bf16[1] (gamma rounded to bf16)."""
    out = {}
    for name, t in latent.items():
        base = name[:-len(".weight")] if name.endswith(".weight") else None
        if base is not None and base in quant:
            if mode == "online":
                out[name] = to_bf16_exact(t)
            else:
                codes, gamma = quant[base]
                out[name] = pack_rows(codes).cpu().contiguous()
                out[base + ".weight_scale"] = gamma.reshape(1).to(torch.bfloat16).cpu().contiguous()
        else:
            out[name] = to_bf16_exact(t)
    if cfg["tie_word_embeddings"]:
        out.pop("lm_head.weight", None)
    return out


def write_folder(path, cfg, tensors, tokenizer_json, tokenizer_config, generation_config):
    from safetensors.torch import save_file
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    if tokenizer_json is not None:
        with open(os.path.join(path, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(tokenizer_json)
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(path, "generation_config.json"), "w") as f:
        json.dump(generation_config, f, indent=2)
        f.write("\n")


# Chat template of spec §7 format 1 (the trained 2B-4T format): one <|begin_of_text|>, then "Role: content<|eot_id|>"
# per message with the role capitalised and the content trimmed, then "Assistant: " as the generation prompt.
CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}"
                 "{{ message['role'] | capitalize }}: {{ message['content'] | trim }}<|eot_id|>"
                 "{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}")


def tokenizer_config_dict(max_len):
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|end_of_text|>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": max_len,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


def generation_config_dict(bos, eos_ids, max_len):
    return {"bos_token_id": bos, "eos_token_id": eos_ids, "do_sample": True, "temperature": 0.7, "top_p": 0.9,
            "max_length": max_len}


# ---------------------------------------------------------------------------------------------- tokenizer

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]


def train_bpe_tokenizer(texts, vocab_size):
    """Byte-level BPE with the Llama 3 pre-tokenizer (Split(regex, isolated) + ByteLevel(no prefix space, no regex)),
    the three specials at ids 0, 1, 2 and a post-processor that prepends <|begin_of_text|> (as 2B-4T's does).
    Returns a tokenizers.Tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PAT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    bos = tok.token_to_id(SPECIALS[0])
    check(bos == 0 and tok.token_to_id(SPECIALS[1]) == 1 and tok.token_to_id(SPECIALS[2]) == 2,
          "special tokens did not land at ids 0, 1, 2")
    tmpl = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                         special_tokens=[("<|begin_of_text|>", bos)])
    try:
        tok.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False), tmpl])
    except Exception:
        tok.post_processor = tmpl
    # self-check: byte fallback-free round trip on awkward text, BOS only when asked
    probe = "Hello  world!\n\n\tIt's 12345 caf\u00e9 \u4e2d\u6587 \U0001F600 <|eot_id|>"
    ids = tok.encode(probe, add_special_tokens=False).ids
    check(tok.decode(ids, skip_special_tokens=False) == probe, "tokenizer round trip failed")
    check(tok.encode("a b", add_special_tokens=True).ids[0] == bos, "post-processor did not prepend BOS")
    check(tok.encode("a b", add_special_tokens=False).ids[0] != bos, "BOS added without add_special_tokens")
    return tok


# ---------------------------------------------------------------------------------------------- golden file

class GoldenWriter:
    """Little-endian: int32 header[8] = {magic, version, n_cases, vocab, 0, 0, 0, 0}; per case int32 kind,
    int32 n_tokens, int32 tokens[n]; kind 0/1: float32 logits[n][vocab]; kind 2: int32 n_gen, int32 gen[n_gen]."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.cases = []

    def add_logits(self, kind, tokens, logits):
        check(kind in (KIND_PREFILL, KIND_DECODE), "bad kind")
        logits = logits.detach().float().cpu()
        check(tuple(logits.shape) == (len(tokens), self.vocab),
              "logits shape %s != (%d, %d)" % (tuple(logits.shape), len(tokens), self.vocab))
        check(bool(torch.isfinite(logits).all()), "non-finite logits in golden case")
        self.cases.append((kind, list(tokens), logits))

    def add_greedy(self, tokens, gen):
        self.cases.append((KIND_GREEDY, list(tokens), list(gen)))

    def write(self, path):
        import numpy as np
        with open(path, "wb") as f:
            f.write(struct.pack("<8i", GOLDEN_MAGIC, GOLDEN_VERSION, len(self.cases), self.vocab, 0, 0, 0, 0))
            for kind, toks, payload in self.cases:
                f.write(struct.pack("<2i", kind, len(toks)))
                f.write(np.asarray(toks, dtype="<i4").tobytes())
                if kind == KIND_GREEDY:
                    f.write(struct.pack("<i", len(payload)))
                    f.write(np.asarray(payload, dtype="<i4").tobytes())
                else:
                    f.write(payload.numpy().astype("<f4").tobytes())


def read_golden(path):
    """Python reader (self-check of the writer)"""
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    hdr = struct.unpack_from("<8i", data, 0)
    check(hdr[0] == GOLDEN_MAGIC and hdr[1] == GOLDEN_VERSION, "golden: bad magic/version")
    vocab, off, cases = hdr[3], 32, []
    for _ in range(hdr[2]):
        kind, n = struct.unpack_from("<2i", data, off)
        off += 8
        toks = list(np.frombuffer(data, dtype="<i4", count=n, offset=off))
        off += 4 * n
        if kind == KIND_GREEDY:
            (ng,) = struct.unpack_from("<i", data, off)
            off += 4
            gen = list(np.frombuffer(data, dtype="<i4", count=ng, offset=off))
            off += 4 * ng
            cases.append((kind, toks, gen))
        else:
            lg = np.frombuffer(data, dtype="<f4", count=n * vocab, offset=off).reshape(n, vocab)
            off += 4 * n * vocab
            cases.append((kind, toks, lg))
    check(off == len(data), "golden: trailing bytes")
    return vocab, cases


# ---------------------------------------------------------------------------------------------- transformers

class RefBitLinear(torch.nn.Module):
    """Used only when transformers' BitNet quantizer cannot load a folder on this host: the AutoBitLinear forward
    (spec §3) on top of transformers' own BitNetForCausalLM. online: F.linear(ActQuant(x), WeightQuant(W));
    offline: F.linear(ActQuant(x), codes) * weight_scale."""

    def __init__(self, weight, scale=None):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("weight_scale", scale if scale is not None else None)
        self.online = scale is None

    def forward(self, x):
        dtype = x.dtype
        w = self.weight
        if self.online:
            codes, s = weight_quant_f32(w)
            w = (codes.float() / s).to(dtype)
        xq = act_quant_f32(x).to(dtype)
        y = F.linear(xq, w.to(dtype))
        if not self.online:
            y = y * self.weight_scale.to(dtype)
        return y


def _load_via_quantizer(path, dtype, device, attn):
    from transformers import AutoModelForCausalLM
    kw = dict(attn_implementation=attn, device_map={"": device})
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    except TypeError:
        model = None
    if model is None or model.model.embed_tokens.weight.dtype != dtype:  # transformers < 4.56 knows torch_dtype only
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, **kw)
    check(model.model.embed_tokens.weight.dtype == dtype, "%s: loaded in %s, not %s" % (
        path, model.model.embed_tokens.weight.dtype, dtype))
    return model.eval()


def _load_fallback(path, dtype, device, attn):
    """transformers' BitNetForCausalLM without its quantizer, our RefBitLinear in place of each BitLinear"""
    from safetensors.torch import load_file
    from transformers import AutoConfig, BitNetForCausalLM
    cfg = AutoConfig.from_pretrained(path)
    mode = cfg.quantization_config["quantization_mode"] if isinstance(cfg.quantization_config, dict) \
        else cfg.quantization_config.quantization_mode
    try:
        del cfg.quantization_config
    except AttributeError:
        cfg.quantization_config = None
    try:
        cfg._attn_implementation = attn
    except Exception:
        pass
    # build under the target default dtype (as from_pretrained does) so the f32 RoPE buffers stay f32
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = BitNetForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    sd = load_file(os.path.join(path, "model.safetensors"), device=str(device))
    for li, layer in enumerate(model.model.layers):
        for lname in LINEAR_NAMES:
            key = "model.layers.%d.%s" % (li, lname)
            parent = layer.self_attn if lname.startswith("self_attn") else layer.mlp
            attr = lname.split(".")[1]
            w = sd.pop(key + ".weight")
            if mode == "offline":
                codes = unpack_rows(w).to(dtype)
                scale = sd.pop(key + ".weight_scale").to(dtype)
                setattr(parent, attr, RefBitLinear(codes, scale))
            else:
                setattr(parent, attr, RefBitLinear(w.to(dtype)))
    missing, unexpected = model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=False)
    missing = [k for k in missing if "_proj." not in k and not (k == "lm_head.weight" and cfg.tie_word_embeddings)]
    check(not unexpected, "fallback load: unexpected tensors %s" % unexpected[:5])
    check(not missing, "fallback load: missing tensors %s" % missing[:5])
    if cfg.tie_word_embeddings:
        model.tie_weights()
    return model.eval()


def load_hf(path, dtype, device, attn="eager"):
    """Loads a folder with transformers. Returns (model, how): how = "quantizer" when BitNetHfQuantizer loaded it
    (the path users take), or "fallback: <why>" when it could not (then RefBitLinear stands in for AutoBitLinear)."""
    try:
        return _load_via_quantizer(path, dtype, device, attn), "quantizer"
    except Exception as e:
        why = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")
        print("  transformers could not load %s with its BitNet quantizer (%s); using the fallback" % (path, why),
              file=sys.stderr)
        return _load_fallback(path, dtype, device, attn), "fallback: " + why


@torch.no_grad()
def effective_weights(model):
    """name -> f32 W_eff of every BitLinear of a loaded model (whatever class transformers picked)"""
    out = {}
    for li, layer in enumerate(model.model.layers):
        for lname in LINEAR_NAMES:
            parent = layer.self_attn if lname.startswith("self_attn") else layer.mlp
            mod = getattr(parent, lname.split(".")[1])
            key = "model.layers.%d.%s" % (li, lname)
            w = mod.weight
            online = getattr(mod, "online_quant", getattr(mod, "online", None))
            if isinstance(mod, RefBitLinear):
                if mod.online:
                    c, s = weight_quant_f32(w)
                    out[key] = c.float() / s
                else:
                    out[key] = w.float() * mod.weight_scale.float()
            elif w.dtype == torch.uint8:  # BitLinear keeps packed weights; spec §3.4: autobitlinear multiplies
                out[key] = unpack_rows(w).float() * mod.weight_scale.float()
            elif online:
                from transformers.integrations.bitnet import WeightQuant
                with torch.no_grad():
                    out[key] = WeightQuant.apply(w).float()
            else:
                out[key] = w.float() * mod.weight_scale.float()
    return out


def check_effective(model, quant, form, tol_rel=0.0):
    """Asserts the loaded model's W_eff equals codes * gamma of `quant` (packed form: gamma rounded to bf16).
    Returns a dict with the comparison (max |diff|, number of differing codes)."""
    eff = effective_weights(model)
    worst, ncode = 0.0, 0
    for key, (codes, gamma) in quant.items():
        g = gamma.reshape(()).float()
        if form == "packed":
            g = g.to(torch.bfloat16).float()
        want = codes.float().to(eff[key].device) * g.to(eff[key].device)
        got = eff[key]
        check(got.shape == want.shape, "%s: W_eff shape %s != %s" % (key, tuple(got.shape), tuple(want.shape)))
        ncode += int((torch.sign(got) != torch.sign(want)).sum())
        worst = max(worst, float((got - want).abs().max() / g))
    check(ncode == 0, "%s form: %d ternary codes differ from the codes written to the file" % (form, ncode))
    check(worst <= tol_rel, "%s form: W_eff differs by %.3g of gamma (allowed %.3g)" % (form, worst, tol_rel))
    return {"max_diff_rel_gamma": worst, "codes_differing": ncode}


@torch.no_grad()
def ref_prefill(model, tokens, device):
    ids = torch.tensor([tokens], dtype=torch.long, device=device)
    return model(input_ids=ids, use_cache=False).logits[0].float()


@torch.no_grad()
def ref_decode(model, tokens, device):
    """one token per forward through the KV cache"""
    past, rows = None, []
    for t in tokens:
        ids = torch.tensor([[t]], dtype=torch.long, device=device)
        out = model(input_ids=ids, past_key_values=past, use_cache=True)
        past = out.past_key_values
        rows.append(out.logits[0, -1].float())
    return torch.stack(rows)


@torch.no_grad()
def ref_greedy(model, prompt, n_gen, device):
    """greedy continuation through the KV cache; ties -> lowest id (torch.argmax returns the first maximum).
    Returns (generated ids, min top-1 margin seen)."""
    ids = torch.tensor([prompt], dtype=torch.long, device=device)
    out = model(input_ids=ids, use_cache=True)
    past, logits, gen, margin = out.past_key_values, out.logits[0, -1].float(), [], math.inf
    for _ in range(n_gen):
        top2 = torch.topk(logits, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        nxt = int(torch.argmax(logits))
        gen.append(nxt)
        out = model(input_ids=torch.tensor([[nxt]], dtype=torch.long, device=device), past_key_values=past,
                    use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1].float()
    return gen, margin
