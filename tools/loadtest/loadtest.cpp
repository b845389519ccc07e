// The load and abuse generator (see loadtest.h): sockets with poll() deadlines, a tiny HTTP/1.1
// response reader, the client kinds (well-behaved, slow, abuser, flood) and the report.
#include "tools/loadtest/loadtest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace adabench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Clock::time_point after(double s) { return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(s * 1e6)); }

int ms_until(Clock::time_point deadline) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(ms, 1 << 30)));
}

struct Target {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string host_header;  // "127.0.0.1:PORT"
};

// A connected socket, closed on scope exit. Errors are kinds: "refused", "reset", "timeout", ...
class Conn {
public:
    Conn() = default;
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    ~Conn() { reset(); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
    }
    bool open() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    std::string& buffer() { return buf_; }

    // "" or the error kind.
    std::string connect(const Target& t) {
        reset();
        fd_ = ::socket(t.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return "socket: " + std::string(std::strerror(errno));
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&t.addr), t.len) != 0) {
            std::string kind = errno == ECONNREFUSED ? "refused" : "connect: " + std::string(std::strerror(errno));
            reset();
            return kind;
        }
        return "";
    }

    // Sends everything before the deadline; "" or "reset", "timeout", ...
    std::string send_all(const std::string& data, Clock::time_point deadline) {
        size_t sent = 0;
        while (sent < data.size()) {
            pollfd p{fd_, POLLOUT, 0};
            int rc = ::poll(&p, 1, ms_until(deadline));
            if (rc == 0) return "timeout";
            if (rc < 0 && errno == EINTR) continue;
            ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n <= 0) return errno == EPIPE || errno == ECONNRESET ? "reset" : std::strerror(errno);
            sent += static_cast<size_t>(n);
        }
        return "";
    }

    // Reads more bytes into the buffer: 1 = got some, 0 = EOF, -1 = error (kind set), -2 = timeout.
    int fill(Clock::time_point deadline, std::string* kind) {
        while (true) {
            pollfd p{fd_, POLLIN, 0};
            int rc = ::poll(&p, 1, ms_until(deadline));
            if (rc == 0) {
                *kind = "timeout";
                return -2;
            }
            if (rc < 0 && errno == EINTR) continue;
            char tmp[16384];
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n < 0) {
                *kind = errno == ECONNRESET ? "reset" : std::strerror(errno);
                return -1;
            }
            if (n == 0) return 0;
            buf_.append(tmp, static_cast<size_t>(n));
            return 1;
        }
    }

private:
    int fd_ = -1;
    std::string buf_;
};

struct Response {
    int status = 0;
    bool close = false;
    size_t body_bytes = 0;
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// One response from the connection (leftover bytes stay in its buffer). "" or the error kind:
// "closed" (EOF before a whole response), "reset", "timeout", "malformed".
std::string read_response(Conn& c, Clock::time_point deadline, Response* out) {
    std::string& b = c.buffer();
    std::string kind;
    size_t head_end;
    while ((head_end = b.find("\r\n\r\n")) == std::string::npos) {
        if (b.size() > 65536) return "malformed";
        int rc = c.fill(deadline, &kind);
        if (rc == 0) return "closed";
        if (rc < 0) return kind;
    }
    std::string head = b.substr(0, head_end);
    if (head.compare(0, 7, "HTTP/1.") != 0 || head.size() < 12) return "malformed";
    out->status = std::atoi(head.c_str() + 9);
    if (out->status < 100 || out->status > 599) return "malformed";
    long long length = -1;
    out->close = head.compare(0, 8, "HTTP/1.0") == 0;
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = lower(line.substr(0, colon)), value = lower(line.substr(colon + 1));
        value.erase(0, value.find_first_not_of(' '));
        if (name == "content-length") length = std::atoll(value.c_str());
        if (name == "connection") out->close = value.find("close") != std::string::npos;
        if (name == "transfer-encoding") return "malformed";  // our servers never chunk
    }
    size_t body_start = head_end + 4;
    if (length < 0) {  // no length: the body runs to EOF
        while (true) {
            int rc = c.fill(deadline, &kind);
            if (rc == 0) break;
            if (rc < 0) return kind;
        }
        out->body_bytes = b.size() - body_start;
        out->close = true;
        b.clear();
        return "";
    }
    while (b.size() - body_start < static_cast<size_t>(length)) {
        int rc = c.fill(deadline, &kind);
        if (rc == 0) return "closed";
        if (rc < 0) return kind;
    }
    out->body_bytes = static_cast<size_t>(length);
    b.erase(0, body_start + static_cast<size_t>(length));
    return "";
}

