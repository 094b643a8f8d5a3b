/* C tests of the scoutlb C ABI: every exported function, its errors, callbacks, threads, the
 * failover vectors, and connects against loopback HTTP servers started here.
 * Usage: test_api VECTORS_JSON   (tests/vectors/failover_order.json) */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1 /* flock(2) */

#include <math.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scoutlb.h"
#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__)
#define TL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TL_ASAN 1
#endif
#endif
#ifndef TL_ASAN
#define TL_ASAN 0
#endif

typedef scoutlb_status (*text_fn)(const struct scoutlb_client *, char *, size_t, size_t *);

/** The text a list function writes, malloc'd after asking for the size; NULL on failure. */
static char *text_of(text_fn fn, const struct scoutlb_client *client) {
    size_t len = 0;
    char *buf;
    if (fn(client, NULL, 0, &len) != SCOUTLB_BUFFER_TOO_SMALL || len == 0) {
        return NULL;
    }
    buf = malloc(len);
    if (buf != NULL && fn(client, buf, len, &len) != SCOUTLB_OK) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/** Check that list function `fn` writes exactly `want`. */
#define CHECK_TEXT(fn, client, want) check_text((fn), (client), (want), __FILE__, __LINE__, #fn)
static void check_text(text_fn fn, const struct scoutlb_client *client, const char *want, const char *file, int line,
                       const char *what) {
    char *got = text_of(fn, client);
    int ok = got != NULL && strcmp(got, want) == 0;
    if (!ok) {
        fprintf(stderr, "FAIL %s:%d: %s wrote \"%s\", expected \"%s\"\n", file, line, what, got ? got : "(error)",
                want);
    }
    tl_check(ok, file, line, what);
    free(got);
}

/** Check that the last error message contains `needle`. */
#define CHECK_ERROR_HAS(needle) check_error_has((needle), __FILE__, __LINE__)
static void check_error_has(const char *needle, const char *file, int line) {
    char *message = tl_last_error();
    int ok = tl_contains(message, needle);
    if (!ok) {
        fprintf(stderr, "FAIL %s:%d: last error \"%s\" lacks \"%s\"\n", file, line, message ? message : "(none)",
                needle);
    }
    tl_check(ok, file, line, needle);
    free(message);
}

/* ---- events ---------------------------------------------------------------------------------- */

/** What the event callback saw, shared between threads. */
struct recorder {
    pthread_mutex_t lock;
    int count[32];
    int bad;         /* events with an invalid field */
    char log[16384]; /* messages, one per line, as long as they fit */
};

static void recorder_init(struct recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
}

static void on_event(void *user_data, const struct scoutlb_event *event) {
    struct recorder *r = user_data;
    size_t used;
    pthread_mutex_lock(&r->lock);
    if (event->kind < 32) {
        r->count[event->kind]++;
    }
    if (event->severity > SCOUTLB_SEVERITY_WARNING || event->message == NULL || event->kind_name == NULL ||
        (event->server != NULL && strlen(event->server) >= SCOUTLB_SERVER_TEXT_SIZE)) {
        r->bad++;
    }
    used = strlen(r->log);
    if (event->message != NULL && used + strlen(event->message) + 2 < sizeof r->log) {
        strcat(r->log, event->message);
        strcat(r->log, "\n");
    }
    pthread_mutex_unlock(&r->lock);
}

static int recorded(struct recorder *r, uint32_t kind) {
    int n;
    pthread_mutex_lock(&r->lock);
    n = r->count[kind];
    pthread_mutex_unlock(&r->lock);
    return n;
}

/** A client from JSON text whose events go to `r` (all severities). */
static struct scoutlb_client *client_with_events(const char *json, struct recorder *r) {
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_DEBUG, on_event, r), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    return client;
}

/* ---- version, status names ------------------------------------------------------------------- */

static void test_version(void) {
    char macros[64];
    snprintf(macros, sizeof macros, "%d.%d.%d", SCOUTLB_VERSION_MAJOR, SCOUTLB_VERSION_MINOR, SCOUTLB_VERSION_PATCH);
#ifdef EXPECTED_VERSION
    /* EXPECTED_VERSION is read from Cargo.toml by tests/c/run.sh. */
    CHECK(strcmp(SCOUTLB_VERSION, EXPECTED_VERSION) == 0);
    CHECK(strncmp(EXPECTED_VERSION, macros, strlen(macros)) == 0);
#else
    CHECK(!"EXPECTED_VERSION (from Cargo.toml) was not given to the compiler");
#endif
    CHECK(strcmp(scoutlb_version(), SCOUTLB_VERSION) == 0);
}

