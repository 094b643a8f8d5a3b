/* A program that uses libscoutlb and leaks one block of its own "possibly" (only a pointer into
 * the middle of it is kept). Under Valgrind with ffi/scoutlb.supp, tests/c/run.sh expects exactly
 * that block: the suppression hides the standard library's thread handle (48 bytes, reported
 * without it) and nothing of the program's. */
#include <stdlib.h>

#include "scoutlb.h"

/** Where the pointer into the leaked block is kept (exported, so no compiler drops it). */
char *possibly_lost_interior;

int main(void) {
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    char *block = malloc(100);
    if (block == NULL || scoutlb_config_new("{\"probe\": \"none\"}", &config) != SCOUTLB_OK ||
        scoutlb_client_new(config, &client) != SCOUTLB_OK) {
        return 2;
    }
    scoutlb_client_free(client);
    scoutlb_config_free(config);
    possibly_lost_interior = block + 10;
    return 0;
}
