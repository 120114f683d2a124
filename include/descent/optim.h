/* descent — optim (placeholder until this part lands). */
#ifndef DESCENT_OPTIM_H
#define DESCENT_OPTIM_H
#endif
