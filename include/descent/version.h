/* descent — version. */
#ifndef DESCENT_VERSION_H
#define DESCENT_VERSION_H
#include "export.h"

#define DS_VERSION_MAJOR 0
#define DS_VERSION_MINOR 1
#define DS_VERSION_PATCH 0
#define DS_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN
/* The library's version string, e.g. "0.1.0". */
const char *ds_version(void);
DS_API_END
#ifdef __cplusplus
}
#endif
#endif