static void test_status_names(void) {
    uint32_t code;
    for (code = SCOUTLB_OK; code <= SCOUTLB_DEVICE_REFUSED; code++) {
        CHECK(strncmp(scoutlb_status_name(code), "SCOUTLB_", 8) == 0);
        CHECK(strcmp(scoutlb_status_name(code), "SCOUTLB_UNKNOWN_STATUS") != 0);
    }
    CHECK(strcmp(scoutlb_status_name(SCOUTLB_ALL_FAILED), "SCOUTLB_ALL_FAILED") == 0);
    CHECK(strcmp(scoutlb_status_name(SCOUTLB_CANCELLED), "SCOUTLB_CANCELLED") == 0);
    CHECK(strcmp(scoutlb_status_name(SCOUTLB_DEVICE_REFUSED + 1), "SCOUTLB_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(scoutlb_status_name(0xffffffffu), "SCOUTLB_UNKNOWN_STATUS") == 0);
    /* The numbers are part of the ABI and never reused. */
    CHECK(SCOUTLB_OK == 0 && SCOUTLB_PANIC == 1 && SCOUTLB_NULL_ARGUMENT == 2 && SCOUTLB_INVALID_UTF8 == 3);
    CHECK(SCOUTLB_CONFIG == 4 && SCOUTLB_STATE_FILE == 5 && SCOUTLB_ALL_FAILED == 6);
    CHECK(SCOUTLB_BUFFER_TOO_SMALL == 7 && SCOUTLB_INVALID_SERVER_LIST == 8 && SCOUTLB_DNS == 9);
    CHECK(SCOUTLB_INVALID_ARGUMENT == 10 && SCOUTLB_INVALID_SERVER == 11 && SCOUTLB_STATE_FORMAT == 12);
    CHECK(SCOUTLB_UNKNOWN_SERVER == 13 && SCOUTLB_UNSUPPORTED == 14 && SCOUTLB_OTHER == 15);
    CHECK(SCOUTLB_CANCELLED == 16);
}

/* ---- stop callback --------------------------------------------------------------------------- */

/** What a stop callback saw; it asks to stop on call number `stop_at` (0: never). */
struct stopper {
    int stop_at;
    int calls;
    int went_back; /* calls whose elapsed_ms was below the previous call's */
    uint64_t last_elapsed_ms;
};

static void stopper_init(struct stopper *s, int stop_at) {
    memset(s, 0, sizeof *s);
    s->stop_at = stop_at;
}

static uint32_t my_stop(void *user_data, const struct scoutlb_stop_params *params) {
    struct stopper *s = user_data;
    s->calls++;
    if (params->elapsed_ms < s->last_elapsed_ms) {
        s->went_back++;
    }
    s->last_elapsed_ms = params->elapsed_ms;
    return s->stop_at != 0 && s->calls >= s->stop_at ? 1u : 0u;
}

/** Milliseconds of the monotonic clock. */
static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- NULL arguments -------------------------------------------------------------------------- */

static void test_null_arguments(void) {
    struct scoutlb_config *config = NULL;
    struct scoutlb_config *untouched_config = (struct scoutlb_config *)&config;
    struct scoutlb_client *client = tl_client("{\"servers\": [\"a\"], \"probe\": \"none\"}");
    struct scoutlb_client *untouched_client = (struct scoutlb_client *)&config;
    struct scoutlb_connected connected;
    struct stopper stopper;
    char buf[64];
    size_t len = 12345;
    uint64_t wait = 777;

    scoutlb_config_free(NULL);
    scoutlb_client_free(NULL);

    CHECK_STATUS(scoutlb_config_new(NULL, &config), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`json`");
    CHECK_STATUS(scoutlb_config_new("{}", NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`config_out`");
    CHECK_STATUS(scoutlb_config_set_event_callback(NULL, 0, on_event, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_set_probe_callback(NULL, NULL, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_set_random_seed(NULL, 1), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_new(NULL, &untouched_client), SCOUTLB_NULL_ARGUMENT);
    CHECK(untouched_client == (struct scoutlb_client *)&config); /* written only on success */
    CHECK_STATUS(scoutlb_config_new("{}", &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`client_out`");
    scoutlb_config_free(config);
    CHECK_STATUS(scoutlb_config_new("{", &untouched_config), SCOUTLB_CONFIG);
    CHECK(untouched_config == (struct scoutlb_config *)&config);

    CHECK_STATUS(scoutlb_client_connect(NULL, &connected), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`client`");
    CHECK_STATUS(scoutlb_client_connect(client, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`connected_out`");
    CHECK_STATUS(scoutlb_client_reconnect(NULL, &connected), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_reconnect(client, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_connect_with_retry(NULL, &connected), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_connect_with_retry(client, NULL), SCOUTLB_NULL_ARGUMENT);
    stopper_init(&stopper, 1);
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(NULL, my_stop, &stopper, &connected), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`client`");
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, my_stop, &stopper, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`connected_out`");
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, NULL, NULL, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK(stopper.calls == 0); /* arguments are checked before anything runs */
    CHECK_STATUS(scoutlb_client_backoff_ms(NULL, 0, &wait), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_backoff_ms(client, 0, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK(wait == 777);

    {
        text_fn fns[] = {scoutlb_client_candidates,     scoutlb_client_failover_order,
                         scoutlb_client_connection_lost, scoutlb_client_server_list,
                         scoutlb_client_seeds,           scoutlb_client_balancer_addresses,
                         scoutlb_client_default_server,  scoutlb_client_state_json};
        size_t i;
        for (i = 0; i < sizeof fns / sizeof fns[0]; i++) {
            len = 12345;
            CHECK_STATUS(fns[i](NULL, buf, sizeof buf, &len), SCOUTLB_NULL_ARGUMENT);
            CHECK_STATUS(fns[i](client, buf, sizeof buf, NULL), SCOUTLB_NULL_ARGUMENT);
            CHECK_ERROR_HAS("`out_len`");
            CHECK_STATUS(fns[i](client, NULL, sizeof buf, &len), SCOUTLB_NULL_ARGUMENT);
            CHECK_ERROR_HAS("`buf`");
            CHECK(len == 12345);
        }
    }
    CHECK_STATUS(scoutlb_client_report_success(NULL, "a"), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_report_success(client, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`server`");
    CHECK_STATUS(scoutlb_client_report_failure(NULL, "a", "x"), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_report_failure(client, NULL, "x"), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_report_failure(client, "a", NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`reason`");
    CHECK_STATUS(scoutlb_client_update_server_list(NULL, (const uint8_t *)"{}", 2, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_update_server_list(client, NULL, 5, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`body`");
    /* (NULL, 0) is an empty body: not a NULL argument, but an empty (refused) list. */
    CHECK_STATUS(scoutlb_client_update_server_list(client, NULL, 0, NULL), SCOUTLB_INVALID_SERVER_LIST);
    CHECK_STATUS(scoutlb_server_parse(NULL, 1, buf, sizeof buf, &len), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_server_parse("a", 1, buf, sizeof buf, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_error_message(buf, sizeof buf, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_error_message(NULL, 4, &len), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_error_attempt_count(NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_error_attempt(0, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_error_attempt_message(0, buf, sizeof buf, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_save_error(buf, sizeof buf, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_save_error(NULL, 4, &len), SCOUTLB_NULL_ARGUMENT);

    /* The typed setters check the config, then the key, then the value. */
    CHECK_STATUS(scoutlb_config_new_default(NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`config_out`");
    CHECK_STATUS(scoutlb_config_set_string(NULL, "probe", "tcp"), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`config`");
    CHECK_STATUS(scoutlb_config_add_string(NULL, "servers", "a"), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_set_u64(NULL, "deadline_ms", 1), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_set_double(NULL, "retry.factor", 2.0), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_reset(NULL, "servers"), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, NULL, "tcp"), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`key`");
    CHECK_STATUS(scoutlb_config_add_string(config, NULL, "a"), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_ERROR_HAS("`value`");
    CHECK_STATUS(scoutlb_config_set_u64(config, NULL, 1), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_set_double(config, NULL, 1.0), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_config_reset(config, NULL), SCOUTLB_NULL_ARGUMENT);
    scoutlb_config_free(config);
    scoutlb_client_free(client);
}

/* ---- Scout INI files (behaviour.md, "Scout INI files") -------------------------------------- */

static void write_ini(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_scout_ini(void) {
    char path[] = "/tmp/scoutlb-ini-XXXXXX";
    int fd = mkstemp(path);
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    char buf[256];
    size_t len = 0;

    CHECK(fd >= 0);
    close(fd);
    write_ini(path, "[Scout]\r\nManagerLoadBalancer=127.0.0.1:7\r\nServerList=127.0.0.2\r\n[Other]\r\nX=1\r\n");
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "probe", "none"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", "127.0.0.9"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "scout_ini", path), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_candidates(client, buf, sizeof buf, &len), SCOUTLB_OK);
    CHECK(strcmp(buf, "127.0.0.1:7\n127.0.0.2:22123\n") == 0);
    scoutlb_client_free(client);
    client = NULL;

    write_ini(path, "[Security]\nTlsVerifyOption=2\n");
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("line 2, section [Security], entry TlsVerifyOption");
    CHECK(client == NULL);

    /* [ScoutHandshake] selects the handshake retry profile: 2 s doubled, ± 10 % (behaviour.md, "All fail"). */
    write_ini(path, "[ScoutHandshake]\nMaxRetries=3\nRetryTimer=2\n");
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    {
        uint64_t wait = 0;
        CHECK_STATUS(scoutlb_client_backoff_ms(client, 1, &wait), SCOUTLB_OK);
        CHECK(wait >= 3600 && wait <= 4400);
        CHECK_STATUS(scoutlb_client_backoff_ms(client, 9, &wait), SCOUTLB_OK);
        CHECK(wait >= 7200 && wait <= 8800); /* past MaxRetries: the last interval */
    }
    scoutlb_client_free(client);
    client = NULL;
    write_ini(path, "[ScoutHandshake]\nRetryTimer=five\n");
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("line 2, section [ScoutHandshake], entry RetryTimer: expected a whole number of seconds");
    CHECK(client == NULL);
    scoutlb_config_free(config);
    unlink(path);
}

/* behaviour.md, "TLS": the levels as keys, Scout's TlsVerifyOption, and the event of "none". */
static void test_tls_levels(void) {
    char ini[] = "/tmp/scoutlb-tls-ini-XXXXXX";
    char dir[] = "/tmp/scoutlb-cacerts-XXXXXX";
    char server[64];
    int fd = mkstemp(ini);
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    struct scoutlb_connected connected;
    struct recorder r;

    CHECK(fd >= 0);
    close(fd);
    CHECK(mkdtemp(dir) != NULL);
    CHECK(SCOUTLB_EVENT_TLS_UNVERIFIED == 13);
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "tls_verify", "strict"), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("\"full\", \"chain\" or \"none\"");
    CHECK_STATUS(scoutlb_config_set_string(config, "tls_verify", "chain"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "scheme", "https"), SCOUTLB_OK);
    snprintf(server, sizeof server, "127.0.0.1:%u", (unsigned)tl_refused_port());
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", server), SCOUTLB_OK);

    /* A folder of roots without a certificate: the device could reach no server, said at once. */
    CHECK_STATUS(scoutlb_config_set_string(config, "ca_dir", dir), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("holds no certificate");
    CHECK(client == NULL);

    /* "none" is reported before every call's first attempt, even when every attempt fails. */
    recorder_init(&r);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_DEBUG, on_event, &r), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "tls_verify", "none"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK_STATUS(scoutlb_client_reconnect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK(recorded(&r, SCOUTLB_EVENT_TLS_UNVERIFIED) == 2);
    CHECK(tl_contains(r.log, "TLS certificates are not checked"));
    scoutlb_client_free(client);
    client = NULL;

    /* Scout's TlsVerifyOption=0 in the device's file says "none" too, over the JSON key. */
    write_ini(ini, "[Security]\nTlsVerifyOption=0\n");
    CHECK_STATUS(scoutlb_config_set_string(config, "tls_verify", "full"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_reset(config, "ca_dir"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "scout_ini", ini), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK(recorded(&r, SCOUTLB_EVENT_TLS_UNVERIFIED) == 3);
    CHECK(r.bad == 0);
    scoutlb_client_free(client);
    scoutlb_config_free(config);
    pthread_mutex_destroy(&r.lock);
    unlink(ini);
    rmdir(dir);
}

/* behaviour.md, "Servers that steer devices": a refusal ends the call with its own code and the
 * refusing attempt; a drain is an attempt kind of its own. */
static void test_steering(void) {
    struct tl_http_server *refusing = tl_http_start(TL_SERVE, 403, "{\"refused\": \"device dev-5 is not known\"}");
    struct tl_http_server *draining = tl_http_start(TL_SERVE, 503, "");
    struct tl_http_server *other = tl_http_start(TL_SERVE, 200, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": 1}]}");
    struct scoutlb_client *client = NULL;
    struct scoutlb_connected connected;
    struct scoutlb_attempt attempt;
    struct recorder r;
    char json[512];
    char buf[256];
    size_t count = 0;

    CHECK(refusing != NULL && draining != NULL && other != NULL);
    if (refusing == NULL || draining == NULL || other == NULL) {
        return;
    }
    CHECK(SCOUTLB_DEVICE_REFUSED == 17 && SCOUTLB_EVENT_DEVICE_REFUSED == 14);
    CHECK(strcmp(scoutlb_status_name(SCOUTLB_DEVICE_REFUSED), "SCOUTLB_DEVICE_REFUSED") == 0);
    recorder_init(&r);
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"device_id\": \"dev-5\", \"attempt_delay_ms\": 0}",
             tl_http_port(refusing), tl_http_port(other));
    client = client_with_events(json, &r);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_DEVICE_REFUSED);
    CHECK_ERROR_HAS("refuses this device: device dev-5 is not known");
    CHECK(tl_http_requests(other) == 0); /* no failover */
    CHECK(recorded(&r, SCOUTLB_EVENT_DEVICE_REFUSED) == 1);
    CHECK_STATUS(scoutlb_last_error_attempt_count(&count), SCOUTLB_OK);
    CHECK(count == 1);
    CHECK_STATUS(scoutlb_last_error_attempt(0, &attempt), SCOUTLB_OK);
    CHECK(attempt.kind == SCOUTLB_ATTEMPT_DEVICE_REFUSED && strcmp(attempt.kind_name, "device_refused") == 0);
    CHECK_STATUS(scoutlb_last_error_attempt_message(0, buf, sizeof buf, NULL), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_last_error_attempt_message(0, buf, sizeof buf, &count), SCOUTLB_OK);
    CHECK(tl_contains(buf, "device dev-5 is not known"));
    CHECK(r.bad == 0);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* Every server drains: all fail, each attempt `draining`. */
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"], \"attempt_delay_ms\": 0}", tl_http_port(draining));
    client = tl_client(json);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK_STATUS(scoutlb_last_error_attempt(0, &attempt), SCOUTLB_OK);
    CHECK(attempt.kind == SCOUTLB_ATTEMPT_DRAINING && strcmp(attempt.kind_name, "draining") == 0);
    CHECK_ERROR_HAS("the server drains");
    scoutlb_client_free(client);

    /* An offline relocation to an entry of the list: the default moves, this connection stays. */
    recorder_init(&r);
    snprintf(json, sizeof json,
             "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"a\"},"
             " {\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\"}], \"self\": \"a\","
             " \"relocate\": {\"to\": \"b\", \"mode\": \"offline\"}}",
             tl_http_port(other), tl_http_port(refusing));
    CHECK(tl_http_set_body(other, json));
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"], \"attempt_delay_ms\": 0}", tl_http_port(other));
    client = client_with_events(json, &r);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    snprintf(json, sizeof json, "127.0.0.1:%u", tl_http_port(other));
    CHECK(strcmp(connected.server, json) == 0);
    snprintf(json, sizeof json, "127.0.0.1:%u", tl_http_port(refusing));
    CHECK_TEXT(scoutlb_client_default_server, client, json);
    CHECK(recorded(&r, SCOUTLB_EVENT_RELOCATED) == 1);
    CHECK(SCOUTLB_EVENT_RELOCATION_PENDING == 15 && SCOUTLB_EVENT_RELOCATION_FAILED == 17);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);
    tl_http_stop(refusing);
    tl_http_stop(draining);
    tl_http_stop(other);
}

/* ---- invalid UTF-8 and malformed JSON -------------------------------------------------------- */

static void test_invalid_utf8(void) {
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = tl_client("{\"servers\": [\"a\"], \"probe\": \"none\"}");
    char buf[64];
    size_t len = 0;
    static const char bad_body[] = "{\"servers\": [{\"host\": \"\xff\", \"port\": 1}]}";

    CHECK_STATUS(scoutlb_config_new("{\"servers\": [\"\xff\xfe\"]}", &config), SCOUTLB_INVALID_UTF8);
    CHECK_ERROR_HAS("not valid UTF-8 (at byte 14)");
    CHECK(config == NULL);
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "st\xff" "ate_file", "x"), SCOUTLB_INVALID_UTF8);
    CHECK_ERROR_HAS("`key`");
    CHECK_STATUS(scoutlb_config_set_string(config, "state_file", "x\xff"), SCOUTLB_INVALID_UTF8);
    CHECK_ERROR_HAS("`value`");
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", "\xc3\x28"), SCOUTLB_INVALID_UTF8);
    scoutlb_config_free(config);
    config = NULL;
    CHECK_STATUS(scoutlb_client_report_success(client, "a\xc3\x28"), SCOUTLB_INVALID_UTF8);
    CHECK_STATUS(scoutlb_client_report_failure(client, "\xe2\x82", "x"), SCOUTLB_INVALID_UTF8);
    CHECK_STATUS(scoutlb_client_report_failure(client, "a", "bad \xc0\xaf reason"), SCOUTLB_INVALID_UTF8);
    CHECK_ERROR_HAS("`reason`");
    CHECK_STATUS(scoutlb_server_parse("\x80", 1, buf, sizeof buf, &len), SCOUTLB_INVALID_UTF8);
    CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)"{\"servers\": []}", 15, "\xff"),
                 SCOUTLB_INVALID_UTF8);
    /* A body is bytes, not a C string: invalid UTF-8 in it refuses the list. */
    CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)bad_body, sizeof bad_body - 1, NULL),
                 SCOUTLB_INVALID_SERVER_LIST);
    CHECK_TEXT(scoutlb_client_default_server, client, "");
    scoutlb_client_free(client);
}

static void test_malformed_json(void) {
    struct recorder r;
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client;
    static const char good[] = "{\"servers\": [{\"host\": \"10.0.0.1\", \"port\": 1}, {\"host\": \"b\", \"port\": 2}]}";
    const char *bodies[] = {"{", "[]", "{\"servers\": []}", "{\"servers\": [{\"host\": \"a\", \"port\": 0}]}",
                            "{\"servers\": 3}", "{\"servers\": [{\"host\": \"a b\", \"port\": 1}]}", "null"};
    size_t i;

    CHECK_STATUS(scoutlb_config_new("{", &config), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("not valid JSON");
    CHECK_STATUS(scoutlb_config_new("[]", &config), SCOUTLB_CONFIG);
    CHECK_STATUS(scoutlb_config_new("", &config), SCOUTLB_CONFIG);
    CHECK_STATUS(scoutlb_config_new("{\"servers\": 5}", &config), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("`servers`");
    CHECK_STATUS(scoutlb_config_new("{\"bogus\": 1}", &config), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("`bogus`");
    CHECK_STATUS(scoutlb_config_new("{\"probe\": \"magic\"}", &config), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("`probe`");
    CHECK_STATUS(scoutlb_config_new("{\"answer_delay_ms\": -1}", &config), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("`answer_delay_ms`");
    CHECK_STATUS(scoutlb_config_new("{\"answer_delay_ms\": 400, \"attempt_delay_ms\": 0}", &config), SCOUTLB_OK);
    scoutlb_config_free(config);
    config = NULL;
    CHECK_STATUS(scoutlb_config_new("{\"servers\": [\"a:99999\"]}", &config), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("a:99999");
    /* A NUL escaped in the JSON reaches the message, which must not be cut short there. */
    CHECK_STATUS(scoutlb_config_new("{\"servers\": [\"a\\u0000b c\"]}", &config), SCOUTLB_CONFIG);
    {
        char msg[512];
        size_t len = 0;
        CHECK_STATUS(scoutlb_last_error_message(msg, sizeof msg, &len), SCOUTLB_OK);
        CHECK(strlen(msg) + 1 == len);
        CHECK(tl_contains(msg, "b c`"));
    }
    CHECK(config == NULL);

    recorder_init(&r);
    client = client_with_events("{\"servers\": [\"a\"], \"probe\": \"none\"}", &r);
    CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)good, strlen(good), NULL), SCOUTLB_OK);
    for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)bodies[i], strlen(bodies[i]), NULL),
                     SCOUTLB_INVALID_SERVER_LIST);
        CHECK_ERROR_HAS("server list refused");
        CHECK_TEXT(scoutlb_client_server_list, client, "10.0.0.1:1\nb:2\n"); /* the cached list is kept */
    }
    CHECK(recorded(&r, SCOUTLB_EVENT_SERVER_LIST_REJECTED) == (int)(sizeof bodies / sizeof bodies[0]));
    CHECK(recorded(&r, SCOUTLB_EVENT_SERVER_LIST_UPDATED) == 1);
    CHECK(r.bad == 0);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);
}

/* ---- buffers --------------------------------------------------------------------------------- */

static void test_buffers(void) {
    struct scoutlb_client *client = tl_client("{\"servers\": [\"a\", \"b:7\", \"[fd00::0001]\"], \"probe\": \"none\"}");
    static const char want[] = "a:22123\nb:7\n[fd00::1]:22123\n";
    char buf[64];
    char small[sizeof want - 1];
    size_t len = 0, i;
    char *message;

    CHECK_STATUS(scoutlb_client_candidates(client, NULL, 0, &len), SCOUTLB_BUFFER_TOO_SMALL);
    CHECK(len == sizeof want);
    CHECK_ERROR_HAS("too small");
    memset(small, 'X', sizeof small);
    len = 0;
    CHECK_STATUS(scoutlb_client_candidates(client, small, sizeof small, &len), SCOUTLB_BUFFER_TOO_SMALL);
    CHECK(len == sizeof want);
    for (i = 0; i < sizeof small && small[i] == 'X'; i++) {
    }
    CHECK(i == sizeof small); /* not a byte written */
    CHECK_STATUS(scoutlb_client_candidates(client, buf, sizeof want, &len), SCOUTLB_OK);
    CHECK(len == sizeof want && strcmp(buf, want) == 0);
    CHECK_STATUS(scoutlb_client_failover_order(client, buf, sizeof buf, &len), SCOUTLB_OK);
    CHECK(strcmp(buf, want) == 0);
    CHECK_TEXT(scoutlb_client_seeds, client, want);
    CHECK_TEXT(scoutlb_client_server_list, client, "");
    CHECK_TEXT(scoutlb_client_default_server, client, "");
    CHECK_TEXT(scoutlb_client_balancer_addresses, client, "");
    CHECK_STATUS(scoutlb_client_default_server(client, buf, 1, &len), SCOUTLB_OK);
    CHECK(len == 1 && buf[0] == '\0');
    CHECK_STATUS(scoutlb_client_default_server(client, NULL, 0, &len), SCOUTLB_BUFFER_TOO_SMALL);
    CHECK(len == 1);

    /* The last error survives being read, also with a buffer too small. */
    CHECK_STATUS(scoutlb_client_report_success(client, "a:0"), SCOUTLB_INVALID_SERVER);
    CHECK_STATUS(scoutlb_last_error_message(NULL, 0, &len), SCOUTLB_BUFFER_TOO_SMALL);
    CHECK(len > 10);
    message = malloc(len);
    CHECK_STATUS(scoutlb_last_error_message(message, len - 1, &len), SCOUTLB_BUFFER_TOO_SMALL);
    CHECK_STATUS(scoutlb_last_error_message(message, len, &len), SCOUTLB_OK);
    CHECK(message != NULL && strlen(message) + 1 == len && tl_contains(message, "`a:0`"));
    free(message);
    /* A successful call clears it. */
    CHECK_STATUS(scoutlb_client_default_server(client, buf, sizeof buf, &len), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_last_error_message(buf, sizeof buf, &len), SCOUTLB_OK);
    CHECK(len == 1 && buf[0] == '\0');

    CHECK_STATUS(scoutlb_server_parse("Scout1.CORP", 22123, buf, sizeof buf, &len), SCOUTLB_OK);
    CHECK(strcmp(buf, "scout1.corp:22123") == 0 && len == 18);
    CHECK_STATUS(scoutlb_server_parse("[FD00::0001]:80", 22123, buf, 5, &len), SCOUTLB_BUFFER_TOO_SMALL);
    CHECK(len == strlen("[fd00::1]:80") + 1);
    CHECK_STATUS(scoutlb_server_parse("[FD00::0001]:80", 22123, buf, len, &len), SCOUTLB_OK);
    CHECK(strcmp(buf, "[fd00::1]:80") == 0);
    CHECK_STATUS(scoutlb_server_parse("a..b", 22123, buf, sizeof buf, &len), SCOUTLB_INVALID_SERVER);
    CHECK_ERROR_HAS("`a..b`");
    CHECK_STATUS(scoutlb_server_parse("a", 0, buf, sizeof buf, &len), SCOUTLB_INVALID_SERVER);
    scoutlb_client_free(client);
}

/* ---- agent-driven calls and the state file --------------------------------------------------- */

static void test_agent_driven(void) {
    struct recorder r;
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client;
    struct scoutlb_connected connected;
    static const char list[] = "{\"servers\": [{\"host\": \"10.0.0.1\", \"port\": 1, \"id\": \"x\"},"
                               " {\"host\": \"10.0.0.2\", \"port\": 2, \"id\": \"y\"}], \"self\": \"y\"}";
    char buf[4096];
    size_t len;
    uint64_t wait = 0;

    recorder_init(&r);
    CHECK_STATUS(scoutlb_config_new("{\"servers\": [\"a\", \"b\", \"c\"], \"probe\": \"none\","
                                    " \"retry\": {\"base_ms\": 1000, \"cap_ms\": 5000}}",
                                    &config),
                 SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, 3, on_event, &r), SCOUTLB_INVALID_ARGUMENT);
    CHECK_ERROR_HAS("min_severity 3");
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_INFO, on_event, &r), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_random_seed(config, 42), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);

    CHECK_TEXT(scoutlb_client_candidates, client, "a:22123\nb:22123\nc:22123\n");
    CHECK_STATUS(scoutlb_client_report_failure(client, "a", "my protocol timed out"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_report_success(client, "B"), SCOUTLB_OK);
    CHECK_TEXT(scoutlb_client_default_server, client, "b:22123");
    CHECK_TEXT(scoutlb_client_failover_order, client, "b:22123\nc:22123\na:22123\n");
    CHECK_TEXT(scoutlb_client_connection_lost, client, "b:22123\nc:22123\na:22123\n");
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_FAILED) == 1); /* warning */
    CHECK(tl_contains(r.log, "my protocol timed out"));
    CHECK(recorded(&r, SCOUTLB_EVENT_DEFAULT_CHANGED) == 1);    /* info */
    CHECK(recorded(&r, SCOUTLB_EVENT_SERVER_LIST_UPDATED) == 0); /* debug: below the minimum */

    /* A list handed in from the default server that names itself with `self` moves the default. */
    CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)list, strlen(list), NULL), SCOUTLB_OK);
    CHECK_TEXT(scoutlb_client_server_list, client, "10.0.0.1:1\n10.0.0.2:2\n");
    CHECK_TEXT(scoutlb_client_default_server, client, "10.0.0.2:2");
    CHECK_TEXT(scoutlb_client_candidates, client, "10.0.0.2:2\n10.0.0.1:1\na:22123\nb:22123\nc:22123\n");
    /* From another server, `self` does not move the default. */
    CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)list, strlen(list), "10.0.0.1:1"),
                 SCOUTLB_OK);
    CHECK_TEXT(scoutlb_client_default_server, client, "10.0.0.2:2");
    CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)list, strlen(list), "a b"),
                 SCOUTLB_INVALID_SERVER);

    CHECK_STATUS(scoutlb_client_state_json(client, buf, sizeof buf, &len), SCOUTLB_OK);
    CHECK(tl_contains(buf, "\"format\":1") && tl_contains(buf, "\"default_server\":{\"host\":\"10.0.0.2\""));

    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_UNSUPPORTED);
    CHECK_ERROR_HAS("\"probe\": \"none\"");
    CHECK_STATUS(scoutlb_client_reconnect(client, &connected), SCOUTLB_UNSUPPORTED);
    CHECK_STATUS(scoutlb_client_connect_with_retry(client, &connected), SCOUTLB_UNSUPPORTED);
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, NULL, NULL, &connected), SCOUTLB_UNSUPPORTED);

    CHECK_STATUS(scoutlb_client_backoff_ms(client, 0, &wait), SCOUTLB_OK);
    CHECK(wait <= 1000);
    CHECK_STATUS(scoutlb_client_backoff_ms(client, 30, &wait), SCOUTLB_OK);
    CHECK(wait <= 5000);
    CHECK(r.bad == 0);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);
}

static void test_state_file(void) {
    char dir[] = "/tmp/scoutlb-c-XXXXXX";
    char json[512], path[256];
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    struct recorder r;
    FILE *f;

    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/state.json", dir);
    snprintf(json, sizeof json, "{\"servers\": [\"a\", \"b\"], \"probe\": \"none\", \"state_file\": \"%s\"}", path);
    client = tl_client(json);
    CHECK_STATUS(scoutlb_client_report_success(client, "b"), SCOUTLB_OK);
    scoutlb_client_free(client);
    client = tl_client(json); /* a restart */
    CHECK_TEXT(scoutlb_client_default_server, client, "b:22123");
    scoutlb_client_free(client);

    /* A newer format is refused and left alone. */
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("{\"format\": 99}", f);
        fclose(f);
    }
    client = NULL;
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_STATE_FORMAT);
    CHECK_ERROR_HAS("format 99");
    CHECK(client == NULL);

    /* A corrupt file is moved aside with a warning event. */
    f = fopen(path, "w");
    if (f != NULL) {
        fputs("{not json", f);
        fclose(f);
    }
    recorder_init(&r);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_WARNING, on_event, &r), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    CHECK(recorded(&r, SCOUTLB_EVENT_STATE_FILE_PROBLEM) == 1);
    CHECK_TEXT(scoutlb_client_default_server, client, "");
    scoutlb_client_free(client);
    scoutlb_config_free(config);
    pthread_mutex_destroy(&r.lock);

    /* A folder that cannot be created (a file is in the way) is an error at creation. */
    snprintf(json, sizeof json, "%s/file", dir);
    f = fopen(json, "w");
    if (f != NULL) {
        fclose(f);
    }
    snprintf(json, sizeof json, "{\"probe\": \"none\", \"state_file\": \"%s/file/state.json\"}", dir);
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    client = NULL;
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_STATE_FILE);
    CHECK_ERROR_HAS("file/state.json: cannot use its folder");
    CHECK(client == NULL);
    scoutlb_config_free(config);

    /* A missing folder is an error that names it, and is not created (behaviour.md, "State file"). */
    snprintf(json, sizeof json, "{\"probe\": \"none\", \"state_file\": \"%s/no/such/state.json\"}", dir);
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    client = NULL;
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_STATE_FILE);
    CHECK_ERROR_HAS("/no/such does not exist");
    CHECK(client == NULL);
    scoutlb_config_free(config);
    snprintf(json, sizeof json, "%s/no", dir);
    CHECK(access(json, F_OK) != 0);

    /* Clean up the folder: the state file, its lock, and the corrupt copy. */
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
}