std::string build_request(const LoadRequest& r, const Target& t, const std::string& auth) {
    std::string s =
        r.method + " " + r.path + " HTTP/1.1\r\nHost: " + t.host_header + "\r\nUser-Agent: adabench-loadtest\r\n";
    if (!auth.empty()) s += "Authorization: " + auth + "\r\n";
    if (!r.body.empty() || r.method == "POST") {
        s += "Content-Type: application/json\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
    }
    return s + "\r\n" + r.body;
}

// Peak-tracking reader of /proc/PID/status.
int64_t proc_status_kb(int pid, const char* field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    const size_t n = std::strlen(field);
    while (std::getline(in, line)) {
        if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
            return std::atoll(line.c_str() + n + 1);
    }
    return -1;
}

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

// ---- the abuse cases ----

struct AbuseCase {
    std::string name;
    std::string expected;  // for people
    std::function<std::string(const Target&, const LoadTestOptions&)> make;
    std::vector<std::string> ok;  // outcomes that count as right
};

std::string host_line(const Target& t) { return "Host: " + t.host_header + "\r\n"; }

std::vector<AbuseCase> abuse_cases() {
    std::vector<AbuseCase> v;
    auto add = [&](std::string name, std::vector<std::string> ok,
                   std::function<std::string(const Target&, const LoadTestOptions&)> make) {
        std::string expected;
        for (const auto& o : ok) expected += (expected.empty() ? "" : " or ") + o;
        v.push_back(AbuseCase{std::move(name), expected, std::move(make), std::move(ok)});
    };
    // Sizes go 4x past the server's limits. A server that answers and closes while the client is
    // still writing may reset the connection before the answer is read: "reset" is accepted there.
    add("huge-header", {"431", "reset"}, [](const Target& t, const LoadTestOptions& o) {
        return "GET / HTTP/1.1\r\n" + host_line(t) + "X-Big: " + std::string(4 * o.max_header_bytes, 'a') + "\r\n\r\n";
    });
    add("many-headers", {"431", "reset"}, [](const Target& t, const LoadTestOptions& o) {
        std::string s = "GET / HTTP/1.1\r\n" + host_line(t);
        for (size_t i = 0; s.size() < 4 * o.max_header_bytes; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
        return s + "\r\n";
    });
    add("long-url", {"414", "431", "reset"}, [](const Target& t, const LoadTestOptions& o) {
        return "GET /" + std::string(4 * o.max_header_bytes, 'u') + " HTTP/1.1\r\n" + host_line(t) + "\r\n";
    });
    add("huge-body", {"413"}, [](const Target& t, const LoadTestOptions& o) {
        return "POST / HTTP/1.1\r\n" + host_line(t) +
               "Content-Type: application/json\r\nContent-Length: " + std::to_string(4 * o.max_body_bytes + 1) +
               "\r\n\r\n" + std::string(1024, '[');
    });
    add("huge-chunk", {"413"}, [](const Target& t, const LoadTestOptions& o) {
        char size[32];
        std::snprintf(size, sizeof size, "%zx", 4 * o.max_body_bytes + 1);
        return "POST / HTTP/1.1\r\n" + host_line(t) + "Transfer-Encoding: chunked\r\n\r\n" + size + "\r\n" +
               std::string(1024, 'x');
    });
    add("bad-chunked", {"400"}, [](const Target& t, const LoadTestOptions&) {
        return "POST / HTTP/1.1\r\n" + host_line(t) + "Transfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n";
    });
    add("bad-request-line", {"400"},
        [](const Target&, const LoadTestOptions&) { return std::string("GARBAGE\r\n\r\n"); });
    add("bad-version", {"400"},
        [](const Target& t, const LoadTestOptions&) { return "GET / HTTP/x.y\r\n" + host_line(t) + "\r\n"; });
    add("negative-length", {"400"}, [](const Target& t, const LoadTestOptions&) {
        return "POST / HTTP/1.1\r\n" + host_line(t) + "Content-Length: -5\r\n\r\n";
    });
    add("two-lengths", {"400"}, [](const Target& t, const LoadTestOptions&) {
        return "POST / HTTP/1.1\r\n" + host_line(t) + "Content-Length: 2\r\nContent-Length: 7\r\n\r\n{}";
    });
    add("nul-in-header", {"400"}, [](const Target& t, const LoadTestOptions&) {
        return "GET / HTTP/1.1\r\n" + host_line(t) + "X-A: a" + std::string(1, '\0') + "b\r\n\r\n";
    });
    add("binary-noise", {"400", "reset"}, [](const Target&, const LoadTestOptions&) {
        std::string s(4096, '\0');
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (char& c : s) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c = static_cast<char>(x & 0xff);
        }
        return s;
    });
    add("bad-host", {"403"}, [](const Target&, const LoadTestOptions& o) {
        return "GET " + o.probe_path + " HTTP/1.1\r\nHost: evil.example\r\n\r\n";
    });
    add("no-host", {"400", "403"},
        [](const Target&, const LoadTestOptions& o) { return "GET " + o.probe_path + " HTTP/1.1\r\n\r\n"; });
    // A good request and garbage in one write: the good one is answered, then the garbage is a 400
    // (or the connection closes).
    add("pipelined-garbage", {"200+400", "200+closed", "200+reset"}, [](const Target& t, const LoadTestOptions& o) {
        return "GET " + o.probe_path + " HTTP/1.1\r\n" + host_line(t) + "\r\n\x01\x02 garbage \xff\r\n\r\n";
    });
    // Two good requests in one write: both answered, in order.
    add("pipelined-pair", {"200+200"}, [](const Target& t, const LoadTestOptions& o) {
        std::string r = "GET " + o.probe_path + " HTTP/1.1\r\n" + host_line(t) + "\r\n";
        return r + r;
    });
    return v;
}

