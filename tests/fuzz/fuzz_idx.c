/* Fuzzes the IDX reader (plain or gzipped files, src/data/idx.c and gzio.c). */
#include "descent/descent.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ds_idx idx;
  if (ds_idx_read(fuzz_scratch_file(data, size, ".idx"), &idx) == DS_OK) ds_idx_free(&idx);
  return 0;
}
