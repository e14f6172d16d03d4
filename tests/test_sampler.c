/* test_sampler.c — the sampler chain of trit.h: greedy, determinism, each filter, the repetition penalty and the
 * distribution of temperature sampling (chi-square with fixed seeds, so the test is deterministic). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trit.h"

static trit_sampler_params greedy_params(void) {
    trit_sampler_params p = trit_sampler_default_params();
    p.temperature = 0.0f;
    return p;
}

static trit_sampler *make(const trit_sampler_params *p, int32_t vocab) {
    trit_sampler *s = NULL;
    trit_error err;
    assert_int_equal(trit_sampler_new(p, vocab, &s, &err), TRIT_OK);
    return s;
}

static uint64_t lcg = 12345;
static float frand(void) { // deterministic test data
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(lcg >> 40) / (float)(1 << 24);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static void test_greedy(void **state) {
    trit_sampler_params p = greedy_params();
    trit_sampler *s = make(&p, 6);
    float l[6] = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f, NAN};
    assert_int_equal(trit_sampler_sample(s, l), 1); // tie between 1 and 3: lowest id
    l[3] = 3.5f;
    assert_int_equal(trit_sampler_sample(s, l), 3);
    trit_sampler_free(s);
}

static void test_params_checked(void **state) {
    trit_sampler *s;
    trit_error err;
    trit_sampler_params p = trit_sampler_default_params();
    assert_int_equal(trit_sampler_new(&p, 0, &s, &err), TRIT_E_ARG);
    p.temperature = -1;
    assert_int_equal(trit_sampler_new(&p, 10, &s, &err), TRIT_E_ARG);
    p = trit_sampler_default_params(), p.top_p = 1.5f;
    assert_int_equal(trit_sampler_new(&p, 10, &s, &err), TRIT_E_ARG);
    p = trit_sampler_default_params(), p.min_p = NAN;
    assert_int_equal(trit_sampler_new(&p, 10, &s, &err), TRIT_E_ARG);
    p = trit_sampler_default_params(), p.repeat_penalty = 0;
    assert_int_equal(trit_sampler_new(&p, 10, &s, &err), TRIT_E_ARG);
    p = trit_sampler_default_params(), p.top_k = -1;
    assert_int_equal(trit_sampler_new(&p, 10, &s, &err), TRIT_E_ARG);
    p = trit_sampler_default_params(), p.repeat_last_n = -1;
    assert_int_equal(trit_sampler_new(&p, 10, &s, &err), TRIT_E_ARG);
    assert_null(s);
}

static void test_determinism(void **state) {
    enum { V = 1000, T = 300 };
    float *l = malloc(sizeof(float) * V);
    for (int i = 0; i < V; i++)
        l[i] = 4.0f * frand();
    trit_sampler_params p = trit_sampler_default_params();
    p.temperature = 1.0f, p.top_k = 0, p.top_p = 1.0f, p.min_p = 0.0f, p.seed = 777;
    trit_sampler *a = make(&p, V), *b = make(&p, V);
    p.seed = 778;
    trit_sampler *c = make(&p, V);
    int same_c = 0;
    for (int t = 0; t < T; t++) {
        int32_t ta = trit_sampler_sample(a, l), tb = trit_sampler_sample(b, l), tc = trit_sampler_sample(c, l);
        assert_int_equal(ta, tb);
        assert_true(ta >= 0 && ta < V);
        same_c += ta == tc;
    }
    assert_true(same_c < T / 2); // another seed gives another sequence
    trit_sampler_free(a), trit_sampler_free(b), trit_sampler_free(c);
    free(l);
}

static void test_top_k1_and_tiny_top_p_are_greedy(void **state) {
    enum { V = 5000 };
    float *l = malloc(sizeof(float) * V);
    trit_sampler_params pk = trit_sampler_default_params();
    pk.temperature = 1.5f, pk.top_k = 1, pk.top_p = 1.0f, pk.min_p = 0.0f, pk.seed = 1;
    trit_sampler_params pp = pk;
    pp.top_k = 0, pp.top_p = 1e-6f;
    trit_sampler *sk = make(&pk, V), *sp = make(&pp, V);
    for (int it = 0; it < 50; it++) {
        for (int i = 0; i < V; i++)
            l[i] = 10.0f * frand() - 5.0f;
        int32_t g = argmax(l, V);
        assert_int_equal(trit_sampler_sample(sk, l), g);
        assert_int_equal(trit_sampler_sample(sp, l), g);
    }
    trit_sampler_free(sk), trit_sampler_free(sp);
    free(l);
}

/* counts of N draws from logits l[V] with params p */
static void draw(const trit_sampler_params *p, const float *l, int32_t V, int N, int *count) {
    trit_sampler *s = make(p, V);
    memset(count, 0, sizeof(int) * (size_t)V);
    for (int i = 0; i < N; i++) {
        int32_t t = trit_sampler_sample(s, l);
        assert_true(t >= 0 && t < V);
        count[t]++;
    }
    trit_sampler_free(s);
}