// Sends one abuse case on a fresh connection and names what came back.
std::string abuse_once(const AbuseCase& c, const Target& t, const LoadTestOptions& opt) {
    Conn conn;
    std::string kind = conn.connect(t);
    if (!kind.empty()) return kind;
    auto deadline = after(std::min(opt.io_timeout_s, 10.0));
    std::string send_kind = conn.send_all(c.make(t, opt), deadline);
    if (send_kind == "timeout") return "send timeout";
    std::string outcome;
    bool two = c.name.rfind("pipelined", 0) == 0;
    for (int i = 0; i < (two ? 2 : 1); ++i) {
        Response r;
        std::string k = read_response(conn, deadline, &r);
        if (!outcome.empty()) outcome += "+";
        outcome += k.empty() ? std::to_string(r.status) : k;
        if (!k.empty() || r.close) {
            if (two && i == 0 && k.empty()) outcome += "+closed";
            break;
        }
    }
    return outcome;
}

}  // namespace

bool loadtest_parse_url(const std::string& url, std::string* host, uint16_t* port, std::string* error) {
    const std::string scheme = "http://";
    if (url.compare(0, scheme.size(), scheme) != 0) {
        *error = "'" + url + "' is not an http:// URL";
        return false;
    }
    std::string rest = url.substr(scheme.size());
    rest = rest.substr(0, rest.find('/'));
    std::string h, p;
    if (!rest.empty() && rest[0] == '[') {
        size_t close = rest.find(']');
        if (close == std::string::npos) {
            *error = "'" + url + "': unclosed '['";
            return false;
        }
        h = rest.substr(1, close - 1);
        if (close + 1 < rest.size() && rest[close + 1] == ':') p = rest.substr(close + 2);
    } else {
        size_t colon = rest.rfind(':');
        h = rest.substr(0, colon);
        if (colon != std::string::npos) p = rest.substr(colon + 1);
    }
    if (h == "localhost") h = "127.0.0.1";
    in_addr a4{};
    in6_addr a6{};
    bool loopback = false;
    if (inet_pton(AF_INET, h.c_str(), &a4) == 1) {
        loopback = (ntohl(a4.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
        loopback = IN6_IS_ADDR_LOOPBACK(&a6);
    } else {
        *error = "'" + h + "' is not an IP address or localhost (only loopback targets are load-tested)";
        return false;
    }
    if (!loopback) {
        *error = "refusing the non-loopback target " + h + " (only 127.0.0.0/8 and ::1 are load-tested)";
        return false;
    }
    if (p.empty()) p = "80";
    char* end = nullptr;
    long v = std::strtol(p.c_str(), &end, 10);
    if (*end != '\0' || v < 1 || v > 65535) {
        *error = "'" + p + "' is not a port";
        return false;
    }
    *host = h;
    *port = static_cast<uint16_t>(v);
    return true;
}

LoadTestResult loadtest_run(const LoadTestOptions& opt) {
    std::string host, error;
    uint16_t port = 0;
    if (!loadtest_parse_url(opt.url, &host, &port, &error)) throw UsageError("adabench-loadtest: " + error);
    if (opt.requests.empty() && opt.clients > 0) throw UsageError("adabench-loadtest: no requests to send");
    if (opt.clients < 0 || opt.clients > 4096 || opt.slow_clients < 0 || opt.slow_clients > 4096 ||
        opt.flood_connections < 0 || opt.flood_connections > 60000 || !(opt.seconds > 0 && opt.seconds <= 86400))
        throw UsageError("adabench-loadtest: clients, slow clients, flood or seconds out of range");
    ::signal(SIGPIPE, SIG_IGN);

    Target t;
    if (host.find(':') != std::string::npos) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&t.addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
        t.len = sizeof(sockaddr_in6);
        t.host_header = "[" + host + "]:" + std::to_string(port);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&t.addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, host.c_str(), &a->sin_addr);
        t.len = sizeof(sockaddr_in);
        t.host_header = host + ":" + std::to_string(port);
    }

    LoadTestResult res;
    res.target = opt.url;
    std::mutex mu;
    std::vector<double> latencies_ms;
    std::atomic<bool> stop{false};
    const auto t0 = Clock::now();
    const auto end = after(opt.seconds);

    // Memory sampler.
    if (opt.pid > 0) res.rss_start_kb = proc_status_kb(opt.pid, "VmRSS");
    std::atomic<int64_t> rss_peak{res.rss_start_kb};
    std::thread sampler;
    if (opt.pid > 0) {
        sampler = std::thread([&] {
            while (!stop.load()) {
                int64_t kb = proc_status_kb(opt.pid, "VmRSS");
                if (kb > rss_peak.load()) rss_peak = kb;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        });
    }

    std::vector<std::thread> threads;
    // Well-behaved clients: keep-alive, one request at a time, reconnect when closed.
    for (int ci = 0; ci < opt.clients; ++ci) {
        threads.emplace_back([&, ci] {
            std::vector<double> lat;
            std::map<std::string, int64_t> errs;
            int64_t n_ok = 0;
            Conn c;
            size_t next = static_cast<size_t>(ci);
            std::vector<std::string> wire;
            for (const auto& r : opt.requests) wire.push_back(build_request(r, t, opt.authorization));
            while (Clock::now() < end) {
                if (!c.open()) {
                    std::string k = c.connect(t);
                    if (!k.empty()) {
                        ++errs[k];
                        std::this_thread::sleep_for(std::chrono::milliseconds(10));
                        continue;
                    }
                }
                const std::string& w = wire[next++ % wire.size()];
                auto start = Clock::now();
                auto deadline = after(opt.io_timeout_s);
                std::string k = c.send_all(w, deadline);
                Response r;
                if (k.empty()) k = read_response(c, deadline, &r);
                if (!k.empty()) {
                    // A keep-alive connection the server closed between requests is not an error
                    // of the request; a request never answered is.
                    ++errs[k];
                    c.reset();
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                    continue;
                }
                lat.push_back(seconds_since(start) * 1e3);
                if (r.status < 400) {
                    ++n_ok;
                } else {
                    ++errs["status " + std::to_string(r.status)];
                }
                if (r.close) c.reset();
            }
            std::lock_guard<std::mutex> lock(mu);
            latencies_ms.insert(latencies_ms.end(), lat.begin(), lat.end());
            res.n_ok += n_ok;
            for (auto& [k, n] : errs) res.errors[k] += n;
        });
    }

    // Slow clients: dribble one byte per interval; reconnect when cut off.
    for (int si = 0; si < opt.slow_clients; ++si) {
        threads.emplace_back([&, si] {
            bool body_mode = si % 2 == 1;
            int64_t n_conn = 0, n_cut = 0;
            double cut_min = 1e30, cut_max = 0, held_max = 0;
            std::map<std::string, int64_t> answers;
            while (Clock::now() < end) {
                Conn c;
                if (!c.connect(t).empty()) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                    continue;
                }
                ++n_conn;
                auto c0 = Clock::now();
                std::string start = "GET " + opt.probe_path + " HTTP/1.1\r\n" + host_line(t);
                if (body_mode) {
                    start = "POST " + opt.probe_path + " HTTP/1.1\r\n" + host_line(t) +
                            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
                } else {
                    start += "X-Slow: ";
                }
                std::string outcome = c.send_all(start, after(1.0));
                while (outcome.empty() && Clock::now() < end) {
                    pollfd p{c.fd(), POLLIN, 0};
                    int rc = ::poll(&p, 1, std::min(ms_until(end), static_cast<int>(opt.slow_interval_s * 1000)));
                    if (rc > 0) {
                        Response r;
                        std::string k = read_response(c, after(1.0), &r);
                        outcome = k.empty() ? std::to_string(r.status) : k;
                        break;
                    }
                    std::string k = c.send_all(body_mode ? " " : "s", after(1.0));
                    if (!k.empty()) outcome = k;
                }
                double held = seconds_since(c0);
                held_max = std::max(held_max, held);
                if (!outcome.empty()) {
                    ++n_cut;
                    ++answers[outcome];
                    cut_min = std::min(cut_min, held);
                    cut_max = std::max(cut_max, held);
                }
            }
            std::lock_guard<std::mutex> lock(mu);
            res.n_slow_connections += n_conn;
            if (n_cut > 0) {
                res.slow_cut_min_s = res.n_slow_cut == 0 ? cut_min : std::min(res.slow_cut_min_s, cut_min);
                res.slow_cut_max_s = std::max(res.slow_cut_max_s, cut_max);
            }
            res.n_slow_cut += n_cut;
            res.slow_max_held_s = std::max(res.slow_max_held_s, held_max);
            for (auto& [k, n] : answers) res.slow_answers[k] += n;
        });
    }

    // Big bodies: the most memory a request may make the server hold, over and over.
    for (int bi = 0; bi < opt.big_body_clients; ++bi) {
        threads.emplace_back([&] {
            const std::string head = "{\"prompt\": \"x\", \"padding\": \"";
            const size_t pad = opt.max_body_bytes > head.size() + 16 ? opt.max_body_bytes - head.size() - 16 : 1;
            LoadRequest r{"POST", opt.big_body_path, head + std::string(pad, 'a') + "\"}"};
            const std::string wire = build_request(r, t, opt.authorization);
            std::map<std::string, int64_t> answers;
            int64_t n = 0;
            Conn c;
            while (Clock::now() < end) {
                if (!c.open() && !c.connect(t).empty()) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    continue;
                }
                Response resp;
                auto deadline = after(opt.io_timeout_s);
                std::string k = c.send_all(wire, deadline);
                if (k.empty()) k = read_response(c, deadline, &resp);
                ++answers[k.empty() ? std::to_string(resp.status) : k];
                if (k.empty()) ++n;
                if (!k.empty() || resp.close) c.reset();
            }
            std::lock_guard<std::mutex> lock(mu);
            res.n_big_bodies += n;
            for (auto& [a, m] : answers) res.big_answers[a] += m;
        });
    }

    // The abuser: every case in turn until the end (at least once each).
    std::vector<AbuseCase> cases = opt.abuse ? abuse_cases() : std::vector<AbuseCase>{};
    res.abuse.resize(cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
        res.abuse[i].name = cases[i].name;
        res.abuse[i].expected = cases[i].expected;
    }
    if (opt.abuse) {
        threads.emplace_back([&] {
            bool first = true;
            while (first || Clock::now() < end) {
                for (size_t i = 0; i < cases.size(); ++i) {
                    std::string got = abuse_once(cases[i], t, opt);
                    bool ok = std::find(cases[i].ok.begin(), cases[i].ok.end(), got) != cases[i].ok.end();
                    std::lock_guard<std::mutex> lock(mu);
                    ++res.abuse[i].got[got];
                    if (!ok) ++res.abuse[i].n_unexpected;
                }
                first = false;
            }
        });
    }

    for (auto& th : threads) th.join();
    res.elapsed_s = seconds_since(t0);
    std::sort(latencies_ms.begin(), latencies_ms.end());
    res.n_requests = static_cast<int64_t>(latencies_ms.size());
    res.requests_per_s = static_cast<double>(res.n_requests) / std::max(opt.seconds, 1e-9);
    res.p50_ms = percentile(latencies_ms, 0.50);
    res.p90_ms = percentile(latencies_ms, 0.90);
    res.p99_ms = percentile(latencies_ms, 0.99);
    res.max_ms = latencies_ms.empty() ? 0 : latencies_ms.back();
    for (const auto& a : res.abuse) res.n_abuse_unexpected += a.n_unexpected;

    LoadRequest probe;
    probe.path = opt.probe_path;
    const std::string probe_wire = build_request(probe, t, opt.authorization);
    // A request that succeeds within `seconds` (fresh connections; the server may still be
    // closing the sockets of a moment ago).
    auto probe_ok = [&](double seconds) {
        auto until = after(seconds);
        do {
            Conn c;
            Response r;
            if (c.connect(t).empty() && c.send_all(probe_wire, after(5)).empty() &&
                read_response(c, after(5), &r).empty() && r.status < 500)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        } while (Clock::now() < until);
        return false;
    };

    // The flood: idle connections all at once; the ones over the server's cap are closed at once.
    if (opt.flood_connections > 0) {
        std::vector<std::unique_ptr<Conn>> flood;
        for (int i = 0; i < opt.flood_connections; ++i) {
            auto c = std::make_unique<Conn>();
            if (!c->connect(t).empty()) {
                ++res.n_flood_refused;  // refused outright (listen backlog full)
                continue;
            }
            flood.push_back(std::move(c));
        }
        res.n_flood = opt.flood_connections;
        // Scan until the deadline (a loaded machine may take a while to accept and close them all),
        // counting each closed connection once.
        const auto flood_deadline = after(opt.flood_wait_s);
        std::vector<bool> closed(flood.size(), false);
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            for (size_t i = 0; i < flood.size(); ++i) {
                if (closed[i]) continue;
                pollfd p{flood[i]->fd(), POLLIN, 0};
                if (::poll(&p, 1, 0) > 0) {
                    std::string kind;
                    if (flood[i]->fill(after(0.1), &kind) <= 0) {
                        closed[i] = true;
                        ++res.n_flood_refused;
                    }
                }
            }
        } while (std::chrono::steady_clock::now() < flood_deadline);
        flood.clear();
        res.flood_recovered = probe_ok(5.0);
    }

    res.server_alive = probe_ok(5.0);
    if (opt.pid > 0) {
        res.server_alive = res.server_alive && ::kill(opt.pid, 0) == 0;
        res.hwm_end_kb = proc_status_kb(opt.pid, "VmHWM");
        res.rss_end_kb = proc_status_kb(opt.pid, "VmRSS");
    }
    stop = true;
    if (sampler.joinable()) sampler.join();
    res.rss_peak_kb = std::max(rss_peak.load(), res.rss_end_kb);
    return res;
}