/* ---- the typed setters of scoutlb_config ----------------------------------------------------- */

/** A client from `config` (freed here); NULL (and a failed check) when it fails. */
static struct scoutlb_client *client_of(struct scoutlb_config *config) {
    struct scoutlb_client *client = NULL;
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    return client;
}

/** Check that `call` fails with SCOUTLB_CONFIG and a message naming `key` in backquotes. */
#define CHECK_CONFIG_ERROR(call, key) check_config_error((call), (key), __FILE__, __LINE__, #call)
static void check_config_error(uint32_t status, const char *key, const char *file, int line, const char *what) {
    char quoted[128];
    tl_check_status(status, SCOUTLB_CONFIG, file, line, what);
    snprintf(quoted, sizeof quoted, "`%s`", key);
    check_error_has(quoted, file, line);
}

static void test_typed_config(void) {
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client;
    struct tl_http_server *silent = tl_http_start(TL_SILENT, 200, "");
    struct scoutlb_connected connected;
    char want[128];

    /* Every key at its default: the one seed is ScoutSrv. */
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    client = client_of(config);
    CHECK_TEXT(scoutlb_client_seeds, client, "scoutsrv:22123\n");
    scoutlb_client_free(client);

    /* DHCP option 222 (behaviour.md, "First contact from DHCP"): a dhcp_leases entry through the
     * typed setter; the option's servers come before ScoutSrv. */
    {
        char lease[] = "/tmp/scoutlb-c-lease.XXXXXX";
        int fd = mkstemp(lease);
        const char text[] = "lease {\n  option unknown-222 \"10.0.0.5:9000, 10.0.0.6; ou=Berlin/Floor 2\";\n}\n";
        CHECK(fd >= 0 && write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
        close(fd);
        CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_add_string(config, "dhcp_leases", lease), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_add_string(config, "dhcp_leases", ""), SCOUTLB_CONFIG);
        client = client_of(config);
        CHECK_TEXT(scoutlb_client_seeds, client, "10.0.0.5:9000\n10.0.0.6:22123\nscoutsrv:22123\n");
        CHECK_TEXT(scoutlb_client_dhcp_ou, client, "Berlin/Floor 2");
        CHECK_TEXT(scoutlb_client_dhcp_lease, client, lease);
        scoutlb_client_free(client);
        unlink(lease);
        /* No lease with the option: both are empty text. */
        CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_add_string(config, "dhcp_leases", lease), SCOUTLB_OK);
        client = client_of(config);
        CHECK_TEXT(scoutlb_client_dhcp_ou, client, "");
        CHECK_TEXT(scoutlb_client_dhcp_lease, client, "");
        scoutlb_client_free(client);
    }

    /* List entries in call order; the order of the calls does not matter (default_port set last). */
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", "A.example"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", "b.example:1"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", "[FD00::1]"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "default_port", 2000), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "probe", "none"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "nameservers", "127.0.0.1:5353"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "search_domains", "Corp.Example"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "retry.base_ms", 10), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "retry.cap_ms", 10), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_double(config, "retry.factor", 1.5), SCOUTLB_OK);
    client = client_of(config);
    CHECK_TEXT(scoutlb_client_seeds, client, "a.example:2000\nb.example:1\n[fd00::1]:2000\n");
    {
        uint64_t wait = 777;
        CHECK_STATUS(scoutlb_client_backoff_ms(client, 5, &wait), SCOUTLB_OK);
        CHECK(wait <= 10); /* cap_ms 10 */
    }
    scoutlb_client_free(client);

    /* A refused value names the key and changes nothing: the list keeps its entries. */
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", "a"), SCOUTLB_OK);
    CHECK_CONFIG_ERROR(scoutlb_config_add_string(config, "servers", "a:99999"), "servers");
    CHECK_CONFIG_ERROR(scoutlb_config_set_string(config, "servers", "b"), "servers");
    CHECK_ERROR_HAS("scoutlb_config_add_string");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "servers", 5), "servers");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "conect_timeout_ms", 5), "conect_timeout_ms");
    CHECK_ERROR_HAS("unknown key");
    CHECK_CONFIG_ERROR(scoutlb_config_set_string(config, "default_port", "22123"), "default_port");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "default_port", 70000), "default_port");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "answer_delay_ms", 86400001), "answer_delay_ms");
    CHECK_CONFIG_ERROR(scoutlb_config_set_string(config, "probe", "udp"), "probe");
    CHECK_CONFIG_ERROR(scoutlb_config_set_string(config, "state_file", ""), "state_file");
    CHECK_CONFIG_ERROR(scoutlb_config_add_string(config, "state_file", "/tmp/x"), "state_file");
    CHECK_ERROR_HAS("not a list");
    CHECK_CONFIG_ERROR(scoutlb_config_add_string(config, "nameservers", "not-an-ip"), "nameservers");
    CHECK_CONFIG_ERROR(scoutlb_config_set_double(config, "connect_timeout_ms", 1.5), "connect_timeout_ms");
    CHECK_CONFIG_ERROR(scoutlb_config_set_double(config, "retry.factor", NAN), "retry.factor");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "retry.bogus", 1), "retry.bogus");
    CHECK_CONFIG_ERROR(scoutlb_config_set_string(config, "retry.profile", "scout"), "retry.profile");
    CHECK_ERROR_HAS("expected \"backoff\" or \"handshake\"");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "retry.profile", 1), "retry.profile");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "retry.max_retries", 4294967296ULL), "retry.max_retries");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "retry.timer_ms", 86400001), "retry.timer_ms");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "servers.port", 1), "servers.port");
    CHECK_CONFIG_ERROR(scoutlb_config_set_u64(config, "retry", 1), "retry");
    CHECK_CONFIG_ERROR(scoutlb_config_reset(config, "bogus"), "bogus");
    CHECK_CONFIG_ERROR(scoutlb_config_reset(config, "retry.bogus"), "retry.bogus");
    CHECK_CONFIG_ERROR(scoutlb_config_set_string(config, "bogus", NULL), "bogus");
    CHECK_STATUS(scoutlb_config_set_string(config, "probe", "none"), SCOUTLB_OK);
    {
        /* A call that succeeded clears the message. */
        char *message = tl_last_error();
        CHECK(message != NULL && message[0] == '\0');
        free(message);
    }
    client = client_of(config);
    CHECK_TEXT(scoutlb_client_seeds, client, "a:22123\n");
    scoutlb_client_free(client);

    /* The rules between keys are checked when the client is created. */
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "failover_order", "spread"), SCOUTLB_OK);
    client = NULL;
    CHECK_CONFIG_ERROR(scoutlb_client_new(config, &client), "device_id");
    CHECK(client == NULL);
    CHECK_STATUS(scoutlb_config_set_u64(config, "retry.base_ms", 100), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "retry.cap_ms", 10), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "device_id", "dev-1"), SCOUTLB_OK);
    CHECK_CONFIG_ERROR(scoutlb_client_new(config, &client), "retry.cap_ms");
    CHECK_STATUS(scoutlb_config_reset(config, "retry.cap_ms"), SCOUTLB_OK); /* back to 60000 */
    CHECK_STATUS(scoutlb_config_set_string(config, "probe", "none"), SCOUTLB_OK);
    client = client_of(config);
    CHECK(client != NULL);
    scoutlb_client_free(client);

    /* The setters change a config made from JSON text; a NULL text and reset put defaults back. */
    CHECK_STATUS(scoutlb_config_new("{\"servers\": [\"a\", \"b\"], \"state_file\": \"/nonexistent/x/state.json\","
                                    " \"retry\": {\"base_ms\": 5, \"cap_ms\": 5}, \"probe\": \"none\"}",
                                    &config),
                 SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_reset(config, "servers"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", "c"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "state_file", NULL), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_reset(config, "retry"), SCOUTLB_OK);
    client = client_of(config);
    CHECK_TEXT(scoutlb_client_seeds, client, "c:22123\n");
    {
        uint64_t wait = 0;
        int i, above_5 = 0;
        for (i = 0; i < 20; i++) {
            CHECK_STATUS(scoutlb_client_backoff_ms(client, 3, &wait), SCOUTLB_OK);
            above_5 += wait > 5;
        }
        CHECK(above_5 > 0); /* base 1000 ms again: the 4th wait is uniform in [0, 8000] */
    }
    scoutlb_client_free(client);

    /* The keys take effect: connect_timeout_ms set as a number bounds an attempt on a silent server. */
    if (silent == NULL) {
        CHECK(!"start a silent server");
        return;
    }
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(silent));
    CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", want), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "connect_timeout_ms", 300), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "probe", "http"), SCOUTLB_OK);
    client = client_of(config);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK_ERROR_HAS("timed out after 300 ms");
    scoutlb_client_free(client);
    tl_http_stop(silent);
}

