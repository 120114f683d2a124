#include "descent/version.h"

const char *ds_version(void) { return DS_VERSION_STRING; }
