/* The transformer family: vit, mixer and gpt build by name with the documented parameter names
 * and roles (embeddings are DS_ROLE_EMBEDDING: decayed, but left to AdamW by Muon), whole-model
 * finite-difference checks, fused and unfused attention giving the same model, a training step
 * that allocates nothing, and option errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* A small model on random data: images (B, 1, 8, 8) for vit/mixer, windows (B, T + 1) of ids in
 * 0..V-1 for gpt; per-sample cross-entropy. */
typedef struct {
  ds_graph *g;
  ds_node x, y, logits;
} model;

#define V 7
#define T 6

static model build(const ds_model_options *o, int64_t B) {
  model m;
  bool gpt = !strcmp(o->name, "gpt");
  m.g = ds_graph_new(B);
  m.x = ds_input(m.g, "x", gpt ? ds_shape1(T + 1) : ds_shape3(1, 8, 8));
  m.y = ds_input(m.g, "y", ds_shape_scalar());
  ds_status st = ds_model_build(m.g, o, m.x, gpt ? V : 3, &m.logits);
  if (st) fail_msg("%s: %s", o->name, ds_last_error());
  ds_node loss = gpt ? ds_cross_entropy(m.g, m.logits, ds_slice(m.g, m.x, 1, T), 0)
                     : ds_cross_entropy(m.g, m.logits, m.y, 0);
  if (ds_graph_compile(m.g, loss)) fail_msg("%s: %s", o->name, ds_last_error());
  assert_int_equal(ds_graph_init_params(m.g, 1), DS_OK);
  if (gpt) { /* embeddings of std 1 instead of 0.02: the finite differences' steps are then small
              * against the residual stream that the final layer norm divides by its std */
    ds_paramset *ps = ds_graph_params(m.g);
    for (int i = 0; i < ps->count; i++)
      if (ps->info[i].role == DS_ROLE_EMBEDDING)
        for (int64_t k = 0; k < ps->info[i].numel; k++)
          ps->data[ps->info[i].offset + k] *= 50.0f;
  }
  float *x = ds_graph_value(m.g, m.x), *y = ds_graph_value(m.g, m.y);
  if (gpt)
    for (int64_t i = 0; i < B * (T + 1); i++)
      x[i] = (float)((i * 5 + i / 3) % V);
  else
    tu_fill_uniform(x, B * 64, -1, 1, 2);
  for (int64_t i = 0; i < B; i++)
    y[i] = (float)(i % 3);
  return m;
}

static ds_model_options small(const char *name) {
  ds_model_options o = ds_model_options_default(name);
  o.width = 8;
  o.depth = 2;
  o.heads = 2;
  o.mlp_ratio = 2;
  o.patch = 4;
  return o;
}

static void test_gradcheck(void **s) {
  (void)s;
  const char *names[] = {"vit", "mixer", "gpt", "vit"};
  for (int i = 0; i < 4; i++) {
    ds_model_options o = small(names[i]);
    if (i == 3) o.pooling = DS_POOL_CLS, o.unfused_attention = true;
    model m = build(&o, 3);
    /* float32 through ~20 ops; weights of std 0.02 keep activations small, so eps 1e-2 is well
     * inside the smooth region of GELU and layer norm; a few elements per tensor */
    int64_t bad = tu_gradcheck(m.g, 1e-2, 1e-4, 2e-2, 6);
    if (bad) fprintf(stderr, "model %s: %lld mismatches\n", names[i], (long long)bad);
    assert_int_equal(bad, 0);
    ds_graph_free(m.g);
  }
}

static void test_names_and_roles(void **s) {
  (void)s;
  ds_model_options o = small("gpt");
  model m = build(&o, 2);
  ds_paramset *ps = ds_graph_params(m.g);
  const char *names[] = {"wte.weight",
                         "wpe.weight",
                         "blocks.0.norm1.weight",
                         "blocks.0.attn.q.weight",
                         "blocks.1.attn.proj.bias",
                         "blocks.1.mlp.fc2.weight",
                         "norm.bias",
                         "head.weight"};
  for (int i = 0; i < 8; i++) {
    if (ds_paramset_find(ps, names[i]) < 0) fail_msg("gpt: missing %s", names[i]);
  }
  assert_true(ds_paramset_find(ps, "head.bias") < 0);
  const ds_param_info *wte = &ps->info[ds_paramset_find(ps, "wte.weight")];
  assert_int_equal(wte->role, DS_ROLE_EMBEDDING);
  assert_false(wte->no_decay);
  assert_true(ps->info[ds_paramset_find(ps, "head.weight")].is_head);
  assert_int_equal(ps->info[ds_paramset_find(ps, "blocks.0.attn.q.weight")].role, DS_ROLE_WEIGHT);
  ds_shape lg = ds_graph_shape(m.g, m.logits);
  assert_int_equal(lg.rank, 3);
  assert_int_equal(lg.dim[1], T);
  assert_int_equal(lg.dim[2], V);
  ds_graph_free(m.g);

  o = small("vit");
  o.pooling = DS_POOL_CLS;
  m = build(&o, 2);
  ps = ds_graph_params(m.g);
  assert_int_equal(ps->info[ds_paramset_find(ps, "patch_embed.weight")].role, DS_ROLE_EMBEDDING);
  assert_int_equal(ps->info[ds_paramset_find(ps, "cls_token")].role, DS_ROLE_EMBEDDING);
  assert_int_equal(ps->info[ds_paramset_find(ps, "pos_embed")].shape.dim[0], 5); /* 4 + cls */
  ds_graph_free(m.g);

  o = small("mixer");
  m = build(&o, 2);
  ps = ds_graph_params(m.g);
  assert_int_equal(ps->info[ds_paramset_find(ps, "blocks.1.token_mix.fc1.weight")].shape.dim[1], 4);
  assert_true(ds_paramset_find(ps, "blocks.0.channel_mix.fc2.bias") >= 0);
  ds_graph_free(m.g);
}

