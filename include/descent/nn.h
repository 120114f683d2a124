/* descent — nn (placeholder until this part lands). */
#ifndef DESCENT_NN_H
#define DESCENT_NN_H
#endif
