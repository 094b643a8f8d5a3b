/* The event-loop driver from C (behaviour.md, "Event loops"): a poll(2) agent starts a connect,
 * watches the call's sockets until its timeout, processes, and finishes it; a retrying call of
 * such calls; cancel, bad arguments and refused probes. The loopback servers of testlib run on their own threads; the
 * device side runs on this one. Argument: tests/vectors (unused; the suite passes it to every
 * test of its list). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "scoutlb.h"
#include "testlib.h"

#define MAX_WATCHES 16

/* The blocking probe callback of a client whose event-loop calls run their own probes. */
static uint32_t never_called(void *user_data, const struct scoutlb_probe_params *params) {
    (void)user_data;
    (void)params;
    CHECK(!"the blocking callback is not called by an event-loop call");
    return SCOUTLB_PROBE_FAILED;
}

static void test_a_refused_server_then_a_live_one(void) {
    uint16_t dead = tl_refused_port();
    char body[256], json[512];
    struct tl_http_server *live = tl_http_start(TL_SERVE, 200, "");
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\"}], \"self\": \"b\"}",
             tl_http_port(live));
    CHECK(tl_http_set_body(live, body));
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}", dead, tl_http_port(live));
    struct scoutlb_client *client = tl_client(json);
    struct scoutlb_call *call = NULL;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK(call != NULL);
    /* On loopback the call may be decided inside start already (a refusal, then a fast answer):
     * the loop then never waits. */
    tl_drive(call);
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_OK);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(live));
    CHECK(strcmp(connected.server, want) == 0);
    CHECK(connected.failed_attempts == 1);
    CHECK(tl_http_requests(live) == 1);
    /* A reconnect on the loop goes to the default again. */
    CHECK_STATUS(scoutlb_client_start_reconnect(client, &call), SCOUTLB_OK);
    tl_drive(call);
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_OK);
    CHECK(strcmp(connected.server, want) == 0 && connected.failed_attempts == 0);
    scoutlb_client_free(client);
    tl_http_stop(live);
}

/* A name of the hosts file (localhost) is resolved by the call itself (no name server is asked). */
static void test_a_name_of_the_hosts_file(void) {
    struct tl_http_server *live = tl_http_start(TL_SERVE, 200, "");
    char body[256], json[256], want[64];
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u}]}", tl_http_port(live));
    CHECK(tl_http_set_body(live, body));
    snprintf(json, sizeof json, "{\"servers\": [\"localhost:%u\"]}", tl_http_port(live));
    struct scoutlb_client *client = tl_client(json);
    struct scoutlb_call *call = NULL;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    tl_drive(call);
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_OK);
    snprintf(want, sizeof want, "localhost:%u", tl_http_port(live));
    CHECK(strcmp(connected.reached, want) == 0);
    scoutlb_client_free(client);
    tl_http_stop(live);
}

static void test_all_refused_names_the_attempts(void) {
    char json[256];
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}", tl_refused_port(),
             tl_refused_port());
    struct scoutlb_client *client = tl_client(json);
    struct scoutlb_call *call = NULL;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    tl_drive(call);
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_ALL_FAILED);
    size_t attempts = 0;
    CHECK_STATUS(scoutlb_last_error_attempt_count(&attempts), SCOUTLB_OK);
    CHECK(attempts == 2);
    scoutlb_client_free(client);
}

