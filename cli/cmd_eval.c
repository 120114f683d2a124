/* descent eval CHECKPOINT|RUN_DIR [--split test|train|val] [--threads N] — loss and accuracy of
 * a checkpoint on one split, with the data and model rebuilt from the config it carries. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "run.h"

static int usage(FILE *f, int rc) {
  fprintf(f, "usage: descent eval CHECKPOINT|RUN_DIR [--split test|train|val] [--threads N]\n\n"
             "Evaluates a checkpoint (RUN_DIR means RUN_DIR/checkpoint.safetensors) on a split of the\n"
             "dataset it was trained on (default: test). The data, preprocessing and model come from\n"
             "the config stored in the checkpoint.\n");
  return rc;
}

int cmd_eval(int argc, char **argv) {
  const char *target = NULL, *split = "test", *threads = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
    const char **slot = !strncmp(a, "--split", 7) && (!a[7] || a[7] == '=')       ? &split
                        : !strncmp(a, "--threads", 9) && (!a[9] || a[9] == '=') ? &threads
                                                                                : NULL;
    if (slot) {
      const char *eq = strchr(a, '=');
      if (eq)
        *slot = eq + 1;
      else if (i + 1 < argc)
        *slot = argv[++i];
      else {
        fprintf(stderr, "descent: eval: option '%s' needs a value\n", a);
        return 2;
      }
    } else if (!strncmp(a, "--", 2)) {
      fprintf(stderr, "descent: eval: unknown option '%s'\n", a);
      return 2;
    } else if (!target) {
      target = a;
    } else {
      fprintf(stderr, "descent: eval: unexpected argument '%s'\n", a);
      return 2;
    }
  }
  if (!target) return usage(stderr, 2);
  if (strcmp(split, "test") && strcmp(split, "train") && strcmp(split, "val")) {
    fprintf(stderr, "descent: eval: --split '%s' is not one of test, train, val\n", split);
    return 2;
  }
  char path[4200];
  struct stat sb;
  if (stat(target, &sb) == 0 && S_ISDIR(sb.st_mode))
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", target);
  else
    snprintf(path, sizeof path, "%s", target);
  run r;
  memset(&r, 0, sizeof r);
  settings_init(&r.cfg);
  int rc = 0;
  if (checkpoint_read_config(path, &r.cfg)) return cli_fail("eval");
  if (threads && settings_set(&r.cfg, "train.threads", threads)) return cli_fail("eval");
  run_set_threads(&r);
  if (run_setup_data(&r) || run_setup_model(&r) || run_setup_training(&r) ||
      ds_trainer_load(r.trainer, path, false)) {
    rc = cli_fail("eval");
  } else {
    const ds_dataset *d = !strcmp(split, "train") ? r.train : !strcmp(split, "val") ? r.val : r.test;
    ds_eval_result e;
    if (!d) {
      fprintf(stderr, "descent: eval: the run has no validation split (data.val_fraction = 0)\n");
      rc = 2;
    } else if (ds_trainer_evaluate(r.trainer, d, NULL, &e)) {
      rc = cli_fail("eval");
    } else {
      printf("%s: %s split of %s (%lld samples): loss %.6f", path, split, d->name, (long long)e.n, e.loss);
      if (e.classes) printf("  accuracy %.2f%%  worst class %.2f%%", 100 * e.acc, 100 * e.worst_class_acc);
      printf("\n");
      ds_eval_result_free(&e);
    }
  }
  run_free(&r);
  return rc;
}