std::string loadtest_format(const LoadTestResult& r) {
    auto f = [](const char* fmt, auto... args) {
        char b[512];
        std::snprintf(b, sizeof b, fmt, args...);
        return std::string(b);
    };
    auto kinds = [](const std::map<std::string, int64_t>& m) {
        std::string s;
        for (const auto& [k, n] : m) s += (s.empty() ? "" : ", ") + k + " x" + std::to_string(n);
        return s.empty() ? std::string("none") : s;
    };
    std::string o;
    o += f("target         %s\n", r.target.c_str());
    o += f("load           %lld responses in %.1f s: %.1f req/s, %lld ok (status < 400)\n",
           static_cast<long long>(r.n_requests), r.elapsed_s, r.requests_per_s, static_cast<long long>(r.n_ok));
    o += f("latency        p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.p50_ms, r.p90_ms, r.p99_ms,
           r.max_ms);
    o += "errors         " + kinds(r.errors) + "\n";
    if (r.n_slow_connections > 0) {
        o += f("slow clients   %lld connections, %lld cut off after %.2f-%.2f s (%s); longest held %.2f s\n",
               static_cast<long long>(r.n_slow_connections), static_cast<long long>(r.n_slow_cut), r.slow_cut_min_s,
               r.slow_cut_max_s, kinds(r.slow_answers).c_str(), r.slow_max_held_s);
    }
    if (!r.big_answers.empty()) {
        o += f("big bodies     %lld full-size bodies answered (%s)\n", static_cast<long long>(r.n_big_bodies),
               kinds(r.big_answers).c_str());
    }
    if (!r.abuse.empty()) {
        int64_t n = 0;
        for (const auto& a : r.abuse)
            for (const auto& [k, c] : a.got) n += c;
        o += f("abuse          %zu kinds, %lld requests, %lld unexpected\n", r.abuse.size(), static_cast<long long>(n),
               static_cast<long long>(r.n_abuse_unexpected));
        for (const auto& a : r.abuse) {
            o += f("  %-18s want %-22s got %s%s\n", a.name.c_str(), a.expected.c_str(), kinds(a.got).c_str(),
                   a.n_unexpected ? "  <-- UNEXPECTED" : "");
        }
    }
    if (r.n_flood > 0) {
        o += f("flood          %lld idle connections: %lld closed at once by the server; served afterwards: %s\n",
               static_cast<long long>(r.n_flood), static_cast<long long>(r.n_flood_refused),
               r.flood_recovered ? "yes" : "NO");
    }
    if (r.rss_start_kb >= 0) {
        o +=
            f("server memory  VmRSS %.1f MiB at the start, peak VmRSS %.1f MiB (sampled), VmHWM %.1f MiB, VmRSS %.1f "
              "MiB at the end\n",
              static_cast<double>(r.rss_start_kb) / 1024, static_cast<double>(r.rss_peak_kb) / 1024,
              static_cast<double>(r.hwm_end_kb) / 1024, static_cast<double>(r.rss_end_kb) / 1024);
    }
    o += f("server alive   %s\n", r.server_alive ? "yes" : "NO");
    return o;
}

