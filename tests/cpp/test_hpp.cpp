// Tests of the C++ API (include/scoutlb.hpp): RAII, exceptions, callbacks as lambdas, buffers that
// grow, exceptions kept out of the library, threads. Prints "N passed, N failed".
// Usage: test_hpp   (no network: the callback probe decides who answers)
#include <scoutlb.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static_assert(!std::is_copy_constructible_v<scoutlb::client>, "a client is not copyable");
static_assert(!std::is_copy_assignable_v<scoutlb::client>, "a client is not copyable");
static_assert(std::is_nothrow_move_constructible_v<scoutlb::client>, "a client moves");
static_assert(std::is_nothrow_move_assignable_v<scoutlb::client>, "a client moves");
static_assert(!std::is_copy_constructible_v<scoutlb::config>, "a config is not copyable");
static_assert(std::is_nothrow_move_constructible_v<scoutlb::config>, "a config moves");
static_assert(std::is_base_of_v<std::runtime_error, scoutlb::error>, "errors are std::exceptions");
static_assert(std::is_nothrow_copy_constructible_v<scoutlb::error>, "an exception copies without throwing");

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, int line, const char *what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::fprintf(stderr, "FAIL line %d: %s\n", line, what);
    }
}

#define CHECK(cond) check((cond), __LINE__, #cond)

/** Run `body`, which must throw scoutlb::error with status `want` and a message containing `text`. */
template <typename Body>
void check_throws(Body &&body, scoutlb::status want, const std::string &text, int line) {
    try {
        body();
        check(false, line, "no exception");
    } catch (const scoutlb::error &e) {
        std::string what = e.what();
        check(e.code() == want, line, "status code");
        check(e.name() == scoutlb::status_name(want), line, "status name");
        if (what.find(text) == std::string::npos) {
            std::fprintf(stderr, "  message was: %s (%s)\n", what.c_str(), std::string(e.name()).c_str());
            check(false, line, "message text");
        }
    }
}

#define CHECK_THROWS(body, want, text) check_throws([&] { body; }, (want), (text), __LINE__)

/** Collects events from any thread. */
struct recorder {
    std::mutex lock;
    std::vector<std::string> lines;

    scoutlb::event_function callback() {
        return [this](const scoutlb::event &e) {
            std::lock_guard<std::mutex> guard(lock);
            lines.push_back(std::string(e.kind_name) + " " + std::string(e.server.value_or("-")) + " " +
                            std::string(e.message));
        };
    }