static void test_cancel_and_free(void) {
    struct tl_http_server *silent = tl_http_start(TL_SILENT, 200, "");
    char json[256];
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"]}", tl_http_port(silent));
    struct scoutlb_client *client = tl_client(json);
    struct scoutlb_call *call = NULL;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_call_process(call), SCOUTLB_OK);
    size_t count = 0;
    CHECK_STATUS(scoutlb_call_watches(call, NULL, 0, &count), SCOUTLB_OK);
    CHECK(count == 1);
    CHECK(!scoutlb_call_is_done(call) && scoutlb_call_timeout_ms(call) >= 0);
    CHECK_STATUS(scoutlb_call_cancel(call), SCOUTLB_OK);
    CHECK(scoutlb_call_is_done(call) && scoutlb_call_timeout_ms(call) == -1);
    CHECK_STATUS(scoutlb_call_watches(call, NULL, 0, &count), SCOUTLB_OK);
    CHECK(count == 0);
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_CANCELLED);
    /* A call freed unfinished is cancelled; a call finished unfinished too. */
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    scoutlb_call_free(call);
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_CANCELLED);
    /* The client's cancel refuses new calls. */
    CHECK_STATUS(scoutlb_client_cancel(client), SCOUTLB_OK);
    call = NULL;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_CANCELLED);
    CHECK(call == NULL);
    scoutlb_client_free(client);
    tl_http_stop(silent);
}

static void test_bad_arguments_and_refused_probes(void) {
    struct scoutlb_call *call = NULL;
    size_t count = 0;
    struct scoutlb_watch w;
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_start_connect(NULL, &call), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_call_watches(NULL, &w, 1, &count), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_call_process(NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_call_cancel(NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK(scoutlb_call_timeout_ms(NULL) == -1);
    CHECK(!scoutlb_call_is_done(NULL));
    scoutlb_call_free(NULL);
    struct scoutlb_client *client = tl_client("{\"servers\": [\"127.0.0.1:1\"]}");
    CHECK_STATUS(scoutlb_client_start_connect(client, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_finish(client, NULL, &connected), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_call_watches(call, NULL, 4, &count), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_call_watches(call, &w, 1, NULL), SCOUTLB_NULL_ARGUMENT);
    /* Finished by another client: refused, and the call is freed all the same. */
    struct scoutlb_client *other = tl_client("{\"servers\": [\"127.0.0.1:1\"]}");
    CHECK_STATUS(scoutlb_client_finish(other, call, &connected), SCOUTLB_UNSUPPORTED);
    scoutlb_client_free(other);
    scoutlb_client_free(client);
    /* Agent-driven probes have no driver. */
    client = tl_client("{\"servers\": [\"127.0.0.1:1\"], \"probe\": \"none\"}");
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_UNSUPPORTED);
    char *message = tl_last_error();
    CHECK(message != NULL && tl_contains(message, "event-loop"));
    free(message);
    scoutlb_client_free(client);
}

/* The agent's own probe on the loop: a non-blocking TCP connect per attempt, its socket handed to
 * the call to watch; reached when the connect succeeds, failed when it is refused. */
struct own_probe {
    uint64_t attempt;
    int fd;
};

static int own_connect(const char *server) {
    const char *colon = strrchr(server, ':');
    struct sockaddr_in to;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)atoi(colon + 1));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
        /* Refused at once: the socket reports it when asked below. */
    }
    return fd;
}

