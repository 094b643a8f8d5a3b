/*
 * scoutlb.hpp: the C++17 API of scoutlb, header-only over the C ABI of scoutlb.h.
 *
 * - RAII handles: scoutlb::config and scoutlb::client own their C handle, are movable and not
 *   copyable, and free it in their destructor.
 * - Errors: every failed call throws scoutlb::error, carrying the status code and the library's
 *   message (for SCOUTLB_ALL_FAILED: every server tried and why it failed, also one by one in
 *   error::attempts()).
 * - Configuration: JSON text (scoutlb::config(json)), or key by key with typed setters
 *   (scoutlb::config() then set/add/reset), the keys of docs/behaviour.md, "Configuration keys".
 * - Callbacks are any callable (lambdas, std::function). Exceptions never cross into the library:
 *     probe: an exception counts as "not reached", its what() becomes the failure reason;
 *     stop:  an exception cancels the retrying connect and is rethrown from connect_with_retry;
 *     event: an exception is caught and dropped (events are for logging).
 * - Text comes out as std::string, lists as std::vector<std::string>; buffers grow as needed.
 *
 * Threads: as in scoutlb.h. A client may be used from several threads at once (except its
 * destruction); a config from one thread at a time. The probe callback runs on the library's
 * attempt threads, several at once: it must be thread-safe.
 *
 * Link with the C library: pkg-config --cflags --libs scoutlb, or CMake's scoutlb::scoutlb.
 */

#ifndef SCOUTLB_HPP
#define SCOUTLB_HPP

/* Below C++17 one clear message, and nothing else of the header is compiled (no errors about
 * std::string_view and std::optional after it). MSVC keeps __cplusplus at 199711L unless
 * /Zc:__cplusplus is given: its _MSVC_LANG tells the truth. */
#if !defined(__cplusplus)
#error "scoutlb.hpp is the C++17 API of scoutlb; C programs include scoutlb.h"
#elif defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus && _MSVC_LANG < 201703L
#error "scoutlb.hpp needs C++17 or newer (/std:c++17); older C++ can use the C API of scoutlb.h"
#elif !(defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus) && __cplusplus < 201703L
#error "scoutlb.hpp needs C++17 or newer (-std=c++17); older C++ can use the C API of scoutlb.h"
#else

#include <scoutlb.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace scoutlb {

/** A status code of the C API (SCOUTLB_OK, SCOUTLB_ALL_FAILED, ...). */
using status = scoutlb_status;

/** How much an event matters; also the minimum severity an event callback receives. */
enum class severity : std::uint32_t {
    debug = SCOUTLB_SEVERITY_DEBUG,
    info = SCOUTLB_SEVERITY_INFO,
    warning = SCOUTLB_SEVERITY_WARNING,
};

/** The name of a status code, such as "SCOUTLB_ALL_FAILED" (static text). */
inline std::string_view status_name(status code) noexcept { return scoutlb_status_name(code); }

/** The version of the library loaded at run time, such as "0.1.0" (compare with SCOUTLB_VERSION). */
inline std::string_view version() noexcept { return scoutlb_version(); }

/** One attempt of a connect where every server failed (error::attempts()). */
struct attempt {
    /** The server tried, as host:port ([v6]:port). */
    std::string server;
    /** Why it failed: a scoutlb_attempt_kind number (SCOUTLB_ATTEMPT_REFUSED, ...); later versions add numbers. */
    std::uint32_t kind = SCOUTLB_ATTEMPT_OTHER;
    /** The kind as a short stable name: "refused", "timed_out", ... (as Python's Attempt.kind). */
    std::string kind_name;
    /** Why it failed, in words, such as "connection refused". */
    std::string message;
};

/** A failed scoutlb call: the status code, the library's message, and for SCOUTLB_ALL_FAILED the attempts. */
class error : public std::runtime_error {
  public:
    /** An error with this status code and message. */
    error(status code, const std::string &message)
        : std::runtime_error(message.empty() ? std::string(scoutlb_status_name(code)) : message), code_(code) {}

    /** An error with this status code, message and attempts. */
    error(status code, const std::string &message, std::vector<attempt> attempts)
        : error(code, message) {
        attempts_ = std::make_shared<const std::vector<attempt>>(std::move(attempts));
    }

    /** The status code, such as SCOUTLB_ALL_FAILED. */
    status code() const noexcept { return code_; }

    /** The name of the status code, such as "SCOUTLB_ALL_FAILED". */
    std::string_view name() const noexcept { return scoutlb_status_name(code_); }

    /** For SCOUTLB_ALL_FAILED: every server tried, in the order of the candidates, and why it
     * failed; empty for other errors. */
    const std::vector<attempt> &attempts() const noexcept {
        static const std::vector<attempt> none;
        return attempts_ ? *attempts_ : none;
    }