    bool has(const std::string &text) {
        std::lock_guard<std::mutex> guard(lock);
        for (const auto &line : lines) {
            if (line.find(text) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
};

void test_free_functions() {
    CHECK(scoutlb::version() == SCOUTLB_VERSION);
    CHECK(scoutlb::status_name(SCOUTLB_ALL_FAILED) == "SCOUTLB_ALL_FAILED");
    CHECK(scoutlb::parse_server("Host.Example") == "host.example:22123");
    CHECK(scoutlb::parse_server("fd00::0001", 7) == "[fd00::1]:7");
    CHECK_THROWS(scoutlb::parse_server("a b"), SCOUTLB_INVALID_SERVER, "a b");
    CHECK_THROWS(scoutlb::parse_server(std::string("a\0b", 3)), SCOUTLB_INVALID_ARGUMENT, "NUL");
}

void test_config_errors() {
    CHECK_THROWS(scoutlb::config("{\"probe\": \"magic\"}"), SCOUTLB_CONFIG, "`probe`");
    CHECK_THROWS(scoutlb::config("not json"), SCOUTLB_CONFIG, "");
    CHECK_THROWS(scoutlb::client("{\"probe\": \"callback\"}"), SCOUTLB_CONFIG, "callback");
    scoutlb::config cfg("{\"probe\": \"none\"}");
    CHECK_THROWS(cfg.on_event(static_cast<scoutlb::severity>(9), [](const scoutlb::event &) {}),
                 SCOUTLB_INVALID_ARGUMENT, "");
}

void test_agent_driven() {
    recorder r;
    scoutlb::config cfg("{\"servers\": [\"a\", \"b\", \"c\"], \"probe\": \"none\","
                        " \"retry\": {\"base_ms\": 1000, \"cap_ms\": 5000}}");
    cfg.on_event(scoutlb::severity::info, r.callback()).random_seed(42);
    scoutlb::client client(cfg);
    CHECK((client.candidates() == std::vector<std::string>{"a:22123", "b:22123", "c:22123"}));
    CHECK(!client.default_server().has_value());
    CHECK(client.server_list().empty());
    client.report_failure("a", "my protocol timed out");
    client.report_success("B");
    CHECK(client.default_server() == std::optional<std::string>("b:22123"));
    CHECK((client.failover_order() == std::vector<std::string>{"b:22123", "c:22123", "a:22123"}));
    CHECK((client.connection_lost() == std::vector<std::string>{"b:22123", "c:22123", "a:22123"}));
    CHECK((client.seeds() == std::vector<std::string>{"a:22123", "b:22123", "c:22123"}));
    CHECK(client.balancer_addresses().empty());
    CHECK(r.has("attempt_failed a:22123 ") && r.has("my protocol timed out"));
    CHECK(r.has("default_changed b:22123"));
    CHECK(client.backoff(0) <= std::chrono::milliseconds(1000));
    CHECK(client.backoff(10) <= std::chrono::milliseconds(5000));
    CHECK_THROWS(client.connect(), SCOUTLB_UNSUPPORTED, "\"probe\": \"none\"");
    CHECK_THROWS(client.report_success("a b"), SCOUTLB_INVALID_SERVER, "");
    CHECK_THROWS(client.report_success(std::string("a\0b", 3)), SCOUTLB_INVALID_ARGUMENT, "the server");

    const std::string list = "{\"servers\": [{\"host\": \"10.0.0.1\", \"port\": 1, \"id\": \"x\"},"
                             " {\"host\": \"10.0.0.2\", \"port\": 2, \"id\": \"y\"}], \"self\": \"y\"}";
    client.update_server_list(list);
    CHECK((client.server_list() == std::vector<std::string>{"10.0.0.1:1", "10.0.0.2:2"}));
    CHECK(client.default_server() == std::optional<std::string>("10.0.0.2:2"));
    client.update_server_list(list, "10.0.0.1:1");
    CHECK_THROWS(client.update_server_list("{\"servers\": 5}"), SCOUTLB_INVALID_SERVER_LIST, "");
    CHECK_THROWS(client.update_server_list(list, "a b"), SCOUTLB_INVALID_SERVER, "");
    std::string state = client.state_json();
    CHECK(state.find("\"default_server\":{\"host\":\"10.0.0.2\"") != std::string::npos);
    CHECK(state.back() == '}');
}

void test_big_lists() {
    // 600 servers: every list is far bigger than the first buffer, so reading grows it.
    std::string body = "{\"servers\": [";
    std::vector<std::string> want;
    for (int i = 0; i < 600; ++i) {
        std::string host = "server-" + std::to_string(i) + ".fleet.example";
        body += std::string(i ? ", " : "") + "{\"host\": \"" + host + "\", \"port\": 443}";
        want.push_back(host + ":443");
    }
    body += "]}";
    scoutlb::client client("{\"probe\": \"none\", \"servers\": [\"seed.example\"]}");
    client.update_server_list(body);
    CHECK(client.server_list() == want);
    CHECK(client.candidates().size() == 601);
    CHECK(client.state_json().size() > 600 * 20);
}

void test_callback_probe() {
    recorder r;
    std::atomic<int> calls{0};
    scoutlb::config cfg("{\"servers\": [\"bad.example:5\", \"throws.example\", \"weird.example\", \"ok.example:1\"],"
                        " \"probe\": \"callback\", \"attempt_delay_ms\": 0}");
    cfg.on_event(scoutlb::severity::debug, r.callback());
    cfg.probe([&calls](const scoutlb::probe_request &req) {
        ++calls;
        if (req.timeout() <= std::chrono::milliseconds(0)) {
            return false;
        }
        if (req.host() == "bad.example") {
            req.set_reason(std::string(req.server()) + " says no");
            return false;
        }
        if (req.host() == "throws.example") {
            throw std::runtime_error("boom from the probe");
        }
        if (req.host() == "weird.example") {
            throw 42;  // not even a std::exception
        }
        return req.host() == "ok.example" && req.port() == 1;
    });
    scoutlb::client client(cfg);
    scoutlb::connected c = client.connect();
    CHECK(c.server == "ok.example:1" && c.reached == "ok.example:1");
    CHECK(c.failed_attempts == 3 && !c.via_balancer);
    CHECK(calls == 4);
    CHECK(r.has("bad.example:5 says no"));
    CHECK(r.has("probe threw: boom from the probe"));
    CHECK(r.has("probe threw an exception"));

    // A reason longer than the buffer is cut, and never inside a UTF-8 sequence.
    scoutlb::config cfg2("{\"servers\": [\"long.example\"], \"probe\": \"callback\"}");
    cfg2.probe([](const scoutlb::probe_request &req) {
        std::string reason;
        for (int i = 0; i < 200; ++i) {
            reason += "\xc3\xa9";  // é: 2 bytes each, 400 bytes in all
        }
        req.set_reason(reason);
        return false;
    });
    scoutlb::client all_fail(cfg2);
    try {
        all_fail.connect();
        CHECK(false);
    } catch (const scoutlb::error &e) {
        std::string what = e.what();
        CHECK(e.code() == SCOUTLB_ALL_FAILED);
        CHECK(what.find("long.example:22123") != std::string::npos);
        CHECK(what.find("\xc3\xa9\xc3\xa9") != std::string::npos);
        CHECK(what.find("\xef\xbf\xbd") == std::string::npos);  // no U+FFFD from a cut sequence
    }
}

// An own-protocol default that answers in 600 ms keeps the device when the probe reports its
// transport up; the next server gets no request. The probe hands back the list it received.
void test_transport_up_and_list() {
    std::atomic<int> next_calls{0};
    scoutlb::config cfg("{\"servers\": [\"slow.example:1\", \"fast.example:1\"], \"probe\": \"callback\"}");
    cfg.probe([&next_calls](const scoutlb::probe_request &req) {
        if (req.host() != "slow.example") {
            ++next_calls;
            return true;
        }
        req.transport_up();
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        req.server_list("{\"servers\": [{\"host\": \"slow.example\", \"port\": 1}, {\"host\": \"c.example\", \"port\": 22123}]}");
        return true;
    });
    scoutlb::client client(cfg);
    scoutlb::connected c = client.connect();
    CHECK(c.server == "slow.example:1" && next_calls == 0);
    CHECK(!c.state_dropped);
    CHECK(client.server_list() == std::vector<std::string>({"slow.example:1", "c.example:22123"}));

    scoutlb::config bad("{\"servers\": [\"a.example:1\"], \"probe\": \"callback\"}");
    bad.probe([](const scoutlb::probe_request &req) {
        req.server_list("not json");  // throws: the attempt fails with the error's message
        return true;
    });
    scoutlb::client refused(bad);
    CHECK_THROWS(refused.connect(), SCOUTLB_ALL_FAILED, "not valid JSON");
}

// A probe that reports a drain keeps the default and uses the next; one that reports a refusal
// ends the call with SCOUTLB_DEVICE_REFUSED and no failover (behaviour.md, "Probes").
void test_probe_drains_and_refuses() {
    std::atomic<int> mode{0};  // 0: a answers, 1: a drains, 2: a refuses
    std::atomic<int> b_calls{0};
    scoutlb::config cfg("{\"servers\": [\"a.example:1\", \"b.example:1\"], \"probe\": \"callback\", \"attempt_delay_ms\": 0}");
    cfg.probe([&mode, &b_calls](const scoutlb::probe_request &req) {
        if (req.host() != "a.example") {
            ++b_calls;
            return true;
        }
        if (mode == 1) {
            req.draining(std::chrono::seconds(60));
        } else if (mode == 2) {
            req.refused("dev-8 is not known");
        }
        return true;  // the report counts whatever the probe returns
    });
    scoutlb::client client(cfg);
    CHECK(client.connect().server == "a.example:1");
    mode = 1;
    scoutlb::connected c = client.reconnect();
    CHECK(c.server == "b.example:1" && client.default_server() == std::optional<std::string>("a.example:1"));
    mode = 2;
    b_calls = 0;
    scoutlb::client fresh(cfg);
    CHECK_THROWS(fresh.connect(), SCOUTLB_DEVICE_REFUSED, "dev-8 is not known");
    CHECK(b_calls == 0);
}

// A state file that cannot be parsed is moved aside and said in every connect (behaviour.md, "State file").
void test_state_dropped() {
    char dir[] = "/tmp/scoutlb-hpp.XXXXXX";
    CHECK(mkdtemp(dir) != nullptr);
    std::string path = std::string(dir) + "/state.json";
    std::FILE *f = std::fopen(path.c_str(), "w");
    CHECK(f != nullptr && std::fputs("not json", f) >= 0 && std::fclose(f) == 0);
    scoutlb::config cfg("{\"servers\": [\"a.example:1\"], \"probe\": \"callback\", \"state_file\": \"" + path + "\"}");
    cfg.probe([](const scoutlb::probe_request &) { return true; });
    scoutlb::client client(cfg);
    scoutlb::connected c = client.connect();
    CHECK(c.state_dropped && c.saved);
    std::string cleanup = std::string("rm -rf ") + dir;
    CHECK(std::system(cleanup.c_str()) == 0);
}

// With list_keys set, an unsigned list fails its server's attempt; the next server wins and the
// refusal is in list_problem (behaviour.md, "Signed lists").
void test_list_problem() {
    scoutlb::config cfg(
        "{\"servers\": [\"a.example:1\", \"b.example:1\"], \"probe\": \"callback\", \"attempt_delay_ms\": 0,"
        " \"answer_delay_ms\": 0, \"list_keys\": [\"vHy8tWNjdfodgkNNRmck2SN39TuYBpXdSdJtDOEiBaU=\"]}");
    cfg.probe([](const scoutlb::probe_request &req) {
        if (std::string(req.server()) == "a.example:1") {
            req.server_list("{\"servers\": [{\"host\": \"evil.example\", \"port\": 1}]}");
        }
        return true;
    });
    scoutlb::client client(cfg);
    scoutlb::connected c = client.connect();
    CHECK(c.server == "b.example:1" && c.failed_attempts == 1);
    CHECK(c.list_problem.has_value() && c.list_problem->find("not signed") != std::string::npos);
    CHECK(client.server_list().empty());
    CHECK(!client.reconnect().list_problem.has_value());
}

// cancel() from another thread ends a retrying reconnect within its backoff wait.
void test_cancel() {
    scoutlb::config cfg("{\"servers\": [\"a.example:1\"], \"probe\": \"callback\", \"retry\": {\"base_ms\": 20000, \"cap_ms\": 20000}}");
    cfg.probe([](const scoutlb::probe_request &) { return false; });
    scoutlb::client client(cfg);
    auto start = std::chrono::steady_clock::now();
    std::thread canceller([&client] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        client.cancel();
    });
    CHECK_THROWS(client.reconnect_with_retry(), SCOUTLB_CANCELLED, "cancelled");
    canceller.join();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1800));
    CHECK_THROWS(client.connect(), SCOUTLB_CANCELLED, "cancelled");
    client.reset_cancel();
    CHECK_THROWS(client.connect(), SCOUTLB_ALL_FAILED, "a.example:1");
}

