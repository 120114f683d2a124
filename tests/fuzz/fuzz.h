/* Shared by the fuzz harnesses (tests/fuzz/fuzz_*.c): each defines LLVMFuzzerTestOneInput, built
 * either with libFuzzer (clang -fsanitize=fuzzer, `make fuzz`) or with driver.c, which feeds it
 * the files named on its command line (the regression inputs, in the normal test suite). */
#ifndef DESCENT_FUZZ_H
#define DESCENT_FUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data to a per-process scratch file and returns its path (the readers take paths). The
 * suffix (e.g. ".csv") is part of the name. */
const char *fuzz_scratch_file(const uint8_t *data, size_t size, const char *suffix);

/* A NUL-terminated copy of data (caller frees with free()). */
char *fuzz_string(const uint8_t *data, size_t size);

#endif
