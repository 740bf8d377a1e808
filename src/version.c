/*
 * version.c - the library's version, as the VERSION file of the source
 * tree gives it.
 *
 * The Makefile reads VERSION (the one place the version is written) and
 * passes it here as SOCK_BUILD_VERSION and its numbers as
 * SOCK_BUILD_MAJOR/MINOR.  The header's SOCK_VERSION_MAJOR/MINOR are what
 * a program is compiled against, so a build whose header disagrees with
 * VERSION stops here instead of shipping two versions.
 */
#include "internal.h"

#if !defined(SOCK_BUILD_VERSION) || !defined(SOCK_BUILD_MAJOR) || !defined(SOCK_BUILD_MINOR)
#error "build libsock with its Makefile: it passes the version from the VERSION file"
#endif

_Static_assert(SOCK_VERSION_MAJOR == SOCK_BUILD_MAJOR,
               "SOCK_VERSION_MAJOR in include/sock.h differs from the VERSION file");
_Static_assert(SOCK_VERSION_MINOR == SOCK_BUILD_MINOR,
               "SOCK_VERSION_MINOR in include/sock.h differs from the VERSION file");

SOCK_API const char *sock_version(void)
{
    return SOCK_BUILD_VERSION;
}
