/* The loader: every sample once per epoch, a new order each epoch, batch sizes and drop_last,
 * normalisation, augmentation against a naive pad-crop-flip reference, no allocation per batch,
 * and bitwise-identical continuation after saving and restoring its state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/data.h"

/* n images (C, H, W) of bytes: pixel (i, c, y, x) = (37 i + 11 c + 5 y + 3 x + 1) mod 256,
 * label i mod 3. */
static ds_dataset *images(int64_t n, int C, int H, int W) {
  ds_dataset *d = ds_dataset_new("imgs", n, ds_shape3(C, H, W), true, 3);
  assert_non_null(d);
  for (int64_t i = 0; i < n; i++) {
    for (int c = 0; c < C; c++)
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          d->u8[((i * C + c) * H + y) * W + x] =
              (uint8_t)((37 * i + 11 * c + 5 * y + 3 * x + 1) % 256);
    d->labels[i] = d->clean_labels[i] = (int32_t)(i % 3);
  }
  return d;
}

static void test_epochs_cover_every_sample(void **state) {
  (void)state;
  ds_dataset *d = images(10, 1, 2, 2);
  ds_loader_options o = ds_loader_options_default();
  o.batch = 4;
  o.seed = 1;
  ds_loader *l = ds_loader_new(d, &o);
  assert_non_null(l);
  assert_int_equal(ds_loader_batches_per_epoch(l), 3);
  float x[16], y[4], ref[16];
  int64_t orders[3][10];
  for (int e = 0; e < 3; e++) {
    int seen[10] = {0}, k = 0;
    int64_t sizes[3] = {4, 4, 2};
    for (int b = 0; b < 3; b++) {
      assert_int_equal(ds_loader_next(l, x, y), sizes[b]);
      const int64_t *idx = ds_loader_indices(l);
      assert_int_equal(ds_dataset_get(d, idx, sizes[b], ref, NULL), DS_OK);
      assert_memory_equal(x, ref, (size_t)sizes[b] * 4 * sizeof(float));
      for (int j = 0; j < sizes[b]; j++) {
        assert_true(y[j] == (float)(idx[j] % 3));
        seen[idx[j]]++;
        orders[e][k++] = idx[j];
      }
    }
    assert_int_equal(ds_loader_next(l, x, y), 0); /* end of epoch, once */
    for (int i = 0; i < 10; i++)
      assert_int_equal(seen[i], 1);
  }
  assert_memory_not_equal(orders[0], orders[1], sizeof orders[0]); /* reshuffled every epoch */
  assert_memory_not_equal(orders[1], orders[2], sizeof orders[0]);
  ds_loader_free(l);
  /* drop_last: 4, 4, end; no shuffle: identity order */
  o.drop_last = true;
  o.shuffle = false;
  l = ds_loader_new(d, &o);
  assert_int_equal(ds_loader_batches_per_epoch(l), 2);
  assert_int_equal(ds_loader_next(l, x, y), 4);
  assert_int_equal(ds_loader_next(l, NULL, y), 4);
  assert_true(y[0] == 1.0f && y[3] == 1.0f); /* samples 4..7 */
  assert_int_equal(ds_loader_next(l, x, y), 0);
  assert_int_equal(ds_loader_next(l, x, NULL), 4);
  assert_int_equal(ds_loader_indices(l)[0], 0);
  ds_loader_free(l);
  ds_dataset_free(d);
}

static void test_normalisation(void **state) {
  (void)state;
  ds_dataset *d = images(5, 2, 3, 3);
  assert_int_equal(ds_dataset_set_norm(d, (float[]){0.5f, 0.25f}, (float[]){0.2f, 0.4f}, 2), DS_OK);
  float x[5 * 18];
  int64_t idx[5] = {0, 1, 2, 3, 4};
  assert_int_equal(ds_dataset_get(d, idx, 5, x, NULL), DS_OK);
  for (int i = 0; i < 5 * 18; i++) {
    int c = (i / 9) % 2;
    double want = (d->u8[i] / 255.0 - (c ? 0.25 : 0.5)) / (c ? 0.4 : 0.2);
    assert_true(fabs(x[i] - want) <=
                1e-6 + 1e-6 * fabs(want)); /* v*scale+shift vs (v/255-m)/s in float */
  }
  /* computed statistics standardise the set: per channel mean 0, std 1 */
  assert_int_equal(ds_dataset_compute_norm(d), DS_OK);
  ds_dataset_get(d, idx, 5, x, NULL);
  for (int c = 0; c < 2; c++) {
    double s = 0, ss = 0;
    for (int i = 0; i < 5; i++)
      for (int j = 0; j < 9; j++)
        s += x[i * 18 + c * 9 + j], ss += x[i * 18 + c * 9 + j] * x[i * 18 + c * 9 + j];
    assert_true(fabs(s / 45) < 1e-6 && fabs(ss / 45 - 1) < 1e-5); /* float32 conversion */
  }
  assert_int_equal(ds_dataset_set_norm(d, (float[]){0.5f}, (float[]){0.2f}, 1), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "imgs"));
  assert_int_equal(ds_dataset_set_norm(d, (float[]){0.5f, 0.f}, (float[]){0.2f, 0.f}, 2),
                   DS_EINVAL);
  assert_int_equal(ds_dataset_set_norm(d, NULL, NULL, 0), DS_OK);
  assert_false(d->normalized);
  ds_dataset_free(d);
}