void test_event_callback_throws() {
    scoutlb::config cfg("{\"servers\": [\"a\"], \"probe\": \"callback\"}");
    int events = 0;
    cfg.on_event(scoutlb::severity::debug, [&events](const scoutlb::event &) {
        ++events;
        throw std::runtime_error("a logger that throws");
    });
    cfg.probe([](const scoutlb::probe_request &) { return true; });
    scoutlb::client client(cfg);
    CHECK(client.connect().server == "a:22123");  // the exception did not break the connect
    CHECK(events > 0);
}

/** A type only this test throws, to see it come back out of connect_with_retry. */
struct stop_failure {
    int code;
};

void test_stop_callback() {
    scoutlb::config cfg("{\"servers\": [\"a\"], \"probe\": \"callback\","
                        " \"retry\": {\"base_ms\": 1, \"cap_ms\": 5, \"max_tries\": 0}}");
    std::atomic<int> probes{0};
    cfg.probe([&probes](const scoutlb::probe_request &) {
        ++probes;
        return false;
    });
    scoutlb::client client(cfg);

    int asked = 0;
    CHECK_THROWS(client.connect_with_retry([&asked](std::chrono::milliseconds elapsed) {
        ++asked;
        return elapsed.count() >= 0 && asked >= 3;
    }),
                 SCOUTLB_CANCELLED, "");
    CHECK(asked == 3 && probes >= 1);

    // An exception from the stop callback cancels the connect and comes back out unchanged.
    try {
        client.connect_with_retry([](std::chrono::milliseconds) -> bool { throw stop_failure{7}; });
        CHECK(false);
    } catch (const stop_failure &e) {
        CHECK(e.code == 7);
    }

    scoutlb::config once("{\"servers\": [\"a\"], \"probe\": \"callback\", \"retry\": {\"max_tries\": 2, \"base_ms\": 1}}");
    once.probe([](const scoutlb::probe_request &) { return false; });
    scoutlb::client bounded(once);
    CHECK_THROWS(bounded.connect_with_retry(), SCOUTLB_ALL_FAILED, "a:22123");
    CHECK_THROWS(bounded.connect_with_retry(scoutlb::stop_function()), SCOUTLB_ALL_FAILED, "a:22123");

    // The handshake profile (behaviour.md, "All fail"): max_retries + 1 tries, the interval doubling ± 10 %.
    int tries = 0;
    scoutlb::config handshake("{\"servers\": [\"a\"], \"probe\": \"callback\"}");
    handshake.set("retry.profile", "handshake").set("retry.timer_ms", 1).set("retry.max_retries", 2);
    handshake.probe([&tries](const scoutlb::probe_request &) { return ++tries < 0; });
    scoutlb::client scout(handshake);
    CHECK_THROWS(scout.connect_with_retry(), SCOUTLB_ALL_FAILED, "a:22123");
    CHECK(tries == 3);
    handshake.set("retry.timer_ms", 1000);
    scoutlb::client slower(handshake);
    CHECK(slower.backoff(1) >= std::chrono::milliseconds(1800) && slower.backoff(1) <= std::chrono::milliseconds(2200));
    CHECK_THROWS(handshake.set("retry.profile", "scout"), SCOUTLB_CONFIG, "`retry.profile`");
}

