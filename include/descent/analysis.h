/* descent — analysis: tools that look at a model rather than train it. Mean-field theory of signal
 * propagation lives with the initialisers (meanfield.h) and is included here for convenience. */
#ifndef DESCENT_ANALYSIS_H
#define DESCENT_ANALYSIS_H
#include "export.h"
#include "error.h"
#include "meanfield.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

DS_API_END
#ifdef __cplusplus
}
#endif
#endif
