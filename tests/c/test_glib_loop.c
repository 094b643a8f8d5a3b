/* The event-loop driver on a GLib main loop (behaviour.md, "Event loops"), through the GSource of
 * examples/c/scoutlb_glib.c: a connect past a refused server, a timeout that only the source's
 * ready time can end while the loop keeps running, a source destroyed mid-call (the call is
 * cancelled and freed), and many calls on one context. The loopback servers of testlib run on
 * their own threads; the device side runs on the loop's. Argument: tests/vectors (unused). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scoutlb_glib.h"
#include "testlib.h"

#define MANY 20

struct outcome {
    struct scoutlb_client *client;
    int decided; /* done() ran */
    scoutlb_status status;
    char server[64];
    unsigned failed;
    int *left; /* calls not decided yet; the loop quits at 0 */
    GMainLoop *loop;
};

static void done(struct scoutlb_call *call, gpointer user_data) {
    struct outcome *o = user_data;
    struct scoutlb_connected connected;
    o->decided = 1;
    o->status = scoutlb_client_finish(o->client, call, &connected);
    if (o->status == SCOUTLB_OK) {
        g_snprintf(o->server, sizeof o->server, "%s", connected.server);
        o->failed = connected.failed_attempts;
    }
    if (--*o->left == 0) {
        g_main_loop_quit(o->loop);
    }
}

/* Start a connect of `o->client` on `loop`; the source returned is borrowed (the context owns it). */
static GSource *start(struct outcome *o, GMainLoop *loop, int *left) {
    struct scoutlb_call *call = NULL;
    o->loop = loop;
    o->left = left;
    o->decided = 0;
    CHECK_STATUS(scoutlb_client_start_connect(o->client, &call), SCOUTLB_OK);
    GSource *source = scoutlb_glib_call_source_new(call, done, o, NULL);
    g_source_attach(source, g_main_loop_get_context(loop));
    g_source_unref(source);
    return source;
}

/* A live server whose list is itself. */
static struct tl_http_server *live_server(void) {
    struct tl_http_server *live = tl_http_start(TL_SERVE, 200, "");
    char body[256];
    snprintf(body, sizeof body, "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u}]}", tl_http_port(live));
    CHECK(tl_http_set_body(live, body));
    return live;
}

static gboolean tick(gpointer user_data) {
    (*(int *)user_data)++;
    return G_SOURCE_CONTINUE;
}

static gboolean give_up(gpointer user_data) {
    g_main_loop_quit(user_data);
    return G_SOURCE_REMOVE;
}

/* Run `loop` until it quits, at most 20 s. */
static void run(GMainLoop *loop) {
    guint guard = g_timeout_add_seconds(20, give_up, loop);
    g_main_loop_run(loop);
    g_source_remove(guard);
}

static void test_a_refused_server_then_a_live_one(void) {
    struct tl_http_server *live = live_server();
    char json[256], want[64];
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}", tl_refused_port(),
             tl_http_port(live));
    struct outcome o = {tl_client(json), 0, SCOUTLB_OK, "", 0, NULL, NULL};
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    int left = 1;
    start(&o, loop, &left);
    run(loop);
    CHECK(o.decided);
    CHECK_STATUS(o.status, SCOUTLB_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(live));
    CHECK(strcmp(o.server, want) == 0 && o.failed == 1);
    CHECK(tl_http_requests(live) == 1);
    g_main_loop_unref(loop);
    scoutlb_client_free(o.client);
    tl_http_stop(live);
}

static void test_a_silent_server_times_out_while_the_loop_runs(void) {
    struct tl_http_server *silent = tl_http_start(TL_SILENT, 200, "");
    char json[256];
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\"], \"connect_timeout_ms\": 400}", tl_http_port(silent));
    struct outcome o = {tl_client(json), 0, SCOUTLB_OK, "", 0, NULL, NULL};
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    int left = 1, ticks = 0;
    guint ticker = g_timeout_add(10, tick, &ticks);
    gint64 began = g_get_monotonic_time();
    start(&o, loop, &left);
    run(loop);
    gint64 took_ms = (g_get_monotonic_time() - began) / 1000;
    g_source_remove(ticker);
    CHECK(o.decided);
    CHECK_STATUS(o.status, SCOUTLB_ALL_FAILED);
    char *message = tl_last_error();
    CHECK(message != NULL && tl_contains(message, "timed out"));

    free(message);
    /* Ended by the timeout (not the 20 s guard), and the loop served its other sources meanwhile. */
    CHECK(took_ms >= 350 && took_ms < 10000);
    CHECK(ticks >= 5);
    g_main_loop_unref(loop);
    scoutlb_client_free(o.client);
    tl_http_stop(silent);
}

static void test_destroying_the_source_cancels_the_call(void) {
    struct tl_http_server *silent = tl_http_start(TL_SILENT, 200, "");
    struct tl_http_server *live = live_server();
    char json[256];
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"connect_timeout_ms\": 20000, "
             "\"attempt_delay_ms\": 60000}", tl_http_port(silent), tl_http_port(live));
    struct outcome o = {tl_client(json), 0, SCOUTLB_OK, "", 0, NULL, NULL};
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    int left = 1;
    GSource *source = start(&o, loop, &left);
    g_timeout_add(100, give_up, loop);
    g_main_loop_run(loop);
    CHECK(!o.decided); /* done() did not run */
    g_source_destroy(source); /* frees the call, cancelled (ASan and Valgrind see it freed) */
    CHECK(!o.decided && tl_http_requests(live) == 0);
    /* The client goes on: a new call starts, and finishing it unfinished cancels it. */
    struct scoutlb_call *call = NULL;
    struct scoutlb_connected connected;
    CHECK_STATUS(scoutlb_client_start_connect(o.client, &call), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_finish(o.client, call, &connected), SCOUTLB_CANCELLED);
    g_main_loop_unref(loop);
    scoutlb_client_free(o.client);
    tl_http_stop(silent);
    tl_http_stop(live);
}

static void test_many_calls_on_one_context(void) {
    struct tl_http_server *live = live_server();
    char json[256], want[64];
    snprintf(json, sizeof json, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}", tl_refused_port(),
             tl_http_port(live));
    snprintf(want, sizeof want, "127.0.0.1:%u", tl_http_port(live));
    struct outcome o[MANY];
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    int left = MANY;
    for (int i = 0; i < MANY; i++) {
        o[i].client = tl_client(json);
        start(&o[i], loop, &left);
    }
    run(loop);
    CHECK(left == 0);
    for (int i = 0; i < MANY; i++) {
        CHECK(o[i].decided);
        CHECK_STATUS(o[i].status, SCOUTLB_OK);
        CHECK(strcmp(o[i].server, want) == 0);
        scoutlb_client_free(o[i].client);
    }
    CHECK(tl_http_requests(live) == MANY);
    g_main_loop_unref(loop);
    tl_http_stop(live);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_a_refused_server_then_a_live_one();
    test_a_silent_server_times_out_while_the_loop_runs();
    test_destroying_the_source_cancels_the_call();
    test_many_calls_on_one_context();
    return tl_finish();
}