void test_callbacks_outlive_config_and_moves() {
    scoutlb::config cfg("{\"servers\": [\"a\", \"b\"], \"probe\": \"callback\", \"attempt_delay_ms\": 0}");
    cfg.probe([](const scoutlb::probe_request &req) { return req.host() == "a"; });
    auto first = std::make_unique<scoutlb::client>(cfg);
    cfg.probe([](const scoutlb::probe_request &req) { return req.host() == "b"; });
    scoutlb::client second(cfg);
    {
        scoutlb::config gone = std::move(cfg);  // the config goes away; the clients keep their probes
    }
    CHECK(first->connect().server == "a:22123");
    CHECK(second.connect().server == "b:22123");

    scoutlb::client moved(std::move(second));
    CHECK(moved.connect().server == "b:22123");
    CHECK(second.c_handle() == nullptr);
    moved = std::move(*first);  // frees the old client first, then takes over
    first.reset();
    CHECK(moved.connect().server == "a:22123");
}

void test_threads() {
    scoutlb::config cfg("{\"servers\": [\"a\", \"b\", \"c\"], \"probe\": \"callback\", \"attempt_delay_ms\": 0}");
    std::atomic<int> probes{0};
    cfg.probe([&probes](const scoutlb::probe_request &req) {
        ++probes;
        return req.host() != "a";
    });
    recorder r;
    cfg.on_event(scoutlb::severity::debug, r.callback());
    scoutlb::client client(cfg);
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&client, &ok] {
            for (int i = 0; i < 25; ++i) {
                if (client.connect().server != "a:22123" && client.candidates().size() == 3) {
                    ++ok;
                }
            }
        });
    }
    for (auto &t : threads) {
        t.join();
    }
    CHECK(ok == 100);
    CHECK(probes >= 100);
    CHECK(r.has("attempt_succeeded"));
}

