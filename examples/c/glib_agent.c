/* A device agent on a GLib main loop: the scoutlb calls run on the loop (scoutlb_glib.h), so the
 * loop keeps serving everything else while a server is tried; no thread is started for them.
 *
 *   glib_agent CONFIG.json            connect, print, exit
 *   glib_agent CONFIG.json --stdin    ... then read commands from stdin on the same loop:
 *                                     "lost" (fail over), "list" (print the list), "quit"
 *
 * Prints what examples/c/agent prints (tests/c/agent_check.c checks both). Events go to stderr.
 * Build: make glib_agent (pkg-config scoutlb and glib-2.0), see the Makefile.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "scoutlb_glib.h"

struct agent {
    GMainLoop *loop;
    struct scoutlb_client *client;
    GIOChannel *in;      /* stdin with --stdin, else NULL */
    GSource *running;    /* the source of the call running (the context's reference), or NULL */
    gboolean listed;     /* the list was printed after the first connect */
    int ok;
};

static gboolean on_stdin(GIOChannel *channel, GIOCondition condition, gpointer user_data);

/** Print the library's last error message after a failed call named `what`. */
static void report(const char *what, scoutlb_status status) {
    char message[2048];
    size_t len = 0;
    if (scoutlb_last_error_message(message, sizeof message, &len) != SCOUTLB_OK) {
        g_snprintf(message, sizeof message, "(message of %zu bytes)", len);
    }
    fprintf(stderr, "glib_agent: %s failed: %s: %s\n", what, scoutlb_status_name(status), message);
}

/** Log one event of the library (on the loop's thread: the call's process runs there). */
static void log_event(void *user_data, const struct scoutlb_event *event) {
    (void)user_data;
    fprintf(stderr, "scoutlb: %s\n", event->message);
}

/** Print the cached server list, one server per line. */
static void print_list(struct agent *agent) {
    size_t len = 0;
    char *text = NULL;
    scoutlb_status status = scoutlb_client_server_list(agent->client, NULL, 0, &len);
    if (status == SCOUTLB_BUFFER_TOO_SMALL) {
        text = g_malloc(len);
        status = scoutlb_client_server_list(agent->client, text, len, &len);
    }
    if (status != SCOUTLB_OK) {
        report("reading the server list", status);
        agent->ok = 0;
    } else {
        gchar **lines = g_strsplit(text, "\n", -1);
        printf("server list:\n");
        for (gchar **line = lines; *line != NULL; line++) {
            if (**line != '\0') {
                printf("  %s\n", *line);
            }
        }
        g_strfreev(lines);
    }
    g_free(text);
    fflush(stdout);
}

/** A connect or reconnect call is decided: finish it and say where the agent is. */
static void call_done(struct scoutlb_call *call, gpointer user_data) {
    struct agent *agent = user_data;
    struct scoutlb_connected connected;
    scoutlb_status status = scoutlb_client_finish(agent->client, call, &connected);
    agent->running = NULL;
    if (status != SCOUTLB_OK) {
        report("connecting", status);
        agent->ok = 0;
        g_main_loop_quit(agent->loop);
        return;
    }
    printf("connected to %s%s (%u failed attempt(s) before)\n", connected.server,
           connected.via_balancer ? " via the ManagerLoadBalancer" : "", connected.failed_attempts);
    fflush(stdout);
    if (!agent->listed) {
        agent->listed = TRUE;
        print_list(agent);
    }
    if (agent->in == NULL) {
        g_main_loop_quit(agent->loop);
    } else {
        /* Commands are read between calls only. */
        g_io_add_watch(agent->in, G_IO_IN | G_IO_HUP, on_stdin, agent);
    }
}

/** Start a connect (or, after a lost connection, a reconnect) on the loop. */
static void start(struct agent *agent, gboolean reconnect) {
    struct scoutlb_call *call = NULL;
    scoutlb_status status = reconnect ? scoutlb_client_start_reconnect(agent->client, &call)
                                      : scoutlb_client_start_connect(agent->client, &call);
    if (status != SCOUTLB_OK) {
        report("starting a connect", status);
        agent->ok = 0;
        g_main_loop_quit(agent->loop);
        return;
    }
    agent->running = scoutlb_glib_call_source_new(call, call_done, agent, NULL);
    g_source_attach(agent->running, g_main_loop_get_context(agent->loop));
    g_source_unref(agent->running); /* the context holds it until the call is decided */
}

/** One line of stdin: a command. */
static gboolean on_stdin(GIOChannel *channel, GIOCondition condition, gpointer user_data) {
    struct agent *agent = user_data;
    gchar *line = NULL;
    (void)condition;
    if (g_io_channel_read_line(channel, &line, NULL, NULL, NULL) != G_IO_STATUS_NORMAL) {
        g_main_loop_quit(agent->loop); /* end of input */
        return G_SOURCE_REMOVE;
    }
    g_strchomp(line);
    if (strcmp(line, "lost") == 0) {
        char order[4096];
        size_t len = 0;
        if (scoutlb_client_connection_lost(agent->client, order, sizeof order, &len) == SCOUTLB_OK) {
            g_strdelimit(order, "\n", ' ');
            printf("connection lost; trying in order: %s\n", g_strchomp(order));
        }
        g_free(line);
        start(agent, TRUE);
        return G_SOURCE_REMOVE; /* back when the call is decided */
    } else if (strcmp(line, "list") == 0) {
        print_list(agent);
    } else if (strcmp(line, "quit") == 0) {
        g_free(line);
        g_main_loop_quit(agent->loop);
        return G_SOURCE_REMOVE;
    } else if (line[0] != '\0') {
        fprintf(stderr, "glib_agent: unknown command \"%s\" (lost, list, quit)\n", line);
    }
    g_free(line);
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
    struct agent agent = {NULL, NULL, NULL, NULL, FALSE, 1};
    struct scoutlb_config *config = NULL;
    gchar *json = NULL;
    GError *error = NULL;
    scoutlb_status status;

    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--stdin") != 0)) {
        fprintf(stderr, "usage: %s CONFIG.json [--stdin]\n", argv[0]);
        return 2;
    }
    if (!g_file_get_contents(argv[1], &json, NULL, &error)) {
        fprintf(stderr, "glib_agent: %s\n", error->message);
        g_error_free(error);
        return 1;
    }
    status = scoutlb_config_new(json, &config);
    g_free(json);
    if (status == SCOUTLB_OK) {
        status = scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_INFO, log_event, NULL);
    }
    if (status == SCOUTLB_OK) {
        status = scoutlb_client_new(config, &agent.client);
    }
    scoutlb_config_free(config);
    if (status != SCOUTLB_OK) {
        report("creating the client", status);
        return 1;
    }
    agent.loop = g_main_loop_new(NULL, FALSE);
    if (argc == 3) {
        agent.in = g_io_channel_unix_new(0);
    }
    start(&agent, FALSE);
    g_main_loop_run(agent.loop);
    if (agent.running != NULL) {
        /* Stopped during a call: destroying its source cancels and frees it. */
        g_source_destroy(agent.running);
    }
    if (agent.in != NULL) {
        g_io_channel_unref(agent.in);
    }
    g_main_loop_unref(agent.loop);
    scoutlb_client_free(agent.client);
    return agent.ok ? 0 : 1;
}
