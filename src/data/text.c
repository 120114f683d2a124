/* The character-level text dataset ("text"): a corpus of one or more files, its character set
 * as the vocabulary, a contiguous train/test split and windows of context + 1 characters.
 *
 * A sample is the window c_s .. c_{s+T} (T = opt->context) stored as vocabulary indices in bytes
 * with u8_max = 1, so the loader hands out the indices themselves as floats; a language model
 * reads x[:, :T] and predicts x[:, 1:]. Windows start every T characters, so the predicted
 * characters tile the split exactly once per epoch; the loader shuffles the windows. The test
 * split is the corpus's last test_fraction (contiguous, never seen in training). Labels are 0
 * (the model's targets are inside the sample); n_classes is the vocabulary size. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"
#include "descent/alloc.h"

#define DS_TEXT_DEFAULT_PATH "/usr/share/games/fortunes"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the file at path to *buf (length *len). */
static ds_status append_file(const char *path, char **buf, int64_t *len) {
  char *b;
  int64_t n;
  ds_status st = ds__read_file(path, &b, &n);
  if (st) return st;
  char *nb = ds_realloc(*buf, (size_t)(*len + n) + 1);
  if (!nb) {
    ds_free(b);
    return DS_ENOMEM;
  }
  memcpy(nb + *len, b, (size_t)n);
  ds_free(b);
  *buf = nb;
  *len += n;
  return DS_OK;
}

/* Appends every file of directory dir whose name has no '.' (fortune's text files, not its .dat
 * indices), in name order. */
static ds_status append_dir(const char *dir, char **buf, int64_t *len) {
  DIR *d = opendir(dir);
  if (!d) return ds_set_error(DS_EIO, "text: cannot open directory '%s'", dir);
  char **names = NULL;
  int count = 0, cap = 0;
  ds_status st = DS_OK;
  for (struct dirent *e; (e = readdir(d)) != NULL && !st;) {
    if (strchr(e->d_name, '.')) continue;
    if (count == cap) {
      cap = cap ? 2 * cap : 64;
      char **nn = ds_realloc(names, (size_t)cap * sizeof *names);
      if (!nn) {
        st = DS_ENOMEM;
        break;
      }
      names = nn;
    }
    size_t m = strlen(dir) + strlen(e->d_name) + 2;
    if (!(names[count] = ds_malloc(m))) {
      st = DS_ENOMEM;
      break;
    }
    snprintf(names[count++], m, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  if (!st && count == 0) st = ds_set_error(DS_EIO, "text: directory '%s' has no text files", dir);
  if (!st) qsort(names, (size_t)count, sizeof *names, cmp_str);
  for (int i = 0; i < count; i++) {
    struct stat sb;
    if (!st && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode))
      st = append_file(names[i], buf, len);
    ds_free(names[i]);
  }
  ds_free(names);
  return st;
}

/* The corpus: the files (or directories) of the comma-separated list, concatenated. */
static ds_status read_corpus(const char *paths, char **buf, int64_t *len) {
  *buf = NULL;
  *len = 0;
  if (!paths || !*paths) paths = DS_TEXT_DEFAULT_PATH;
  char *list = ds_malloc(strlen(paths) + 1);
  if (!list) return DS_ENOMEM;
  strcpy(list, paths);
  ds_status st = DS_OK;
  for (char *save = NULL, *p = strtok_r(list, ",", &save); p && !st;
       p = strtok_r(NULL, ",", &save)) {
    struct stat sb;
    if (stat(p, &sb) != 0)
      st = ds_set_error(DS_EIO, "text: cannot read '%s' (data.path)", p);
    else
      st = S_ISDIR(sb.st_mode) ? append_dir(p, buf, len) : append_file(p, buf, len);
  }
  ds_free(list);
  if (st) {
    ds_free(*buf);
    *buf = NULL;
    *len = 0;
  }
  return st;
}

/* Distinct bytes of buf in increasing order; returns their count. */
static int charset(const char *buf, int64_t len, uint8_t chars[256]) {
  bool seen[256] = {false};
  for (int64_t i = 0; i < len; i++)
    seen[(uint8_t)buf[i]] = true;
  int n = 0;
  for (int c = 0; c < 256; c++)
    if (seen[c]) chars[n++] = (uint8_t)c;
  return n;
}

ds_status ds_text_vocab(const char *path, uint8_t chars[256], int *count) {
  if (!chars || !count) return ds_set_error(DS_EINVAL, "text vocab: NULL output");
  char *buf;
  int64_t len;
  ds_status st = read_corpus(path, &buf, &len);
  if (st) return st;
  *count = charset(buf, len, chars);
  ds_free(buf);
  return DS_OK;
}

/* A dataset of the windows of ids[0..len) (vocabulary indices). */
static ds_dataset *windows(const char *name, const uint8_t *ids, int64_t len, int64_t T, int V) {
  int64_t n = len > T ? (len - 1) / T : 0;
  ds_dataset *d = ds__dataset_new(name, n, ds_shape1(T + 1), true, V);
  if (!d) return NULL;
  d->u8_max = 1.0f; /* a byte converts to its value: the index itself */
  ds__dataset_update_affine(d);
  for (int64_t i = 0; i < n; i++) {
    memcpy(d->u8 + i * (T + 1), ids + i * T, (size_t)(T + 1));
    d->labels[i] = d->clean_labels[i] = 0;
  }
  return d;
}

ds_status ds__load_text(const char *name, const ds_data_options *opt, ds_dataset **train,
                        ds_dataset **test) {
  (void)name;
  int64_t T = opt->context;
  if (T < 1) return ds_set_error(DS_EINVAL, "text: context %lld must be >= 1", (long long)T);
  if (!(opt->test_fraction > 0 && opt->test_fraction < 1))
    return ds_set_error(DS_EINVAL, "text: test_fraction %g is not in (0, 1)", opt->test_fraction);
  char *buf;
  int64_t len;
  ds_status st = read_corpus(opt->path, &buf, &len);
  if (st) return st;
  uint8_t chars[256], index[256];
  int V = charset(buf, len, chars);
  for (int i = 0; i < V; i++)
    index[chars[i]] = (uint8_t)i;
  for (int64_t i = 0; i < len; i++)
    buf[i] = (char)index[(uint8_t)buf[i]];
  int64_t n_test = (int64_t)(opt->test_fraction * (double)len), n_train = len - n_test;
  if (V < 2 || n_train <= T || n_test <= T) {
    ds_free(buf);
    return ds_set_error(DS_EINVAL,
                        "text: corpus '%s' (%lld characters, %d distinct) is too small for windows "
                        "of %lld + 1 characters in both splits",
                        opt->path ? opt->path : DS_TEXT_DEFAULT_PATH, (long long)len, V,
                        (long long)T);
  }
  const uint8_t *ids = (const uint8_t *)buf;
  *train = windows("text/train", ids, n_train, T, V);
  *test = *train ? windows("text/test", ids + n_train, n_test, T, V) : NULL;
  ds_free(buf);
  return *train && *test ? DS_OK : DS_ENOMEM;
}