void test_typed_config() {
    // Every key at its default: the one seed is ScoutSrv.
    scoutlb::config defaults;
    defaults.set("probe", "none");
    CHECK((scoutlb::client(defaults).seeds() == std::vector<std::string>{"scoutsrv:22123"}));

    // Key by key, no JSON; the order does not matter (default_port after the servers).
    scoutlb::config cfg;
    cfg.add("servers", "A.example").add("servers", "b.example:1");
    cfg.set("default_port", 2000).set("probe", std::string("none")).set("attempt_delay_ms", 0u);
    cfg.set("retry.base_ms", std::uint64_t{10}).set("retry.cap_ms", 10).set("retry.factor", 1.5);
    cfg.set("state_file", nullptr).set("device_id", "dev-1").set("failover_order", "spread");
    cfg.add("search_domains", "corp.example").reset("search_domains");
    scoutlb::client client(cfg);
    CHECK((client.seeds() == std::vector<std::string>{"a.example:2000", "b.example:1"}));
    CHECK(client.backoff(8) <= std::chrono::milliseconds(10));

    // Wrong values name the key and change nothing.
    CHECK_THROWS(cfg.set("servers", "c"), SCOUTLB_CONFIG, "`servers`");
    CHECK_THROWS(cfg.add("servers", "c:99999"), SCOUTLB_CONFIG, "`servers`");
    CHECK_THROWS(cfg.set("conect_timeout_ms", 5), SCOUTLB_CONFIG, "`conect_timeout_ms`");
    CHECK_THROWS(cfg.set("connect_timeout_ms", -1), SCOUTLB_CONFIG, "`connect_timeout_ms`");
    CHECK_THROWS(cfg.set("connect_timeout_ms", 1.5), SCOUTLB_CONFIG, "`connect_timeout_ms`");
    CHECK_THROWS(cfg.set("retry.factor", std::nan("")), SCOUTLB_CONFIG, "`retry.factor`");
    CHECK_THROWS(cfg.set("retry.bogus", 1), SCOUTLB_CONFIG, "`retry.bogus`");
    CHECK_THROWS(cfg.add("state_file", "/tmp/x"), SCOUTLB_CONFIG, "`state_file`");
    CHECK_THROWS(cfg.reset("bogus"), SCOUTLB_CONFIG, "`bogus`");
    CHECK_THROWS(cfg.set(std::string("pro\0be", 6), "tcp"), SCOUTLB_INVALID_ARGUMENT, "the key");
    CHECK((scoutlb::client(cfg).seeds() == std::vector<std::string>{"a.example:2000", "b.example:1"}));

    // The rules between keys come when the client is made.
    cfg.reset("device_id");
    CHECK_THROWS(scoutlb::client{cfg}, SCOUTLB_CONFIG, "`device_id`");
}

