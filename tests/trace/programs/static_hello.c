/*
 * static_hello - a statically linked program (built with -static), which
 * `sock trace` must refuse before running: nothing can be preloaded into it.
 */
#include <stdio.h>

int main(void)
{
    puts("hello");
    return 0;
}