/* ---- connecting to loopback HTTP servers ----------------------------------------------------- */

/* A save that fails during a connect: the connection stands, `saved` is false, an event says why. */
static void test_failed_save(void) {
    char dir[] = "/tmp/scoutlb-c-XXXXXX";
    char json[512], cmd[400];
    struct tl_http_server *live = tl_http_start(TL_SERVE, 200, "");
    struct scoutlb_connected connected;
    struct scoutlb_client *client;
    struct recorder r;

    if (live == NULL || mkdtemp(dir) == NULL) {
        CHECK(!"start a server and make a folder");
        tl_http_stop(live);
        return;
    }
    snprintf(json, sizeof json, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u}]}", tl_http_port(live));
    CHECK(tl_http_set_body(live, json));
    snprintf(json, sizeof json, "%s/state", dir);
    CHECK(mkdir(json, 0700) == 0);
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"], \"state_file\": \"%s/state/state.json\"}",
             tl_http_port(live), dir);
    recorder_init(&r);
    client = client_with_events(json, &r);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/state'", dir);
    CHECK(system(cmd) == 0); /* the folder goes away after the client was created */
    memset(&connected, 0xff, sizeof connected);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    CHECK(!connected.saved);
    CHECK(!connected.state_dropped);
    CHECK(recorded(&r, SCOUTLB_EVENT_STATE_FILE_PROBLEM) == 1);
    CHECK(tl_contains(r.log, "state.json"));
    /* The reason is readable after the call, as Python's save_error; other calls leave it. */
    {
        char reason[1024];
        size_t len = 0;
        uint64_t wait = 0;
        CHECK_STATUS(scoutlb_last_save_error(NULL, 0, &len), SCOUTLB_BUFFER_TOO_SMALL);
        CHECK(len > 1 && len <= sizeof reason);
        CHECK_STATUS(scoutlb_last_save_error(reason, sizeof reason, &len), SCOUTLB_OK);
        CHECK(tl_contains(reason, "state.json") && tl_contains(r.log, reason));
        CHECK_STATUS(scoutlb_client_backoff_ms(client, 0, &wait), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_last_save_error(reason, sizeof reason, &len), SCOUTLB_OK);
        CHECK(tl_contains(reason, "state.json"));
        /* A connect that saves (the folder is back) empties it. */
        snprintf(cmd, sizeof cmd, "mkdir '%s/state'", dir);
        CHECK(system(cmd) == 0);
        CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
        CHECK(connected.saved);
        CHECK_STATUS(scoutlb_last_save_error(reason, sizeof reason, &len), SCOUTLB_OK);
        CHECK(strcmp(reason, "") == 0 && len == 1);
    }
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);
    tl_http_stop(live);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_connect_http(void) {
    struct tl_http_server *b = tl_http_start(TL_SERVE, 200, "");
    struct tl_http_server *c = tl_http_start(TL_SERVE, 200, "");
    struct tl_http_server *silent = tl_http_start(TL_SILENT, 200, "");
    struct tl_http_server *broken = tl_http_start(TL_SERVE, 500, "oops");
    uint16_t refused = tl_refused_port(), refused2 = tl_refused_port(), port_b;
    struct scoutlb_connected connected;
    struct scoutlb_client *client;
    struct recorder r;
    char json[1024], body[512], want[128], buf[1024];
    size_t len;
    uint64_t wait_ms;

    if (b == NULL || c == NULL || silent == NULL || broken == NULL || refused == 0) {
        CHECK(!"start the loopback servers");
        tl_http_stop(b);
        tl_http_stop(c);
        tl_http_stop(silent);
        tl_http_stop(broken);
        return;
    }
    snprintf(body, sizeof body,
             "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\"},"
             " {\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"c\"}], \"generation\": 3}",
             tl_http_port(b), tl_http_port(c));
    CHECK(tl_http_set_body(b, body) && tl_http_set_body(c, body));

    /* A refused seed, then a live one: the live one wins and its list is cached. */
    recorder_init(&r);
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"attempt_delay_ms\": 0,"
             " \"connect_timeout_ms\": 2000}",
             refused, tl_http_port(b));
    client = client_with_events(json, &r);
    memset(&connected, 0, sizeof connected);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(b));
    CHECK(strcmp(connected.server, want) == 0 && strcmp(connected.reached, want) == 0);
    CHECK(connected.failed_attempts == 1 && !connected.via_balancer && connected.saved);
    CHECK(tl_http_requests(b) >= 1);
    snprintf(want, sizeof want, "127.0.0.1:%u\n127.0.0.1:%u\n", tl_http_port(b), tl_http_port(c));
    CHECK_TEXT(scoutlb_client_server_list, client, want);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) == 2);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_FAILED) == 1);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_SUCCEEDED) == 1);
    CHECK(recorded(&r, SCOUTLB_EVENT_SERVER_LIST_UPDATED) == 1);
    CHECK(tl_contains(r.log, "connection refused"));

    /* The server dies: the order starts again from it, then the next of the list; C takes over. */
    port_b = tl_http_port(b);
    tl_http_stop(b);
    CHECK_STATUS(scoutlb_client_connection_lost(client, buf, sizeof buf, &len), SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u\n127.0.0.1:%u\n127.0.0.1:%u\n", port_b, tl_http_port(c),
             refused);
    CHECK(strcmp(buf, want) == 0);
    CHECK_STATUS(scoutlb_client_reconnect(client, &connected), SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(c));
    CHECK(strcmp(connected.server, want) == 0 && connected.failed_attempts == 1);
    CHECK_TEXT(scoutlb_client_default_server, client, want);
    CHECK(r.bad == 0);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* Every seed refused: the error names each attempt and why. */
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"attempt_delay_ms\": 0}",
             refused, refused2);
    client = tl_client(json);
    memset(&connected, 0x5a, sizeof connected);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK(connected.failed_attempts == 0x5a5a5a5au); /* written only on success */
    CHECK_ERROR_HAS("(2 tried)");
    snprintf(want, sizeof want, "127.0.0.1:%u: connection refused", refused);
    CHECK_ERROR_HAS(want);
    snprintf(want, sizeof want, "127.0.0.1:%u: connection refused", refused2);
    CHECK_ERROR_HAS(want);
    /* ... and each attempt can be read on its own: server, kind, message. */
    {
        struct scoutlb_attempt attempt;
        size_t count = 99;
        CHECK_STATUS(scoutlb_last_error_attempt_count(&count), SCOUTLB_OK);
        CHECK(count == 2);
        memset(&attempt, 0, sizeof attempt);
        CHECK_STATUS(scoutlb_last_error_attempt(1, &attempt), SCOUTLB_OK);
        snprintf(want, sizeof want, "127.0.0.1:%u", refused2);
        CHECK(strcmp(attempt.server, want) == 0);
        CHECK(attempt.kind == SCOUTLB_ATTEMPT_REFUSED && strcmp(attempt.kind_name, "refused") == 0);
        CHECK_STATUS(scoutlb_last_error_attempt(0, &attempt), SCOUTLB_OK);
        snprintf(want, sizeof want, "127.0.0.1:%u", refused);
        CHECK(strcmp(attempt.server, want) == 0);
        len = 0;
        CHECK_STATUS(scoutlb_last_error_attempt_message(0, buf, 4, &len), SCOUTLB_BUFFER_TOO_SMALL);
        CHECK(len == sizeof "connection refused");
        CHECK_STATUS(scoutlb_last_error_attempt_message(0, buf, len, &len), SCOUTLB_OK);
        CHECK(strcmp(buf, "connection refused") == 0);
        memset(&attempt, 0x5a, sizeof attempt);
        CHECK_STATUS(scoutlb_last_error_attempt(2, &attempt), SCOUTLB_INVALID_ARGUMENT);
        CHECK((unsigned char)attempt.server[0] == 0x5a); /* written only on success */
        CHECK_STATUS(scoutlb_last_error_attempt_message(2, buf, sizeof buf, &len), SCOUTLB_INVALID_ARGUMENT);
        /* Reading them changed neither the attempts nor the message. */
        CHECK_STATUS(scoutlb_last_error_attempt_count(&count), SCOUTLB_OK);
        CHECK(count == 2);
        CHECK_ERROR_HAS("(2 tried)");
        /* The next call that succeeds clears them. */
        CHECK_STATUS(scoutlb_client_backoff_ms(client, 0, &wait_ms), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_last_error_attempt_count(&count), SCOUTLB_OK);
        CHECK(count == 0);
        CHECK_STATUS(scoutlb_last_error_attempt(0, &attempt), SCOUTLB_INVALID_ARGUMENT);
    }
    scoutlb_client_free(client);

    /* Retrying gives up after max_tries, one attempt per try. */
    recorder_init(&r);
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\"], \"retry\": {\"base_ms\": 1, \"cap_ms\": 5, \"max_tries\": 3}}",
             refused);
    client = client_with_events(json, &r);
    CHECK_STATUS(scoutlb_client_connect_with_retry(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) == 3);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* The handshake profile set by the typed setters gives up after max_retries + 1 tries. */
    recorder_init(&r);
    {
        struct scoutlb_config *hs_config = NULL;
        char server[32];
        snprintf(server, sizeof server, "127.0.0.1:%u", refused);
        CHECK_STATUS(scoutlb_config_new_default(&hs_config), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_add_string(hs_config, "servers", server), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_set_string(hs_config, "retry.profile", "handshake"), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_set_u64(hs_config, "retry.timer_ms", 1), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_set_u64(hs_config, "retry.max_retries", 2), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_set_u64(hs_config, "retry.permanent_after_days", 0), SCOUTLB_OK);
        CHECK_STATUS(scoutlb_config_set_event_callback(hs_config, SCOUTLB_SEVERITY_DEBUG, on_event, &r), SCOUTLB_OK);
        client = client_of(hs_config);
    }
    CHECK_STATUS(scoutlb_client_connect_with_retry(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) == 3);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* A silent server times out; an HTTP error is a bad response; both are named. */
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"attempt_delay_ms\": 0,"
             " \"connect_timeout_ms\": 300}",
             tl_http_port(silent), tl_http_port(broken));
    client = tl_client(json);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK_ERROR_HAS("timed out after 300 ms");
    CHECK_ERROR_HAS("HTTP status 500");
    {
        struct scoutlb_attempt attempt;
        size_t count = 0;
        CHECK_STATUS(scoutlb_last_error_attempt_count(&count), SCOUTLB_OK);
        CHECK(count == 2);
        CHECK_STATUS(scoutlb_last_error_attempt(0, &attempt), SCOUTLB_OK);
        CHECK(attempt.kind == SCOUTLB_ATTEMPT_TIMED_OUT && strcmp(attempt.kind_name, "timed_out") == 0);
        CHECK_STATUS(scoutlb_last_error_attempt_message(0, buf, sizeof buf, &len), SCOUTLB_OK);
        CHECK(strcmp(buf, "timed out after 300 ms") == 0);
        CHECK_STATUS(scoutlb_last_error_attempt(1, &attempt), SCOUTLB_OK);
        CHECK(attempt.kind == SCOUTLB_ATTEMPT_HTTP_STATUS && strcmp(attempt.kind_name, "http_status") == 0);
        snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(broken));
        CHECK(strcmp(attempt.server, want) == 0);
    }
    scoutlb_client_free(client);

    /* The ManagerLoadBalancer's address is tried first. */
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"], \"manager_load_balancer\": \"127.0.0.1:%u\"}",
             refused, tl_http_port(c));
    client = tl_client(json);
    snprintf(want, sizeof want, "127.0.0.1:%u\n", tl_http_port(c));
    CHECK_TEXT(scoutlb_client_balancer_addresses, client, want);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    CHECK(connected.via_balancer && connected.failed_attempts == 0);
    scoutlb_client_free(client);

    tl_http_stop(c);
    tl_http_stop(silent);
    tl_http_stop(broken);
}

