/* Helpers of the C tests: see testlib.h. */
#define _POSIX_C_SOURCE 200809L

#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "scoutlb.h"

/* ---- checks ---------------------------------------------------------------------------------- */

int tl_passed = 0;
int tl_failed = 0;
static pthread_mutex_t tl_lock = PTHREAD_MUTEX_INITIALIZER;

void tl_check(int ok, const char *file, int line, const char *what) {
    pthread_mutex_lock(&tl_lock);
    if (ok) {
        tl_passed++;
    } else {
        tl_failed++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
    }
    pthread_mutex_unlock(&tl_lock);
}

struct scoutlb_client *tl_client(const char *json) {
    struct scoutlb_config *config = NULL;
    struct scoutlb_client *client = NULL;
    CHECK_STATUS(scoutlb_config_new(json, &config), SCOUTLB_OK);
    CHECK_STATUS(scoutlb_client_new(config, &client), SCOUTLB_OK);
    scoutlb_config_free(config);
    return client;
}

char *tl_last_error(void) {
    /* Ask for the size first, then copy: the message survives the first call. */
    size_t len = 0;
    char *message;
    if (scoutlb_last_error_message(NULL, 0, &len) != SCOUTLB_BUFFER_TOO_SMALL || len == 0) {
        return NULL;
    }
    message = malloc(len);
    if (message != NULL && scoutlb_last_error_message(message, len, &len) != SCOUTLB_OK) {
        free(message);
        message = NULL;
    }
    return message;
}

void tl_check_status(uint32_t got, uint32_t want, const char *file, int line, const char *what) {
    int ok = got == want;
    if (!ok) {
        char *message = tl_last_error();
        pthread_mutex_lock(&tl_lock);
        fprintf(stderr, "FAIL %s:%d: %s returned %s, expected %s (last error: %s)\n", file, line, what,
                scoutlb_status_name(got), scoutlb_status_name(want), message ? message : "?");
        tl_failed++;
        pthread_mutex_unlock(&tl_lock);
        free(message);
        return;
    }
    tl_check(1, file, line, what);
}

int tl_finish(void) {
    printf("%d passed, %d failed\n", tl_passed, tl_failed);
    return tl_failed == 0 ? 0 : 1;
}

int tl_contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

int tl_count_lines(const char *text) {
    int n = 0;
    for (; *text; text++) {
        n += *text == '\n';
    }
    return n;
}

/* ---- JSON reader ----------------------------------------------------------------------------- */

struct tl_parser {
    const char *p;
    int depth;
};

static void skip_ws(struct tl_parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t') {
        ps->p++;
    }
}

static struct tl_json *new_value(enum tl_json_type type) {
    struct tl_json *v = calloc(1, sizeof *v);
    if (v != NULL) {
        v->type = type;
    }
    return v;
}

static char *parse_string(struct tl_parser *ps) {
    /* The vectors hold plain ASCII: escapes other than \" \\ \/ \n \t are refused. */
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    if (out == NULL || *ps->p != '"') {
        free(out);
        return NULL;
    }
    ps->p++;
    while (*ps->p != '"') {
        char c = *ps->p++;
        if (c == '\0') {
            free(out);
            return NULL;
        }
        if (c == '\\') {
            char e = *ps->p++;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : (e == '"' || e == '\\' || e == '/') ? e : '\0';
            if (c == '\0') {
                free(out);
                return NULL;
            }
        }
        if (n + 1 >= cap) {
            char *bigger = realloc(out, cap *= 2);
            if (bigger == NULL) {
                free(out);
                return NULL;
            }
            out = bigger;
        }
        out[n++] = c;
    }
    ps->p++;
    out[n] = '\0';
    return out;
}

static struct tl_json *parse_value(struct tl_parser *ps);

static int push_item(struct tl_json *v, struct tl_json *item, char *key) {
    struct tl_json **items = realloc(v->items, (v->count + 1) * sizeof *items);
    if (items == NULL) {
        return 0;
    }
    v->items = items;
    if (v->type == TL_JSON_OBJECT) {
        char **keys = realloc(v->keys, (v->count + 1) * sizeof *keys);
        if (keys == NULL) {
            return 0;
        }
        v->keys = keys;
        v->keys[v->count] = key;
    }
    v->items[v->count++] = item;
    return 1;
}

static struct tl_json *parse_container(struct tl_parser *ps, enum tl_json_type type) {
    char close = type == TL_JSON_ARRAY ? ']' : '}';
    struct tl_json *v = new_value(type);
    if (v == NULL || ++ps->depth > 64) {
        free(v);
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (*ps->p == close) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        struct tl_json *item;
        skip_ws(ps);
        if (type == TL_JSON_OBJECT) {
            key = parse_string(ps);
            skip_ws(ps);
            if (key == NULL || *ps->p != ':') {
                free(key);
                tl_json_free(v);
                return NULL;
            }
            ps->p++;
        }
        item = parse_value(ps);
        if (item == NULL || !push_item(v, item, key)) {
            free(key);
            tl_json_free(item);
            tl_json_free(v);
            return NULL;
        }
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            ps->depth--;
            return v;
        }
        tl_json_free(v);
        return NULL;
    }
}

