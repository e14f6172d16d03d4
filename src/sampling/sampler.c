/* sampler.c — picks the next token from a row of logits (trit_sampler_* of trit.h).
 *
 * The chain runs in llama.cpp's order: repetition penalty → top-k → top-p → min-p → temperature → sample.
 *  - penalty (CTRL rule): each distinct token among the last repeat_last_n accepted ones has its logit divided by
 *    repeat_penalty when positive, multiplied when negative; a token repeated in the window is penalised once.
 *  - temperature 0 is greedy: the argmax after the penalty (the filters below all keep the argmax), lowest id on
 *    ties; it draws no random number.
 *  - top-k keeps the k largest logits (a size-k heap over the vocabulary, O(V log k), then a sort of the k).
 *  - top-p keeps the shortest prefix of the candidates sorted by probability whose mass reaches top_p (softmax of
 *    the candidates at temperature 1, as llama.cpp does), at least one token. Without top-k only the tokens
 *    that can be in the nucleus are sorted (nucleus_prefilter), so a 128k vocabulary costs a few O(V) passes.
 *  - min-p keeps tokens whose probability is at least min_p times the largest one, i.e. logit >= max + ln(min_p).
 *  - temperature divides the surviving logits; the token is drawn from their softmax with one uniform number.
 * Candidates are always ordered by (logit descending, id ascending), a total order, so results never depend on
 * qsort's instability. NaN logits count as -inf. If every candidate is -inf the first candidate is returned.
 *
 * RNG: xoshiro256** (Blackman & Vigna), its 256-bit state filled from `seed` by splitmix64 as its authors
 * recommend; a uniform double in [0,1) is the top 53 bits of one output. One draw per non-greedy sample, so the
 * same seed and inputs give the same tokens. All state lives in the trit_sampler; there is no global state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "trit.h"

typedef struct {
    float logit;
    int32_t id;
} cand;

struct trit_sampler {
    trit_sampler_params p;
    int32_t vocab;
    uint64_t rng[4];   /* xoshiro256** state */
    int32_t *hist;     /* [repeat_last_n] ring of the most recent accepted tokens */
    int32_t hist_n;    /* tokens in the ring (≤ repeat_last_n) */
    int32_t hist_head; /* next slot to write */
    uint32_t *stamp;   /* [vocab] last sample call that penalised the token: "each distinct token once" */
    uint32_t stamp_now;
    float *work;       /* [vocab] logits after the penalty */
    cand *c;           /* [vocab] candidates */
};

// ------------------------------------------------------------------------------------------------ rng

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static double uniform01(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

// ------------------------------------------------------------------------------------------------ lifecycle

trit_sampler_params trit_sampler_default_params(void) {
    // llama.cpp's defaults; the penalty is off by default as in current llama.cpp
    trit_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .seed = 0,
    };
    return p;
}

trit_status trit_sampler_new(const trit_sampler_params *p, int32_t vocab, trit_sampler **out, trit_error *err) {
    *out = NULL;
    if (!p)
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: no parameters");
    if (vocab <= 0)
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: vocabulary size %d", (int)vocab);
    if (!(p->temperature >= 0.0f) || isinf(p->temperature))
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: temperature %g (must be finite and >= 0)", p->temperature);
    if (p->top_k < 0)
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: top_k %d (must be >= 0; 0 = off)", (int)p->top_k);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: top_p %g (must be in [0, 1]; 1 = off)", p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: min_p %g (must be in [0, 1]; 0 = off)", p->min_p);
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: repeat_penalty %g (must be finite and > 0; 1 = off)",
                         p->repeat_penalty);
    if (p->repeat_last_n < 0)
        return TRIT_FAIL(err, TRIT_E_ARG, "sampler: repeat_last_n %d (must be >= 0)", (int)p->repeat_last_n);

    trit_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->vocab = vocab;
    s->hist = malloc(sizeof(int32_t) * (size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1));
    s->stamp = calloc((size_t)vocab, sizeof(uint32_t));
    s->work = malloc(sizeof(float) * (size_t)vocab);
    s->c = malloc(sizeof(cand) * (size_t)vocab);
    if (!s->hist || !s->stamp || !s->work || !s->c) {
        trit_sampler_free(s);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "sampler: out of memory for a vocabulary of %d", (int)vocab);
    }
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    *out = s;
    return TRIT_OK;
}

void trit_sampler_free(trit_sampler *s) {
    if (!s)
        return;
    free(s->hist);
    free(s->stamp);
    free(s->work);
    free(s->c);
    free(s);
}

void trit_sampler_accept(trit_sampler *s, int32_t token) {
    if (!s || s->p.repeat_last_n == 0 || token < 0 || token >= s->vocab)
        return; // ids outside the vocabulary cannot be penalised; ignoring them keeps the window meaningful
    s->hist[s->hist_head] = token;
    s->hist_head = (s->hist_head + 1) % s->p.repeat_last_n;
    if (s->hist_n < s->p.repeat_last_n)
        s->hist_n++;
}

void trit_sampler_reset(trit_sampler *s) {
    if (!s)
        return;
    s->hist_n = 0;
    s->hist_head = 0;
}

// ------------------------------------------------------------------------------------------------ sampling

