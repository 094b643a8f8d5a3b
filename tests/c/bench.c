/* Cost of the cheap calls through the C ABI, in ns per call (release build of libscoutlb.a):
 * ordered candidates of a 100-server list, report success of the current default, read the default.
 * Prints lines "c <call> <ns>" that tests/c/run.sh --bench puts beside the Rust figures. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scoutlb.h"

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static volatile size_t sink;

static void fail(const char *what) {
    char message[1024];
    size_t len;
    scoutlb_last_error_message(message, sizeof message, &len);
    fprintf(stderr, "bench: %s failed: %s\n", what, message);
    exit(1);
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    static char body[16384], buf[16384];
    size_t used, len = 0;
    double start;
    long i;
    int n;

    if (scoutlb_config_new("{\"servers\": [\"10.0.0.1\"], \"probe\": \"none\"}", &config) != SCOUTLB_OK ||
        scoutlb_client_new(config, &client) != SCOUTLB_OK) {
        fail("creating the client");
    }
    scoutlb_config_free(config);
    used = (size_t)snprintf(body, sizeof body, "{\"servers\": [");
    for (n = 0; n < 100; n++) {
        used += (size_t)snprintf(body + used, sizeof body - used, "%s{\"host\": \"10.0.%d.%d\", \"port\": 22123}",
                                 n ? ", " : "", n / 250, n % 250 + 1);
    }
    snprintf(body + used, sizeof body - used, "]}");
    if (scoutlb_client_update_server_list(client, (const unsigned char *)body, strlen(body), NULL) != SCOUTLB_OK ||
        scoutlb_client_report_success(client, "10.0.0.51:22123") != SCOUTLB_OK) {
        fail("setting up the list");
    }

    for (i = 0; i < iterations / 10; i++) { /* warm up */
        scoutlb_client_candidates(client, buf, sizeof buf, &len);
    }
    start = now_ns();
    for (i = 0; i < iterations; i++) {
        if (scoutlb_client_candidates(client, buf, sizeof buf, &len) != SCOUTLB_OK) {
            fail("candidates");
        }
        sink += len;
    }
    printf("c candidates_100 %.1f\n", (now_ns() - start) / (double)iterations);

    start = now_ns();
    for (i = 0; i < iterations; i++) {
        if (scoutlb_client_report_success(client, "10.0.0.51:22123") != SCOUTLB_OK) {
            fail("report_success");
        }
    }
    printf("c report_success_default %.1f\n", (now_ns() - start) / (double)iterations);

    start = now_ns();
    for (i = 0; i < iterations; i++) {
        if (scoutlb_client_default_server(client, buf, sizeof buf, &len) != SCOUTLB_OK) {
            fail("default_server");
        }
        sink += len;
    }
    printf("c default_server %.1f\n", (now_ns() - start) / (double)iterations);
    scoutlb_client_free(client);
    return 0;
}
