/* descent — analysis: tools that look at a model rather than train it. Mean-field theory of signal
 * propagation lives with the initialisers (meanfield.h) and is included here for convenience. */
#ifndef DESCENT_ANALYSIS_H
#define DESCENT_ANALYSIS_H
#include "error.h"
#include "meanfield.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
