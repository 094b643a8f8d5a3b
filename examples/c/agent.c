/* A small device agent on the scoutlb C API.
 *
 * Reads a JSON configuration file (the configuration keys of docs/behaviour.md), connects to a management server, prints the
 * server it chose and the server list, and fails over when its connection is lost.
 *
 *   agent CONFIG.json            connect, print, exit
 *   agent CONFIG.json --lost     ... then simulate one lost connection and fail over
 *   agent CONFIG.json --stdin    ... then read commands from stdin, one per line:
 *                                 "lost" (fail over), "list" (print the list), "quit"
 *
 * Events (attempts, list updates, default changes) are logged to stderr.
 * Build: make (uses pkg-config scoutlb), see the Makefile.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scoutlb.h>

/** Print the library's last error message after a failed call named `what`. */
static void report(const char *what, scoutlb_status status) {
    char message[2048];
    size_t len = 0;
    if (scoutlb_last_error_message(message, sizeof message, &len) != SCOUTLB_OK) {
        snprintf(message, sizeof message, "(message of %zu bytes)", len);
    }
    fprintf(stderr, "agent: %s failed: %s: %s\n", what, scoutlb_status_name(status), message);
}

/** Log one event of the library (called on the thread of the call that caused it). */
static void log_event(void *user_data, const struct scoutlb_event *event) {
    static const char *levels[] = {"debug", "info", "warning"};
    (void)user_data;
    fprintf(stderr, "scoutlb %s: %s\n", event->severity <= SCOUTLB_SEVERITY_WARNING ? levels[event->severity] : "?",
            event->message);
}

/** Read a whole file into a malloc'd NUL-terminated string. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t used = 0, cap = 0, n;
    if (f == NULL) {
        return NULL;
    }
    do {
        if (cap - used < 4096) {
            char *bigger = realloc(text, cap += 65536);
            if (bigger == NULL) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = bigger;
        }
        n = fread(text + used, 1, cap - used - 1, f);
        used += n;
    } while (n > 0);
    fclose(f);
    text[used] = '\0';
    return text;
}

/** Print the cached server list, growing the buffer when the library asks for more. */
static int print_list(const struct scoutlb_client *client) {
    size_t len = 0;
    char *text = NULL;
    scoutlb_status status = scoutlb_client_server_list(client, NULL, 0, &len);
    if (status == SCOUTLB_BUFFER_TOO_SMALL && (text = malloc(len)) != NULL) {
        status = scoutlb_client_server_list(client, text, len, &len);
    }
    if (status != SCOUTLB_OK) {
        report("reading the server list", status);
        free(text);
        return 0;
    }
    printf("server list:\n");
    {
        char *line = text, *end;
        while ((end = strchr(line, '\n')) != NULL) {
            printf("  %.*s\n", (int)(end - line), line);
            line = end + 1;
        }
    }
    free(text);
    return 1;
}

/** The connection to the current server was lost: show the new order and fail over. */
static int fail_over(const struct scoutlb_client *client) {
    char order[4096];
    size_t len = 0;
    struct scoutlb_connected connected;
    scoutlb_status status = scoutlb_client_connection_lost(client, order, sizeof order, &len);
    if (status == SCOUTLB_OK) {
        printf("connection lost; trying in order: ");
        for (char *p = order; *p; p++) {
            putchar(*p == '\n' ? (p[1] ? ' ' : '\n') : *p);
        }
    }
    status = scoutlb_client_reconnect(client, &connected);
    if (status != SCOUTLB_OK) {
        report("failing over", status);
        return 0;
    }
    printf("connected to %s (%u failed attempt(s) before)\n", connected.server, connected.failed_attempts);
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv) {
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    struct scoutlb_connected connected;
    scoutlb_status status;
    char *json;
    int ok = 1;

    if (argc < 2 || (argc == 3 && strcmp(argv[2], "--lost") != 0 && strcmp(argv[2], "--stdin") != 0) || argc > 3) {
        fprintf(stderr, "usage: %s CONFIG.json [--lost | --stdin]\n", argv[0]);
        return 2;
    }
    if (strcmp(scoutlb_version(), SCOUTLB_VERSION) != 0) {
        fprintf(stderr, "agent: built with scoutlb.h %s but runs with libscoutlb %s\n", SCOUTLB_VERSION,
                scoutlb_version());
    }
    json = read_file(argv[1]);
    if (json == NULL) {
        perror(argv[1]);
        return 1;
    }
    status = scoutlb_config_new(json, &config);
    free(json);
    if (status != SCOUTLB_OK) {
        report("reading the configuration", status);
        return 1;
    }
    status = scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_INFO, log_event, NULL);
    if (status == SCOUTLB_OK) {
        status = scoutlb_client_new(config, &client);
    }
    scoutlb_config_free(config);
    if (status != SCOUTLB_OK) {
        report("creating the client", status);
        return 1;
    }

    status = scoutlb_client_connect(client, &connected);
    if (status != SCOUTLB_OK) {
        report("connecting", status);
        scoutlb_client_free(client);
        return 1;
    }
    printf("connected to %s%s (%u failed attempt(s) before)\n", connected.server,
           connected.via_balancer ? " via the ManagerLoadBalancer" : "", connected.failed_attempts);
    ok = print_list(client);
    fflush(stdout);

    if (ok && argc == 3 && strcmp(argv[2], "--lost") == 0) {
        ok = fail_over(client);
    } else if (ok && argc == 3) {
        char line[256];
        while (fgets(line, sizeof line, stdin) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            if (strcmp(line, "lost") == 0) {
                ok = fail_over(client) && ok;
            } else if (strcmp(line, "list") == 0) {
                ok = print_list(client) && ok;
            } else if (strcmp(line, "quit") == 0) {
                break;
            } else if (line[0] != '\0') {
                fprintf(stderr, "agent: unknown command \"%s\" (lost, list, quit)\n", line);
            }
            fflush(stdout);
        }
    }
    scoutlb_client_free(client);
    return ok ? 0 : 1;
}