static struct tl_json *parse_value(struct tl_parser *ps) {
    struct tl_json *v;
    skip_ws(ps);
    switch (*ps->p) {
    case '{':
        return parse_container(ps, TL_JSON_OBJECT);
    case '[':
        return parse_container(ps, TL_JSON_ARRAY);
    case '"':
        v = new_value(TL_JSON_STRING);
        if (v != NULL && (v->string = parse_string(ps)) == NULL) {
            free(v);
            v = NULL;
        }
        return v;
    case 'n':
        if (strncmp(ps->p, "null", 4) != 0) {
            return NULL;
        }
        ps->p += 4;
        return new_value(TL_JSON_NULL);
    case 't':
    case 'f': {
        int t = *ps->p == 't';
        if (strncmp(ps->p, t ? "true" : "false", t ? 4 : 5) != 0) {
            return NULL;
        }
        ps->p += t ? 4 : 5;
        v = new_value(TL_JSON_BOOL);
        if (v != NULL) {
            v->boolean = t;
        }
        return v;
    }
    default: {
        char *end = NULL;
        double d = strtod(ps->p, &end);
        if (end == ps->p) {
            return NULL;
        }
        ps->p = end;
        v = new_value(TL_JSON_NUMBER);
        if (v != NULL) {
            v->number = d;
        }
        return v;
    }
    }
}

struct tl_json *tl_json_parse(const char *text) {
    struct tl_parser ps;
    struct tl_json *v;
    ps.p = text;
    ps.depth = 0;
    v = parse_value(&ps);
    skip_ws(&ps);
    if (v != NULL && *ps.p != '\0') {
        tl_json_free(v);
        return NULL;
    }
    return v;
}

void tl_json_free(struct tl_json *v) {
    size_t i;
    if (v == NULL) {
        return;
    }
    for (i = 0; i < v->count; i++) {
        tl_json_free(v->items[i]);
        if (v->keys != NULL) {
            free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

const struct tl_json *tl_json_get(const struct tl_json *object, const char *key) {
    size_t i;
    if (object == NULL || object->type != TL_JSON_OBJECT) {
        return NULL;
    }
    for (i = 0; i < object->count; i++) {
        if (strcmp(object->keys[i], key) == 0) {
            return object->items[i];
        }
    }
    return NULL;
}

char *tl_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        } else if (buf != NULL) {
            buf[size] = '\0';
        }
    }
    fclose(f);
    return buf;
}

struct tl_json *tl_read_vectors(const char *dir, const char *name) {
    char file[1024];
    char *text;
    struct tl_json *doc;
    snprintf(file, sizeof file, "%s/%s", dir, name);
    text = tl_read_file(file);
    doc = text ? tl_json_parse(text) : NULL;
    free(text);
    return doc;
}

/* ---- loopback HTTP server -------------------------------------------------------------------- */

struct tl_http_server {
    int fd;
    uint16_t port;
    enum tl_server_mode mode;
    int status;
    char *body;
    pthread_t thread;
    pthread_mutex_t lock;
    int stop;
    int requests;
};

static int stopping(struct tl_http_server *s) {
    int stop;
    pthread_mutex_lock(&s->lock);
    stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static void answer(struct tl_http_server *s, int conn) {
    char request[2048];
    size_t got = 0;
    char head[256];
    char *body;
    size_t body_len;
    pthread_mutex_lock(&s->lock);
    body_len = strlen(s->body);
    body = malloc(body_len + 1);
    if (body != NULL) {
        memcpy(body, s->body, body_len + 1);
    }
    pthread_mutex_unlock(&s->lock);
    if (body == NULL) {
        return;
    }
    request[0] = '\0';
    /* Read the request head (bounded: 2 s, 2 KiB). */
    while (got < sizeof request - 1 && strstr(request, "\r\n\r\n") == NULL) {
        struct pollfd pfd;
        ssize_t n;
        pfd.fd = conn;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 2000) <= 0) {
            free(body);
            return;
        }
        n = recv(conn, request + got, sizeof request - 1 - got, 0);
        if (n <= 0) {
            free(body);
            return;
        }
        got += (size_t)n;
        request[got] = '\0';
    }
    snprintf(head, sizeof head,
             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             s->status, s->status == 200 ? "OK" : "Error", body_len);
    /* Count the request before answering it: a client that has its answer must see it counted. */
    pthread_mutex_lock(&s->lock);
    s->requests++;
    pthread_mutex_unlock(&s->lock);
    (void)(send(conn, head, strlen(head), MSG_NOSIGNAL) >= 0 && send(conn, body, body_len, MSG_NOSIGNAL) >= 0);
    free(body);
}

