/* Helpers of the C tests: checks with a pass/fail count, a tiny JSON reader, a loopback HTTP server. */
#ifndef SCOUTLB_TESTLIB_H
#define SCOUTLB_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

/* ---- checks ---------------------------------------------------------------------------------- */

extern int tl_passed;
extern int tl_failed;

/** Count one check; print it when it fails. */
void tl_check(int ok, const char *file, int line, const char *what);

#define CHECK(cond) tl_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond)
/** Check a status code and print the library's last error when it differs. */
#define CHECK_STATUS(call, want) tl_check_status((call), (want), __FILE__, __LINE__, #call)
void tl_check_status(uint32_t got, uint32_t want, const char *file, int line, const char *what);

/** Print "N passed, N failed" and return the process exit code. */
int tl_finish(void);

struct scoutlb_client;

/** A client of JSON configuration text (no callbacks); NULL (and a failed check) when it fails. */
struct scoutlb_client *tl_client(const char *json);

/** A malloc'd copy of this thread's last error message of the library (free it), or NULL. */
char *tl_last_error(void);

/** Whether `haystack` contains `needle`. */
int tl_contains(const char *haystack, const char *needle);

/** Number of lines of a newline-terminated list. */
int tl_count_lines(const char *text);

/* ---- JSON reader ----------------------------------------------------------------------------- */

enum tl_json_type { TL_JSON_NULL, TL_JSON_BOOL, TL_JSON_NUMBER, TL_JSON_STRING, TL_JSON_ARRAY, TL_JSON_OBJECT };

/** A parsed JSON value; arrays and objects own their children. */
struct tl_json {
    enum tl_json_type type;
    int boolean;
    double number;
    char *string;           /* TL_JSON_STRING */
    size_t count;           /* items of an array or object */
    struct tl_json **items; /* array items / object values */
    char **keys;            /* object keys */
};

/** Parse `text`; NULL when it is not valid JSON. Free with tl_json_free. */
struct tl_json *tl_json_parse(const char *text);
void tl_json_free(struct tl_json *value);
/** The member `key` of an object, or NULL. */
const struct tl_json *tl_json_get(const struct tl_json *object, const char *key);
/** Write `value` as JSON text into a malloc'd NUL-terminated buffer, or NULL. */
char *tl_json_write(const struct tl_json *value);
/** Read a whole file into a NUL-terminated malloc'd buffer, or NULL. */
char *tl_read_file(const char *path);
/** Parse the vector file `dir/name` (tests/vectors/); NULL when it cannot be read or parsed. */
struct tl_json *tl_read_vectors(const char *dir, const char *name);

/* ---- loopback HTTP server -------------------------------------------------------------------- */

enum tl_server_mode {
    TL_SERVE,  /* answer every request with status and body */
    TL_SILENT  /* listen but never accept: connections hang until the client gives up */
};

/** A tiny HTTP server on 127.0.0.1 run by one thread, for the connect tests. */
struct tl_http_server;

/** Start a server on a free loopback port; body is copied. NULL on failure. */
struct tl_http_server *tl_http_start(enum tl_server_mode mode, int status, const char *body);
/** Replace the body it answers with (copied); 0 when out of memory. */
int tl_http_set_body(struct tl_http_server *server, const char *body);
/** The port it listens on. */
uint16_t tl_http_port(const struct tl_http_server *server);
/** How many requests it answered. */
int tl_http_requests(struct tl_http_server *server);
/** Stop the server, join its thread and free it; NULL does nothing. */
void tl_http_stop(struct tl_http_server *server);
/** A loopback port nobody listens on (bound and closed), so connections are refused. */
uint16_t tl_refused_port(void);

struct scoutlb_call;
/** An agent's poll(2) loop: watch the call's sockets until its timeout, then process, until the
 * call is done; returns the wakes. */
int tl_drive(struct scoutlb_call *call);

#endif
