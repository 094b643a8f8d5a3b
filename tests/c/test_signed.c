/* Signed server lists through the C ABI (docs/behaviour.md, "Signed lists"): the vectors of
 * tests/vectors/signed_list.json (its "about" says what each field means) handed in with
 * scoutlb_client_update_server_list, and loopback servers that lie: one whose list was rewritten
 * and one whose list a rogue key signed, beside an honest one.
 * Usage: test_signed VECTORS_DIR */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scoutlb.h"
#include "testlib.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
}

/* Whether the state file holds the servers, list_version and adopted_keys of `want`. */
static int state_matches(const char *path, const struct tl_json *want) {
    char *text = tl_read_file(path), got[SCOUTLB_SERVER_TEXT_SIZE];
    struct tl_json *doc = text ? tl_json_parse(text) : NULL;
    const struct tl_json *servers, *version, *adopted, *want_servers, *want_version, *want_adopted;
    int ok = doc != NULL;
    size_t i;
    free(text);
    if (!ok) {
        return 0;
    }
    servers = tl_json_get(doc, "servers");
    version = tl_json_get(doc, "list_version");
    adopted = tl_json_get(doc, "adopted_keys");
    want_servers = tl_json_get(want, "servers");
    want_version = tl_json_get(want, "list_version");
    want_adopted = tl_json_get(want, "adopted_keys");
    ok = servers != NULL && servers->count == want_servers->count;
    for (i = 0; ok && i < servers->count; i++) {
        snprintf(got, sizeof got, "%s:%d", tl_json_get(servers->items[i], "host")->string,
                 (int)tl_json_get(servers->items[i], "port")->number);
        ok = strcmp(got, want_servers->items[i]->string) == 0;
    }
    if (want_version->type == TL_JSON_NULL) {
        ok = ok && version == NULL;
    } else {
        ok = ok && version != NULL && version->number == want_version->number;
    }
    ok = ok && (adopted == NULL ? want_adopted->count == 0 : adopted->count == want_adopted->count);
    for (i = 0; ok && adopted != NULL && i < adopted->count; i++) {
        ok = strcmp(adopted->items[i]->string, want_adopted->items[i]->string) == 0;
    }
    tl_json_free(doc);
    return ok;
}

/* A config with `list_keys` (a JSON array) and the state file `path`. */
static struct scoutlb_config *config_with(const struct tl_json *keys, const char *path, const char *rest) {
    struct scoutlb_config *config = NULL;
    char *keys_text = tl_json_write(keys), text[4096];
    snprintf(text, sizeof text, "{\"list_keys\": %s, \"state_file\": \"%s\"%s}", keys_text, path, rest);
    free(keys_text);
    CHECK_STATUS(scoutlb_config_new(text, &config), SCOUTLB_OK);
    return config;
}

static void run_case(const struct tl_json *c) {
    const char *name = tl_json_get(c, "name")->string;
    const struct tl_json *steps = tl_json_get(c, "steps"), *state = tl_json_get(c, "state");
    char dir[] = "/tmp/scoutlb-signed.XXXXXX", path[300], lock[320];
    struct scoutlb_config *config;
    struct scoutlb_client *client = NULL;
    size_t i;
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/scoutlb.json", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);
    if (state->type != TL_JSON_NULL) {
        char *text = tl_json_write(state);
        write_file(path, text);
        free(text);
    }
    config = config_with(tl_json_get(c, "list_keys"), path, ", \"probe\": \"none\"");
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    for (i = 0; client != NULL && i < steps->count; i++) {
        const struct tl_json *step = steps->items[i], *expect = tl_json_get(step, "expect");
        const char *body = tl_json_get(step, "body")->string;
        char *before = tl_read_file(path), *after;
        uint32_t status = scoutlb_client_update_server_list(client, (const uint8_t *)body, strlen(body), NULL);
        int ok;
        if (tl_json_get(expect, "taken")->boolean) {
            ok = status == SCOUTLB_OK && state_matches(path, expect);
        } else {
            char *message = tl_last_error();
            after = tl_read_file(path);
            ok = status == SCOUTLB_INVALID_SERVER_LIST && message != NULL &&
                 tl_contains(message, tl_json_get(expect, "error")->string) &&
                 ((before == NULL && after == NULL) || (before != NULL && after != NULL && strcmp(before, after) == 0));
            free(message);
            free(after);
        }
        if (!ok) {
            fprintf(stderr, "FAIL signed-list vector \"%s\", step %zu: status %u\n", name, i, status);
        }
        CHECK(ok);
        free(before);
    }
    scoutlb_client_free(client);
    unlink(path);
    unlink(lock);
    rmdir(dir);
}

