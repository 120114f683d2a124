/* descent — the whole public API. Each header covers one concern. */
#ifndef DESCENT_H
#define DESCENT_H
#include "alloc.h"
#include "analysis.h"
#include "data.h"
#include "dist.h"
#include "error.h"
#include "graph.h"
#include "io.h"
#include "kv.h"
#include "meanfield.h"
#include "nn.h"
#include "objective.h"
#include "ops.h"
#include "optim.h"
#include "rng.h"
#include "sched.h"
#include "tensor.h"
#include "threads.h"
#include "train.h"
#include "version.h"
#endif
