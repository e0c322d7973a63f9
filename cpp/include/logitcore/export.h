/* LOGITCORE_API marks the functions of the public C API: the only symbols the shared library
 * exports (everything else is built with hidden visibility). */
#ifndef LOGITCORE_EXPORT_H
#define LOGITCORE_EXPORT_H

#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(LOGITCORE_STATIC)
#define LOGITCORE_API
#elif defined(LOGITCORE_BUILDING_SHARED)
#define LOGITCORE_API __declspec(dllexport)
#else
#define LOGITCORE_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define LOGITCORE_API __attribute__((visibility("default")))
#else
#define LOGITCORE_API
#endif

#endif /* LOGITCORE_EXPORT_H */