  private:
    status code_;
    // Shared, so that copying an exception (as the standard requires) cannot throw.
    std::shared_ptr<const std::vector<attempt>> attempts_;
};

/** A move to a lighter server that a connect planned (behaviour.md, "Rebalance"). */
struct rebalance_plan {
    /** The server the device is on now (its default), as host:port. */
    std::string from;
    /** The lighter server it moves to, as host:port. */
    std::string to;
    /** When to move, counted from the connect that planned it. */
    std::chrono::milliseconds after;
    /** The window the moment was drawn in (at least rebalance.window_ms). */
    std::chrono::milliseconds window;
};

/** The outcome of a successful connect. */
struct connected {
    /** The server now in use and persisted as the default, as host:port ([v6]:port). */
    std::string server;
    /** The address that answered the probe (differs from server behind a load balancer). */
    std::string reached;
    /** Whether the address came from the ManagerLoadBalancer entry. */
    bool via_balancer = false;
    /** How many attempts did not win (each was reported as an event): those that failed, and
     * those still running after their patience ran out. */
    std::uint32_t failed_attempts = 0;
    /** Whether the new state reached the state file (also true when nothing had to be saved or
     * there is no state file). When false, the connection stands, a state_file_problem event
     * said why, and the next connect saves again (docs/behaviour.md, "State file"). */
    bool saved = true;
    /** Why the save failed, when saved is false; otherwise empty. */
    std::optional<std::string> save_error;
    /** Whether the state file was not used when the client was created (it could not be parsed
     * and was moved aside; a state_file_problem event said why): docs/behaviour.md, "State file". */
    bool state_dropped = false;
    /** Why a server list was refused in this call (a list that failed the signed-list checks;
     * the saved list was kept), otherwise empty: docs/behaviour.md, "Signed lists". */
    std::optional<std::string> list_problem;
};

/** One event, lent to the event callback: the views are valid only until the callback returns. */
struct event {
    /** A scoutlb_event_kind number (SCOUTLB_EVENT_ATTEMPT_FAILED, ...); later versions add numbers. */
    std::uint32_t kind;
    /** How much it matters. */
    scoutlb::severity severity;
    /** A short stable name of the kind, such as "attempt_failed". */
    std::string_view kind_name;
    /** The server the event is about, as host:port, when there is one. */
    std::optional<std::string_view> server;
    /** A readable one-line description, for logs. */
    std::string_view message;
};

/** What a probe callback is asked to try, lent for the duration of the call. */
class probe_request {
  public:
    /** The server as host:port ([v6]:port). */
    std::string_view server() const noexcept { return params_->server; }
    /** The host alone: a lower-case DNS name or an IP literal without brackets. */
    std::string_view host() const noexcept { return params_->host; }
    /** The TCP port. */
    std::uint16_t port() const noexcept { return params_->port; }
    /** The time the attempt may take; the library stops waiting after it. */
    std::chrono::milliseconds timeout() const noexcept {
        return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(params_->timeout_ms));
    }
    /** Say why the server was not reached (shown in events and the all-failed message); cut to fit. */
    void set_reason(std::string_view reason) const noexcept {
        if (params_->reason == nullptr || params_->reason_len == 0) {
            return;
        }
        std::size_t n = reason.size() < params_->reason_len - 1 ? reason.size() : params_->reason_len - 1;
        // Never cut a UTF-8 sequence in two: step back over continuation bytes.
        while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) {
            --n;
        }
        reason.copy(params_->reason, n);
        params_->reason[n] = '\0';
    }

    /** Tell the attempt race that the agent's own connection is up, so this attempt gets
     * `answer_delay_ms` instead of `attempt_delay_ms` (behaviour.md, "Attempts"). */
    void transport_up() const { detail_check(scoutlb_probe_transport_up(params_->attempt)); }

    /** Hand in the server list (wire-format JSON) this server sent, cached when it wins; throws
     * scoutlb::error (SCOUTLB_INVALID_SERVER_LIST) for a body that is not a list, and the attempt
     * then fails as a bad response. */
    void server_list(std::string_view body) const {
        detail_check(scoutlb_probe_server_list(params_->attempt, reinterpret_cast<const std::uint8_t *>(body.data()),
                                               body.size()));
    }

    /** Tell the device this server drains: another server for now, this one again after
     * `retry_after` (capped at one hour); the attempt fails as draining whatever the probe returns
     * (behaviour.md, "Probes"). */
    void draining(std::chrono::milliseconds retry_after) const {
        detail_check(scoutlb_probe_draining(
            params_->attempt, static_cast<std::uint64_t>(retry_after.count() > 0 ? retry_after.count() : 0)));
    }

    /** Tell the device this server refuses it, with `reason`: the call ends with
     * SCOUTLB_DEVICE_REFUSED and no other server is tried, whatever the probe returns. */
    void refused(const std::string &reason) const {
        detail_check(scoutlb_probe_refused(params_->attempt, reason.c_str()));
    }

    /** Wraps the C parameters (used by the library's trampoline). */
    explicit probe_request(const scoutlb_probe_params *params) noexcept : params_(params) {}

  private:
    static void detail_check(status rc);
    const scoutlb_probe_params *params_;
};

