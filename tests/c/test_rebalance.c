/* The opt-in rebalance from C (behaviour.md, "Rebalance"): the rebalance.* keys through the
 * setters, the move a connect plans (scoutlb_client_rebalance_plan), carrying it out
 * (scoutlb_client_rebalance, or on a poll loop scoutlb_client_start_rebalance) and its events,
 * on loopback servers. Argument: tests/vectors (unused). */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scoutlb.h"
#include "testlib.h"

struct seen {
    int planned, rebalanced, failed;
};

static void count(void *user_data, const struct scoutlb_event *event) {
    struct seen *seen = user_data;
    seen->planned += event->kind == SCOUTLB_EVENT_REBALANCE_PLANNED;
    seen->rebalanced += event->kind == SCOUTLB_EVENT_REBALANCED;
    seen->failed += event->kind == SCOUTLB_EVENT_REBALANCE_FAILED;
}

/* A device of a on a list where b is far lighter (load 0, weight 10^6): it moves with
 * probability 1 - 10^-6, within 10 ms at a rate of 1000 per second. */
static struct scoutlb_client *client_on(uint16_t a, uint16_t b, struct seen *seen) {
    char servers[64];
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    (void)b;
    snprintf(servers, sizeof servers, "127.0.0.1:%u", a);
    CHECK_STATUS(scoutlb_config_new("{}", &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_add_string(config, "servers", servers), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_bool(config, "rebalance.enabled", true), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "rebalance.window_ms", 0), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_u64(config, "rebalance.rate", 1000), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_DEBUG, count, seen), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    return client;
}

static void test_a_planned_move_is_made(void) {
    struct tl_http_server *a = tl_http_start(TL_SERVE, 200, ""), *b = tl_http_start(TL_SERVE, 200, "");
    char body[512], want[64];
    snprintf(body, sizeof body,
             "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"a\", \"load\": 10}, "
             "{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\", \"load\": 0, \"weight\": 1000000}], \"self\": \"a\"}",
             tl_http_port(a), tl_http_port(b));
    CHECK(tl_http_set_body(a, body));
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\"}], \"self\": \"b\"}",
             tl_http_port(b));
    CHECK(tl_http_set_body(b, body));
    struct seen seen = {0, 0, 0};
    struct scoutlb_client *client = client_on(tl_http_port(a), tl_http_port(b), &seen);
    struct scoutlb_connected connected;
    struct scoutlb_rebalance_plan plan;
    bool planned = false, moved = false;
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_rebalance_plan(client, &plan, &planned), SCOUTLB_OK);
    CHECK(planned);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(b));
    CHECK(strcmp(plan.to, want) == 0);
    CHECK(plan.after_ms <= plan.window_ms && plan.window_ms <= 14);
    CHECK(seen.planned == 1);
    CHECK_STATUS(scoutlb_client_rebalance(client, &connected, &moved), SCOUTLB_OK);
    CHECK(moved && strcmp(connected.server, want) == 0);
    CHECK(seen.rebalanced == 1 && seen.failed == 0);
    /* b's list has nothing lighter: no plan, and a rebalance does nothing. */
    CHECK_STATUS(scoutlb_client_rebalance_plan(client, &plan, &planned), SCOUTLB_OK);
    CHECK(!planned);
    CHECK_STATUS(scoutlb_client_rebalance(client, &connected, &moved), SCOUTLB_OK);
    CHECK(!moved);
    scoutlb_client_free(client);
    tl_http_stop(a);
    tl_http_stop(b);
}

/* The same move on the agent's loop: scoutlb_client_start_rebalance gives a call like a
 * connect's, or none without a plan. */
static void test_a_planned_move_on_the_loop(void) {
    struct tl_http_server *a = tl_http_start(TL_SERVE, 200, ""), *b = tl_http_start(TL_SERVE, 200, "");
    char body[512], want[64];
    snprintf(body, sizeof body,
             "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"a\", \"load\": 10}, "
             "{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\", \"load\": 0, \"weight\": 1000000}], \"self\": \"a\"}",
             tl_http_port(a), tl_http_port(b));
    CHECK(tl_http_set_body(a, body));
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\"}], \"self\": \"b\"}",
             tl_http_port(b));
    CHECK(tl_http_set_body(b, body));
    struct seen seen = {0, 0, 0};
    struct scoutlb_client *client = client_on(tl_http_port(a), tl_http_port(b), &seen);
    struct scoutlb_connected connected;
    struct scoutlb_call *call = NULL;
    CHECK_STATUS(scoutlb_client_start_connect(client, &call), SCOUTLB_OK);
    tl_drive(call);
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_OK);
    CHECK(seen.planned == 1);
    CHECK_STATUS(scoutlb_client_start_rebalance(client, NULL), SCOUTLB_NULL_ARGUMENT);
    call = NULL;
    CHECK_STATUS(scoutlb_client_start_rebalance(client, &call), SCOUTLB_OK);
    CHECK(call != NULL);
    tl_drive(call);
    CHECK_STATUS(scoutlb_client_finish(client, call, &connected), SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(b));
    CHECK(strcmp(connected.server, want) == 0);
    CHECK(seen.rebalanced == 1 && tl_http_requests(b) == 1);
    /* The plan is spent: no call. */
    call = (struct scoutlb_call *)&seen;
    CHECK_STATUS(scoutlb_client_start_rebalance(client, &call), SCOUTLB_OK);
    CHECK(call == NULL);
    scoutlb_client_free(client);
    tl_http_stop(a);
    tl_http_stop(b);
}

