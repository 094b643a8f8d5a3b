/* End-to-end check of examples/c/agent: two loopback servers, the agent connects to the first,
 * the first dies, "lost" on the agent's stdin makes it fail over to the second.
 * Usage: agent_check PATH/TO/agent */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scoutlb.h"
#include "testlib.h"

/** Read the agent's output until it contains `want` or 10 s pass; the text is kept in `out`. */
static int read_until(int fd, char *out, size_t size, const char *want) {
    size_t used = strlen(out);
    int waited = 0;
    while (!tl_contains(out, want) && used + 1 < size && waited < 10000) {
        struct pollfd pfd;
        ssize_t n;
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 100) <= 0) {
            waited += 100;
            continue;
        }
        n = read(fd, out + used, size - 1 - used);
        if (n <= 0) {
            break;
        }
        used += (size_t)n;
        out[used] = '\0';
    }
    return tl_contains(out, want);
}

int main(int argc, char **argv) {
    struct tl_http_server *b = tl_http_start(TL_SERVE, 200, ""), *c = tl_http_start(TL_SERVE, 200, "");
    uint16_t refused = tl_refused_port();
    char dir[] = "/tmp/scoutlb-agent-XXXXXX", path[128], body[512], want[128], out[8192] = "";
    int to_agent[2], from_agent[2], status = 0;
    FILE *f;
    pid_t pid;

    if (argc != 2 || b == NULL || c == NULL || mkdtemp(dir) == NULL || pipe(to_agent) != 0 || pipe(from_agent) != 0) {
        fprintf(stderr, "usage: agent_check AGENT (and loopback servers, a temp dir, pipes)\n");
        return 2;
    }
    snprintf(body, sizeof body,
             "{\"servers\": [{\"host\": \"127.0.0.1\", \"port\": %u}, {\"host\": \"127.0.0.1\", \"port\": %u}]}",
             tl_http_port(b), tl_http_port(c));
    tl_http_set_body(b, body);
    tl_http_set_body(c, body);
    snprintf(path, sizeof path, "%s/agent.json", dir);
    f = fopen(path, "w");
    if (f == NULL) {
        return 2;
    }
    fprintf(f, "{\"servers\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], \"attempt_delay_ms\": 0, \"state_file\": \"%s/state.json\"}\n",
            refused, tl_http_port(b), dir);
    fclose(f);

    pid = fork();
    if (pid == 0) {
        dup2(to_agent[0], 0);
        dup2(from_agent[1], 1);
        close(to_agent[1]);
        close(from_agent[0]);
        execl(argv[1], argv[1], path, "--stdin", (char *)NULL);
        _exit(127);
    }
    close(to_agent[0]);
    close(from_agent[1]);

    snprintf(want, sizeof want, "connected to 127.0.0.1:%u (1 failed", tl_http_port(b));
    CHECK(read_until(from_agent[0], out, sizeof out, want));
    snprintf(want, sizeof want, "  127.0.0.1:%u\n  127.0.0.1:%u\n", tl_http_port(b), tl_http_port(c));
    CHECK(read_until(from_agent[0], out, sizeof out, want));

    snprintf(want, sizeof want, "connected to 127.0.0.1:%u (1 failed", tl_http_port(c));
    tl_http_stop(b);
    CHECK(write(to_agent[1], "lost\n", 5) == 5);
    CHECK(read_until(from_agent[0], out, sizeof out, want));
    CHECK(write(to_agent[1], "quit\n", 5) == 5);
    close(to_agent[1]);
    if (waitpid(pid, &status, 0) != pid) {
        kill(pid, SIGKILL);
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(from_agent[0]);
    tl_http_stop(c);
    printf("--- agent output ---\n%s--------------------\n", out);
    {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    return tl_finish();
}
