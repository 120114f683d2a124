/* descent — private helpers shared by the data layer (src/data/). */
#ifndef DESCENT_DATA_INTERNAL_H
#define DESCENT_DATA_INTERNAL_H
#include <zlib.h>

#include "descent/data.h"

/* ---- gzio.c: checked reading of gzipped or plain files ---- */

/* Opens path for reading; a gzip stream is inflated, any other file read as is. A file named
 * *.gz must be gzip. */
ds_status ds__gz_open(const char *path, gzFile *out);
/* Reads up to len bytes into buf; *got < len only at a clean end of the data. A truncated or
 * corrupt gzip stream, or a read error, is an error naming path. */
ds_status ds__gz_read(gzFile f, const char *path, void *buf, int64_t len, int64_t *got);
/* Closes f; reports a stream that ended mid-way or failed its check. */
ds_status ds__gz_close(gzFile f, const char *path);
/* Reads the whole (inflated) file into a NUL-terminated buffer owned by the caller (ds_free). */
ds_status ds__read_file(const char *path, char **buf, int64_t *len);

/* ---- dataset.c ---- */

/* As ds_dataset_new, with storage left uninitialised (the loaders overwrite all of it). */
ds_dataset *ds__dataset_new(const char *name, int64_t n, ds_shape shape, bool u8, int n_classes);
/* Recomputes scale/shift from mean/std. */
void ds__dataset_update_affine(ds_dataset *d);
/* Stratified choice of round(fraction * n) held-out samples: held[i] = 1 if i is held out. */
ds_status ds__split_mask(const ds_dataset *d, double fraction, uint64_t seed, uint8_t *held);
/* Splits d (consumed: freed on success and on failure) into train/test by fraction. */
ds_status ds__split_consume(ds_dataset *d, double fraction, uint64_t seed, const char *base,
                            ds_dataset **train, ds_dataset **test);

/* ---- loaders of the named datasets ---- */
ds_status ds__load_mnist(const char *name, const ds_data_options *opt, ds_dataset **train,
                         ds_dataset **test);
ds_status ds__load_csv(const char *name, const ds_data_options *opt, ds_dataset **train,
                       ds_dataset **test);
ds_status ds__load_digits(const char *name, const ds_data_options *opt, ds_dataset **train,
                          ds_dataset **test);
ds_status ds__load_text(const char *name, const ds_data_options *opt, ds_dataset **train,
                        ds_dataset **test);
ds_status ds__load_synthetic(const char *name, const ds_data_options *opt, ds_dataset **train,
                             ds_dataset **test);

#endif
