/* See scoutlb_glib.h. */
#include "scoutlb_glib.h"

/* Sockets of one call at once: one per running attempt, far below this. */
#define MAX_WATCHES 64

typedef struct {
    GSource source;
    struct scoutlb_call *call;
    scoutlb_glib_done_fn done;
    gpointer user_data;
    GDestroyNotify notify;
    gpointer tags[MAX_WATCHES];
    size_t tags_used;
} CallSource;

/* Watch what the call asks for now, until its timeout. */
static void rearm(CallSource *s) {
    struct scoutlb_watch watches[MAX_WATCHES];
    size_t count = 0, i;
    int64_t timeout;
    for (i = 0; i < s->tags_used; i++) {
        g_source_remove_unix_fd(&s->source, s->tags[i]);
    }
    s->tags_used = 0;
    if (scoutlb_call_watches(s->call, watches, MAX_WATCHES, &count) != SCOUTLB_OK) {
        count = 0;
    }
    for (i = 0; i < count && i < MAX_WATCHES; i++) {
        GIOCondition cond = G_IO_ERR | G_IO_HUP;
        cond |= (watches[i].events & SCOUTLB_WATCH_READ) ? G_IO_IN : 0;
        cond |= (watches[i].events & SCOUTLB_WATCH_WRITE) ? G_IO_OUT : 0;
        s->tags[s->tags_used++] = g_source_add_unix_fd(&s->source, watches[i].fd, cond);
    }
    timeout = scoutlb_call_timeout_ms(s->call);
    /* More sockets than MAX_WATCHES: wake soon and look again rather than miss one for long. */
    if (count > MAX_WATCHES && timeout > 10) {
        timeout = 10;
    }
    /* g_get_monotonic_time is the clock of a source's ready time; -1 (done) dispatches now. */
    g_source_set_ready_time(&s->source, timeout < 0 ? 0 : g_get_monotonic_time() + timeout * 1000);
}

/* A socket became ready or the ready time came: process, and hand the call over once decided. */
static gboolean dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
    CallSource *s = (CallSource *)source;
    struct scoutlb_call *call = s->call;
    (void)callback;
    (void)user_data;
    if (call == NULL) {
        return G_SOURCE_REMOVE;
    }
    (void)scoutlb_call_process(call);
    if (!scoutlb_call_is_done(call)) {
        rearm(s);
        return G_SOURCE_CONTINUE;
    }
    s->call = NULL;
    s->done(call, s->user_data);
    return G_SOURCE_REMOVE;
}

static void finalize(GSource *source) {
    CallSource *s = (CallSource *)source;
    /* Only a call not handed over: any scoutlb call would replace the thread's last error,
     * which done() may have left for its caller. */
    if (s->call != NULL) {
        scoutlb_call_free(s->call); /* an unfinished call is cancelled */
        s->call = NULL;
    }
    if (s->notify != NULL) {
        s->notify(s->user_data);
    }
}

static GSourceFuncs call_source_funcs = {NULL, NULL, dispatch, finalize, NULL, NULL};

GSource *scoutlb_glib_call_source_new(struct scoutlb_call *call, scoutlb_glib_done_fn done, gpointer user_data,
                                      GDestroyNotify notify) {
    GSource *source = g_source_new(&call_source_funcs, sizeof(CallSource));
    CallSource *s = (CallSource *)source;
    s->call = call;
    s->done = done;
    s->user_data = user_data;
    s->notify = notify;
    s->tags_used = 0;
    g_source_set_name(source, "scoutlb call");
    rearm(s);
    return source;
}
