// A small device agent on the scoutlb C++ API (scoutlb.hpp): the C++ twin of examples/c/agent.c.
//
// Reads a JSON configuration file (the configuration keys of docs/behaviour.md), connects to a management server, prints the
// server it chose and the server list, and fails over when its connection is lost.
//
//   agent CONFIG.json            connect, print, exit
//   agent CONFIG.json --lost     ... then simulate one lost connection and fail over
//   agent CONFIG.json --stdin    ... then read commands from stdin, one per line:
//                                 "lost" (fail over), "list" (print the list), "quit"
//
// Events (attempts, list updates, default changes) are logged to stderr.
// Build: cmake (find_package(scoutlb)) or make (pkg-config scoutlb), see CMakeLists.txt and Makefile.
#include <scoutlb.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

/** Print the server list, one entry per line. */
void print_list(const scoutlb::client &client) {
    std::cout << "server list:\n";
    for (const auto &server : client.server_list()) {
        std::cout << "  " << server << '\n';
    }
    std::cout.flush();
}

/** The connection to the current server was lost: show the new order and fail over. */
void fail_over(const scoutlb::client &client) {
    std::cout << "connection lost; trying in order:";
    for (const auto &server : client.connection_lost()) {
        std::cout << ' ' << server;
    }
    std::cout << '\n';
    scoutlb::connected connected = client.reconnect();
    std::cout << "connected to " << connected.server << " (" << connected.failed_attempts
              << " failed attempt(s) before)" << std::endl;
}

/** Read a whole file. */
std::string read_file(const char *path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(std::string(path) + ": " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

int main(int argc, char **argv) {
    std::string mode = argc == 3 ? argv[2] : "";
    if (argc < 2 || argc > 3 || (argc == 3 && mode != "--lost" && mode != "--stdin")) {
        std::cerr << "usage: " << argv[0] << " CONFIG.json [--lost | --stdin]\n";
        return 2;
    }
    if (scoutlb::version() != SCOUTLB_VERSION) {
        std::cerr << "agent: built with scoutlb.h " << SCOUTLB_VERSION << " but runs with libscoutlb "
                  << scoutlb::version() << '\n';
    }
    try {
        scoutlb::config config(read_file(argv[1]));
        config.on_event(scoutlb::severity::info, [](const scoutlb::event &event) {
            static const char *const levels[] = {"debug", "info", "warning"};
            auto level = static_cast<unsigned>(event.severity);
            std::cerr << "scoutlb " << (level <= 2 ? levels[level] : "?") << ": " << event.message << '\n';
        });
        scoutlb::client client(config);

        scoutlb::connected connected = client.connect();
        std::cout << "connected to " << connected.server << (connected.via_balancer ? " via the ManagerLoadBalancer" : "")
                  << " (" << connected.failed_attempts << " failed attempt(s) before)\n";
        print_list(client);

        bool ok = true;
        if (mode == "--lost") {
            fail_over(client);
        } else if (mode == "--stdin") {
            std::string line;
            while (std::getline(std::cin, line)) {
                if (!line.empty() && line.back() == '\r') {
                    line.pop_back();
                }
                try {
                    if (line == "lost") {
                        fail_over(client);
                    } else if (line == "list") {
                        print_list(client);
                    } else if (line == "quit") {
                        break;
                    } else if (!line.empty()) {
                        std::cerr << "agent: unknown command \"" << line << "\" (lost, list, quit)\n";
                    }
                } catch (const scoutlb::error &e) {
                    std::cerr << "agent: " << line << " failed: " << e.name() << ": " << e.what() << '\n';
                    ok = false;
                }
            }
        }
        return ok ? 0 : 1;
    } catch (const scoutlb::error &e) {
        std::cerr << "agent: " << e.name() << ": " << e.what() << '\n';
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "agent: " << e.what() << '\n';
        return 1;
    }
}