static void test_the_agents_own_probe_runs_on_the_loop(void) {
    struct tl_http_server *live = tl_http_start(TL_SERVE, 200, "");
    char json[256];
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"probe\": \"callback\"}",
             tl_refused_port(), tl_http_port(live));
    struct scoutlb_config *config = NULL;
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_probe_callback(config, never_called, NULL), SCOUTLB_OK);
    struct scoutlb_client *client = NULL;
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    struct scoutlb_call *call = NULL;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    struct own_probe probes[MAX_WATCHES];
    size_t used = 0;
    int wakes = 0;
    while (!scoutlb_call_is_done(call) && wakes++ < 10000) {
        struct scoutlb_probe_request request;
        bool found = false;
        CHECK_STATUS(scoutlb_call_next_probe(call, &request, &found), SCOUTLB_OK);
        while (found && used < MAX_WATCHES) {
            CHECK(request.timeout_ms > 0);
            probes[used].attempt = request.attempt;
            probes[used].fd = own_connect(request.server);
            CHECK_STATUS(scoutlb_call_probe_watch(call, request.attempt, probes[used].fd, SCOUTLB_WATCH_WRITE), SCOUTLB_OK);
            used++;
            CHECK_STATUS(scoutlb_call_next_probe(call, &request, &found), SCOUTLB_OK);
        }
        /* The call's watches include the probes' sockets. */
        struct scoutlb_watch watches[MAX_WATCHES];
        struct pollfd fds[MAX_WATCHES];
        size_t count = 0;
        CHECK_STATUS(scoutlb_call_watches(call, watches, MAX_WATCHES, &count), SCOUTLB_OK);
        for (size_t i = 0; i < count && i < MAX_WATCHES; i++) {
            fds[i].fd = watches[i].fd;
            fds[i].events = POLLOUT;
            fds[i].revents = 0;
        }
        (void)poll(fds, (nfds_t)count, (int)scoutlb_call_timeout_ms(call));
        for (size_t i = 0; i < count && i < MAX_WATCHES; i++) {
            for (size_t p = 0; p < used; p++) {
                if (probes[p].fd != fds[i].fd || fds[i].revents == 0) {
                    continue;
                }
                int error = 0;
                socklen_t len = sizeof error;
                (void)getsockopt(probes[p].fd, SOL_SOCKET, SO_ERROR, &error, &len);
                close(probes[p].fd);
                probes[p].fd = -1;
                if (error == 0) {
                    CHECK_STATUS(scoutlb_call_probe_reached(call, probes[p].attempt, NULL, 0), SCOUTLB_OK);
                } else {
                    CHECK_STATUS(scoutlb_call_probe_failed(call, probes[p].attempt, strerror(error)), SCOUTLB_OK);
                }
            }
        }
        CHECK_STATUS(scoutlb_call_process(call), SCOUTLB_OK);
    }
    CHECK(used == 2);
    uint64_t gone = 0;
    bool found = true;
    CHECK_STATUS(scoutlb_call_next_abandoned(call, &gone, &found), SCOUTLB_OK);
    CHECK(!found);
    /* Reports on an attempt the call no longer runs, and bad arguments. */
    CHECK_STATUS(scoutlb_call_probe_failed(call, 99, "late"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_call_probe_watch(call, 99, 0, 7), SCOUTLB_INVALID_ARGUMENT);
    CHECK_STATUS(scoutlb_call_next_probe(call, NULL, &found), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_call_probe_up(NULL, 0), SCOUTLB_NULL_ARGUMENT);
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_OK);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(live));
    CHECK(strcmp(connected.server, want) == 0 && connected.failed_attempts == 1);
    for (size_t p = 0; p < used; p++) {
        if (probes[p].fd >= 0) {
            close(probes[p].fd);
        }
    }
    scoutlb_client_free(client);
    tl_http_stop(live);
}

/* A retrying call on the loop: each try a call of its own, `scoutlb_client_finish_try` deciding
 * whether and when to try again, as `scoutlb_client_connect_with_retry` does (behaviour.md,
 * "Event loops", Retrying). Returns the tries made; `*status_out` is the last try's status. */
static uint32_t retry_on_the_loop(struct scoutlb_client *client, uint64_t ceiling_ms, uint32_t *status_out) {
    for (uint32_t tries = 1; tries < 100; tries++) {
        struct scoutlb_call *call = NULL;
        CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
        tl_drive(call);
        struct scoutlb_connected connected;
        bool retry = true;
        uint64_t wait_ms = 12345;
        uint32_t status = scoutlb_client_finish_try(client, call, tries, &connected, &retry, &wait_ms);
        *status_out = status;
        if (status == SCOUTLB_OK) {
            CHECK(!retry && wait_ms == 0);
            return tries;
        }
        if (!retry) {
            CHECK(wait_ms == 0);
            return tries;
        }
        /* Full jitter: uniform in [0, min(cap, base * 2^(tries - 1))]. */
        uint64_t ceiling = ceiling_ms << (tries - 1);
        CHECK(wait_ms <= (ceiling > 4 * ceiling_ms ? 4 * ceiling_ms : ceiling));
        struct timespec pause = {0, (long)wait_ms * 1000000L};
        nanosleep(&pause, NULL);
    }
    CHECK(!"the retry profile's max_tries ends the loop");
    return 0;
}