static void *serve(void *arg) {
    struct tl_http_server *s = arg;
    while (!stopping(s)) {
        struct pollfd pfd;
        int conn;
        if (s->mode == TL_SILENT) {
            struct timespec pause;
            pause.tv_sec = 0;
            pause.tv_nsec = 20000000;
            nanosleep(&pause, NULL);
            continue;
        }
        pfd.fd = s->fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 50) <= 0) {
            continue;
        }
        conn = accept(s->fd, NULL, NULL);
        if (conn < 0) {
            continue;
        }
        answer(s, conn);
        close(conn);
    }
    return NULL;
}

static int listen_loopback(uint16_t *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    /* Child processes (the agent under test) must not inherit the listening socket. */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

struct tl_http_server *tl_http_start(enum tl_server_mode mode, int status, const char *body) {
    struct tl_http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->mode = mode;
    s->status = status;
    s->body = malloc(strlen(body) + 1);
    if (s->body == NULL || (s->fd = listen_loopback(&s->port)) < 0) {
        free(s->body);
        free(s);
        return NULL;
    }
    strcpy(s->body, body);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, serve, s) != 0) {
        close(s->fd);
        pthread_mutex_destroy(&s->lock);
        free(s->body);
        free(s);
        return NULL;
    }
    return s;
}

int tl_http_set_body(struct tl_http_server *s, const char *body) {
    char *copy = malloc(strlen(body) + 1);
    if (copy == NULL) {
        return 0;
    }
    strcpy(copy, body);
    pthread_mutex_lock(&s->lock);
    free(s->body);
    s->body = copy;
    pthread_mutex_unlock(&s->lock);
    return 1;
}

uint16_t tl_http_port(const struct tl_http_server *server) {
    return server->port;
}

int tl_http_requests(struct tl_http_server *s) {
    int n;
    pthread_mutex_lock(&s->lock);
    n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void tl_http_stop(struct tl_http_server *s) {
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
    free(s->body);
    free(s);
}

uint16_t tl_refused_port(void) {
    uint16_t port = 0;
    int fd = listen_loopback(&port);
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* ---- JSON writer ----------------------------------------------------------------------------- */

struct tl_out {
    char *buf;
    size_t len, cap;
    int failed;
};

static void out_put(struct tl_out *o, const char *text, size_t n) {
    if (o->failed) {
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *bigger = realloc(o->buf, cap);
        if (bigger == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = bigger;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, text, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_string(struct tl_out *o, const char *s) {
    out_put(o, "\"", 1);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\') {
            out_put(o, "\\", 1);
        }
        out_put(o, s, 1);
    }
    out_put(o, "\"", 1);
}

static void out_value(struct tl_out *o, const struct tl_json *v) {
    char number[64];
    size_t i;
    switch (v->type) {
    case TL_JSON_NULL:
        out_put(o, "null", 4);
        break;
    case TL_JSON_BOOL:
        out_put(o, v->boolean ? "true" : "false", v->boolean ? 4 : 5);
        break;
    case TL_JSON_NUMBER:
        snprintf(number, sizeof number, "%.17g", v->number);
        out_put(o, number, strlen(number));
        break;
    case TL_JSON_STRING:
        out_string(o, v->string);
        break;
    case TL_JSON_ARRAY:
    case TL_JSON_OBJECT:
        out_put(o, v->type == TL_JSON_ARRAY ? "[" : "{", 1);
        for (i = 0; i < v->count; i++) {
            if (i > 0) {
                out_put(o, ",", 1);
            }
            if (v->type == TL_JSON_OBJECT) {
                out_string(o, v->keys[i]);
                out_put(o, ":", 1);
            }
            out_value(o, v->items[i]);
        }
        out_put(o, v->type == TL_JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}

char *tl_json_write(const struct tl_json *value) {
    struct tl_out o = {NULL, 0, 0, 0};
    out_put(&o, "", 0);
    out_value(&o, value);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

#define TL_MAX_WATCHES 16

int tl_drive(struct scoutlb_call *call) {
    int wakes = 0;
    while (!scoutlb_call_is_done(call) && wakes < 100000) {
        struct scoutlb_watch watches[TL_MAX_WATCHES];
        struct pollfd fds[TL_MAX_WATCHES];
        size_t count = 0;
        CHECK_STATUS(scoutlb_call_watches(call, watches, TL_MAX_WATCHES, &count), SCOUTLB_OK);
        CHECK(count <= TL_MAX_WATCHES);
        for (size_t i = 0; i < count && i < TL_MAX_WATCHES; i++) {
            fds[i].fd = watches[i].fd;
            fds[i].events = (short)((watches[i].events & SCOUTLB_WATCH_READ) ? POLLIN : POLLOUT);
            fds[i].revents = 0;
        }
        int64_t timeout = scoutlb_call_timeout_ms(call);
        CHECK(timeout >= 0);
        (void)poll(fds, (nfds_t)count, (int)(timeout > 60000 ? 60000 : timeout));
        wakes++;
        CHECK_STATUS(scoutlb_call_process(call), SCOUTLB_OK);
    }
    return wakes;
}