/* ---- cancelling a retrying connect ----------------------------------------------------------- */

static void test_connect_with_retry_until(void) {
    struct tl_http_server *live = tl_http_start(TL_SERVE, 200, "");
    uint16_t refused = tl_refused_port();
    struct scoutlb_connected connected;
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    struct stopper stopper;
    struct recorder r;
    char json[512], want[64];
    uint64_t started, took;

    if (live == NULL || refused == 0) {
        CHECK(!"start the loopback servers");
        tl_http_stop(live);
        return;
    }

    /* Asked before the first try: stopping at once tries nothing. */
    recorder_init(&r);
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\"], \"retry\": {\"base_ms\": 1, \"cap_ms\": 5, \"max_tries\": 5}}",
             refused);
    client = client_with_events(json, &r);
    stopper_init(&stopper, 1);
    memset(&connected, 0x5a, sizeof connected);
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, my_stop, &stopper, &connected), SCOUTLB_CANCELLED);
    CHECK(stopper.calls == 1);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) == 0);
    CHECK(connected.failed_attempts == 0x5a5a5a5au); /* written only on success */
    CHECK_ERROR_HAS("cancelled");
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* Retrying against a refused port until the callback says stop on its 4th call: the backoff wait
     * (up to 60 s) is cut short, since the callback is asked every 100 ms of it. max_tries bounds the
     * test should the callback be ignored. */
    recorder_init(&r);
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\"], \"retry\": {\"base_ms\": 60000, \"cap_ms\": 60000,"
             " \"max_tries\": 2}}",
             refused);
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_DEBUG, on_event, &r), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_random_seed(config, 7), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    stopper_init(&stopper, 4);
    started = now_ms();
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, my_stop, &stopper, &connected), SCOUTLB_CANCELLED);
    took = now_ms() - started;
    CHECK(stopper.calls == 4);
    CHECK(stopper.went_back == 0);
    CHECK(stopper.last_elapsed_ms <= took);
    CHECK(took < 10000); /* 4 calls: well under one full 60 s wait */
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) >= 1 && recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) <= 3);
    CHECK_ERROR_HAS("connect cancelled");
    {
        /* The message is readable through a buffer of exactly its size. */
        char msg[128];
        size_t len = 0;
        CHECK_STATUS(scoutlb_last_error_message(NULL, 0, &len), SCOUTLB_BUFFER_TOO_SMALL);
        CHECK(len > 1 && len <= sizeof msg);
        if (len <= sizeof msg) {
            CHECK_STATUS(scoutlb_last_error_message(msg, len, &len), SCOUTLB_OK);
            CHECK(strlen(msg) + 1 == len && tl_contains(msg, "cancelled"));
        }
    }
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* A NULL stop never cancels: max_tries ends it with every try failed. */
    recorder_init(&r);
    snprintf(json, sizeof json,
             "{\"servers\": [\"127.0.0.1:%u\"], \"retry\": {\"base_ms\": 1, \"cap_ms\": 5, \"max_tries\": 3}}",
             refused);
    client = client_with_events(json, &r);
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, NULL, NULL, &connected), SCOUTLB_ALL_FAILED);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) == 3);
    snprintf(want, sizeof want, "127.0.0.1:%u: connection refused", refused);
    CHECK_ERROR_HAS(want);
    /* A callback that never says stop changes nothing either; it is asked before each try at least. */
    stopper_init(&stopper, 0);
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, my_stop, &stopper, &connected), SCOUTLB_ALL_FAILED);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_STARTED) == 6);
    CHECK(stopper.calls >= 3);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* A live server: the connect succeeds at the first try; the callback is asked during it (about every 25 ms). */
    snprintf(json, sizeof json, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u}]}", tl_http_port(live));
    CHECK(tl_http_set_body(live, json));
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"], \"retry\": {\"max_tries\": 1}}",
             tl_http_port(live));
    client = tl_client(json);
    stopper_init(&stopper, 0);
    memset(&connected, 0, sizeof connected);
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, my_stop, &stopper, &connected), SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(live));
    CHECK(strcmp(connected.server, want) == 0 && connected.failed_attempts == 0);
    CHECK(stopper.calls >= 1);
    CHECK(tl_http_requests(live) >= 1);
    /* With a NULL stop too. */
    CHECK_STATUS(scoutlb_client_connect_with_retry_until(client, NULL, NULL, &connected), SCOUTLB_OK);
    CHECK(strcmp(connected.server, want) == 0);
    scoutlb_client_free(client);

    tl_http_stop(live);
}