static void test_retrying_on_the_loop(void) {
    char json[512];
    /* Every server down: three tries (max_tries), then the call ends with ALL_FAILED. */
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\"], \"retry\": {\"base_ms\": 20, \"factor\": 2, \"cap_ms\": 80, "
             "\"max_tries\": 3}}",
             tl_refused_port());
    struct scoutlb_client *client = tl_client(json);
    uint32_t status = 0;
    CHECK(retry_on_the_loop(client, 20, &status) == 3);
    CHECK_STATUS(status, SCOUTLB_ALL_FAILED);
    char *message = tl_last_error();
    CHECK(tl_contains(message, "127.0.0.1"));
    free(message);
    scoutlb_client_free(client);

    /* A live server: the first try connects, nothing to wait for. */
    struct tl_http_server *live = tl_http_start(TL_SERVE, 200, "");
    char body[256];
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u}]}", tl_http_port(live));
    CHECK(tl_http_set_body(live, body));
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"], \"retry\": {\"max_tries\": 3}}", tl_http_port(live));
    client = tl_client(json);
    CHECK(retry_on_the_loop(client, 1000, &status) == 1);
    CHECK_STATUS(status, SCOUTLB_OK);
    scoutlb_client_free(client);
    tl_http_stop(live);

    /* A refused device does not hurry: its next try after [cap / 2, cap]. */
    struct tl_http_server *refusing = tl_http_start(TL_SERVE, 403, "{\"refused\": \"device dev-9 is not known\"}");
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\"], \"device_id\": \"dev-9\", \"retry\": {\"base_ms\": 10, "
             "\"cap_ms\": 4000, \"max_tries\": 2}}",
             tl_http_port(refusing));
    client = tl_client(json);
    for (uint32_t tries = 1; tries <= 2; tries++) {
        struct scoutlb_call *call = NULL;
        CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
        tl_drive(call);
        bool retry = false;
        uint64_t wait_ms = 0;
        CHECK_STATUS(scoutlb_client_finish_try(client, call, tries, NULL, &retry, &wait_ms), SCOUTLB_NULL_ARGUMENT);
        CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
        tl_drive(call);
        struct scoutlb_connected connected;
        CHECK_STATUS(scoutlb_client_finish_try(client, call, tries, &connected, &retry, &wait_ms),
                     SCOUTLB_DEVICE_REFUSED);
        message = tl_last_error();
        CHECK(tl_contains(message, "dev-9 is not known"));
        free(message);
        if (tries == 1) {
            CHECK(retry && wait_ms >= 2000 && wait_ms <= 4000);
        } else {
            CHECK(!retry && wait_ms == 0); /* max_tries */
        }
    }
    scoutlb_client_free(client);
    tl_http_stop(refusing);

    /* Bad arguments: the call is freed whatever the result. */
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"]}", tl_refused_port());
    client = tl_client(json);
    struct scoutlb_call *call = NULL;
    struct scoutlb_connected connected;
    bool retry = true;
    uint64_t wait_ms = 1;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_finish_try(client, call, 0, &connected, &retry, &wait_ms), SCOUTLB_INVALID_ARGUMENT);
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_finish_try(client, call, 1, &connected, NULL, &wait_ms), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_finish_try(client, call, 1, &connected, &retry, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_finish_try(client, NULL, 1, &connected, &retry, &wait_ms), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_finish_try(NULL, call, 1, &connected, &retry, &wait_ms), SCOUTLB_NULL_ARGUMENT);
    scoutlb_client_free(client);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_a_refused_server_then_a_live_one();
    test_all_refused_names_the_attempts();
    test_a_name_of_the_hosts_file();
    test_cancel_and_free();
    test_bad_arguments_and_refused_probes();
    test_the_agents_own_probe_runs_on_the_loop();
    test_retrying_on_the_loop();
    return tl_finish();
}