void test_all_failed_attempts() {
    scoutlb::config cfg;
    cfg.add("servers", "a.example").add("servers", "b.example:7").set("probe", "callback").set("attempt_delay_ms", 0);
    cfg.probe([](const scoutlb::probe_request &req) {
        req.set_reason(std::string(req.host()) + " is down");
        return false;
    });
    scoutlb::client client(cfg);
    try {
        client.connect();
        CHECK(false);
    } catch (const scoutlb::error &e) {
        CHECK(e.code() == SCOUTLB_ALL_FAILED);
        scoutlb::error copy = e;  // what the standard library does when it keeps an exception
        const auto &attempts = copy.attempts();
        CHECK(attempts.size() == 2);
        if (attempts.size() == 2) {
            CHECK(attempts[0].server == "a.example:22123" && attempts[1].server == "b.example:7");
            CHECK(attempts[0].kind == SCOUTLB_ATTEMPT_CALLBACK && attempts[0].kind_name == "callback");
            CHECK(attempts[1].message.find("b.example is down") != std::string::npos);
        }
    }
    CHECK_THROWS(client.report_success("a b"), SCOUTLB_INVALID_SERVER, "");
    try {
        client.report_success("a b");
    } catch (const scoutlb::error &e) {
        CHECK(e.attempts().empty());  // only SCOUTLB_ALL_FAILED has attempts
    }
}

void test_failed_save() {
    char dir[] = "/tmp/scoutlb-cpp-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        CHECK(!"mkdtemp");
        return;
    }
    std::filesystem::path folder = std::filesystem::path(dir) / "state";
    std::filesystem::create_directory(folder);
    scoutlb::config cfg;
    cfg.add("servers", "a").set("probe", "callback").set("state_file", (folder / "state.json").string());
    cfg.probe([](const scoutlb::probe_request &) { return true; });
    scoutlb::client client(cfg);
    std::filesystem::remove_all(folder);  // the folder goes away after the client was made
    scoutlb::connected c = client.connect();
    CHECK(c.server == "a:22123" && !c.saved);
    CHECK(c.save_error.has_value() && c.save_error->find("state.json") != std::string::npos);
    std::filesystem::create_directory(folder);
    c = client.connect();
    CHECK(c.saved && !c.save_error.has_value());
    CHECK(std::filesystem::exists(folder / "state.json"));
    std::filesystem::remove_all(dir);
}

}  // namespace

void test_scout_ini() {
    // behaviour.md, "Scout INI files": the file's entries win over the keys; a bad one names its place.
    char path[] = "/tmp/scoutlb-ini-cpp-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const std::string good = "[Scout]\r\nServerList=127.0.0.2, 127.0.0.3:9\r\n";
    CHECK(write(fd, good.data(), good.size()) == static_cast<ssize_t>(good.size()));
    close(fd);
    scoutlb::config cfg;
    cfg.set("probe", "none").add("servers", "127.0.0.9").add("scout_ini", path);
    CHECK((scoutlb::client(cfg).seeds() == std::vector<std::string>{"127.0.0.2:22123", "127.0.0.3:9"}));
    std::FILE *f = std::fopen(path, "wb");
    CHECK(f != nullptr);
    if (f != nullptr) {
        std::fputs("[Scout]\nServerList=127.0.0.1:0\n", f);
        std::fclose(f);
    }
    CHECK_THROWS(scoutlb::client{cfg}, SCOUTLB_CONFIG, "line 2, section [Scout], entry ServerList");
    unlink(path);
}

void test_tls_levels() {
    // behaviour.md, "TLS": the level is a checked key; "none" is said before every call.
    scoutlb::config cfg;
    CHECK_THROWS(cfg.set("tls_verify", "strict"), SCOUTLB_CONFIG, "`tls_verify`");
    recorder r;
    cfg.set("scheme", "https").set("tls_verify", "none").set("connect_timeout_ms", 500);
    cfg.add("servers", "127.0.0.1:1").on_event(scoutlb::severity::debug, r.callback());
    scoutlb::client client(cfg);
    CHECK_THROWS(client.connect(), SCOUTLB_ALL_FAILED, "127.0.0.1:1");
    CHECK(r.has("tls_unverified - TLS certificates are not checked"));
}

void test_dhcp_first_contact() {
    // behaviour.md, "First contact from DHCP": the OU and the lease of option 222, typed.
    char lease[] = "/tmp/scoutlb-cpp-lease-XXXXXX";
    int fd = mkstemp(lease);
    CHECK(fd >= 0);
    const std::string text = "lease {\n  option unknown-222 \"10.0.0.5; ou=Sales\";\n}\n";
    CHECK(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);
    scoutlb::config cfg;
    cfg.set("probe", "none").add("dhcp_leases", lease);
    scoutlb::client client(cfg);
    CHECK(client.dhcp_ou() == std::optional<std::string>("Sales"));
    CHECK(client.dhcp_lease() == std::optional<std::string>(lease));
    unlink(lease);
    scoutlb::client none(cfg);
    CHECK(!none.dhcp_ou() && !none.dhcp_lease());
}