/* chi-square of counts against probabilities; with fixed seeds the value is deterministic */
static double chi2(const int *count, const double *prob, int V, int N) {
    double c = 0;
    for (int i = 0; i < V; i++)
        if (prob[i] > 0) {
            double e = prob[i] * N;
            c += (count[i] - e) * (count[i] - e) / e;
        }
    return c;
}

static void test_temperature_distribution(void **state) {
    enum { V = 4, N = 20000 };
    const double p0[V] = {0.1, 0.2, 0.3, 0.4};
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)log(p0[i]) + 3.0f; // shift: softmax is shift-invariant
    int count[V];
    trit_sampler_params p = trit_sampler_default_params();
    p.top_k = 0, p.top_p = 1.0f, p.min_p = 0.0f, p.seed = 42;
    const float temps[] = {1.0f, 2.0f, 0.5f};
    for (int ti = 0; ti < 3; ti++) {
        p.temperature = temps[ti];
        draw(&p, l, V, N, count);
        double q[V], z = 0;
        for (int i = 0; i < V; i++)
            z += q[i] = pow(p0[i], 1.0 / temps[ti]);
        for (int i = 0; i < V; i++)
            q[i] /= z;
        // 3 degrees of freedom: P(chi2 > 16.27) = 0.001
        assert_true(chi2(count, q, V, N) < 16.27);
    }
}

static void test_top_k_and_min_p_filter(void **state) {
    enum { V = 6, N = 10000 };
    const double p0[V] = {0.05, 0.3, 0.1, 0.25, 0.2, 0.1};
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)log(p0[i]);
    int count[V];
    trit_sampler_params p = trit_sampler_default_params();
    p.temperature = 1.0f, p.top_k = 2, p.top_p = 1.0f, p.min_p = 0.0f, p.seed = 9;
    draw(&p, l, V, N, count); // top-2: tokens 1 and 3 renormalised
    const double qk[V] = {0, 0.3 / 0.55, 0, 0.25 / 0.55, 0, 0};
    assert_int_equal(count[0] + count[2] + count[4] + count[5], 0);
    assert_true(chi2(count, qk, V, N) < 10.83); // 1 dof, p = 0.001
    p.top_k = 0, p.min_p = 0.5f;                // keep p >= 0.15: tokens 1, 3, 4
    draw(&p, l, V, N, count);
    const double qm[V] = {0, 0.3 / 0.75, 0, 0.25 / 0.75, 0.2 / 0.75, 0};
    assert_int_equal(count[0] + count[2] + count[5], 0);
    assert_true(chi2(count, qm, V, N) < 13.82); // 2 dof, p = 0.001
    p.min_p = 0.0f, p.top_p = 0.6f;             // sorted 0.3, 0.25, 0.2: mass 0.75 >= 0.6 at the third
    draw(&p, l, V, N, count);
    assert_int_equal(count[0] + count[2] + count[5], 0);
    assert_true(chi2(count, qm, V, N) < 13.82);
}

static void test_repetition_penalty(void **state) {
    trit_sampler_params p = greedy_params();
    p.repeat_penalty = 1.2f, p.repeat_last_n = 2;
    trit_sampler *s = make(&p, 4);
    float pos[4] = {2.0f, 1.9f, 0.0f, -5.0f};
    float neg[4] = {-1.0f, -1.1f, -3.0f, -5.0f};
    assert_int_equal(trit_sampler_sample(s, pos), 0);
    trit_sampler_accept(s, 0);
    assert_int_equal(trit_sampler_sample(s, pos), 1); // 2.0 / 1.2 < 1.9
    assert_int_equal(trit_sampler_sample(s, neg), 1); // -1.0 * 1.2 < -1.1
    trit_sampler_accept(s, 5);                        // out of the vocabulary: ignored
    trit_sampler_accept(s, 2);
    assert_int_equal(trit_sampler_sample(s, pos), 1); // 0 still in the window of 2
    trit_sampler_accept(s, 3);
    assert_int_equal(trit_sampler_sample(s, pos), 0); // 0 fell out of the window
    trit_sampler_accept(s, 0);
    trit_sampler_reset(s);
    assert_int_equal(trit_sampler_sample(s, pos), 0); // reset forgets
    trit_sampler_free(s);

    // a token repeated in the window is penalised once: 2.0/1.05 = 1.905 > 1.9, twice would be 1.814 < 1.9
    p.repeat_penalty = 1.05f, p.repeat_last_n = 8;
    s = make(&p, 4);
    for (int i = 0; i < 5; i++)
        trit_sampler_accept(s, 0);
    assert_int_equal(trit_sampler_sample(s, pos), 0);
    trit_sampler_free(s);
}