/* a ranks before b: larger logit, then smaller id */
static int before(const cand *a, const cand *b) { return a->logit > b->logit || (a->logit == b->logit && a->id < b->id); }

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* min-heap on `before` (root = the candidate that ranks last) */
static void heap_down(cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(&h[w], &h[l]))
            w = l;
        if (r < n && before(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* keeps the k best of work[0..V) in c[0..k), sorted */
static void select_top_k(const float *work, int32_t V, int32_t k, cand *c) {
    for (int32_t i = 0; i < k; i++)
        c[i] = (cand){work[i], i};
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        heap_down(c, k, i);
    for (int32_t i = k; i < V; i++) {
        cand x = {work[i], i};
        if (before(&x, &c[0])) {
            c[0] = x;
            heap_down(c, k, 0);
        }
    }
    qsort(c, (size_t)k, sizeof(cand), cand_cmp);
}

/* Top-p without sorting the whole vocabulary: the tokens with probability ≥ eps form a prefix of the sorted order;
 * when their mass already reaches top_p (with a margin for rounding), the nucleus lies inside them and only they
 * need sorting. Tries eps = 1e-4, 1e-6, 1e-8 (one O(n) pass each); keeps every candidate if none is enough. The
 * survivors keep their id order. sum = Σ exp(logit - mx) over c[0..n). */
static int32_t nucleus_prefilter(cand *c, int32_t n, float mx, double sum, float top_p) {
    static const double eps[] = {1e-4, 1e-6, 1e-8};
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
        double thr = (double)mx + log(eps[e] * sum); // p ≥ eps  ⇔  logit ≥ mx + ln(eps·sum)
        double mass = 0.0;
        for (int32_t i = 0; i < n; i++)
            if ((double)c[i].logit >= thr)
                mass += exp((double)c[i].logit - (double)mx);
        if (mass >= ((double)top_p + 1e-9) * sum) {
            int32_t j = 0;
            for (int32_t i = 0; i < n; i++)
                if ((double)c[i].logit >= thr)
                    c[j++] = c[i];
            return j;
        }
    }
    return n;
}

static void apply_penalty(trit_sampler *s) {
    if (s->p.repeat_penalty == 1.0f || s->hist_n == 0)
        return;
    if (++s->stamp_now == 0) { // wrapped after 2^32 calls: clear the stamps so none looks current
        memset(s->stamp, 0, sizeof(uint32_t) * (size_t)s->vocab);
        s->stamp_now = 1;
    }
    for (int32_t i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        if (s->stamp[t] == s->stamp_now)
            continue;
        s->stamp[t] = s->stamp_now;
        if (s->work[t] > 0.0f)
            s->work[t] /= s->p.repeat_penalty;
        else
            s->work[t] *= s->p.repeat_penalty;
    }
}

int32_t trit_sampler_sample(trit_sampler *s, const float *logits) {
    const int32_t V = s->vocab;
    float *work = s->work; // [V]
    for (int32_t i = 0; i < V; i++)
        work[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    apply_penalty(s);

    if (s->p.temperature == 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (work[i] > work[best])
                best = i;
        return best;
    }

    // candidates c[0..n): sorted when `sorted`, else in id order
    cand *c = s->c;
    int32_t n = V;
    int sorted = 0;
    if (s->p.top_k > 0 && s->p.top_k < V) {
        n = s->p.top_k;
        select_top_k(work, V, n, c);
        sorted = 1;
    } else {
        for (int32_t i = 0; i < V; i++)
            c[i] = (cand){work[i], i};
    }

    if (s->p.top_p < 1.0f) {
        float mx = -INFINITY;
        for (int32_t i = 0; i < n; i++)
            mx = fmaxf(mx, c[i].logit);
        if (mx == -INFINITY) {
            n = 1; // nothing has weight: c[0] is the lowest id, sorted or not
        } else {
            double sum = 0.0;
            for (int32_t i = 0; i < n; i++)
                sum += exp((double)c[i].logit - (double)mx);
            if (!sorted) {
                n = nucleus_prefilter(c, n, mx, sum, s->p.top_p);
                qsort(c, (size_t)n, sizeof(cand), cand_cmp);
                sorted = 1;
            }
            double cum = 0.0;
            for (int32_t i = 0; i < n; i++) {
                cum += exp((double)c[i].logit - (double)mx) / sum;
                if (cum >= (double)s->p.top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
    }

    float maxl = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        maxl = fmaxf(maxl, c[i].logit);
    if (maxl == -INFINITY)
        return c[0].id; // nothing has any probability; deterministic fallback

    if (s->p.min_p > 0.0f) {
        float thr = maxl + logf(s->p.min_p); // p_i >= min_p * p_max  ⇔  logit_i >= max + ln(min_p)
        int32_t j = 0;
        for (int32_t i = 0; i < n; i++)
            if (c[i].logit >= thr)
                c[j++] = c[i]; // keeps the order; the max always passes, so j >= 1
        n = j;
    }

    // temperature, then one draw from the softmax of the survivors (double sums: the weights of 128k candidates)
    const double inv_t = 1.0 / (double)s->p.temperature;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp(((double)c[i].logit - (double)maxl) * inv_t);
    double u = uniform01(s->rng) * sum, cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += exp(((double)c[i].logit - (double)maxl) * inv_t);
        if (u < cum)
            return c[i].id;
    }
    // rounding left u at the very top: the last candidate with any weight
    for (int32_t i = n - 1; i > 0; i--)
        if (c[i].logit > -INFINITY)
            return c[i].id;
    return c[0].id;
}
