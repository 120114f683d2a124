/* descent — io (placeholder until this part lands). */
#ifndef DESCENT_IO_H
#define DESCENT_IO_H
#endif
