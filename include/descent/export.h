/* descent — which symbols the shared library exports. The library is built with
 * -fvisibility=hidden; every public header wraps its declarations in DS_API_BEGIN / DS_API_END, so
 * exactly the functions declared in include/descent/ are exported, and internal ds__ helpers are
 * not. */
#ifndef DESCENT_EXPORT_H
#define DESCENT_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define DS_API_BEGIN _Pragma("GCC visibility push(default)")
#define DS_API_END _Pragma("GCC visibility pop")
#else
#define DS_API_BEGIN
#define DS_API_END
#endif

#endif