/** A probe: returns true when the server answered the agent's own protocol. Must be thread-safe. */
using probe_function = std::function<bool(const probe_request &)>;
/** An event callback. */
using event_function = std::function<void(const event &)>;
/** A stop callback: gets the time since the retrying connect began, returns true to cancel it. */
using stop_function = std::function<bool(std::chrono::milliseconds elapsed)>;

namespace detail {


/** Call a C function writing text into (buf, len, &out_len), growing the buffer until it fits;
 * an empty string when it fails otherwise (for the readers of the last error, which must not throw
 * scoutlb::error themselves). */
template <typename Call>
std::string read_detail(Call &&call) {
    std::string text(256, '\0');
    std::size_t len = 0;
    for (int round = 0; round < 4; ++round) {
        status rc = call(&text[0], text.size(), &len);
        if (rc == SCOUTLB_OK) {
            text.resize(len > 0 ? len - 1 : 0);
            return text;
        }
        if (rc != SCOUTLB_BUFFER_TOO_SMALL) {
            break;
        }
        text.assign(len, '\0');
    }
    return std::string();
}

/** This thread's last error message of the library. */
inline std::string last_error_message() { return read_detail(scoutlb_last_error_message); }

/** The attempts of this thread's last failed call (SCOUTLB_ALL_FAILED). */
inline std::vector<attempt> last_error_attempts() {
    std::size_t count = 0;
    std::vector<attempt> attempts;
    if (scoutlb_last_error_attempt_count(&count) != SCOUTLB_OK) {
        return attempts;
    }
    attempts.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        scoutlb_attempt a{};
        if (scoutlb_last_error_attempt(i, &a) != SCOUTLB_OK) {
            break;
        }
        std::string message = read_detail([i](char *buf, std::size_t len, std::size_t *out_len) {
            return scoutlb_last_error_attempt_message(i, buf, len, out_len);
        });
        attempts.push_back(attempt{a.server, a.kind, a.kind_name, std::move(message)});
    }
    return attempts;
}

/** Throw scoutlb::error for a failed status, with this thread's message (and attempts). */
inline void check(status rc) {
    if (rc == SCOUTLB_ALL_FAILED) {
        std::string message = last_error_message();
        throw error(rc, message, last_error_attempts());
    }
    if (rc != SCOUTLB_OK) {
        throw error(rc, last_error_message());
    }
}

/** A NUL-terminated copy for the C API; a NUL inside the text is an error, not a silent cut. */
inline const char *c_text(const std::string &text, const char *what) {
    if (text.find('\0') != std::string::npos) {
        throw error(SCOUTLB_INVALID_ARGUMENT, std::string(what) + " contains a NUL byte");
    }
    return text.c_str();
}

/** Call a C function writing text into (buf, len, &out_len), growing the buffer until it fits. */
template <typename Call>
std::string read_text(Call &&call) {
    std::string text(512, '\0');
    std::size_t len = 0;
    for (;;) {
        status rc = call(&text[0], text.size(), &len);
        if (rc == SCOUTLB_BUFFER_TOO_SMALL && len > text.size()) {
            text.assign(len, '\0');  // the text may grow between calls: loop until it fits
            continue;
        }
        check(rc);
        text.resize(len > 0 ? len - 1 : 0);
        return text;
    }
}

/** Split the library's list text (one entry per line, each ending in '\n'). */
inline std::vector<std::string> split_lines(const std::string &text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        lines.emplace_back(text, start, end - start);
        start = end + 1;
    }
    return lines;
}

/** The C probe callback: calls the C++ probe; an exception counts as a failure with its message. */
inline std::uint32_t probe_trampoline(void *user_data, const scoutlb_probe_params *params) noexcept {
    probe_request request(params);
    try {
        const auto &probe = *static_cast<const probe_function *>(user_data);
        return probe(request) ? SCOUTLB_PROBE_REACHED : SCOUTLB_PROBE_FAILED;
    } catch (const std::exception &e) {
        try {
            request.set_reason(std::string("probe threw: ") + e.what());
        } catch (...) {
            request.set_reason("probe threw an exception");
        }
    } catch (...) {
        request.set_reason("probe threw an exception");
    }
    return SCOUTLB_PROBE_FAILED;
}

