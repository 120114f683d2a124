/* descent — sched (placeholder until this part lands). */
#ifndef DESCENT_SCHED_H
#define DESCENT_SCHED_H
#endif