/* Muon leaves embeddings, the head, gains and biases to its AdamW: after one step from zero
 * moments with U = G, AdamW's first step is -adam_lr sign(g) exactly; a hidden matrix moves by
 * an orthogonalised step instead. */
static void test_muon_roles(void **s) {
  (void)s;
  ds_model_options o = small("gpt");
  model m = build(&o, 2);
  ds_paramset *ps = ds_graph_params(m.g);
  assert_int_equal(ds_graph_forward(m.g), DS_OK);
  assert_int_equal(ds_graph_backward(m.g, NULL), DS_OK);
  float *before = test_malloc((size_t)ps->numel * sizeof(float));
  memcpy(before, ps->data, (size_t)ps->numel * sizeof(float));
  ds_optim *opt = ds_optim_new("muon", ps);
  assert_int_equal(ds_optim_set_str(opt, "adam_lr", "0.5"), DS_OK);
  assert_int_equal(ds_optim_set_str(opt, "lr", "1"), DS_OK);
  assert_int_equal(ds_optim_step(opt, 1.0f), DS_OK);
  for (int i = 0; i < ps->count; i++) {
    const ds_param_info *p = &ps->info[i];
    bool adam = true;
    for (int64_t k = 0; k < p->numel; k++) {
      float g = ps->grad[p->offset + k], d = ps->data[p->offset + k] - before[p->offset + k];
      /* (the key bias's gradient is 0 up to rounding: softmax ignores a per-row shift) */
      if (fabsf(g) > 1e-6f && fabsf(d + 0.5f * copysignf(1.0f, g)) > 1e-4f) adam = false;
    }
    bool hidden = p->role == DS_ROLE_WEIGHT && !p->is_head;
    if (adam == hidden)
      fail_msg("muon: parameter '%s' %s", p->name,
               hidden ? "took an AdamW step" : "was orthogonalised");
  }
  ds_optim_free(opt);
  test_free(before);
  ds_graph_free(m.g);
}

/* Fused and unfused attention: the same parameters give the same logits. */
static void test_fused_equals_unfused(void **s) {
  (void)s;
  for (int k = 0; k < 2; k++) {
    ds_model_options o = small(k ? "gpt" : "vit");
    model a = build(&o, 3);
    o.unfused_attention = true;
    model b = build(&o, 3);
    assert_int_equal(ds_graph_forward(a.g), DS_OK);
    assert_int_equal(ds_graph_forward(b.g), DS_OK);
    ds_shape sh = ds_graph_shape(a.g, a.logits);
    assert_int_equal(tu_mismatches("logits", ds_graph_value(a.g, a.logits),
                                   ds_graph_value(b.g, b.logits), ds_shape_numel(&sh), 1e-6, 1e-5),
                     0);
    ds_graph_free(a.g);
    ds_graph_free(b.g);
  }
}

/* A step at a smaller batch after compiling: nothing is allocated. */
static void test_no_alloc(void **s) {
  (void)s;
  const char *names[] = {"vit", "mixer", "gpt"};
  for (int i = 0; i < 3; i++) {
    ds_model_options o = small(names[i]);
    model m = build(&o, 4);
    assert_int_equal(ds_graph_set_batch(m.g, 3), DS_OK);
    uint64_t before = ds_alloc_count();
    assert_int_equal(ds_graph_forward(m.g), DS_OK);
    assert_int_equal(ds_graph_backward(m.g, NULL), DS_OK);
    assert_int_equal(ds_alloc_count(), before);
    ds_graph_free(m.g);
  }
}

static void test_option_errors(void **s) {
  (void)s;
  ds_model_options o = small("vit");
  o.heads = 3; /* does not divide 8 */
  ds_graph *g = ds_graph_new(2);
  ds_node x = ds_input(g, "x", ds_shape3(1, 8, 8)), logits;
  assert_int_equal(ds_model_build(g, &o, x, 3, &logits), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "heads"));
  o = small("vit");
  o.patch = 3; /* does not divide 8 */
  assert_int_equal(ds_model_build(g, &o, x, 3, &logits), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "patch"));
  o = small("gpt"); /* needs (B, T + 1) windows */
  assert_int_equal(ds_model_build(g, &o, x, 3, &logits), DS_ESHAPE);
  assert_non_null(strstr(ds_last_error(), "gpt"));
  ds_pooling p;
  assert_int_equal(ds_pooling_parse("max", &p), DS_ENOTFOUND);
  ds_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck),  cmocka_unit_test(test_names_and_roles),
      cmocka_unit_test(test_muon_roles), cmocka_unit_test(test_fused_equals_unfused),
      cmocka_unit_test(test_no_alloc),   cmocka_unit_test(test_option_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