/** The C event callback: calls the C++ callback; an exception is dropped. */
inline void event_trampoline(void *user_data, const scoutlb_event *e) noexcept {
    try {
        event view{e->kind,
                   static_cast<scoutlb::severity>(e->severity),
                   e->kind_name,
                   e->server != nullptr ? std::optional<std::string_view>(e->server) : std::nullopt,
                   e->message};
        (*static_cast<const event_function *>(user_data))(view);
    } catch (...) {
        // Events are for logging; a throwing logger must not break a connect.
    }
}

/** The stop callback's state during one retrying connect. */
struct stop_state {
    const stop_function *stop;
    std::exception_ptr thrown;
};

/** The C stop callback: an exception cancels the connect and is rethrown after it returns. */
inline std::uint32_t stop_trampoline(void *user_data, const scoutlb_stop_params *params) noexcept {
    auto *state = static_cast<stop_state *>(user_data);
    try {
        auto elapsed = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(params->elapsed_ms));
        return (*state->stop)(elapsed) ? 1U : 0U;
    } catch (...) {
        state->thrown = std::current_exception();
        return 1U;
    }
}

/** Deleter of a C config handle. */
struct config_deleter {
    void operator()(scoutlb_config *c) const noexcept { scoutlb_config_free(c); }
};

/** Deleter of a C client handle. */
struct client_deleter {
    void operator()(scoutlb_client *c) const noexcept { scoutlb_client_free(c); }
};

/** Deleter of a C event-loop call handle. */
struct call_deleter {
    void operator()(scoutlb_call *c) const noexcept { scoutlb_call_free(c); }
};

/** Convert the C connect result (read right after the call: the save error and list problem are
 * this thread's). */
inline connected to_connected(const scoutlb_connected &c) {
    connected result{c.server, c.reached, c.via_balancer, c.failed_attempts, c.saved, std::nullopt, c.state_dropped,
                     std::nullopt};
    if (!c.saved) {
        result.save_error = read_detail(scoutlb_last_save_error);
    }
    if (c.list_refused) {
        result.list_problem = read_detail(scoutlb_last_list_problem);
    }
    return result;
}

}  // namespace detail

inline void probe_request::detail_check(status rc) { detail::check(rc); }

/** The canonical text of a server address (host:port, [v6]:port), as the library compares it. */
inline std::string parse_server(const std::string &address, std::uint16_t default_port = 22123) {
    const char *text = detail::c_text(address, "the address");
    return detail::read_text([&](char *buf, std::size_t len, std::size_t *out_len) {
        return scoutlb_server_parse(text, default_port, buf, len, out_len);
    });
}

class client;

/** A client configuration: the configuration keys (docs/behaviour.md) plus the callbacks. Movable, not copyable. */
class config {
  public:
    /** Every key at its default, to fill in with set(), add() and reset(). */
    config() {
        scoutlb_config *raw = nullptr;
        detail::check(scoutlb_config_new_default(&raw));
        handle_.reset(raw);
    }

    /** Parse a JSON configuration; throws scoutlb::error (SCOUTLB_CONFIG names the bad key). */
    explicit config(const std::string &json) {
        scoutlb_config *raw = nullptr;
        detail::check(scoutlb_config_new(detail::c_text(json, "the configuration"), &raw));
        handle_.reset(raw);
    }

    /** Set a text key ("state_file", "probe", ...); a key inside retry is written "retry.base_ms".
     * Checked at once: SCOUTLB_CONFIG names the key and the config stays as it was. The rules
     * between keys are checked when a client is made. */
    config &set(const std::string &key, const std::string &value) {
        detail::check(scoutlb_config_set_string(handle_.get(), detail::c_text(key, "the key"),
                                                detail::c_text(value, "the value")));
        return *this;
    }

    /** Set a text key from C text; nullptr puts the key back to its default. */
    config &set(const std::string &key, const char *value) {
        if (value == nullptr) {
            return reset(key);
        }
        return set(key, std::string(value));
    }

    /** Set a whole-number key (durations in ms, "default_port", "retry.max_tries"); a negative
     * number is refused by the library like any wrong value. */
    template <typename Integer,
              std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>, int> = 0>
    config &set(const std::string &key, Integer value) {
        const char *k = detail::c_text(key, "the key");
        if constexpr (std::is_signed_v<Integer>) {
            if (value < 0) {
                detail::check(scoutlb_config_set_double(handle_.get(), k, static_cast<double>(value)));
                return *this;
            }
        }
        detail::check(scoutlb_config_set_u64(handle_.get(), k, static_cast<std::uint64_t>(value)));
        return *this;
    }

