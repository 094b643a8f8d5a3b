/* Proof that the sanitizer build really runs AddressSanitizer: this program overflows a heap
 * buffer on purpose; tests/c/run.sh expects it to be stopped with a heap-buffer-overflow report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scoutlb.h"

int main(int argc, char **argv) {
    size_t n = (size_t)argc + 7; /* 8: not known to the compiler */
    char *buf = malloc(n);
    (void)argv;
    if (buf == NULL) {
        return 2;
    }
    memset(buf, 'x', n);
    printf("library %s, byte past the end: %d\n", scoutlb_version(), buf[n]); /* one past the end */
    free(buf);
    return 0;
}