std::string loadtest_json(const LoadTestResult& r) {
    nlohmann::json abuse = nlohmann::json::array();
    for (const auto& a : r.abuse) {
        abuse.push_back({{"name", a.name}, {"expected", a.expected}, {"got", a.got}, {"unexpected", a.n_unexpected}});
    }
    nlohmann::json j = {{"target", r.target},
                        {"elapsed_s", r.elapsed_s},
                        {"n_requests", r.n_requests},
                        {"n_ok", r.n_ok},
                        {"requests_per_s", r.requests_per_s},
                        {"p50_ms", r.p50_ms},
                        {"p90_ms", r.p90_ms},
                        {"p99_ms", r.p99_ms},
                        {"max_ms", r.max_ms},
                        {"errors", r.errors},
                        {"slow_connections", r.n_slow_connections},
                        {"slow_cut", r.n_slow_cut},
                        {"slow_cut_min_s", r.slow_cut_min_s},
                        {"slow_cut_max_s", r.slow_cut_max_s},
                        {"slow_max_held_s", r.slow_max_held_s},
                        {"slow_answers", r.slow_answers},
                        {"big_bodies", r.n_big_bodies},
                        {"big_answers", r.big_answers},
                        {"abuse", abuse},
                        {"abuse_unexpected", r.n_abuse_unexpected},
                        {"flood", r.n_flood},
                        {"flood_refused", r.n_flood_refused},
                        {"flood_recovered", r.flood_recovered},
                        {"server_alive", r.server_alive},
                        {"rss_start_kb", r.rss_start_kb},
                        {"rss_peak_kb", r.rss_peak_kb},
                        {"hwm_end_kb", r.hwm_end_kb},
                        {"rss_end_kb", r.rss_end_kb}};
    return j.dump(2) + "\n";
}

}  // namespace adabench