    /** Set a number key that may have a fraction ("retry.factor"). */
    config &set(const std::string &key, double value) {
        detail::check(scoutlb_config_set_double(handle_.get(), detail::c_text(key, "the key"), value));
        return *this;
    }

    /** Set a key that is true or false ("rebalance.enabled"). */
    config &set(const std::string &key, bool value) {
        detail::check(scoutlb_config_set_bool(handle_.get(), detail::c_text(key, "the key"), value));
        return *this;
    }

    /** Append one entry to a list key ("servers", "nameservers", "search_domains"). */
    config &add(const std::string &key, const std::string &value) {
        detail::check(scoutlb_config_add_string(handle_.get(), detail::c_text(key, "the key"),
                                                detail::c_text(value, "the value")));
        return *this;
    }

    /** Put a key back to its default (a list key becomes empty). */
    config &reset(const std::string &key) {
        detail::check(scoutlb_config_reset(handle_.get(), detail::c_text(key, "the key")));
        return *this;
    }

    /** Deliver events from `min` up to `callback` (an empty function removes it). */
    config &on_event(severity min, event_function callback) {
        std::shared_ptr<const event_function> kept;
        if (callback) {
            kept = std::make_shared<const event_function>(std::move(callback));
        }
        detail::check(scoutlb_config_set_event_callback(handle_.get(), static_cast<std::uint32_t>(min),
                                                        kept ? detail::event_trampoline : nullptr,
                                                        const_cast<event_function *>(kept.get())));
        event_ = std::move(kept);
        return *this;
    }

    /** Use `probe` as the probe of clients made from this config (needs "probe": "callback"). */
    config &probe(probe_function probe) {
        std::shared_ptr<const probe_function> kept;
        if (probe) {
            kept = std::make_shared<const probe_function>(std::move(probe));
        }
        detail::check(scoutlb_config_set_probe_callback(handle_.get(), kept ? detail::probe_trampoline : nullptr,
                                                        const_cast<probe_function *>(kept.get())));
        probe_ = std::move(kept);
        return *this;
    }

    /** Fix the seed of the random numbers (retry jitter, SRV weights), for reproducible tests. */
    config &random_seed(std::uint64_t seed) {
        detail::check(scoutlb_config_set_random_seed(handle_.get(), seed));
        return *this;
    }

    /** The C handle, still owned by this object. */
    scoutlb_config *c_handle() const noexcept { return handle_.get(); }

  private:
    friend class client;
    std::unique_ptr<scoutlb_config, detail::config_deleter> handle_;
    // Shared with the clients made from this config: a callback lives as long as any of them.
    std::shared_ptr<const event_function> event_;
    std::shared_ptr<const probe_function> probe_;
};

/** One socket of a pending call and what to wait for on it (behaviour.md, "Event loops"). */
struct watch {
    /** The file descriptor; open until the next `pending_call::process()` at least. */
    int fd;
    /** True: wait until it can be read; false: until it can be written. */
    bool read;
};

/** An attempt a pending call asks the agent's own probe to run on its loop (probe `callback`). */
struct probe_task {
    /** The attempt's number in its call, for the reports on it. */
    std::uint64_t attempt;
    /** The server to try, as `host:port`. */
    std::string server;
    /** How long the attempt may take. */
    std::chrono::milliseconds timeout;
};

/** A connect call run by the agent's own event loop: `client::start_connect()` makes it,
 * `client::finish()` ends it. Movable, not copyable; one thread at a time. Destroying it
 * unfinished cancels it. */
class pending_call {
  public:
    /** The sockets to watch now. */
    std::vector<watch> watches() const {
        std::vector<scoutlb_watch> raw(4);
        std::size_t count = 0;
        for (;;) {
            detail::check(scoutlb_call_watches(handle_.get(), raw.data(), raw.size(), &count));
            if (count <= raw.size()) {
                break;
            }
            raw.resize(count);
        }
        std::vector<watch> out;
        for (std::size_t i = 0; i < count; ++i) {
            out.push_back(watch{raw[i].fd, (raw[i].events & SCOUTLB_WATCH_READ) != 0});
        }
        return out;
    }

    /** How long to wait at most before `process()` when no socket is ready; none once done. */
    std::optional<std::chrono::milliseconds> timeout() const {
        std::int64_t ms = scoutlb_call_timeout_ms(handle_.get());
        if (ms < 0) {
            return std::nullopt;
        }
        return std::chrono::milliseconds(ms);
    }

