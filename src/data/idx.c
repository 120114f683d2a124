/* The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * 0x00 0x00 <type> <rank>, rank big-endian uint32 dims, then prod(dims) items. Only type 0x08
 * (unsigned byte) is used by these datasets. Files are usually gzipped. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data_internal.h"
#include "descent/alloc.h"

#define IDX_MAX_BYTES (INT64_C(1) << 40)    /* a header claiming more is corrupt */
#define IDX_FIRST_ALLOC (INT64_C(64) << 20) /* grow beyond this only as data actually arrives */

void ds_idx_free(ds_idx *idx) {
  if (!idx) return;
  ds_free(idx->data);
  memset(idx, 0, sizeof *idx);
}

static void dims_str(const ds_idx *x, char *buf, int size) {
  ds_shape s = ds_shape_make(x->rank, x->dim);
  ds_shape_str(&s, buf, size);
}

/* Reads the data part: exactly idx->size bytes, then checks that nothing follows. The buffer
 * grows with the data actually read, so a corrupt header cannot make us allocate terabytes. */
static ds_status read_data(gzFile f, const char *path, ds_idx *idx) {
  int64_t cap = idx->size < IDX_FIRST_ALLOC ? idx->size : IDX_FIRST_ALLOC, n = 0;
  uint8_t *buf = ds_malloc((size_t)(cap ? cap : 1));
  if (!buf) return DS_ENOMEM;
  ds_status st = DS_OK;
  for (;;) {
    int64_t got;
    if ((st = ds__gz_read(f, path, buf + n, cap - n, &got))) break;
    n += got;
    if (n < cap || cap == idx->size) break;
    int64_t ncap = 2 * cap < idx->size ? 2 * cap : idx->size;
    uint8_t *nb = ds_realloc(buf, (size_t)ncap);
    if (!nb) {
      st = DS_ENOMEM;
      break;
    }
    buf = nb;
    cap = ncap;
  }
  char dims[96];
  dims_str(idx, dims, sizeof dims);
  if (!st && n < idx->size)
    st = ds_set_error(DS_EFORMAT, "file '%s': header dims %s need %lld data bytes, file has %lld",
                      path, dims, (long long)idx->size, (long long)n);
  if (!st) {
    uint8_t extra;
    int64_t got;
    if (!(st = ds__gz_read(f, path, &extra, 1, &got)) && got)
      st = ds_set_error(DS_EFORMAT,
                        "file '%s': more data than its header dims %s describe (%lld bytes)", path,
                        dims, (long long)idx->size);
  }
  if (st) {
    ds_free(buf);
    return st;
  }
  idx->data = buf;
  return DS_OK;
}

ds_status ds_idx_read(const char *path, ds_idx *out) {
  if (!out) return ds_set_error(DS_EINVAL, "idx read: NULL output");
  memset(out, 0, sizeof *out);
  gzFile f;
  ds_status st = ds__gz_open(path, &f);
  if (st) return st;
  ds_idx x = {0};
  uint8_t head[4 + 4 * DS_MAX_RANK];
  int64_t got;
  if ((st = ds__gz_read(f, path, head, 4, &got))) goto fail;
  if (got < 4) {
    st = ds_set_error(DS_EFORMAT, "file '%s': too short for an IDX header (%lld bytes)", path,
                      (long long)got);
    goto fail;
  }
  if (head[0] != 0 || head[1] != 0 || head[3] < 1) {
    st = ds_set_error(DS_EFORMAT,
                      "file '%s': wrong IDX magic 0x%02x%02x%02x%02x (expected 0x0000tt0r)", path,
                      head[0], head[1], head[2], head[3]);
    goto fail;
  }
  if (head[2] != 0x08) {
    st = ds_set_error(DS_EUNSUPPORTED,
                      "file '%s': IDX data type 0x%02x not supported (only 0x08, unsigned byte)",
                      path, head[2]);
    goto fail;
  }
  if (head[3] > DS_MAX_RANK) {
    st = ds_set_error(DS_EUNSUPPORTED, "file '%s': IDX rank %d above %d", path, head[3],
                      DS_MAX_RANK);
    goto fail;
  }
  x.rank = head[3];
  if ((st = ds__gz_read(f, path, head + 4, 4 * x.rank, &got))) goto fail;
  if (got < 4 * x.rank) {
    st = ds_set_error(DS_EFORMAT, "file '%s': IDX header cut short (%d of %d dimension bytes)",
                      path, (int)got, 4 * x.rank);
    goto fail;
  }
  x.size = 1;
  for (int i = 0; i < x.rank; i++) {
    const uint8_t *b = head + 4 + 4 * i;
    x.dim[i] = (int64_t)b[0] << 24 | (int64_t)b[1] << 16 | (int64_t)b[2] << 8 | b[3];
    if (x.dim[i] > 0 && x.size > IDX_MAX_BYTES / x.dim[i]) {
      st = ds_set_error(DS_EFORMAT, "file '%s': IDX header dims too large (dim %d = %lld)", path, i,
                        (long long)x.dim[i]);
      goto fail;
    }
    x.size *= x.dim[i];
  }
  if ((st = read_data(f, path, &x))) goto fail;
  if ((st = ds__gz_close(f, path))) {
    ds_idx_free(&x);
    return st;
  }
  *out = x;
  return DS_OK;
fail:
  gzclose_r(f);
  return st;
}

