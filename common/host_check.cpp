// Host header checks (see host_check.h).
#include "common/host_check.h"

#include <arpa/inet.h>

#include <cctype>

namespace adabench {

std::string http_host_name(const std::string& h) {
    std::string s;
    if (!h.empty() && h[0] == '[') {
        size_t end = h.find(']');
        s = end == std::string::npos ? h.substr(1) : h.substr(1, end - 1);
    } else {
        size_t colon = h.find(':');
        // More than one colon without brackets: not a host:port form; keep it whole (a bare IPv6).
        s = (colon != std::string::npos && h.find(':', colon + 1) == std::string::npos) ? h.substr(0, colon) : h;
    }
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!s.empty() && s.back() == '.') s.pop_back();  // "localhost." is localhost
    return s;
}

bool http_host_allowed(const std::string& host_header, bool have_host, bool http_10, const std::string& bind) {
    if (!have_host) return http_10;
    std::string host = http_host_name(host_header);
    if (host.empty()) return false;
    in_addr a4;
    in6_addr a6;
    if (inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1) return true;
    if (host == "localhost") return true;
    const std::string suffix = ".localhost";
    if (host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0)
        return true;
    return host == http_host_name(bind);
}

}  // namespace adabench