    /** Do all that can be done now; call it when a socket is ready or the timeout passed. */
    void process() { detail::check(scoutlb_call_process(handle_.get())); }

    /** Whether the call is decided: hand it to `client::finish()`. */
    bool done() const noexcept { return scoutlb_call_is_done(handle_.get()); }

    /** Decide the call now as cancelled; `client::finish()` then throws `SCOUTLB_CANCELLED`. */
    void cancel() { detail::check(scoutlb_call_cancel(handle_.get())); }

    /** With the `callback` probe: the next attempt for the agent's probe to run, once; look after
     * the start and after every `process()` or report (behaviour.md, "Event loops"). */
    std::optional<probe_task> next_probe() {
        scoutlb_probe_request raw{};
        bool found = false;
        detail::check(scoutlb_call_next_probe(handle_.get(), &raw, &found));
        if (!found) {
            return std::nullopt;
        }
        return probe_task{raw.attempt, raw.server, std::chrono::milliseconds(raw.timeout_ms)};
    }

    /** The next attempt the call gave up, once: stop its probe; reports on it are ignored. */
    std::optional<std::uint64_t> next_abandoned() {
        std::uint64_t attempt = 0;
        bool found = false;
        detail::check(scoutlb_call_next_abandoned(handle_.get(), &attempt, &found));
        return found ? std::optional<std::uint64_t>(attempt) : std::nullopt;
    }

    /** The socket the probe of `attempt` waits on, watched with the call's own; fd -1 clears it. */
    void probe_watch(std::uint64_t attempt, int fd, bool read) {
        detail::check(scoutlb_call_probe_watch(handle_.get(), attempt, fd, read ? SCOUTLB_WATCH_READ : SCOUTLB_WATCH_WRITE));
    }

    /** The probe of `attempt` has its transport up: it is granted `answer_delay_ms`. */
    void probe_up(std::uint64_t attempt) { detail::check(scoutlb_call_probe_up(handle_.get(), attempt)); }

    /** The probe of `attempt` reached its server, with the server list it received (empty: none). */
    void probe_reached(std::uint64_t attempt, const std::string &list = std::string()) {
        const std::uint8_t *body = list.empty() ? nullptr : reinterpret_cast<const std::uint8_t *>(list.data());
        detail::check(scoutlb_call_probe_reached(handle_.get(), attempt, body, list.size()));
    }

    /** The probe of `attempt` failed, with its reason. */
    void probe_failed(std::uint64_t attempt, const std::string &message) {
        detail::check(scoutlb_call_probe_failed(handle_.get(), attempt, message.c_str()));
    }

    /** The server of `attempt` drains: another server now, this one again after `retry_after`. */
    void probe_draining(std::uint64_t attempt, std::chrono::milliseconds retry_after) {
        detail::check(scoutlb_call_probe_draining(handle_.get(), attempt, static_cast<std::uint64_t>(retry_after.count())));
    }

    /** The server of `attempt` refuses this device, with its reason: the call ends. */
    void probe_refused(std::uint64_t attempt, const std::string &reason) {
        detail::check(scoutlb_call_probe_refused(handle_.get(), attempt, reason.c_str()));
    }

    /** The C handle, still owned by this object. */
    scoutlb_call *c_handle() const noexcept { return handle_.get(); }

  private:
    friend class client;
    explicit pending_call(scoutlb_call *raw) : handle_(raw) {}
    std::unique_ptr<scoutlb_call, detail::call_deleter> handle_;
};

/** A device's connection chooser. Movable, not copyable; its methods may run on several threads. */
class client {
  public:
    /** Create a client from a config (which may be changed or destroyed afterwards). */
    explicit client(const config &cfg) : event_(cfg.event_), probe_(cfg.probe_) {
        scoutlb_client *raw = nullptr;
        detail::check(scoutlb_client_new(cfg.handle_.get(), &raw));
        handle_.reset(raw);
    }

    /** A client from a JSON configuration without callbacks. */
    explicit client(const std::string &json) : client(config(json)) {}

    /** Take over another client's handle and callbacks. */
    client(client &&other) noexcept = default;

    /** Free this client (waiting for its callbacks to end), then take over another's. */
    client &operator=(client &&other) noexcept {
        if (this != &other) {
            handle_.reset();  // first: abandoned attempts may still call the old callbacks
            event_ = std::move(other.event_);
            probe_ = std::move(other.probe_);
            handle_ = std::move(other.handle_);
        }
        return *this;
    }

    /** Run the start-up procedure: the ManagerLoadBalancer's addresses, then the failover order. */
    connected connect() const { return call_connect(scoutlb_client_connect); }

    /** Begin a start-up on the agent's event loop: no thread, no wait (behaviour.md, "Event loops"). */
    pending_call start_connect() const { return start(scoutlb_client_start_connect); }