/* ---- callback probe -------------------------------------------------------------------------- */

struct probe_counter {
    pthread_mutex_t lock;
    int calls;
};

static uint32_t my_probe(void *user_data, const struct scoutlb_probe_params *params) {
    struct probe_counter *counter = user_data;
    pthread_mutex_lock(&counter->lock);
    counter->calls++;
    pthread_mutex_unlock(&counter->lock);
    if (params->timeout_ms == 0 || params->reason_len != SCOUTLB_PROBE_REASON_SIZE) {
        return SCOUTLB_PROBE_FAILED;
    }
    if (strcmp(params->host, "ok.example") == 0 && params->port == 1) {
        return SCOUTLB_PROBE_REACHED;
    }
    if (strcmp(params->host, "bad.example") == 0) {
        snprintf(params->reason, params->reason_len, "%s says no", params->server);
        return SCOUTLB_PROBE_FAILED;
    }
    if (strcmp(params->host, "long.example") == 0) {
        memset(params->reason, 'x', params->reason_len); /* no NUL: the library must cope */
        return SCOUTLB_PROBE_FAILED;
    }
    return 7; /* not a scoutlb_probe_result */
}

static void test_callback_probe(void) {
    struct probe_counter counter;
    struct recorder r;
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    struct scoutlb_connected connected;

    pthread_mutex_init(&counter.lock, NULL);
    counter.calls = 0;
    recorder_init(&r);

    /* A callback needs "probe": "callback", and "callback" needs a callback. */
    CHECK_STATUS(scoutlb_config_new("{\"probe\": \"callback\"}", &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("callback");
    scoutlb_config_free(config);
    CHECK_STATUS(scoutlb_config_new("{\"probe\": \"tcp\"}", &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_probe_callback(config, my_probe, &counter), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_CONFIG);
    CHECK_ERROR_HAS("`probe`");
    CHECK_STATUS(scoutlb_config_set_probe_callback(config, NULL, NULL), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_client_free(client);
    scoutlb_config_free(config);

    CHECK_STATUS(scoutlb_config_new("{\"servers\": [\"bad.example:5\", \"odd.example\", \"long.example\","
                                    " \"ok.example:1\"], \"probe\": \"callback\", \"attempt_delay_ms\": 0}",
                                    &config),
                 SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_probe_callback(config, my_probe, &counter), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_DEBUG, on_event, &r), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    CHECK(strcmp(connected.server, "ok.example:1") == 0 && connected.failed_attempts == 3);
    CHECK(counter.calls == 4);
    CHECK(tl_contains(r.log, "bad.example:5 says no"));
    CHECK(tl_contains(r.log, "returned 7"));
    CHECK(tl_contains(r.log, "xxxxxxxxxx"));
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_FAILED) == 3);
    scoutlb_client_free(client);

    /* Every callback fails: each reason is in the all-failed message. */
    CHECK_STATUS(scoutlb_config_new("{\"servers\": [\"bad.example\", \"odd.example\"], \"probe\": \"callback\"}",
                                    &config),
                 SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_probe_callback(config, my_probe, &counter), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK_ERROR_HAS("bad.example:22123: probe callback said no: bad.example:22123 says no");
    CHECK_ERROR_HAS("odd.example:22123: probe callback said no: the callback returned 7");
    scoutlb_client_free(client);
    CHECK(r.bad == 0);
    pthread_mutex_destroy(&counter.lock);
    pthread_mutex_destroy(&r.lock);
}

/* ---- one client, four threads ---------------------------------------------------------------- */

enum { THREADS = 4, ROUNDS = 150 };

struct thread_arg {
    struct scoutlb_client *client;
    int index;
    int failures;
};

static void *hammer(void *p) {
    struct thread_arg *arg = p;
    static const char *servers[] = {"10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3"};
    static const char list[] = "{\"servers\": [{\"host\": \"10.0.0.1\", \"port\": 1}, {\"host\": \"10.0.0.2\", "
                               "\"port\": 2}, {\"host\": \"10.0.0.3\", \"port\": 3}]}";
    char buf[1024];
    size_t len;
    int i;
    for (i = 0; i < ROUNDS; i++) {
        const char *mine = servers[(arg->index + i) % 3];
        int ok = 1;
        ok &= scoutlb_client_report_success(arg->client, mine) == SCOUTLB_OK;
        ok &= scoutlb_client_default_server(arg->client, buf, sizeof buf, &len) == SCOUTLB_OK;
        ok &= strcmp(buf, servers[0]) == 0 || strcmp(buf, servers[1]) == 0 || strcmp(buf, servers[2]) == 0;
        ok &= scoutlb_client_candidates(arg->client, buf, sizeof buf, &len) == SCOUTLB_OK;
        ok &= tl_count_lines(buf) >= 2; /* the default and the seed, before any list arrived */
        ok &= scoutlb_client_update_server_list(arg->client, (const uint8_t *)list, sizeof list - 1, mine) ==
              SCOUTLB_OK;
        ok &= scoutlb_client_server_list(arg->client, buf, sizeof buf, &len) == SCOUTLB_OK;
        ok &= strcmp(buf, "10.0.0.1:1\n10.0.0.2:2\n10.0.0.3:3\n") == 0;
        ok &= scoutlb_client_connection_lost(arg->client, buf, sizeof buf, &len) == SCOUTLB_OK;
        ok &= scoutlb_client_report_failure(arg->client, mine, "thread test") == SCOUTLB_OK;
        ok &= scoutlb_client_state_json(arg->client, buf, sizeof buf, &len) == SCOUTLB_OK;
        /* Each thread has its own last error. */
        ok &= scoutlb_client_report_success(arg->client, "bad host!") == SCOUTLB_INVALID_SERVER;
        ok &= scoutlb_last_error_message(buf, sizeof buf, &len) == SCOUTLB_OK && tl_contains(buf, "bad host!");
        if (!ok) {
            if (arg->failures++ == 0) {
                fprintf(stderr, "thread %d round %d failed; last: %s\n", arg->index, i, buf);
            }
        }
    }
    return NULL;
}

struct connect_arg {
    struct scoutlb_client *client;
    const char *want;
    int failures;
};

static void *connect_loop(void *p) {
    struct connect_arg *arg = p;
    struct scoutlb_connected connected;
    int i;
    for (i = 0; i < 5; i++) {
        if (scoutlb_client_connect(arg->client, &connected) != SCOUTLB_OK || strcmp(connected.server, arg->want) != 0) {
            arg->failures++;
        }
    }
    return NULL;
}

static void test_threads(void) {
    struct recorder r;
    struct scoutlb_client *client;
    pthread_t threads[THREADS];
    struct thread_arg args[THREADS];
    struct connect_arg cargs[THREADS];
    struct tl_http_server *server;
    char json[256], body[256], want[64];
    int i;

    recorder_init(&r);
    client = client_with_events("{\"servers\": [\"10.0.0.9\"], \"probe\": \"none\"}", &r);
    for (i = 0; i < THREADS; i++) {
        args[i].client = client;
        args[i].index = i;
        args[i].failures = 0;
        CHECK(pthread_create(&threads[i], NULL, hammer, &args[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(args[i].failures == 0);
    }
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_SUCCEEDED) == THREADS * ROUNDS * 1);
    CHECK(recorded(&r, SCOUTLB_EVENT_ATTEMPT_FAILED) == THREADS * ROUNDS);
    CHECK(r.bad == 0);
    scoutlb_client_free(client);
    pthread_mutex_destroy(&r.lock);

    /* Four threads connecting through one client at once. */
    server = tl_http_start(TL_SERVE, 200, "");
    if (server == NULL) {
        CHECK(!"start a loopback server");
        return;
    }
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u}]}", tl_http_port(server));
    tl_http_set_body(server, body);
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"]}", tl_http_port(server));
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(server));
    client = tl_client(json);
    for (i = 0; i < THREADS; i++) {
        cargs[i].client = client;
        cargs[i].want = want;
        cargs[i].failures = 0;
        CHECK(pthread_create(&threads[i], NULL, connect_loop, &cargs[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(cargs[i].failures == 0);
    }
    CHECK(tl_http_requests(server) == THREADS * 5);
    scoutlb_client_free(client);
    tl_http_stop(server);
}

/* ---- the failover vectors -------------------------------------------------------------------- */

/** Append `text` to a growing buffer; 0 when it does not fit. */
static int append(char *buf, size_t size, const char *text) {
    size_t used = strlen(buf);
    if (used + strlen(text) + 1 > size) {
        return 0;
    }
    memcpy(buf + used, text, strlen(text) + 1);
    return 1;
}

/** The canonical text of an address, as the library compares servers, or "" when invalid. */
static void canonical(const char *address, char *out, size_t size) {
    size_t len;
    if (scoutlb_server_parse(address, 22123, out, size, &len) != SCOUTLB_OK) {
        out[0] = '\0';
    }
}

static void run_vector(const struct tl_json *c) {
    const struct tl_json *name = tl_json_get(c, "name"), *list = tl_json_get(c, "list");
    const struct tl_json *seeds = tl_json_get(c, "seeds"), *dflt = tl_json_get(c, "default");
    const struct tl_json *expected = tl_json_get(c, "expected");
    char json[2048] = "{\"probe\": \"none\", \"servers\": [";
    char body[2048] = "{\"servers\": [";
    char want[2048] = "", one[SCOUTLB_SERVER_TEXT_SIZE], line[SCOUTLB_SERVER_TEXT_SIZE + 1];
    struct scoutlb_client *client;
    char *got, *order;
    size_t i;
    int ok = 1;

    if (name == NULL || seeds == NULL || expected == NULL || seeds->type != TL_JSON_ARRAY ||
        expected->type != TL_JSON_ARRAY) {
        CHECK(!"vector case has name, seeds and expected");
        return;
    }
    for (i = 0; i < seeds->count; i++) {
        ok &= append(json, sizeof json, i ? ", \"" : "\"") && append(json, sizeof json, seeds->items[i]->string) &&
              append(json, sizeof json, "\"");
    }
    ok &= append(json, sizeof json, "]}");
    client = tl_client(json);
    if (client == NULL) {
        return;
    }
    if (dflt != NULL && dflt->type == TL_JSON_STRING) {
        CHECK_STATUS(scoutlb_client_report_success(client, dflt->string), SCOUTLB_OK);
    }
    if (list != NULL && list->type == TL_JSON_ARRAY && list->count > 0) {
        /* Hand the list in as wire-format JSON (behaviour.md, "Wire format"), as an agent does with a list from its own protocol. */
        for (i = 0; i < list->count; i++) {
            const char *text = list->items[i]->string, *colon = strrchr(text, ':');
            char entry[400];
            snprintf(entry, sizeof entry, "%s{\"host\": \"%.*s\", \"port\": %s}", i ? ", " : "", (int)(colon - text),
                     text, colon + 1);
            ok &= append(body, sizeof body, entry);
        }
        ok &= append(body, sizeof body, "]}");
        CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)body, strlen(body), NULL), SCOUTLB_OK);
    }
    for (i = 0; i < expected->count; i++) {
        canonical(expected->items[i]->string, one, sizeof one);
        snprintf(line, sizeof line, "%s\n", one);
        ok &= one[0] != '\0' && append(want, sizeof want, line);
    }
    /* behaviour.md, "Words": with no seed configured, the seed is ScoutSrv; it comes last unless already named. */
    if (seeds->count == 0 && !tl_contains(want, "scoutsrv:22123\n")) {
        ok &= append(want, sizeof want, "scoutsrv:22123\n");
    }
    got = text_of(scoutlb_client_candidates, client);
    order = text_of(scoutlb_client_failover_order, client);
    ok &= got != NULL && order != NULL && strcmp(got, want) == 0 && strcmp(order, want) == 0;
    if (!ok) {
        fprintf(stderr, "FAIL vector \"%s\": got \"%s\", expected \"%s\"\n", name->string, got ? got : "(error)", want);
    }
    tl_check(ok, __FILE__, __LINE__, name->string);
    free(got);
    free(order);
    scoutlb_client_free(client);
}