/** A loopback listener that never accepts: the kernel completes TCP connects to it. */
// The opt-in rebalance: a list where b is far lighter plans the move, rebalance() makes it
// (behaviour.md, "Rebalance"); the lists come from the probe callback.
void test_rebalance() {
    scoutlb::config cfg("{\"servers\": [\"a.example:1\"], \"probe\": \"callback\"}");
    cfg.set("rebalance.enabled", true).set("rebalance.window_ms", 0).set("rebalance.rate", 1000);
    cfg.probe([](const scoutlb::probe_request &req) {
        if (req.host() == "a.example") {
            req.server_list("{\"servers\": [{\"host\": \"a.example\", \"port\": 1, \"id\": \"a\", \"load\": 10}, "
                            "{\"host\": \"b.example\", \"port\": 1, \"id\": \"b\", \"load\": 0, \"weight\": 1000000}], "
                            "\"self\": \"a\"}");
        } else {
            req.server_list("{\"servers\": [{\"host\": \"b.example\", \"port\": 1}]}");
        }
        return true;
    });
    recorder events;
    cfg.on_event(scoutlb::severity::debug, events.callback());
    scoutlb::client client(cfg);
    CHECK(!client.rebalance().has_value());  // nothing planned yet
    CHECK(client.connect().server == "a.example:1");
    auto plan = client.planned_rebalance();
    CHECK(plan.has_value() && plan->from == "a.example:1" && plan->to == "b.example:1");
    CHECK(plan && plan->after <= plan->window && plan->window.count() <= 14);
    auto moved = client.rebalance();
    CHECK(moved.has_value() && moved->server == "b.example:1");
    CHECK(client.default_server() == std::optional<std::string>("b.example:1"));
    CHECK(!client.planned_rebalance().has_value());
    CHECK(events.has("rebalance_planned b.example:1") && events.has("rebalanced b.example:1"));
    CHECK_THROWS(cfg.set("rebalance.nope", true), SCOUTLB_CONFIG, "rebalance.window_ms");
    // On the agent's loop: the connect plans, start_rebalance gives the move's call (its probe
    // request goes to b only), then none once the plan is spent.
    scoutlb::config looped("{\"servers\": [\"a.example:1\"], \"probe\": \"callback\"}");
    looped.set("rebalance.enabled", true).set("rebalance.window_ms", 0).set("rebalance.rate", 1000);
    looped.probe([](const scoutlb::probe_request &) { return false; });  // blocking calls only
    scoutlb::client on_loop(looped);
    std::vector<std::string> asked;
    auto run = [&](scoutlb::pending_call call) {
        for (int rounds = 0; !call.done() && rounds < 1000; ++rounds) {
            while (auto task = call.next_probe()) {
                asked.push_back(task->server);
                call.probe_reached(task->attempt, task->server == "a.example:1"
                                                      ? "{\"servers\": [{\"host\": \"a.example\", \"port\": 1, "
                                                        "\"load\": 10}, {\"host\": \"b.example\", \"port\": 1, "
                                                        "\"load\": 0, \"weight\": 1000000}]}"
                                                      : "{\"servers\": [{\"host\": \"b.example\", \"port\": 1}]}");
            }
            call.process();
        }
        return on_loop.finish(std::move(call));
    };
    CHECK(!on_loop.start_rebalance().has_value());  // nothing planned yet
    CHECK(run(on_loop.start_connect()).server == "a.example:1");
    auto move = on_loop.start_rebalance();
    CHECK(move.has_value());
    if (move) {
        CHECK(run(std::move(*move)).server == "b.example:1");
    }
    CHECK(asked == std::vector<std::string>({"a.example:1", "b.example:1"}));
    CHECK(on_loop.default_server() == std::optional<std::string>("b.example:1"));
    CHECK(!on_loop.start_rebalance().has_value());
}

