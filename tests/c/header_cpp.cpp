// The header compiled as C++17 (g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror) and used from C++.
#include <scoutlb.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static_assert(SCOUTLB_VERSION_MAJOR >= 0 && SCOUTLB_VERSION_MINOR >= 0 && SCOUTLB_VERSION_PATCH >= 0, "version");
static_assert(sizeof(scoutlb_status) == 4, "status codes are 32-bit");
static_assert(SCOUTLB_SERVER_TEXT_SIZE >= 260, "room for a 253-byte host and a port");

namespace {

int failures = 0;

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "FAIL %s\n", what);
        ++failures;
    }
}

void count_event(void *user_data, const scoutlb_event *event) {
    static_cast<std::vector<std::string> *>(user_data)->push_back(event->kind_name);
}

}  // namespace

int main() {
    std::vector<std::string> events;
    scoutlb_config *config = nullptr;
    scoutlb_client *client = nullptr;
    check(std::strcmp(scoutlb_version(), SCOUTLB_VERSION) == 0, "version");
    check(scoutlb_config_new(R"({"servers": ["a", "b"], "probe": "none"})", &config) == SCOUTLB_OK, "config");
    check(scoutlb_config_set_event_callback(config, SCOUTLB_SEVERITY_DEBUG, count_event, &events) == SCOUTLB_OK,
          "events");
    check(scoutlb_client_new(config, &client) == SCOUTLB_OK, "client");
    scoutlb_config_free(config);
    check(scoutlb_client_report_success(client, "b") == SCOUTLB_OK, "report");
    std::size_t len = 0;
    check(scoutlb_client_candidates(client, nullptr, 0, &len) == SCOUTLB_BUFFER_TOO_SMALL, "size");
    std::string text(len, '\0');
    check(scoutlb_client_candidates(client, &text[0], text.size(), &len) == SCOUTLB_OK, "candidates");
    text.resize(len - 1);
    check(text == "b:22123\na:22123\n", "order");
    check(!events.empty() && events.back() == "default_changed", "event seen");
    scoutlb_connected connected{};
    auto go_on = [](void *, const scoutlb_stop_params *) -> std::uint32_t { return 0; };
    check(scoutlb_client_connect_with_retry_until(client, go_on, nullptr, &connected) == SCOUTLB_UNSUPPORTED,
          "a lambda as stop callback (probe none: unsupported)");
    scoutlb_client_free(client);
    std::printf("C++17: %s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
