/* descent train — parses the flags and settings (settings.c) and trains (train_run.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "train_run.h"

int cmd_train(int argc, char **argv) {
  static settings cfg; /* the settings are large: not on the stack */
  settings_init(&cfg);
  cli_flags flags;
  if (settings_parse_args(&cfg, argc, argv, &flags)) {
    cli_fail(NULL);
    return 2;
  }
  if (flags.help) {
    settings_help(stdout);
    return 0;
  }
  /* under mpirun: one process of a data-parallel run (docs/distributed.md) */
  ds_dist_options dopt = ds_dist_options_default();
  dopt.bucket_floats = (int64_t)(set_num(&cfg, S_DIST_BUCKET_MB) * (1 << 20) / sizeof(float));
  dopt.timeout_s = set_num(&cfg, S_DIST_TIMEOUT);
  ds_dist *dist = ds_dist_init(NULL, NULL, &dopt); /* rank 0 of 1 unless started by mpirun */
  if (!dist) return cli_fail("dist");
  bool many = ds_dist_size(dist) > 1;
  if (many) cli_rank = ds_dist_rank(dist);
  train_hooks h = {.resume_dir = flags.resume, .overwrite = flags.overwrite, .dist = dist};
  int rc = train_from_settings(&cfg, &h);
  /* A failed rank leaves at once: the others may wait inside a collective (MPI_Finalize would
   * wait for them), and mpirun stops the job when a rank exits non-zero. */
  if (rc && many) {
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  ds_dist_finalize(dist);
  return rc;
}