/* ---- the other shared vectors: server addresses, server lists, configuration errors ---------- */

/** The cases of `name` in the folder `dir`, or NULL (a failed check) when they cannot be read. */
static struct tl_json *vector_file(const char *dir, const char *name) {
    struct tl_json *doc = tl_read_vectors(dir, name);
    if (tl_json_get(doc, "cases") == NULL) {
        fprintf(stderr, "FAIL cannot read the vectors at %s/%s\n", dir, name);
        CHECK(!"read a vector file");
        tl_json_free(doc);
        return NULL;
    }
    return doc;
}

static const char *string_of(const struct tl_json *c, const char *key) {
    const struct tl_json *v = tl_json_get(c, key);
    return v != NULL && v->type == TL_JSON_STRING ? v->string : NULL;
}

static void test_address_vectors(const char *dir) {
    struct tl_json *doc = vector_file(dir, "server_address.json");
    const struct tl_json *cases = tl_json_get(doc, "cases");
    char out[SCOUTLB_SERVER_TEXT_SIZE];
    size_t i, len;
    for (i = 0; cases != NULL && i < cases->count; i++) {
        const struct tl_json *c = cases->items[i], *port = tl_json_get(c, "default_port");
        const char *input = string_of(c, "input"), *want = string_of(c, "canonical");
        uint16_t default_port = port != NULL ? (uint16_t)port->number : 22123;
        if (input == NULL) {
            CHECK(!"an address case has an input");
            continue;
        }
        if (want != NULL) {
            CHECK_STATUS(scoutlb_server_parse(input, default_port, out, sizeof out, &len), SCOUTLB_OK);
            CHECK(strcmp(out, want) == 0);
        } else {
            CHECK_STATUS(scoutlb_server_parse(input, default_port, out, sizeof out, &len), SCOUTLB_INVALID_SERVER);
            CHECK_ERROR_HAS(string_of(c, "error_contains"));
        }
    }
    if (cases != NULL) {
        printf("server address vectors: %zu cases run\n", cases->count);
    }
    tl_json_free(doc);
}

/** The body of a server-list case: its `body`, or the one its `generate` describes (malloc'd). */
static char *list_body(const struct tl_json *c) {
    const struct tl_json *generate = tl_json_get(c, "generate");
    const struct tl_json *entries = tl_json_get(generate, "entries"), *bytes = tl_json_get(generate, "bytes");
    const char *body = string_of(c, "body");
    const char *head = "{\"servers\":[{\"host\":\"a.test\",\"port\":1}],\"pad\":\"";
    char *out;
    size_t n, i, used;
    if (body != NULL) {
        return strdup(body);
    }
    if (entries != NULL) {
        n = (size_t)entries->number;
        out = malloc(n * 40 + 32);
        if (out == NULL) {
            return NULL;
        }
        used = (size_t)sprintf(out, "{\"servers\":[");
        for (i = 0; i < n; i++) {
            used += (size_t)sprintf(out + used, "%s{\"host\":\"h%zu.test\",\"port\":1}", i ? "," : "", i);
        }
        strcpy(out + used, "]}");
        return out;
    }
    n = bytes != NULL ? (size_t)bytes->number : 0;
    out = malloc(n + 1);
    if (out == NULL || n < strlen(head) + 2) {
        free(out);
        return NULL;
    }
    memset(out, 'x', n);
    memcpy(out, head, strlen(head));
    memcpy(out + n - 2, "\"}", 2);
    out[n] = '\0';
    return out;
}

static void test_list_vectors(const char *dir) {
    struct tl_json *doc = vector_file(dir, "server_list.json");
    const struct tl_json *cases = tl_json_get(doc, "cases");
    size_t i, j, len, cap = 1 << 20;
    char *text = malloc(cap), want[4096];
    for (i = 0; text != NULL && cases != NULL && i < cases->count; i++) {
        const struct tl_json *c = cases->items[i], *servers = tl_json_get(c, "servers");
        const struct tl_json *count = tl_json_get(c, "servers_count");
        const char *error = string_of(c, "error_contains");
        char *body = list_body(c);
        struct scoutlb_client *client = tl_client("{\"servers\": [\"seed.test:1\"], \"probe\": \"none\"}");
        if (body == NULL || client == NULL) {
            CHECK(!"a server-list case has a body and a client");
            free(body);
            scoutlb_client_free(client);
            continue;
        }
        if (error != NULL) {
            CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)body, strlen(body), NULL),
                         SCOUTLB_INVALID_SERVER_LIST);
            CHECK_ERROR_HAS(error);
            CHECK_STATUS(scoutlb_client_server_list(client, text, cap, &len), SCOUTLB_OK);
            CHECK(text[0] == '\0');
        } else {
            CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)body, strlen(body), NULL),
                         SCOUTLB_OK);
            CHECK_STATUS(scoutlb_client_server_list(client, text, cap, &len), SCOUTLB_OK);
            if (servers != NULL) {
                want[0] = '\0';
                for (j = 0; j < servers->count; j++) {
                    CHECK(append(want, sizeof want, servers->items[j]->string) && append(want, sizeof want, "\n"));
                }
                CHECK(strcmp(text, want) == 0);
            } else {
                CHECK(count != NULL && tl_count_lines(text) == (int)count->number);
            }
        }
        free(body);
        scoutlb_client_free(client);
    }
    if (cases != NULL) {
        printf("server list vectors: %zu cases run\n", cases->count);
    }
    free(text);
    tl_json_free(doc);
}

static void test_config_vectors(const char *dir) {
    struct tl_json *doc = vector_file(dir, "config_errors.json");
    const struct tl_json *cases = tl_json_get(doc, "cases");
    size_t i;
    for (i = 0; cases != NULL && i < cases->count; i++) {
        const struct tl_json *c = cases->items[i];
        const char *raw = string_of(c, "text"), *key = string_of(c, "key"), *error = string_of(c, "error_contains");
        char *text = raw != NULL ? strdup(raw) : tl_json_write(tl_json_get(c, "config"));
        struct scoutlb_config *config = NULL;
        char quoted[128];
        if (text == NULL) {
            CHECK(!"a config case has a config or a text");
            continue;
        }
        if (key == NULL && error == NULL) {
            CHECK_STATUS(scoutlb_config_new(text, &config), SCOUTLB_OK);
        } else {
            CHECK_STATUS(scoutlb_config_new(text, &config), SCOUTLB_CONFIG);
            snprintf(quoted, sizeof quoted, "`%s`", key != NULL ? key : "");
            CHECK_ERROR_HAS(key != NULL ? quoted : error);
            CHECK(config == NULL);
        }
        scoutlb_config_free(config);
        free(text);
    }
    if (cases != NULL) {
        printf("config error vectors: %zu cases run\n", cases->count);
    }
    tl_json_free(doc);
}

/**
 * Set `key` to `value` with the typed setters, as a C agent without JSON would: text with
 * set_string, null with set_string(NULL), a whole number with set_u64, another number with
 * set_double, a list with add_string per entry, an object key by key (`retry.base_ms`).
 * Returns the status of the first call that failed; *skipped is set when a value has no setter
 * (booleans, lists of non-strings).
 */
static uint32_t set_typed(struct scoutlb_config *config, const char *key, const struct tl_json *value,
                          int *skipped) {
    uint32_t rc = SCOUTLB_OK;
    size_t i;
    char inner[128];
    switch (value->type) {
    case TL_JSON_STRING:
        return scoutlb_config_set_string(config, key, value->string);
    case TL_JSON_NULL:
        return scoutlb_config_set_string(config, key, NULL);
    case TL_JSON_NUMBER:
        if (value->number >= 0 && value->number < 1e19 && (double)(uint64_t)value->number == value->number) {
            return scoutlb_config_set_u64(config, key, (uint64_t)value->number);
        }
        return scoutlb_config_set_double(config, key, value->number);
    case TL_JSON_ARRAY:
        rc = scoutlb_config_reset(config, key);
        for (i = 0; rc == SCOUTLB_OK && i < value->count; i++) {
            if (value->items[i]->type != TL_JSON_STRING) {
                *skipped = 1;
                return SCOUTLB_OK;
            }
            rc = scoutlb_config_add_string(config, key, value->items[i]->string);
        }
        return rc;
    case TL_JSON_OBJECT:
        for (i = 0; rc == SCOUTLB_OK && i < value->count; i++) {
            snprintf(inner, sizeof inner, "%s.%s", key, value->keys[i]);
            rc = set_typed(config, inner, value->items[i], skipped);
        }
        return rc;
    default:
        *skipped = 1;
        return SCOUTLB_OK;
    }
}

/* The configuration error vectors again, each key set by a typed setter instead of JSON text:
 * the same keys are refused and named (at the setter, or for the rules between keys at
 * scoutlb_client_new), the same configurations accepted. */
static void test_config_vectors_typed(const char *dir) {
    struct tl_json *doc = vector_file(dir, "config_errors.json");
    const struct tl_json *cases = tl_json_get(doc, "cases");
    size_t i, j, run = 0;
    for (i = 0; cases != NULL && i < cases->count; i++) {
        const struct tl_json *c = cases->items[i], *object = tl_json_get(c, "config");
        const char *key = string_of(c, "key");
        struct scoutlb_config *config = NULL;
        struct scoutlb_client *client = NULL;
        uint32_t rc = SCOUTLB_OK;
        int skipped = 0;
        char quoted[128];
        if (object == NULL || object->type != TL_JSON_OBJECT) {
            continue; /* raw text: only scoutlb_config_new reads text */
        }
        CHECK_STATUS(scoutlb_config_new_default(&config), SCOUTLB_OK);
        for (j = 0; rc == SCOUTLB_OK && j < object->count; j++) {
            rc = set_typed(config, object->keys[j], object->items[j], &skipped);
        }
        if (!skipped) {
            run++;
            if (rc == SCOUTLB_OK) {
                rc = scoutlb_client_new(config, &client);
            }
            if (key == NULL) {
                CHECK_STATUS(rc, SCOUTLB_OK);
            } else {
                CHECK_STATUS(rc, SCOUTLB_CONFIG);
                snprintf(quoted, sizeof quoted, "`%s`", key);
                CHECK_ERROR_HAS(quoted);
                CHECK(client == NULL);
            }
        }
        scoutlb_client_free(client);
        scoutlb_config_free(config);
    }
    printf("config error vectors through the typed setters: %zu cases run\n", run);
    CHECK(run >= 25);
    tl_json_free(doc);
}

