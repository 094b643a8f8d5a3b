/* The C ABI side of the soak bench (tests/soak/run.sh): as tests/soak/soak.rs, through libscoutlb.
 *
 *   soak_c CONFIG_JSON_FILE WARMUP_S RUN_S COOLDOWN_S
 */
#define _POSIX_C_SOURCE 200809L
#include <scoutlb.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Resident memory in KiB, threads and open descriptors of this process. */
static void usage(long *rss, long *threads, long *fds) {
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *rss = *threads = *fds = 0;
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "VmRSS: %ld", rss);
        sscanf(line, "Threads: %ld", threads);
    }
    if (f) fclose(f);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') (*fds)++;
    if (d) closedir(d);
    (*fds)--; /* the opendir's own */
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long cycles, ok, failed, attempts_failed;

static void cycle(const struct scoutlb_client *client) {
    struct scoutlb_connected c;
    char order[4096];
    size_t len = 0;
    scoutlb_status rc = cycles == 0 ? scoutlb_client_connect(client, &c) : scoutlb_client_reconnect(client, &c);
    if (rc == SCOUTLB_OK) {
        ok++;
        attempts_failed += c.failed_attempts;
    } else {
        failed++;
    }
    scoutlb_client_connection_lost(client, order, sizeof order, &len);
    cycles++;
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: soak_c CONFIG_JSON_FILE WARMUP_S RUN_S COOLDOWN_S\n");
        return 2;
    }
    static char text[65536];
    FILE *f = fopen(argv[1], "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = 0;
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    if (scoutlb_config_new(text, &config) != SCOUTLB_OK || scoutlb_client_new(config, &client) != SCOUTLB_OK) {
        char msg[512];
        size_t len = 0;
        scoutlb_last_error_message(msg, sizeof msg, &len);
        fprintf(stderr, "soak_c: %s\n", msg);
        return 1;
    }
    scoutlb_config_free(config);
    double warmup = atof(argv[2]), run = atof(argv[3]), cooldown = atof(argv[4]);
    long rss, threads, fds;
    double start = now();
    while (now() - start < warmup) cycle(client);
    usage(&rss, &threads, &fds);
    printf("baseline rss_kb=%ld threads=%ld fds=%ld\n", rss, threads, fds);
    fflush(stdout);
    start = now();
    while (now() - start < run) cycle(client);
    struct timespec pause = {(time_t)cooldown, 0};
    nanosleep(&pause, NULL);
    usage(&rss, &threads, &fds);
    printf("end rss_kb=%ld threads=%ld fds=%ld cycles=%ld ok=%ld failed=%ld attempts_failed=%ld\n", rss, threads, fds,
           cycles, ok, failed, attempts_failed);
    scoutlb_client_free(client);
    return 0;
}
