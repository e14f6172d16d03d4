/* forward.c — the BitNet b1.58 forward pass, written once (spec §2), calling back-end ops only.
 * Reads like transformers' BitNetDecoderLayer:
 *   a = RMSNorm(h); q,k,v = BitLinear(a); rope(q,k); o = attn(q, cache) ; o = sub_norm(o); h += BitLinear_o(o)
 *   m = RMSNorm(h); g,u = BitLinear(m); f = act(g)*u; f = sub_norm(f); h += BitLinear_down(f)
 * Every BitLinear input is quantized per token to int8 (fused with the norm before it). Tokens of a batch may
 * belong to different sequences at different positions: each token attends to its own sequence's cache. */
#include "model/model.h"

void trit_forward(const trit_model *m, trit_kvcache *kv, struct trit_fwd_scratch *s, const int32_t *tokens,
                  const int32_t *seq, const int32_t *pos, int32_t M, const int32_t *rows, int32_t n_out,
                  float *logits) {
    const trit_config *c = &m->cfg;
    trit_backend *be = m->be;
    const trit_backend_ops *op = be->ops;
    const int32_t D = c->hidden_size, F = c->intermediate_size, H = c->n_heads, Hkv = c->n_kv_heads;
    const int32_t hd = c->head_dim, Dq = H * hd, Dkv = Hkv * hd, Nqkv = Dq + 2 * Dkv;
    const float eps = c->rms_eps;

    op->embed(be, m->embed, m->embed_dt, D, tokens, M, s->h); /* h [M][D] */

    for (int32_t l = 0; l < c->n_layers; l++) {
        const trit_layer *L = &m->layers[l];
        float *q = s->qkv, *k = s->qkv + Dq, *v = s->qkv + Dq + Dkv; /* rows Nqkv apart */

        /* attention block */
        op->rmsnorm_quantize(be, s->h, L->attn_norm, M, D, eps, s->q8, s->qs);
        op->matmul_tq(be, &L->qkv, s->q8, s->qs, M, s->qkv, 0); /* qkv [M][Nqkv] */
        op->rope(be, q, M, H, hd, Nqkv, pos, c->rope_theta);
        op->rope(be, k, M, Hkv, hd, Nqkv, pos, c->rope_theta);
        op->kv_store(be, kv, l, k, v, Nqkv, seq, pos, M);
        op->attention(be, kv, l, q, Nqkv, H, seq, pos, M, s->att); /* att [M][Dq] */
        op->rmsnorm_quantize(be, s->att, L->attn_sub_norm, M, Dq, eps, s->q8, s->qs);
        op->matmul_tq(be, &L->o, s->q8, s->qs, M, s->h, 1); /* h += o_proj(att) */

        /* feed-forward block */
        op->rmsnorm_quantize(be, s->h, L->ffn_norm, M, D, eps, s->q8, s->qs);
        op->matmul_tq(be, &L->gate_up, s->q8, s->qs, M, s->gu, 0); /* gu [M][2F] */
        if (op->glu_rmsnorm_quantize) { /* one kernel, no [M][F] intermediate */
            op->glu_rmsnorm_quantize(be, s->gu, M, F, c->act, L->ffn_sub_norm, eps, s->q8, s->qs);
        } else {
            op->glu(be, s->gu, M, F, c->act, s->ffn); /* ffn [M][F] */
            op->rmsnorm_quantize(be, s->ffn, L->ffn_sub_norm, M, F, eps, s->q8, s->qs);
        }
        op->matmul_tq(be, &L->down, s->q8, s->qs, M, s->h, 1); /* h += down_proj(ffn) */
    }

    if (n_out == 0)
        return;
    /* Only the rows whose logits are wanted go through the final norm and the LM head. */
    op->embed(be, s->h, TRIT_DT_F32, D, rows, n_out, s->xo);
    op->rmsnorm(be, s->xo, m->final_norm, n_out, D, eps, s->xo);
    op->lm_head(be, m->lm_head, m->lm_head_dt, c->vocab_size, D, s->xo, n_out, logits);
}
