/* descent — data (placeholder until this part lands). */
#ifndef DESCENT_DATA_H
#define DESCENT_DATA_H
#endif
