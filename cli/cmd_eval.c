/* descent eval CHECKPOINT|RUN_DIR [--split test|train|val] [--threads N] — loss and accuracy of
 * a checkpoint on one split, with the data and model rebuilt from the config it carries. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "run.h"

static int usage(FILE *f, int rc) {
  fprintf(
      f, "usage: descent eval CHECKPOINT|RUN_DIR [--split test|train|val] [--threads N]\n\n"
         "Evaluates a checkpoint (RUN_DIR means RUN_DIR/checkpoint.safetensors) on a split of the\n"
         "dataset it was trained on (default: test). The data, preprocessing and model come from\n"
         "the config stored in the checkpoint.\n");
  return rc;
}

int cmd_eval(int argc, char **argv) {
  const char *target = NULL, *split = "test", *threads = NULL;
  static const char *const names[] = {"--split", "--threads"};
  const char **const values[] = {&split, &threads};
  int prc = cli_parse_options(argc, argv, "eval", names, values, 2, &target);
  if (prc == 1) return usage(stdout, 0);
  if (prc) return prc;
  if (!target) return usage(stderr, 2);
  if (strcmp(split, "test") && strcmp(split, "train") && strcmp(split, "val")) {
    fprintf(stderr, "descent: eval: --split '%s' is not one of test, train, val\n", split);
    return 2;
  }
  run r;
  int rc = 0;
  if (checkpoint_open_run(&r, target, NULL, threads)) {
    rc = cli_fail("eval");
  } else {
    const ds_dataset *d = !strcmp(split, "train") ? r.train
                          : !strcmp(split, "val") ? r.val
                                                  : r.test;
    ds_eval_result e;
    if (!d) {
      fprintf(stderr, "descent: eval: the run has no validation split (data.val_fraction = 0)\n");
      rc = 2;
    } else if (ds_trainer_evaluate(r.trainer, d, NULL, &e)) {
      rc = cli_fail("eval");
    } else {
      printf("%s: %s split of %s (%lld samples): loss %.6f", target, split, d->name, (long long)e.n,
             e.loss);
      if (!strcmp(set_str(&r.cfg, S_DATA_NAME), "text"))
        printf(" nats/char (%.4f bits/char)", e.loss / log(2.0));
      else if (e.classes)
        printf("  accuracy %.2f%%  worst class %.2f%%", 100 * e.acc, 100 * e.worst_class_acc);
      if (e.groups) printf("  worst group %.2f%%", 100 * e.worst_group_acc);
      printf("\n");
      ds_eval_result_free(&e);
    }
  }
  run_free(&r);
  return rc;
}