    /** Begin a reconnect on the agent's event loop. */
    pending_call start_reconnect() const { return start(scoutlb_client_start_reconnect); }

    /** Begin the planned move to a lighter server on the agent's event loop (finish it like a
     * connect's call); none when no move is planned (behaviour.md, "Rebalance"). */
    std::optional<pending_call> start_rebalance() const {
        scoutlb_call *raw = nullptr;
        detail::check(scoutlb_client_start_rebalance(handle_.get(), &raw));
        if (raw == nullptr) {
            return std::nullopt;
        }
        return pending_call(raw);
    }

    /** The result of an event-loop call, as `connect()` gives it; a call not done is cancelled. */
    connected finish(pending_call &&call) const {
        scoutlb_connected c{};
        detail::check(scoutlb_client_finish(handle_.get(), call.handle_.release(), &c));
        return detail::to_connected(c);
    }

    /** The end of try number `tries` (from 1) of a retrying call on the agent's loop: the
     * connection, or the wait before the next try, as `connect_with_retry()` decides (the failed
     * try recorded in the state file); throws the try's error when no try follows (behaviour.md,
     * "Event loops", Retrying). A call not done is cancelled. */
    std::variant<connected, std::chrono::milliseconds> finish_try(pending_call &&call, std::uint32_t tries) const {
        scoutlb_connected c{};
        bool retry = false;
        std::uint64_t wait_ms = 0;
        status code = scoutlb_client_finish_try(handle_.get(), call.handle_.release(), tries, &c, &retry, &wait_ms);
        if (code != SCOUTLB_OK && retry) {
            return std::chrono::milliseconds(wait_ms);
        }
        detail::check(code);
        return detail::to_connected(c);
    }

    /** After a lost connection: the failover order from the default server. */
    connected reconnect() const { return call_connect(scoutlb_client_reconnect); }

    /** The move to a lighter server the last connect planned, if any (`rebalance.enabled`). */
    std::optional<rebalance_plan> planned_rebalance() const {
        scoutlb_rebalance_plan raw{};
        bool planned = false;
        detail::check(scoutlb_client_rebalance_plan(handle_.get(), &raw, &planned));
        if (!planned) {
            return std::nullopt;
        }
        return rebalance_plan{raw.from, raw.to, std::chrono::milliseconds(raw.after_ms),
                              std::chrono::milliseconds(raw.window_ms)};
    }

    /** Carry out the planned move: try its target only; the new connection, or none when no move
     * was planned; throws (SCOUTLB_ALL_FAILED) when the target does not answer, nothing changed. */
    std::optional<connected> rebalance() const {
        scoutlb_connected c{};
        bool moved = false;
        detail::check(scoutlb_client_rebalance(handle_.get(), &c, &moved));
        return moved ? std::optional<connected>(detail::to_connected(c)) : std::nullopt;
    }

    /** Connect, retrying on the retry profile's schedule (the `retry` keys; behaviour.md, "All fail") after every server failed. */
    connected connect_with_retry() const { return call_connect(scoutlb_client_connect_with_retry); }

    /** Connect with retries until `stop` returns true (then SCOUTLB_CANCELLED) or throws (rethrown). */
    connected connect_with_retry(const stop_function &stop) const {
        return call_retry(scoutlb_client_connect_with_retry_until, stop);
    }

    /** Reconnect, retrying on the retry profile's schedule: every try runs the failover order from the default server. */
    connected reconnect_with_retry() const { return call_connect(scoutlb_client_reconnect_with_retry); }

    /** Reconnect with retries until `stop` returns true (then SCOUTLB_CANCELLED) or throws (rethrown). */
    connected reconnect_with_retry(const stop_function &stop) const {
        return call_retry(scoutlb_client_reconnect_with_retry_until, stop);
    }

    /** Cancel every running and later call of this client (SCOUTLB_CANCELLED within 50 ms) until
     * reset_cancel(); safe from any thread (behaviour.md, "Cancel"). */
    void cancel() const noexcept { scoutlb_client_cancel(handle_.get()); }

    /** Let calls run again after cancel(). */
    void reset_cancel() const noexcept { scoutlb_client_reset_cancel(handle_.get()); }

    /** The wait before retry number `retry_index + 1`. */
    std::chrono::milliseconds backoff(std::uint32_t retry_index) const {
        std::uint64_t ms = 0;
        detail::check(scoutlb_client_backoff_ms(handle_.get(), retry_index, &ms));
        return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
    }

    /** The candidates of a start-up in the order to try them (balancer addresses, then failover order). */
    std::vector<std::string> candidates() const { return list(scoutlb_client_candidates); }

