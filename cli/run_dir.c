/* The run directory: default names, creation, protection of existing runs, stale temp files. */
#include "run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "descent/descent.h"

void run_dir_default(const settings *c, char *out, size_t n) {
  char name[256];
  if (*set_str(c, S_TRAIN_NAME))
    snprintf(name, sizeof name, "%s", set_str(c, S_TRAIN_NAME));
  else
    snprintf(name, sizeof name, "%s-%s-%s", set_str(c, S_MODEL_NAME), set_str(c, S_DATA_NAME),
             set_str(c, S_OPTIM_NAME));
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  snprintf(out, n, "runs/%s-%s", stamp, name);
  /* two runs started in the same second get distinct directories */
  size_t len = strlen(out);
  struct stat sb;
  for (int k = 2; stat(out, &sb) == 0 && k < 1000; k++)
    snprintf(out + len, n - len, "-%d", k);
}

int run_dir_make(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      return ds_set_error(DS_EIO, "run directory '%s': cannot create '%s' (%s)", dir, path,
                          strerror(errno));
    *p = '/';
  }
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return ds_set_error(DS_EIO, "run directory '%s': cannot create (%s)", dir, strerror(errno));
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return ds_set_error(DS_EIO, "run directory '%s': not a directory", dir);
  return 0;
}

/* A file a run writes: config, checkpoint, metrics, summary, plots, snapshots. */
static bool is_run_file(const char *name) {
  static const char *const fixed[] = {"config.ini",    "checkpoint.safetensors",
                                      "metrics.jsonl", "summary.json",
                                      "curves.png",    "curves.svg",
                                      "layers.png",    "layers.svg",
                                      "sharpness.json"};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    if (!strcmp(name, fixed[i])) return true;
  long long step;
  char tail[32];
  return (sscanf(name, "snapshot-%lld.%31s", &step, tail) == 2 ||
          sscanf(name, "trajectory-%lld.%31s", &step, tail) == 2) &&
         !strcmp(tail, "safetensors");
}

/* "<name>.tmp.<pid>" of a process that is gone. */
static bool is_stale_temp(const char *name) {
  const char *t = strstr(name, ".tmp.");
  if (!t) return false;
  char *end;
  long pid = strtol(t + 5, &end, 10);
  if (*end || pid <= 0) return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int run_dir_prepare(const char *dir, bool resume, bool overwrite) {
  int st = run_dir_make(dir);
  if (st) return st;
  DIR *d = opendir(dir);
  if (!d) return ds_set_error(DS_EIO, "run directory '%s': cannot list (%s)", dir, strerror(errno));
  int other = 0;
  char first[256] = "";
  struct dirent *e;
  char path[4400];
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, n);
    if (is_stale_temp(n)) {
      remove(path);
    } else if (!resume && overwrite && is_run_file(n)) {
      if (remove(path) != 0)
        st = ds_set_error(DS_EIO, "run directory '%s': cannot remove '%s' (%s)", dir, n,
                          strerror(errno));
    } else if (!resume && !overwrite) {
      if (!other++) snprintf(first, sizeof first, "%s", n);
    }
  }
  closedir(d);
  if (st) return st;
  if (other)
    return ds_set_error(DS_EINVAL,
                        "run directory '%s' is not empty (it holds '%s'%s): continue that run with "
                        "--resume %s, replace it with --overwrite, or choose another --run-dir",
                        dir, first, other > 1 ? " and more" : "", dir);
  return 0;
}