int listening_socket(std::uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    CHECK(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 && listen(fd, 16) == 0);
    CHECK(getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

void drive(scoutlb::pending_call &call) {
    for (int wakes = 0; !call.done() && wakes < 100000; ++wakes) {
        std::vector<pollfd> fds;
        for (const scoutlb::watch &w : call.watches()) {
            fds.push_back(pollfd{w.fd, static_cast<short>(w.read ? POLLIN : POLLOUT), 0});
        }
        auto timeout = call.timeout();
        CHECK(timeout.has_value());
        poll(fds.data(), fds.size(), static_cast<int>(timeout ? timeout->count() : 0));
        call.process();
    }
}

void test_event_loop() {
    static_assert(!std::is_copy_constructible_v<scoutlb::pending_call>, "a call is not copyable");
    static_assert(std::is_nothrow_move_constructible_v<scoutlb::pending_call>, "a call moves");
    std::uint16_t dead = 0, live = 0;
    int gone = listening_socket(&dead);
    close(gone);  // its port now refuses
    int fd = listening_socket(&live);
    const std::string servers = "{\"probe\": \"tcp\", \"servers\": [\"127.0.0.1:" + std::to_string(dead) +
                                "\", \"127.0.0.1:" + std::to_string(live) + "\"]}";
    scoutlb::client client(servers);
    scoutlb::pending_call call = client.start_connect();
    drive(call);
    scoutlb::connected c = client.finish(std::move(call));
    CHECK(c.server == "127.0.0.1:" + std::to_string(live));
    CHECK(c.failed_attempts == 1);
    // Over http the listener that never accepts never answers: the call waits until cancelled.
    scoutlb::client silent("{\"servers\": [\"127.0.0.1:" + std::to_string(live) + "\"]}");
    scoutlb::pending_call again = silent.start_reconnect();
    CHECK(!again.done() && again.timeout().has_value());
    again.cancel();
    CHECK(again.done() && !again.timeout() && again.watches().empty());
    check_throws([&] { silent.finish(std::move(again)); }, SCOUTLB_CANCELLED, "cancel", __LINE__);
    {
        scoutlb::pending_call dropped = silent.start_connect();  // destroyed unfinished: cancelled
        CHECK(!dropped.done() && !dropped.watches().empty());
    }
    // The callback probe's attempts are run by the loop: the first refused, the second reached.
    scoutlb::config own;
    own.add("servers", "127.0.0.1:1").add("servers", "127.0.0.1:2").set("probe", "callback");
    own.probe([](const scoutlb::probe_request &) { return false; });  // blocking calls only
    scoutlb::client looped(own);
    scoutlb::pending_call asked = looped.start_connect();
    std::vector<std::string> tried;
    for (int rounds = 0; !asked.done() && rounds < 1000; ++rounds) {
        while (auto task = asked.next_probe()) {
            tried.push_back(task->server);
            CHECK(task->timeout.count() > 0);
            if (task->server == "127.0.0.1:1") {
                asked.probe_failed(task->attempt, "no");
            } else {
                asked.probe_reached(task->attempt);
            }
        }
        asked.process();
    }
    CHECK(!asked.next_abandoned().has_value());
    scoutlb::connected mine = looped.finish(std::move(asked));
    CHECK(mine.server == "127.0.0.1:2" && mine.failed_attempts == 1);
    CHECK(tried.size() == 2 && tried[0] == "127.0.0.1:1");
    // A retrying call on the loop: a try per call, finish_try deciding the wait, max_tries the end.
    scoutlb::client retrying("{\"probe\": \"tcp\", \"servers\": [\"127.0.0.1:" + std::to_string(dead) +
                             "\"], \"retry\": {\"base_ms\": 20, \"factor\": 2, \"cap_ms\": 40, \"max_tries\": 3}}");
    std::uint32_t tries = 1;
    for (;; ++tries) {
        scoutlb::pending_call attempt = retrying.start_connect();
        drive(attempt);
        bool last = tries == 3;
        if (last) {
            check_throws([&] { retrying.finish_try(std::move(attempt), tries); }, SCOUTLB_ALL_FAILED,
                         std::to_string(dead), __LINE__);
            break;
        }
        auto result = retrying.finish_try(std::move(attempt), tries);
        CHECK(std::holds_alternative<std::chrono::milliseconds>(result));
        auto wait = std::get<std::chrono::milliseconds>(result);
        CHECK(wait.count() >= 0 && wait.count() <= 20 * (1 << (tries - 1)));
        std::this_thread::sleep_for(wait);
    }
    CHECK(tries == 3);
    scoutlb::pending_call reached = client.start_connect();
    drive(reached);
    auto won = client.finish_try(std::move(reached), 1);
    CHECK(std::holds_alternative<scoutlb::connected>(won) &&
          std::get<scoutlb::connected>(won).server == "127.0.0.1:" + std::to_string(live));
    scoutlb::pending_call zero = client.start_connect();
    check_throws([&] { client.finish_try(std::move(zero), 0); }, SCOUTLB_INVALID_ARGUMENT, "tries", __LINE__);
    scoutlb::config none;
    none.set("probe", "none");
    scoutlb::client agent(none);
    check_throws([&] { agent.start_connect(); }, SCOUTLB_UNSUPPORTED, "event-loop", __LINE__);
    close(fd);
}

int main() {
    test_free_functions();
    test_config_errors();
    test_agent_driven();
    test_big_lists();
    test_callback_probe();
    test_event_callback_throws();
    test_transport_up_and_list();
    test_probe_drains_and_refuses();
    test_state_dropped();
    test_list_problem();
    test_cancel();
    test_stop_callback();
    test_callbacks_outlive_config_and_moves();
    test_threads();
    test_typed_config();
    test_scout_ini();
    test_tls_levels();
    test_dhcp_first_contact();
    test_all_failed_attempts();
    test_failed_save();
    test_rebalance();
    // Last: it starts no thread, so the blocking calls' attempt threads have ended before the
    // process exits (Valgrind counts a thread still ending as possibly lost memory).
    test_event_loop();
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