/** Write `text` as the whole file `path`; 0 on failure. */
static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    int ok = f != NULL && fputs(text, f) >= 0;
    if (f != NULL) {
        ok &= fclose(f) == 0;
    }
    return ok;
}

/** How many files in `dir` start with `prefix`; the last one's path in `found`. */
static int count_prefixed(const char *dir, const char *prefix, char *found, size_t size) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(found, size, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/** Whether the file `path` holds exactly `text`. */
static int file_is(const char *path, const char *text) {
    char *got = tl_read_file(path);
    int same = got != NULL && strcmp(got, text) == 0;
    free(got);
    return same;
}

/** The canonical texts of a JSON array of addresses, one a line, as the list functions write them. */
static void lines_of(const struct tl_json *list, char *out, size_t size) {
    char one[SCOUTLB_SERVER_TEXT_SIZE], line[SCOUTLB_SERVER_TEXT_SIZE + 1];
    size_t i;
    out[0] = '\0';
    for (i = 0; list != NULL && list->type == TL_JSON_ARRAY && i < list->count; i++) {
        canonical(list->items[i]->string, one, sizeof one);
        snprintf(line, sizeof line, "%s\n", one);
        append(out, size, line);
    }
}

/* behaviour.md, "State file": loaded, moved aside or refused (and left untouched). */
static void run_state_file_vector(const struct tl_json *c) {
    const char *name = string_of(c, "name"), *text = string_of(c, "text"), *outcome = string_of(c, "outcome");
    char dir[] = "/tmp/scoutlb-c-XXXXXX";
    char path[256], json[512], aside[512], want[2048], cmd[300];
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    scoutlb_status status;
    int ok = 1;

    if (name == NULL || text == NULL || outcome == NULL || mkdtemp(dir) == NULL) {
        CHECK(!"state-file case has name, text and outcome; mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/state.json", dir);
    ok &= write_file(path, text);
    snprintf(json, sizeof json, "{\"servers\": [\"seed.test:1\"], \"probe\": \"none\", \"state_file\": \"%s\"}",
             path);
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    status = scoutlb_client_new(config, &client);
    if (strcmp(outcome, "refused") == 0) {
        char *message = tl_last_error();
        ok &= status == SCOUTLB_STATE_FORMAT && client == NULL && file_is(path, text) &&
              tl_contains(message, string_of(c, "error_contains")) &&
              count_prefixed(dir, "state.json.corrupt-", aside, sizeof aside) == 0;
        free(message);
    } else if (strcmp(outcome, "loaded") == 0) {
        const char *dflt = string_of(c, "default_server");
        char one[SCOUTLB_SERVER_TEXT_SIZE] = "";
        ok &= status == SCOUTLB_OK;
        if (dflt != NULL) {
            canonical(dflt, one, sizeof one);
        }
        if (client != NULL) {
            char *got = text_of(scoutlb_client_default_server, client), *list;
            ok &= got != NULL && strcmp(got, one) == 0;
            free(got);
            lines_of(tl_json_get(c, "servers"), want, sizeof want);
            list = text_of(scoutlb_client_server_list, client);
            ok &= list != NULL && strcmp(list, want) == 0;
            free(list);
        }
        ok &= count_prefixed(dir, "state.json.corrupt-", aside, sizeof aside) == 0;
    } else {
        char *order = client != NULL ? text_of(scoutlb_client_candidates, client) : NULL;
        ok &= status == SCOUTLB_OK && order != NULL && strcmp(order, "seed.test:1\n") == 0 && access(path, F_OK) != 0 &&
              count_prefixed(dir, "state.json.corrupt-", aside, sizeof aside) == 1 && file_is(aside, text);
        free(order);
    }
    if (!ok) {
        fprintf(stderr, "FAIL state-file vector \"%s\" (%s): status %u\n", name, outcome, (unsigned)status);
    }
    tl_check(ok, __FILE__, __LINE__, name);
    scoutlb_client_free(client);
    scoutlb_config_free(config);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_state_file_vectors(const char *dir) {
    struct tl_json *doc = vector_file(dir, "state_file.json");
    const struct tl_json *cases = tl_json_get(doc, "cases");
    size_t i;
    if (cases != NULL) {
        CHECK(cases->count >= 25);
        for (i = 0; i < cases->count; i++) {
            run_state_file_vector(cases->items[i]);
        }
        printf("state file vectors: %zu cases run\n", cases->count);
    }
    tl_json_free(doc);
}

/* behaviour.md, "Failover order": the seeds come after at most 8 others, however long the list. */
static void test_seed_reach_vectors(const char *dir) {
    struct tl_json *doc = vector_file(dir, "seed_reach.json");
    const struct tl_json *cases = tl_json_get(doc, "cases");
    size_t i;
    if (cases != NULL) {
        CHECK(cases->count >= 10);
        for (i = 0; i < cases->count; i++) {
            run_vector(cases->items[i]);
        }
        printf("seed reach vectors: %zu cases run\n", cases->count);
    }
    tl_json_free(doc);
}

static void test_vectors(const char *path) {
    char *text = tl_read_file(path);
    struct tl_json *doc = text ? tl_json_parse(text) : NULL;
    const struct tl_json *cases = tl_json_get(doc, "cases");
    size_t i;
    if (cases == NULL || cases->type != TL_JSON_ARRAY || cases->count == 0) {
        fprintf(stderr, "FAIL cannot read the vectors at %s\n", path);
        CHECK(!"read the failover vectors");
    } else {
        for (i = 0; i < cases->count; i++) {
            run_vector(cases->items[i]);
        }
        printf("failover vectors: %zu cases run\n", cases->count);
    }
    tl_json_free(doc);
    free(text);
}

/* ---- fork in the middle of a save (behaviour.md, State file) ---------------------------------- */

struct fork_saver {
    struct scoutlb_client *client;
    const char *server;
    volatile int done;
};

static void *fork_save_thread(void *arg) {
    struct fork_saver *s = arg;
    (void)scoutlb_client_report_success(s->client, s->server);
    __atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/** Read one byte from `fd` within `ms` milliseconds; 0 when none came. */
static char read_byte_within(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    char c = 0;
    if (poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1) {
        return c;
    }
    return 0;
}

/** Whether the saver finished within `ms` milliseconds. */
static int saver_done_within(struct fork_saver *s, int ms) {
    for (int waited = 0; waited < ms; waited += 10) {
        if (__atomic_load_n(&s->done, __ATOMIC_SEQ_CST)) {
            return 1;
        }
        usleep(10000);
    }
    return __atomic_load_n(&s->done, __ATOMIC_SEQ_CST);
}

static void test_fork_mid_save(void) {
    char dir[] = "/tmp/scoutlb-c-fork-XXXXXX";
    char json[512], path[256], lock_path[300];
    int ready[2], release[2], report[2], stop[2];
    pid_t holder, child;
    pthread_t saver_thread, again_thread;
    struct fork_saver saver, again;
    struct scoutlb_client *client;

    if (mkdtemp(dir) == NULL || pipe(ready) != 0 || pipe(release) != 0 || pipe(report) != 0 || pipe(stop) != 0) {
        CHECK(!"mkdtemp and pipes");
        return;
    }
    snprintf(path, sizeof path, "%s/state.json", dir);
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    snprintf(json, sizeof json, "{\"servers\": [\"a:1\", \"b:2\"], \"probe\": \"none\", \"state_file\": \"%s\"}", path);
    client = tl_client(json);

    /* Another process holds the lock file (both kinds of lock), so the next save waits inside. */
    holder = fork();
    if (holder == 0) {
        int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        struct flock whole = {0};
        char c;
        whole.l_type = F_WRLCK;
        whole.l_whence = SEEK_SET;
        if (fd < 0 || flock(fd, LOCK_EX) != 0 || fcntl(fd, F_SETLKW, &whole) != 0) {
            _exit(1);
        }
        if (write(ready[1], "L", 1) != 1) {
            _exit(1);
        }
        if (read(release[0], &c, 1) < 0) { /* one byte: the forked child shares the pipe, no EOF comes */
            _exit(1);
        }
        _exit(0);
    }
    CHECK(read_byte_within(ready[0], 10000) == 'L');
    saver.client = client;
    saver.server = "a:1";
    saver.done = 0;
    CHECK(pthread_create(&saver_thread, NULL, fork_save_thread, &saver) == 0);
    usleep(300000); /* the saver now waits for the lock, inside its save */
    CHECK(!saver.done);

    child = fork();
    if (child == 0) {
        char buf[64], c;
        size_t n = 0;
        alarm(20); /* a deadlocked child ends; the parent's checks then fail */
        if (scoutlb_client_default_server(client, buf, sizeof buf, &n) != SCOUTLB_OK || write(report[1], "R", 1) != 1) {
            _exit(1);
        }
        if (scoutlb_client_report_success(client, "b:2") != SCOUTLB_OK || write(report[1], "S", 1) != 1) {
            _exit(1);
        }
        if (read(stop[0], &c, 1) < 0) {
            _exit(1);
        }
        _exit(0);
    }
    /* The child's first call answers while the parent's save still waits. */
    CHECK(read_byte_within(report[0], 10000) == 'R');
    CHECK(write(release[1], "G", 1) == 1); /* the holder lets go */
    CHECK(saver_done_within(&saver, 10000));
    CHECK(read_byte_within(report[0], 10000) == 'S');
    /* With the child forked mid-save alive, the parent saves again at once. */
    again.client = client;
    again.server = "a:1";
    again.done = 0;
    CHECK(pthread_create(&again_thread, NULL, fork_save_thread, &again) == 0);
    CHECK(saver_done_within(&again, 10000));
    kill(child, SIGKILL); /* frees the parent if the child held its lock */
    close(stop[1]);
    waitpid(child, NULL, 0);
    waitpid(holder, NULL, 0);
    pthread_join(saver_thread, NULL);
    pthread_join(again_thread, NULL);
    CHECK_TEXT(scoutlb_client_default_server, client, "a:1");
    scoutlb_client_free(client);
    close(ready[0]);
    close(ready[1]);
    close(release[0]);
    close(release[1]);
    close(report[0]);
    close(report[1]);
    close(stop[0]);
}

int main(int argc, char **argv) {
#ifdef EXPECT_ASAN
    CHECK(TL_ASAN == 1); /* built with -fsanitize=address: prove it is really compiled in */
    printf("AddressSanitizer: %s\n", TL_ASAN ? "compiled in" : "MISSING");
#endif
    test_version();
    test_status_names();
    test_null_arguments();
    test_invalid_utf8();
    test_malformed_json();
    test_buffers();
    test_agent_driven();
    test_state_file();
    test_failed_save();
    test_typed_config();
    test_scout_ini();
    test_tls_levels();
    test_steering();
    test_fork_mid_save();
    test_callback_probe();
    test_connect_http();
    test_connect_with_retry_until();
    test_threads();
    test_vectors(argc > 1 ? argv[1] : "tests/vectors/failover_order.json");
    {
        /* The other vector files sit beside the failover vectors. */
        char dir[1024];
        char *slash;
        snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : "tests/vectors/failover_order.json");
        slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
        } else {
            snprintf(dir, sizeof dir, ".");
        }
        test_address_vectors(dir);
        test_list_vectors(dir);
        test_config_vectors(dir);
        test_config_vectors_typed(dir);
        test_seed_reach_vectors(dir);
        test_state_file_vectors(dir);
    }
    return tl_finish();
}