    /** The failover order from the default server, without the balancer. */
    std::vector<std::string> failover_order() const { return list(scoutlb_client_failover_order); }

    /** Report a lost connection; returns the new order to try. */
    std::vector<std::string> connection_lost() const { return list(scoutlb_client_connection_lost); }

    /** The cached server list (empty when none was received yet). */
    std::vector<std::string> server_list() const { return list(scoutlb_client_server_list); }

    /** The seed servers. */
    std::vector<std::string> seeds() const { return list(scoutlb_client_seeds); }

    /** The ManagerLoadBalancer's addresses (empty when none is configured or it did not resolve). */
    std::vector<std::string> balancer_addresses() const { return list(scoutlb_client_balancer_addresses); }

    /** The default server, when there is one. */
    std::optional<std::string> default_server() const { return optional(read(scoutlb_client_default_server)); }

    /** The destination OU of DHCP option 222, when it named one (behaviour.md, "First contact from DHCP"). */
    std::optional<std::string> dhcp_ou() const { return optional(read(scoutlb_client_dhcp_ou)); }

    /** The lease file whose DHCP option 222 gave first-contact servers, when one did. */
    std::optional<std::string> dhcp_lease() const { return optional(read(scoutlb_client_dhcp_lease)); }

    /** The remembered state as the JSON document of the state file. */
    std::string state_json() const { return read(scoutlb_client_state_json); }

    /** Report that the agent reached `server` by itself: it becomes the default and is persisted. */
    void report_success(const std::string &server) const {
        detail::check(scoutlb_client_report_success(handle_.get(), detail::c_text(server, "the server")));
    }

    /** Report that the agent could not reach `server`, and why. */
    void report_failure(const std::string &server, const std::string &reason) const {
        detail::check(scoutlb_client_report_failure(handle_.get(), detail::c_text(server, "the server"),
                                                    detail::c_text(reason, "the reason")));
    }

    /** Hand in a server list (wire-format JSON, docs/behaviour.md) the agent received from its default server. */
    void update_server_list(std::string_view body) const { update(body, nullptr); }

    /** Hand in a server list (wire-format JSON, docs/behaviour.md) the agent received from `from`. */
    void update_server_list(std::string_view body, const std::string &from) const {
        update(body, detail::c_text(from, "the sending server"));
    }

    /** The C handle, still owned by this object. */
    scoutlb_client *c_handle() const noexcept { return handle_.get(); }

  private:
    using connect_call = status (*)(const scoutlb_client *, scoutlb_connected *);
    using text_call = status (*)(const scoutlb_client *, char *, std::size_t, std::size_t *);

    connected call_connect(connect_call call) const {
        scoutlb_connected c{};
        detail::check(call(handle_.get(), &c));
        return detail::to_connected(c);
    }

    using start_call = status (*)(const scoutlb_client *, scoutlb_call **);

    pending_call start(start_call call) const {
        scoutlb_call *raw = nullptr;
        detail::check(call(handle_.get(), &raw));
        return pending_call(raw);
    }

    using retry_call = status (*)(const scoutlb_client *, scoutlb_stop_callback, void *, scoutlb_connected *);

    /** A retrying call cancelled by `stop`; an exception `stop` threw comes back out. */
    connected call_retry(retry_call call, const stop_function &stop) const {
        detail::stop_state state{&stop, nullptr};
        scoutlb_connected c{};
        status rc = call(handle_.get(), stop ? detail::stop_trampoline : nullptr, &state, &c);
        if (state.thrown) {
            std::rethrow_exception(state.thrown);
        }
        detail::check(rc);
        return detail::to_connected(c);
    }

    std::string read(text_call call) const {
        return detail::read_text(
            [&](char *buf, std::size_t len, std::size_t *out_len) { return call(handle_.get(), buf, len, out_len); });
    }

    std::vector<std::string> list(text_call call) const { return detail::split_lines(read(call)); }

    /** Empty text, the C ABI's "none", as no value. */
    static std::optional<std::string> optional(std::string text) {
        if (text.empty()) {
            return std::nullopt;
        }
        return text;
    }

    void update(std::string_view body, const char *from) const {
        detail::check(scoutlb_client_update_server_list(
            handle_.get(), reinterpret_cast<const std::uint8_t *>(body.data()), body.size(), from));
    }

    // Destroyed after the handle (declared first), so no callback outlives what it calls.
    std::shared_ptr<const event_function> event_;
    std::shared_ptr<const probe_function> probe_;
    std::unique_ptr<scoutlb_client, detail::client_deleter> handle_;
};

}  // namespace scoutlb

#endif /* C++17 or newer */
#endif /* SCOUTLB_HPP */