/* The naive reference: zero-pad by p, cut the H x W window at (p + dy, p + dx), mirror. */
static float reference_pixel(const ds_dataset *d, int64_t i, int c, int y, int x, int p, int dy,
                             int dx, bool flip) {
  int64_t H = d->sample_shape.dim[1], W = d->sample_shape.dim[2];
  int64_t Hp = H + 2 * p, Wp = W + 2 * p;
  float *pad = calloc((size_t)(Hp * Wp), sizeof(float));
  for (int64_t yy = 0; yy < H; yy++)
    for (int64_t xx = 0; xx < W; xx++) {
      int64_t o = ((i * d->channels + c) * H + yy) * W + xx;
      pad[(yy + p) * Wp + xx + p] = d->u8 ? (float)d->u8[o] : d->f32[o];
    }
  int xc = flip ? (int)W - 1 - x : x;
  float raw = pad[(y + p + dy) * Wp + (xc + p + dx)];
  free(pad);
  return raw * d->scale[c] + d->shift[c];
}

static void check_augmentation(ds_dataset *d, int p, bool hflip) {
  ds_loader_options o = ds_loader_options_default();
  o.batch = 7;
  o.crop_padding = p;
  o.hflip = hflip;
  o.seed = 99;
  ds_loader *l = ds_loader_new(d, &o);
  assert_non_null(l);
  int64_t m = d->sample_numel, H = d->sample_shape.dim[1], W = d->sample_shape.dim[2];
  float *x = malloc((size_t)(7 * m) * sizeof(float));
  ds_rng r; /* replays the documented draws: dy, dx (if p > 0), flip (if hflip), per sample */
  ds_rng_seed(&r, 99, DS_RNG_AUGMENT);
  int combos[11][11][2] = {{{0}}}; /* p <= 5 */
  for (int e = 0; e < 4; e++) {
    int64_t b;
    while ((b = ds_loader_next(l, x, NULL)) > 0) {
      const int64_t *idx = ds_loader_indices(l);
      for (int64_t k = 0; k < b; k++) {
        int dy = 0, dx = 0;
        bool flip = false;
        if (p) {
          dy = (int)ds_rng_below(&r, 2 * (uint64_t)p + 1) - p;
          dx = (int)ds_rng_below(&r, 2 * (uint64_t)p + 1) - p;
        }
        if (hflip) flip = ds_rng_below(&r, 2) == 1;
        combos[dy + p][dx + p][flip]++;
        for (int c = 0; c < d->channels; c++)
          for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
              float want = reference_pixel(d, idx[k], c, y, xx, p, dy, dx, flip);
              float got = x[k * m + (c * H + y) * W + xx];
              if (got != want) /* same float operations: exact */
                fail_msg("sample %lld c%d (%d,%d) dy %d dx %d flip %d: %g != %g", (long long)idx[k],
                         c, y, xx, dy, dx, flip, got, want);
            }
      }
    }
  }
  int distinct = 0;
  for (int a = 0; a < 11; a++)
    for (int b = 0; b < 11; b++)
      for (int f = 0; f < 2; f++)
        distinct += combos[a][b][f] > 0;
  int possible = (2 * p + 1) * (2 * p + 1) * (hflip ? 2 : 1), draws = 4 * (int)d->n;
  assert_true(3 * distinct >= (possible < draws ? possible : draws)); /* the draws do vary */
  free(x);
  ds_loader_free(l);
}

static void test_augmentation(void **state) {
  (void)state;
  ds_dataset *d = images(50, 2, 5, 6);
  assert_int_equal(ds_dataset_set_norm(d, (float[]){0.3f, 0.6f}, (float[]){0.5f, 0.25f}, 2), DS_OK);
  check_augmentation(d, 2, true);
  check_augmentation(d, 0, true);
  check_augmentation(d, 3, false);
  check_augmentation(d, 5, true); /* padding = H: windows that are almost all padding */
  /* float images take the same path */
  ds_dataset *f = ds_dataset_new("fimgs", 50, ds_shape3(1, 4, 4), false, 2);
  for (int i = 0; i < 50 * 16; i++)
    f->f32[i] = (float)sin(i);
  check_augmentation(f, 1, true);
  ds_dataset_free(f);
  ds_dataset_free(d);
}

static void test_no_allocation_per_batch(void **state) {
  (void)state;
  ds_dataset *d = images(100, 1, 8, 8);
  ds_loader_options o = ds_loader_options_default();
  o.batch = 32;
  o.crop_padding = 2;
  o.hflip = true;
  ds_loader *l = ds_loader_new(d, &o);
  float x[32 * 64], y[32];
  uint64_t before = ds_alloc_count();
  int64_t batches = 0;
  for (int k = 0; k < 50; k++)
    batches += ds_loader_next(l, x, y) > 0; /* crosses epochs */
  assert_int_equal(ds_alloc_count(), before);
  assert_true(batches >= 38);
  ds_loader_free(l);
  ds_dataset_free(d);
}