static void test_large_vocab_top_k(void **state) {
    enum { V = 128256 };
    float *l = malloc(sizeof(float) * V), *sorted = malloc(sizeof(float) * V);
    for (int i = 0; i < V; i++)
        l[i] = 20.0f * frand();
    trit_sampler_params p = trit_sampler_default_params(); // top_k 40, top_p 0.95, min_p 0.05, temp 0.8
    p.seed = 3;
    trit_sampler *s = make(&p, V);
    memcpy(sorted, l, sizeof(float) * V);
    float kth = -INFINITY; // the 40th largest logit, by repeated max removal
    for (int r = 0; r < 40; r++) {
        int32_t b = argmax(sorted, V);
        kth = sorted[b];
        sorted[b] = -INFINITY;
    }
    float mx = l[argmax(l, V)];
    for (int t = 0; t < 200; t++) {
        int32_t id = trit_sampler_sample(s, l);
        assert_true(l[id] >= kth);
        assert_true(l[id] >= mx + logf(0.05f)); // min-p
    }
    trit_sampler_free(s);
    free(l), free(sorted);
}

static const float *cmp_base;
static int by_logit_desc(const void *a, const void *b) {
    float x = cmp_base[*(const int32_t *)a], y = cmp_base[*(const int32_t *)b];
    return x > y ? -1 : x < y ? 1 : *(const int32_t *)a - *(const int32_t *)b;
}

static void test_top_p_nucleus(void **state) {
    // the nucleus by brute force (full sort, double softmax): every draw must lie in it, and its tail (the least
    // likely tenth of its members) must get about its share of the draws, so the sampler does not cut it short
    enum { V = 6000, T = 1500 };
    const float spreads[] = {3.0f, 8.0f, 30.0f}; // flat to peaky distributions
    float *l = malloc(sizeof(float) * V);
    int32_t *idx = malloc(sizeof(int32_t) * V);
    uint8_t *in = malloc(V); // 0: outside, 1: nucleus, 2: nucleus tail
    for (int si = 0; si < 3; si++) {
        for (int i = 0; i < V; i++)
            l[i] = spreads[si] * frand() * frand() * frand(); // a long tail below a few large logits
        for (int i = 0; i < V; i++)
            idx[i] = i;
        cmp_base = l;
        qsort(idx, V, sizeof(int32_t), by_logit_desc);
        double sum = 0, cum = 0;
        for (int i = 0; i < V; i++)
            sum += exp((double)l[i] - l[idx[0]]);
        memset(in, 0, V);
        int n_in = 0;
        while (cum < 0.5)
            cum += exp((double)l[idx[n_in++]] - l[idx[0]]) / sum;
        double tail = 0;
        for (int i = 0; i < n_in; i++) {
            in[idx[i]] = i >= n_in - n_in / 10 ? 2 : 1;
            if (in[idx[i]] == 2)
                tail += exp((double)l[idx[i]] - l[idx[0]]) / sum;
        }
        trit_sampler_params p = trit_sampler_default_params();
        p.temperature = 1.0f, p.top_k = 0, p.top_p = 0.5f, p.min_p = 0.0f, p.seed = 11;
        trit_sampler *s = make(&p, V);
        int tail_draws = 0;
        for (int t = 0; t < T; t++) {
            int32_t id = trit_sampler_sample(s, l);
            assert_true(in[id] != 0);
            tail_draws += in[id] == 2;
        }
        double expect = T * tail / cum;
        if (expect >= 20) // Poisson-ish: half the expectation is > 3 sigma away
            assert_true(tail_draws > expect / 2);
        trit_sampler_free(s);
    }
    free(l), free(idx), free(in);
}

static void test_all_neg_inf(void **state) {
    trit_sampler_params p = trit_sampler_default_params();
    p.temperature = 1.0f;
    trit_sampler *s = make(&p, 3);
    float l[3] = {-INFINITY, -INFINITY, -INFINITY};
    assert_int_equal(trit_sampler_sample(s, l), 0);
    l[2] = 1.0f;
    assert_int_equal(trit_sampler_sample(s, l), 2); // the only finite logit
    trit_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_params_checked),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_top_k1_and_tiny_top_p_are_greedy),
        cmocka_unit_test(test_temperature_distribution),
        cmocka_unit_test(test_top_k_and_min_p_filter),
        cmocka_unit_test(test_repetition_penalty),
        cmocka_unit_test(test_large_vocab_top_k),
        cmocka_unit_test(test_top_p_nucleus),
        cmocka_unit_test(test_all_neg_inf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