/* A server marked draining (a drain that keeps its devices): with even loads its device still
 * plans the move away, and makes it. */
static void test_a_server_marked_draining_is_left(void) {
    struct tl_http_server *a = tl_http_start(TL_SERVE, 200, ""), *b = tl_http_start(TL_SERVE, 200, "");
    char body[512], want[64];
    snprintf(body, sizeof body,
             "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"a\", \"load\": 5, \"draining\": true}, "
             "{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\", \"load\": 5}], \"self\": \"a\"}",
             tl_http_port(a), tl_http_port(b));
    CHECK(tl_http_set_body(a, body));
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\"}], \"self\": \"b\"}",
             tl_http_port(b));
    CHECK(tl_http_set_body(b, body));
    struct seen seen = {0, 0, 0};
    struct scoutlb_client *client = client_on(tl_http_port(a), tl_http_port(b), &seen);
    struct scoutlb_connected connected;
    struct scoutlb_rebalance_plan plan;
    bool planned = false, moved = false;
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_rebalance_plan(client, &plan, &planned), SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(b));
    CHECK(planned && strcmp(plan.to, want) == 0);
    CHECK_STATUS(scoutlb_client_rebalance(client, &connected, &moved), SCOUTLB_OK);
    CHECK(moved && strcmp(connected.server, want) == 0);
    /* A mark that is not true or false refuses the list. */
    const char *bad = "{\"servers\": [{\"host\": \"a\", \"port\": 1, \"draining\": 1}]}";
    CHECK_STATUS(scoutlb_client_update_server_list(client, (const uint8_t *)bad, strlen(bad), NULL),
                 SCOUTLB_INVALID_SERVER_LIST);
    char *message = tl_last_error();
    CHECK(tl_contains(message, "`draining` is not true or false"));
    free(message);
    scoutlb_client_free(client);
    tl_http_stop(a);
    tl_http_stop(b);
}

static void test_a_failed_move_is_reported(void) {
    struct tl_http_server *a = tl_http_start(TL_SERVE, 200, "");
    uint16_t gone = tl_refused_port();
    char body[512];
    snprintf(body, sizeof body,
             "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"a\", \"load\": 10}, "
             "{\"host\": \"127.0.0.1\", \"port\": %u, \"id\": \"b\", \"load\": 0, \"weight\": 1000000}], \"self\": \"a\"}",
             tl_http_port(a), gone);
    CHECK(tl_http_set_body(a, body));
    struct seen seen = {0, 0, 0};
    struct scoutlb_client *client = client_on(tl_http_port(a), gone, &seen);
    struct scoutlb_connected connected;
    bool moved = true;
    CHECK_STATUS(scoutlb_client_connect(client, &connected), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_rebalance(client, &connected, &moved), SCOUTLB_ALL_FAILED);
    CHECK(!moved && seen.failed == 1 && seen.rebalanced == 0);
    char server[64], want[64];
    size_t len = 0;
    CHECK_STATUS(scoutlb_client_default_server(client, server, sizeof server, &len), SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(a));
    CHECK(strcmp(server, want) == 0);
    scoutlb_client_free(client);
    tl_http_stop(a);
}

static void test_bad_keys_and_arguments(void) {
    struct scoutlb_config *config = NULL;
    CHECK_STATUS(scoutlb_config_new("{}", &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_config_set_bool(config, "rebalance.nope", true), SCOUTLB_CONFIG);
    char *message = tl_last_error();
    CHECK(message != NULL && tl_contains(message, "rebalance.window_ms"));
    free(message);
    CHECK_STATUS(scoutlb_config_set_bool(config, "rebalance.window_ms", true), SCOUTLB_CONFIG);
    CHECK_STATUS(scoutlb_config_set_bool(config, "retry.base_ms", true), SCOUTLB_CONFIG);
    CHECK_STATUS(scoutlb_config_set_bool(NULL, "rebalance.enabled", true), SCOUTLB_NULL_ARGUMENT);
    scoutlb_config_free(config);
    struct scoutlb_rebalance_plan plan;
    bool planned = false;
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_rebalance_plan(NULL, &plan, &planned), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_rebalance(NULL, &connected, &planned), SCOUTLB_NULL_ARGUMENT);
    struct scoutlb_client *client = tl_client("{\"servers\": [\"127.0.0.1:1\"]}");
    CHECK_STATUS(scoutlb_client_rebalance_plan(client, NULL, &planned), SCOUTLB_NULL_ARGUMENT);
    CHECK_STATUS(scoutlb_client_rebalance(client, &connected, NULL), SCOUTLB_NULL_ARGUMENT);
    scoutlb_client_free(client);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_a_planned_move_is_made();
    test_a_planned_move_on_the_loop();
    test_a_server_marked_draining_is_left();
    test_a_failed_move_is_reported();
    test_bad_keys_and_arguments();
    return tl_finish();
}
