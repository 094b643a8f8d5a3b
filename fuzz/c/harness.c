/* libFuzzer harness for the C ABI of scoutlb (include/scoutlb.h).
 *
 * One input holds three texts separated by NUL bytes: a configuration, a server-list body and a
 * server name; its first byte picks the size of the caller's out buffers (zero, tiny, or roomy).
 * Every text-taking function gets them: scoutlb_config_new, the typed setters of a default config
 * (scoutlb_config_set_string / _add_string / _set_u64 / _set_double / _reset, the name as key and
 * the body as value), scoutlb_server_parse, and on a live
 * agent-driven client (a fixed configuration with a state file in a RAM folder, since a fuzzed
 * configuration could name any file) scoutlb_client_update_server_list, _report_success and
 * _report_failure; then every function that writes text out, into buffers of exactly the picked
 * size (so AddressSanitizer sees a write past the end). Checked: status codes are known, out_len
 * is the size of a NUL-terminated text on SCOUTLB_OK and larger than the buffer on
 * SCOUTLB_BUFFER_TOO_SMALL, a retry with out_len bytes succeeds with the same size, a failed call
 * leaves a message, and a parsed server's canonical text parses to itself.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Iinclude fuzz/c/harness.c libscoutlb.a -lpthread -ldl -lm
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <scoutlb.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "harness check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static const size_t BUFFER_SIZES[] = {0, 1, 2, 5, 17, 64, 300, 4096};

/* A status any function may return: a known code with a name. */
static void check_status(scoutlb_status rc, const char *call) {
    CHECK(rc <= SCOUTLB_CANCELLED, "%s returned unknown status %u", call, rc);
    CHECK(strcmp(scoutlb_status_name(rc), "SCOUTLB_UNKNOWN_STATUS") != 0, "%s: status %u has no name", call, rc);
    if (rc != SCOUTLB_OK) {
        char message[512];
        size_t len = 0;
        scoutlb_status m = scoutlb_last_error_message(message, sizeof message, &len);
        CHECK(m == SCOUTLB_OK || m == SCOUTLB_BUFFER_TOO_SMALL, "last_error_message: %u", m);
        CHECK(len > 1, "%s failed with %s and left no message", call, scoutlb_status_name(rc));
    }
}

/* The rules of a text written out into (buf, len) with *out_len. */
static void check_text_out(scoutlb_status rc, const char *buf, size_t len, size_t out_len, const char *call) {
    check_status(rc, call);
    if (rc == SCOUTLB_OK) {
        CHECK(out_len >= 1 && out_len <= len, "%s: out_len %zu with a buffer of %zu", call, out_len, len);
        CHECK(buf[out_len - 1] == '\0', "%s: not NUL-terminated", call);
        CHECK(strlen(buf) == out_len - 1, "%s: NUL inside the text", call);
    } else if (rc == SCOUTLB_BUFFER_TOO_SMALL) {
        CHECK(out_len > len, "%s: too small, yet out_len %zu fits %zu", call, out_len, len);
    }
}

typedef scoutlb_status (*text_fn)(const struct scoutlb_client *, char *, size_t, size_t *);

/* Call a client text function with a buffer of exactly `len` bytes, then with the size it asked for. */
static void text_call(const struct scoutlb_client *client, text_fn fn, const char *name, size_t len) {
    char *buf = len ? malloc(len) : NULL;
    size_t out_len = 0;
    scoutlb_status rc = fn(client, buf, len, &out_len);
    check_text_out(rc, buf, len, out_len, name);
    free(buf);
    if (rc == SCOUTLB_BUFFER_TOO_SMALL) {
        size_t need = out_len;
        buf = malloc(need);
        rc = fn(client, buf, need, &out_len);
        check_text_out(rc, buf, need, out_len, name);
        CHECK(rc == SCOUTLB_OK && out_len == need, "%s: retry with %zu bytes gave %u, %zu", name, need, rc, out_len);
        free(buf);
    }
}

/* The live client's state folder, removed when the fuzzer exits (not after a crash: the state
 * file may be needed to reproduce it). */
