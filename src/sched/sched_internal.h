/* Private to src/sched: the schedule object and the table of schedule definitions. */
#ifndef DESCENT_SCHED_INTERNAL_H
#define DESCENT_SCHED_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "descent/sched.h"

#define DS__SCHED_MAX_KEYS 12

/* Key flags: what a hyperparameter accepts. */
enum {
  DS__K_REQ = 1 << 0,    /* no default: must be set */
  DS__K_INT = 1 << 1,    /* integer-valued */
  DS__K_POS = 1 << 2,    /* > 0 */
  DS__K_NONNEG = 1 << 3, /* >= 0 */
  DS__K_UNIT = 1 << 4,   /* in [0, 1] */
  DS__K_GE1 = 1 << 5,    /* >= 1 */
  DS__K_BOOL = 1 << 6,   /* 0 or 1; text "true"/"false" */
  DS__K_LIST = 1 << 7,   /* list of values (milestones) */
  DS__K_OPT = 1 << 8,    /* may be None (NAN) */
  DS__K_CHOICE = 1 << 9  /* index into `choices` ("cos|linear"); text names the choice */
};

typedef struct {
  const char *key; /* PyTorch keyword */
  double def;      /* default (NAN: none / required) */
  unsigned flags;
  const char *choices; /* DS__K_CHOICE: '|'-separated names */
} ds__sched_key;

typedef struct ds__sched_def {
  const char *name;
  const char *torch;         /* the PyTorch class it matches */
  const ds__sched_key *keys; /* terminated by {NULL} */
  bool uses_lr;              /* false: base lr ignored (cyclic, onecycle) */
  /* Cross-key checks and derived values; NULL if none. */
  ds_status (*check)(ds_sched *s);
  /* lr at schedule epoch e >= 0 (before warm-up, steps-per-epoch and scale). */
  double (*lr)(const ds_sched *s, int64_t e);
  /* Momentum at epoch e, or false. NULL: never. */
  bool (*momentum)(const ds_sched *s, int64_t e, double *m);
  /* Index of the cycle epoch e belongs to. NULL: no cycles. */
  int64_t (*cycle)(const ds_sched *s, int64_t e);
  /* Epochs the schedule is defined for. NULL: unbounded. */
  int64_t (*max_epochs)(const ds_sched *s);
} ds__sched_def;

struct ds_sched {
  const ds__sched_def *def;
  double base_lr;
  double v[DS__SCHED_MAX_KEYS]; /* values by key index; NAN = unset */
  unsigned user_set;            /* bit i: key i was set by ds_sched_set (not a default) */
  int64_t *milestones;          /* DS__K_LIST key, sorted ascending (duplicates kept) */
  int n_milestones;
  double d[8];    /* derived by def->check (onecycle phase ends, ...) */
  int64_t warmup; /* W steps */
  ds_warmup_kind warmup_kind;
  double warmup_factor;
  int64_t steps_per_epoch; /* S */
  double scale;
  bool ready;
};

/* NULL-terminated table of definitions (formulas.c). */
extern const ds__sched_def *const ds__sched_defs[];

#endif
