/* The start-up vectors (tests/vectors/startup.json; its "about" says what each field means), run
 * against the real client through the C ABI, with a callback probe that answers as each step says.
 * Usage: test_startup VECTORS_DIR */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scoutlb.h"
#include "testlib.h"

#define MAX_SEEN 64

/* What one step saw: the answers it gives and the events it recorded. */
struct step_state {
    pthread_mutex_t lock;
    const struct tl_json *answers; /* the step's "answers" object, or NULL */
    char tried[MAX_SEEN][SCOUTLB_SERVER_TEXT_SIZE];
    size_t tried_count;
    char events[MAX_SEEN][SCOUTLB_SERVER_TEXT_SIZE + 32];
    size_t event_count;
};

static const char *PINNED[] = {"default_changed",    "server_list_updated", "server_list_rejected",
                               "state_file_problem", "balancer_resolved",   "balancer_failed"};

static void on_event(void *user_data, const struct scoutlb_event *event) {
    struct step_state *s = user_data;
    size_t i;
    pthread_mutex_lock(&s->lock);
    if (strcmp(event->kind_name, "attempt_started") == 0 && s->tried_count < MAX_SEEN && event->server != NULL) {
        snprintf(s->tried[s->tried_count++], SCOUTLB_SERVER_TEXT_SIZE, "%s", event->server);
    }
    for (i = 0; i < sizeof PINNED / sizeof PINNED[0]; i++) {
        if (strcmp(event->kind_name, PINNED[i]) == 0 && s->event_count < MAX_SEEN) {
            char *out = s->events[s->event_count++];
            if (event->server != NULL && strcmp(event->kind_name, "balancer_resolved") != 0 &&
                strcmp(event->kind_name, "balancer_failed") != 0 && strcmp(event->kind_name, "state_file_problem") != 0) {
                snprintf(out, sizeof s->events[0], "%s %s", event->kind_name, event->server);
            } else {
                snprintf(out, sizeof s->events[0], "%s", event->kind_name);
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static uint32_t probe(void *user_data, const struct scoutlb_probe_params *params) {
    struct step_state *s = user_data;
    const struct tl_json *answer = s->answers ? tl_json_get(s->answers, params->server) : NULL;
    if (answer != NULL && answer->type == TL_JSON_STRING && strcmp(answer->string, "ok") == 0) {
        return SCOUTLB_PROBE_REACHED;
    }
    if (answer != NULL && answer->type == TL_JSON_OBJECT) {
        char *body = tl_json_write(tl_json_get(answer, "list"));
        uint32_t status = scoutlb_probe_server_list(params->attempt, (const uint8_t *)body, strlen(body));
        free(body);
        return status == SCOUTLB_OK ? SCOUTLB_PROBE_REACHED : SCOUTLB_PROBE_FAILED;
    }
    snprintf(params->reason, params->reason_len, "%s",
             answer != NULL && answer->type == TL_JSON_STRING ? answer->string : "not in the answers");
    return SCOUTLB_PROBE_FAILED;
}

/* Whether the array of strings `want` equals `got[0..count]`. */
static int same_texts(const struct tl_json *want, char (*got)[SCOUTLB_SERVER_TEXT_SIZE + 32], size_t count) {
    size_t i;
    if (want == NULL || want->type != TL_JSON_ARRAY || want->count != count) {
        return 0;
    }
    for (i = 0; i < count; i++) {
        if (strcmp(want->items[i]->string, got[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

static void server_text(const struct tl_json *v, char *out, size_t len) {
    snprintf(out, len, "%s:%d", tl_json_get(v, "host")->string, (int)tl_json_get(v, "port")->number);
}

/* Whether the state file at `path` holds what `want` says (null: no file). */
static int state_matches(const char *path, const struct tl_json *want) {
    char *text = tl_read_file(path), got[SCOUTLB_SERVER_TEXT_SIZE];
    struct tl_json *doc;
    const struct tl_json *def, *servers, *want_def, *want_servers;
    int ok = 1;
    size_t i;
    if (want->type == TL_JSON_NULL) {
        free(text);
        return text == NULL;
    }
    if (text == NULL || (doc = tl_json_parse(text)) == NULL) {
        free(text);
        return 0;
    }
    free(text);
    def = tl_json_get(doc, "default_server");
    servers = tl_json_get(doc, "servers");
    want_def = tl_json_get(want, "default_server");
    want_servers = tl_json_get(want, "servers");
    if (want_def->type == TL_JSON_NULL) {
        ok = ok && (def == NULL || def->type == TL_JSON_NULL);
    } else {
        ok = ok && def != NULL && def->type == TL_JSON_OBJECT;
        if (ok) {
            server_text(def, got, sizeof got);
            ok = strcmp(got, want_def->string) == 0;
        }
    }
    if (want_servers->type == TL_JSON_NULL) {
        ok = ok && (servers == NULL || servers->type == TL_JSON_NULL);
    } else {
        ok = ok && servers != NULL && servers->type == TL_JSON_ARRAY && servers->count == want_servers->count;
        for (i = 0; ok && i < servers->count; i++) {
            server_text(servers->items[i], got, sizeof got);
            ok = strcmp(got, want_servers->items[i]->string) == 0;
        }
    }
    tl_json_free(doc);
    return ok;
}

static void run_case(const struct tl_json *c) {
    const char *name = tl_json_get(c, "name")->string;
    const struct tl_json *steps = tl_json_get(c, "steps"), *state = tl_json_get(c, "state");
    char dir[] = "/tmp/scoutlb-startup.XXXXXX", state_dir[256], aside[256], path[300];
    char *config_text;
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    struct step_state s;
    size_t i, j;

    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    snprintf(aside, sizeof aside, "%s/state.aside", dir);
    snprintf(path, sizeof path, "%s/scoutlb.json", state_dir);
    CHECK(mkdir(state_dir, 0700) == 0);
    if (state->type != TL_JSON_NULL) {
        char *text = tl_json_write(state);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
        free(text);
    }
    config_text = tl_json_write(tl_json_get(c, "config"));
    CHECK_STATUS(scoutlb_config_new(config_text, &config), SCOUTLB_OK);
    free(config_text);
    CHECK_STATUS(scoutlb_config_set_string(config, "probe", "callback"), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "attempt_delay_ms", 0), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "answer_delay_ms", 0), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_string(config, "state_file", path), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_probe_callback(config, probe, &s), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_DEBUG, on_event, &s), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    if (client == NULL) {
        fprintf(stderr, "FAIL %s: no client\n", name);
        return;
    }
    for (i = 0; i < steps->count; i++) {
        const struct tl_json *step = steps->items[i], *expect = tl_json_get(step, "expect"), *want;
        const char *call = tl_json_get(step, "call")->string;
        const char *result = "ok";
        struct scoutlb_connected connected;
        uint32_t status = SCOUTLB_OK;
        int connect_call = 0;
        int ok = 1;

        s.answers = tl_json_get(step, "answers");
        s.tried_count = s.event_count = 0;
        memset(&connected, 0, sizeof connected);
        if (strcmp(call, "connect") == 0) {
            status = scoutlb_client_connect(client, &connected);
            connect_call = 1;
        } else if (strcmp(call, "reconnect") == 0) {
            status = scoutlb_client_reconnect(client, &connected);
            connect_call = 1;
        } else if (strcmp(call, "report_success") == 0) {
            status = scoutlb_client_report_success(client, tl_json_get(step, "server")->string);
        } else if (strcmp(call, "update_server_list") == 0) {
            const struct tl_json *from = tl_json_get(step, "from");
            char *body = tl_json_write(tl_json_get(step, "body"));
            status = scoutlb_client_update_server_list(client, (const uint8_t *)body, strlen(body),
                                                       from->type == TL_JSON_STRING ? from->string : NULL);
            free(body);
        } else if (strcmp(call, "break_state_dir") == 0) {
            FILE *f;
            CHECK(rename(state_dir, aside) == 0);
            f = fopen(state_dir, "w");
            CHECK(f != NULL && fputs("not a folder", f) >= 0 && fclose(f) == 0);
        } else if (strcmp(call, "repair_state_dir") == 0) {
            CHECK(unlink(state_dir) == 0 && rename(aside, state_dir) == 0);
        } else {
            CHECK(!"a known call");
        }
        if (status == SCOUTLB_OK) {
            result = connect_call ? "connected" : "ok";
        } else {
            result = status == SCOUTLB_ALL_FAILED ? "all_failed" : "error";
        }
        ok = ok && strcmp(result, tl_json_get(expect, "result")->string) == 0;
        if ((want = tl_json_get(expect, "failed")) != NULL) {
            size_t count = 0;
            struct scoutlb_attempt attempt;
            CHECK_STATUS(scoutlb_last_error_attempt_count(&count), SCOUTLB_OK);
            ok = ok && count == want->count;
            for (j = 0; ok && j < count; j++) {
                CHECK_STATUS(scoutlb_last_error_attempt(j, &attempt), SCOUTLB_OK);
                ok = strcmp(attempt.server, want->items[j]->items[0]->string) == 0 &&
                     strcmp(attempt.kind_name, want->items[j]->items[1]->string) == 0;
            }
        }
        if ((want = tl_json_get(expect, "tried")) != NULL) {
            char texts[MAX_SEEN][SCOUTLB_SERVER_TEXT_SIZE + 32];
            for (j = 0; j < s.tried_count; j++) {
                snprintf(texts[j], sizeof texts[j], "%s", s.tried[j]);
            }
            ok = ok && same_texts(want, texts, s.tried_count);
        }
        if ((want = tl_json_get(expect, "events")) != NULL) {
            ok = ok && same_texts(want, s.events, s.event_count);
        }
        if (connect_call && status == SCOUTLB_OK) {
            if ((want = tl_json_get(expect, "server")) != NULL) {
                ok = ok && strcmp(connected.server, want->string) == 0;
            }
            if ((want = tl_json_get(expect, "via_balancer")) != NULL) {
                ok = ok && connected.via_balancer == (want->boolean != 0);
            }
            if ((want = tl_json_get(expect, "saved")) != NULL) {
                ok = ok && connected.saved == (want->boolean != 0);
            }
        }
        if ((want = tl_json_get(expect, "state_file")) != NULL) {
            ok = ok && state_matches(path, want);
        }
        if (!ok) {
            fprintf(stderr, "FAIL startup vector \"%s\", step %zu (%s): result %s, %zu tried, %zu events:", name, i, call,
                    result, s.tried_count, s.event_count);
            for (j = 0; j < s.event_count; j++) {
                fprintf(stderr, " [%s]", s.events[j]);
            }
            fprintf(stderr, "\n");
        }
        CHECK(ok);
    }
    scoutlb_client_free(client);
    pthread_mutex_destroy(&s.lock);
    unlink(path);
    {
        char lock[320];
        snprintf(lock, sizeof lock, "%s.lock", path);
        unlink(lock);
    }
    rmdir(state_dir);
    rmdir(dir);
}

int main(int argc, char **argv) {
    struct tl_json *doc = tl_read_vectors(argc > 1 ? argv[1] : "tests/vectors", "startup.json");
    const struct tl_json *cases;
    size_t i;

    cases = doc ? tl_json_get(doc, "cases") : NULL;
    CHECK(cases != NULL && cases->count >= 10);
    for (i = 0; cases != NULL && i < cases->count; i++) {
        run_case(cases->items[i]);
    }
    if (cases != NULL) {
        printf("start-up vectors: %zu cases run\n", cases->count);
    }
    tl_json_free(doc);
    return tl_finish();
}