static char dir[128];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(void) { nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

static struct scoutlb_client *live_client(void) {
    static struct scoutlb_client *client;
    if (client) return client;
    char config_json[512];
    snprintf(dir, sizeof dir, "%s/scoutlb-c-fuzz-%ld", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (long)getpid());
    mkdir(dir, 0700);
    atexit(remove_dir);
    snprintf(config_json, sizeof config_json,
             "{\"servers\": [\"10.0.0.1\", \"scout2.corp:8443\", \"[fd00::3]\"], \"probe\": \"none\", "
             "\"state_file\": \"%s/state.json\"}",
             dir);
    struct scoutlb_config *config = NULL;
    CHECK(scoutlb_config_new(config_json, &config) == SCOUTLB_OK, "the fixed configuration");
    CHECK(scoutlb_config_set_random_seed(config, 7) == SCOUTLB_OK, "seed");
    CHECK(scoutlb_client_new(config, &client) == SCOUTLB_OK, "the live client");
    scoutlb_config_free(config);
    return client;
}

/* Copy the next NUL-separated piece of (data, size) from *pos into a fresh NUL-terminated string. */
static char *next_piece(const uint8_t *data, size_t size, size_t *pos, size_t *piece_len) {
    size_t start = *pos, end = start;
    while (end < size && data[end] != 0) end++;
    char *s = malloc(end - start + 1);
    memcpy(s, data + start, end - start);
    s[end - start] = 0;
    *piece_len = end - start;
    *pos = end < size ? end + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t len = BUFFER_SIZES[data[0] % (sizeof BUFFER_SIZES / sizeof BUFFER_SIZES[0])];
    uint16_t default_port = (uint16_t)(data[1] * 257u);
    size_t pos = 2, config_len, body_len, name_len;
    char *config_text = next_piece(data, size, &pos, &config_len);
    char *body = next_piece(data, size, &pos, &body_len);
    char *name = next_piece(data, size, &pos, &name_len);

    /* Configuration text: parsed, never used for a client (it could name any file or host). */
    struct scoutlb_config *config = NULL;
    scoutlb_status rc = scoutlb_config_new(config_text, &config);
    check_status(rc, "scoutlb_config_new");
    CHECK((rc == SCOUTLB_OK) == (config != NULL), "config_new: status %u with config %p", rc, (void *)config);
    scoutlb_config_free(config);

    /* The typed setters: the name as the key, the body as the value (the config is never used for
     * a client either). A refused call leaves a message like every other. */
    config = NULL;
    CHECK(scoutlb_config_new_default(&config) == SCOUTLB_OK, "config_new_default");
    check_status(scoutlb_config_set_string(config, name, body), "scoutlb_config_set_string");
    check_status(scoutlb_config_add_string(config, name, body), "scoutlb_config_add_string");
    check_status(scoutlb_config_set_u64(config, name, (uint64_t)default_port * (data[0] & 0x0f)),
                 "scoutlb_config_set_u64");
    check_status(scoutlb_config_set_double(config, name, (double)data[1] / 16.0), "scoutlb_config_set_double");
    check_status(scoutlb_config_set_string(config, name, NULL), "scoutlb_config_set_string(NULL)");
    check_status(scoutlb_config_reset(config, name), "scoutlb_config_reset");
    scoutlb_config_free(config);

    /* Server name: canonical text, which parses to itself. */
    char *buf = len ? malloc(len) : NULL;
    size_t out_len = 0;
    rc = scoutlb_server_parse(name, default_port, buf, len, &out_len);
    check_text_out(rc, buf, len, out_len, "scoutlb_server_parse");
    if (rc == SCOUTLB_OK || rc == SCOUTLB_BUFFER_TOO_SMALL) {
        CHECK(out_len <= SCOUTLB_SERVER_TEXT_SIZE, "server text of %zu bytes", out_len);
        char canonical[SCOUTLB_SERVER_TEXT_SIZE], again[SCOUTLB_SERVER_TEXT_SIZE];
        size_t n1 = 0, n2 = 0;
        CHECK(scoutlb_server_parse(name, default_port, canonical, sizeof canonical, &n1) == SCOUTLB_OK, "roomy parse");
        CHECK(n1 == out_len, "out_len %zu then %zu", out_len, n1);
        CHECK(scoutlb_server_parse(canonical, 1, again, sizeof again, &n2) == SCOUTLB_OK, "reparse %s", canonical);
        CHECK(strcmp(canonical, again) == 0, "%s parses to %s", canonical, again);
    }
    free(buf);

    /* The live client: the body as a server list from the name (or the default), the name reported. */
    struct scoutlb_client *client = live_client();
    const char *from = (data[0] & 0x80) ? name : NULL;
    check_status(scoutlb_client_update_server_list(client, (const uint8_t *)body, body_len, from),
                 "scoutlb_client_update_server_list");
    if (data[0] & 0x40) check_status(scoutlb_client_report_success(client, name), "scoutlb_client_report_success");
    check_status(scoutlb_client_report_failure(client, name, config_text), "scoutlb_client_report_failure");

    text_call(client, scoutlb_client_candidates, "candidates", len);
    text_call(client, scoutlb_client_failover_order, "failover_order", len);
    text_call(client, scoutlb_client_connection_lost, "connection_lost", len);
    text_call(client, scoutlb_client_server_list, "server_list", len);
    text_call(client, scoutlb_client_seeds, "seeds", len);
    text_call(client, scoutlb_client_balancer_addresses, "balancer_addresses", len);
    text_call(client, scoutlb_client_default_server, "default_server", len);
    text_call(client, scoutlb_client_state_json, "state_json", len);

    /* The last error message itself into the small buffer, twice: reading it changes nothing. */
    scoutlb_server_parse(name, default_port, NULL, 0, &out_len);
    buf = len ? malloc(len) : NULL;
    size_t m1 = 0, m2 = 0;
    rc = scoutlb_last_error_message(buf, len, &m1);
    check_text_out(rc, buf, len, m1, "scoutlb_last_error_message");
    scoutlb_last_error_message(buf, len, &m2);
    CHECK(m1 == m2, "message size %zu then %zu", m1, m2);
    /* The attempts of the last error (none after these calls) and the last save error. */
    size_t count = 99;
    struct scoutlb_attempt attempt;
    CHECK(scoutlb_last_error_attempt_count(&count) == SCOUTLB_OK && count == 0, "attempt count %zu", count);
    CHECK(scoutlb_last_error_attempt(0, &attempt) == SCOUTLB_INVALID_ARGUMENT, "attempt 0 of none");
    rc = scoutlb_last_error_attempt_message(0, buf, len, &m1);
    CHECK(rc == SCOUTLB_INVALID_ARGUMENT, "attempt message of none: %u", rc);
    rc = scoutlb_last_save_error(buf, len, &m1);
    check_text_out(rc, buf, len, m1, "scoutlb_last_save_error");
    free(buf);

    free(config_text);
    free(body);
    free(name);
    return 0;
}
