/* Fuzzes the CSV dataset reader (src/data/csv.c). The first byte picks the options: header mode,
 * delimiter, label column, classification or regression; the rest is the file. */
#include "descent/descent.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t o = data[0];
  ds_data_options opt = ds_data_options_default();
  opt.path = fuzz_scratch_file(data + 1, size - 1, ".csv");
  static const int header[4] = {-1, 0, 1, -1};
  opt.header = header[o & 3];
  opt.delimiter = (o >> 2) & 1 ? ';' : ',';
  opt.label_column = (o >> 3) & 1 ? 0 : -1;
  opt.regression = (o >> 4) & 1;
  opt.test_fraction = 0.25;
  ds_dataset *train = NULL, *test = NULL;
  if (ds_dataset_load("csv", &opt, &train, &test) == DS_OK) {
    ds_dataset_free(train);
    ds_dataset_free(test);
  }
  return 0;
}