/* ---- MNIST / Fashion-MNIST ---- */

/* Finds stem in dir as stem.gz or stem (also the "train-images.idx3-ubyte" spelling). */
static ds_status find_file(const char *dataset, const char *dir, const char *stem, char *path,
                           size_t size) {
  char alt[64];
  snprintf(alt, sizeof alt, "%s", stem);
  char *dash = strrchr(alt, '-'); /* "train-images-idx3-ubyte" -> "train-images.idx3-ubyte" */
  if (dash && dash > alt) {
    char *prev = dash - 1;
    while (prev > alt && *prev != '-')
      prev--;
    if (*prev == '-') *prev = '.';
  }
  const char *forms[] = {"%s/%s.gz", "%s/%s", "%s/%s.gz", "%s/%s"};
  const char *names[] = {stem, stem, alt, alt};
  for (int k = 0; k < 4; k++) {
    snprintf(path, size, forms[k], dir, names[k]);
    if (access(path, F_OK) == 0) return DS_OK;
  }
  snprintf(path, size, "%s/%s.gz", dir, stem);
  return ds_set_error(DS_EIO, "dataset '%s': file '%s' not found (nor uncompressed)", dataset,
                      path);
}

/* Reads one split: images (n, H, W) and labels (n) into a dataset of (1, H, W) bytes. */
static ds_status load_split(const char *dataset, const char *dir, const char *split,
                            const char *split_name, ds_dataset **out) {
  char img_stem[64], lab_stem[64], img_path[1024], lab_path[1024], name[DS_NAME_MAX];
  snprintf(img_stem, sizeof img_stem, "%s-images-idx3-ubyte", split);
  snprintf(lab_stem, sizeof lab_stem, "%s-labels-idx1-ubyte", split);
  ds_status st;
  if ((st = find_file(dataset, dir, img_stem, img_path, sizeof img_path))) return st;
  if ((st = find_file(dataset, dir, lab_stem, lab_path, sizeof lab_path))) return st;
  ds_idx img = {0}, lab = {0};
  if ((st = ds_idx_read(img_path, &img))) return st;
  if ((st = ds_idx_read(lab_path, &lab))) goto done;
  if (img.rank != 3) {
    st = ds_set_error(DS_EFORMAT, "file '%s': images need 3 dims (n, h, w), found %d", img_path,
                      img.rank);
    goto done;
  }
  if (lab.rank != 1) {
    st = ds_set_error(DS_EFORMAT, "file '%s': labels need 1 dim (n), found %d", lab_path, lab.rank);
    goto done;
  }
  if (lab.dim[0] != img.dim[0]) {
    st = ds_set_error(DS_EFORMAT, "dataset '%s': '%s' has %lld labels but '%s' has %lld images",
                      dataset, lab_path, (long long)lab.dim[0], img_path, (long long)img.dim[0]);
    goto done;
  }
  if (img.dim[0] < 1 || img.dim[1] < 1 || img.dim[2] < 1) {
    st = ds_set_error(DS_EFORMAT, "file '%s': empty image set", img_path);
    goto done;
  }
  for (int64_t i = 0; i < lab.dim[0]; i++)
    if (lab.data[i] > 9) {
      st = ds_set_error(DS_EFORMAT, "file '%s': label %d at index %lld outside 0..9", lab_path,
                        lab.data[i], (long long)i);
      goto done;
    }
  snprintf(name, sizeof name, "%s/%s", dataset, split_name);
  ds_dataset *d = ds__dataset_new(name, img.dim[0], ds_shape3(1, img.dim[1], img.dim[2]), true, 10);
  if (!d) {
    st = DS_ENOMEM;
    goto done;
  }
  ds_free(d->u8); /* take the pixel buffer over instead of copying it */
  d->u8 = img.data;
  img.data = NULL;
  for (int64_t i = 0; i < d->n; i++)
    d->labels[i] = d->clean_labels[i] = lab.data[i];
  *out = d;
done:
  ds_idx_free(&img);
  ds_idx_free(&lab);
  return st;
}

ds_status ds__load_mnist(const char *name, const ds_data_options *opt, ds_dataset **train,
                         ds_dataset **test) {
  const char *dir = opt->path;
  if (!dir)
    dir =
        !strcmp(name, "mnist") ? "/usr/share/datasets/mnist" : "/usr/share/datasets/fashion-mnist";
  ds_status st = load_split(name, dir, "train", "train", train);
  if (!st) st = load_split(name, dir, "t10k", "test", test);
  if (!st && !ds_shape_equal(&(*train)->sample_shape, &(*test)->sample_shape))
    st = ds_set_error(DS_EFORMAT, "dataset '%s': train and test images differ in size", name);
  return st;
}