/* Runs `steps` calls, appending every output to out. */
static size_t run(ds_loader *l, int steps, float *out, size_t at, int64_t m) {
  float x[9 * 64], y[9];
  for (int s = 0; s < steps; s++) {
    int64_t b = ds_loader_next(l, x, y);
    assert_true(b >= 0);
    out[at++] = (float)b;
    memcpy(out + at, x, (size_t)(b * m) * sizeof(float));
    at += (size_t)(b * m);
    memcpy(out + at, y, (size_t)b * sizeof(float));
    at += (size_t)b;
  }
  return at;
}

static void test_state_resume_is_bitwise(void **state) {
  (void)state;
  ds_dataset *d = images(40, 1, 8, 8);
  ds_dataset_compute_norm(d);
  ds_loader_options o = ds_loader_options_default();
  o.batch = 9;
  o.crop_padding = 2;
  o.hflip = true;
  o.seed = 5;
  size_t cap = 400 * 9 * 70;
  float *a = malloc(cap * sizeof(float)), *b = malloc(cap * sizeof(float));
  int cuts[] = {0, 3, 5, 6, 13}; /* start, mid-epoch, at a 0 (epoch end), just after, later */
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
    ds_loader *l1 = ds_loader_new(d, &o);
    run(l1, cuts[k], a, 0, 64);
    ds_loader_state s;
    ds_loader_get_state(l1, &s);
    size_t na = run(l1, 25, a, 0, 64);
    /* a fresh loader (other seed even) restored from the state continues identically */
    ds_loader_options o2 = o;
    o2.seed = 1234;
    ds_loader *l2 = ds_loader_new(d, &o2);
    run(l2, 3, b, 0, 64);
    assert_int_equal(ds_loader_set_state(l2, &s), DS_OK);
    size_t nb = run(l2, 25, b, 0, 64);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof(float));
    ds_loader_state s1, s2;
    ds_loader_get_state(l1, &s1);
    ds_loader_get_state(l2, &s2);
    assert_memory_equal(&s1, &s2, sizeof s1);
    ds_loader_free(l1);
    ds_loader_free(l2);
  }
  /* a state from another configuration is refused */
  ds_loader *l = ds_loader_new(d, &o);
  ds_loader_state s;
  ds_loader_get_state(l, &s);
  s.position = 41;
  assert_int_equal(ds_loader_set_state(l, &s), DS_EINVAL);
  s.position = 4;
  assert_int_equal(ds_loader_set_state(l, &s), DS_EINVAL);
  assert_non_null(strstr(ds_last_error(), "imgs"));
  ds_loader_free(l);
  free(a);
  free(b);
  ds_dataset_free(d);
}

static void test_loader_errors(void **state) {
  (void)state;
  ds_data_options dopt = ds_data_options_default();
  ds_dataset *tr, *te;
  assert_int_equal(ds_dataset_load("moons", &dopt, &tr, &te), DS_OK);
  ds_loader_options o = ds_loader_options_default();
  o.hflip = true;
  assert_null(ds_loader_new(tr, &o)); /* tabular data cannot be flipped */
  assert_non_null(strstr(ds_last_error(), "moons/train"));
  assert_non_null(strstr(ds_last_error(), "(2)"));
  o = ds_loader_options_default();
  o.batch = 0;
  assert_null(ds_loader_new(tr, &o));
  assert_non_null(strstr(ds_last_error(), "batch"));
  o.batch = 2000;
  o.drop_last = true;
  assert_null(ds_loader_new(tr, &o));
  ds_dataset *im = images(4, 1, 3, 3);
  o = ds_loader_options_default();
  o.crop_padding = 4;
  assert_null(ds_loader_new(im, &o));
  assert_non_null(strstr(ds_last_error(), "crop padding 4"));
  /* regression targets come out as y */
  dopt.n_train = 5;
  ds_dataset *rtr, *rte;
  assert_int_equal(ds_dataset_load("regression", &dopt, &rtr, &rte), DS_OK);
  o = ds_loader_options_default();
  o.shuffle = false;
  ds_loader *l = ds_loader_new(rtr, &o);
  float x[10], y[5];
  assert_int_equal(ds_loader_next(l, x, y), 5);
  assert_memory_equal(y, rtr->targets, sizeof y);
  assert_memory_equal(x, rtr->f32, sizeof x);
  ds_loader_free(l);
  ds_dataset_free(rtr);
  ds_dataset_free(rte);
  ds_dataset_free(im);
  ds_dataset_free(tr);
  ds_dataset_free(te);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epochs_cover_every_sample),
      cmocka_unit_test(test_normalisation),
      cmocka_unit_test(test_augmentation),
      cmocka_unit_test(test_no_allocation_per_batch),
      cmocka_unit_test(test_state_resume_is_bitwise),
      cmocka_unit_test(test_loader_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