/* A client of the servers on loopback ports `first` and `second`, trusting `keys`, saving to `path`. */
static struct scoutlb_client *client_of(const struct tl_json *keys, const char *path, uint16_t first, uint16_t second) {
    struct scoutlb_client *client = NULL;
    struct scoutlb_config *config;
    char rest[512];
    snprintf(rest, sizeof rest,
             ", \"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"attempt_delay_ms\": 0, \"answer_delay_ms\": 0",
             first, second);
    config = config_with(keys, path, rest);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    return client;
}

/* Lying servers on loopback: the rewritten list fails its attempt and the honest server wins; with
 * only liars, the connect fails as untrusted_list and the state file stays byte for byte. */
static void lying_servers(const struct tl_json *doc) {
    const struct tl_json *bodies = tl_json_get(doc, "lying_servers");
    const char *good = tl_json_get(bodies, "honest")->string, *forged = tl_json_get(bodies, "rewritten")->string,
               *rogue = tl_json_get(bodies, "rogue")->string;
    struct tl_http_server *liar = tl_http_start(TL_SERVE, 200, forged), *other = tl_http_start(TL_SERVE, 200, rogue),
                          *honest = tl_http_start(TL_SERVE, 200, good);
    struct tl_json *keys;
    char dir[] = "/tmp/scoutlb-signed-net.XXXXXX", path[300], lock[320], keys_text[128], problem[1024];
    struct scoutlb_client *client;
    struct scoutlb_connected connected;
    struct scoutlb_attempt attempt;
    size_t count = 0, len = 0, i;
    char *before, *after, *saved;
    CHECK(liar != NULL && other != NULL && honest != NULL && mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/scoutlb.json", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);
    snprintf(keys_text, sizeof keys_text, "[\"%s\"]", tl_json_get(tl_json_get(doc, "keys"), "A")->string);
    keys = tl_json_parse(keys_text);

    /* Only liars: all fail, nothing is saved. */
    saved = tl_json_write(tl_json_get(bodies, "saved"));
    write_file(path, saved);
    free(saved);
    client = client_of(keys, path, tl_http_port(liar), tl_http_port(other));
    before = tl_read_file(path);
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_ALL_FAILED);
    CHECK_STATUS(scoutlb_last_error_attempt_count(&count), SCOUTLB_OK);
    CHECK(count == 2);
    for (i = 0; i < count; i++) {
        CHECK_STATUS(scoutlb_last_error_attempt(i, &attempt), SCOUTLB_OK);
        CHECK(attempt.kind == SCOUTLB_ATTEMPT_UNTRUSTED_LIST && strcmp(attempt.kind_name, "untrusted_list") == 0);
    }
    after = tl_read_file(path);
    CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    free(before);
    free(after);
    scoutlb_client_free(client);

    /* A liar first, then the honest server: the honest one wins, the refusal is reported. */
    client = client_of(keys, path, tl_http_port(liar), tl_http_port(honest));
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    CHECK(connected.list_refused && connected.failed_attempts == 1);
    CHECK_STATUS(scoutlb_last_list_problem(problem, sizeof problem, &len), SCOUTLB_OK);
    CHECK(tl_contains(problem, "does not verify") && len == strlen(problem) + 1);
    after = tl_read_file(path);
    {
        struct tl_json *state = after ? tl_json_parse(after) : NULL;
        const struct tl_json *version = state ? tl_json_get(state, "list_version") : NULL;
        CHECK(version != NULL && version->number == 17 && tl_contains(after, "127.0.0.1"));
        tl_json_free(state);
    }
    free(after);
    /* A connect without a refusal clears the text. */
    CHECK_STATUS(scoutlb_client_reconnect(client, &connected), SCOUTLB_OK);
    CHECK(!connected.list_refused);
    CHECK_STATUS(scoutlb_last_list_problem(problem, sizeof problem, &len), SCOUTLB_OK);
    CHECK(problem[0] == '\0' && len == 1);
    scoutlb_client_free(client);

    tl_json_free(keys);
    tl_http_stop(liar);
    tl_http_stop(other);
    tl_http_stop(honest);
    unlink(path);
    unlink(lock);
    rmdir(dir);
}

int main(int argc, char **argv) {
    struct tl_json *doc;
    const struct tl_json *cases;
    size_t i;
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
        return 2;
    }
    doc = tl_read_vectors(argv[1], "signed_list.json");
    CHECK(doc != NULL);
    if (doc == NULL) {
        return tl_finish();
    }
    cases = tl_json_get(doc, "cases");
    CHECK(cases != NULL && cases->count >= 15);
    for (i = 0; cases != NULL && i < cases->count; i++) {
        run_case(cases->items[i]);
    }
    lying_servers(doc);
    tl_json_free(doc);
    return tl_finish();
}
