/* Startup: prints one line and exits; timed to measure process start-up, not work. */
#include <stdio.h>

int main(void) {
    puts("hello");
    return 0;
}
