/* A GSource that drives one scoutlb event-loop call on a GLib main context (behaviour.md,
 * "Event loops"): the call's sockets are the source's unix fds, its timeout the source's ready
 * time; nothing blocks and no thread is started. Copy scoutlb_glib.[ch] into an agent, or build
 * them beside it (examples/c/Makefile, target glib_agent). */
#ifndef SCOUTLB_GLIB_H
#define SCOUTLB_GLIB_H

#include <glib.h>

#include <scoutlb.h>

/** Called on the source's main context once `call` is decided: it now belongs to the callee,
 * which finishes it (scoutlb_client_finish) or frees it (scoutlb_call_free). */
typedef void (*scoutlb_glib_done_fn)(struct scoutlb_call *call, gpointer user_data);

/** A new source that owns `call` until `done` runs; attach it with g_source_attach. Destroying
 * the source before then cancels and frees the call (`done` does not run). `notify`, if not
 * NULL, frees `user_data` when the source is finalized. */
GSource *scoutlb_glib_call_source_new(struct scoutlb_call *call, scoutlb_glib_done_fn done, gpointer user_data,
                                      GDestroyNotify notify);

#endif
