// The asynchronous HTTP/1.1 client (see http_client.h): one io_context driven by run() on the
// caller's thread, per-URL keep-alive pools, a FIFO queue per URL in front of a bound on requests
// in flight, least-outstanding routing over healthy URLs, one steady_timer per request for its
// total per-attempt deadline (connect + write + read) and for the backoff between attempts,
// draining of URLs whose connections keep failing, with GET health checks until they answer 200.
//
// Deliberately not here: HTTP/2, pipelining, streaming (SSE) bodies, proxies, redirects (a 3xx is
// returned as is), request bodies other than one buffer, cookies. A stale keep-alive connection
// (the server closed it while it sat idle) is retried once on a fresh connection inside the same
// attempt when it fails before any response byte arrived; nothing else is resent silently.
#include "engines/http/http_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <deque>
#include <list>
#include <optional>
#include <random>
#include <sstream>
#include <utility>  // before Boost 1.74 Asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/error.h"

namespace adabench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kBodyLimit = uint64_t{64} << 20;  // a completion body is KBs; 64 MiB is a broken server
constexpr uint32_t kHeaderLimit = 64 << 10;

std::string format_seconds(double s) {
    std::ostringstream o;
    o << s;
    return o.str();
}

Clock::duration to_duration(double s) {
    if (!(s > 0)) return Clock::duration::zero();
    s = std::min(s, 1e7);  // ~115 days: "never" without overflowing time_point arithmetic
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// A timeout of 0 (or less) means none.
Clock::duration timeout_duration(double s) { return to_duration(s > 0 ? s : 1e7); }

// Bytes that would let a caller's string change the request's framing (CR, LF, NUL) or, in the
// target, split the request line (space and other controls).
bool bad_target(const std::string& t) {
    return std::any_of(t.begin(), t.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}
bool bad_header_text(const std::string& t) {
    return t.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

struct ParsedUrl {
    std::string text;  // as configured
    bool tls = false;
    std::string host;         // without IPv6 brackets
    std::string port;         // digits
    std::string prefix;       // "" or "/v1" (no trailing slash)
    std::string host_header;  // what goes into Host:
    bool host_is_ip = false;
    std::optional<tcp::endpoint> literal;  // set when host is an IP address
};

ParsedUrl parse_url(const std::string& url) {
    auto bad = [&](const std::string& why) {
        return Error("http: malformed URL '" + url + "': " + why,
                     "write URLs as http://host:port or https://host:port with an optional path prefix");
    };
    ParsedUrl u;
    u.text = url;
    std::string rest;
    if (url.rfind("http://", 0) == 0) {
        rest = url.substr(7);
    } else if (url.rfind("https://", 0) == 0) {
        u.tls = true;
        rest = url.substr(8);
    } else {
        throw bad("the scheme must be http:// or https://");
    }
    if (rest.find_first_of("?#") != std::string::npos) throw bad("no query or fragment allowed");
    if (rest.find('@') != std::string::npos) throw bad("no user info allowed (use bearer_token)");
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    if (slash != std::string::npos) u.prefix = rest.substr(slash);
    while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
    for (char c : u.prefix)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) throw bad("the path holds a space or control byte");
    std::string port;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) throw bad("unclosed '[' in the host");
        u.host = authority.substr(1, close - 1);
        std::string after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') throw bad("unexpected text after ']'");
            port = after.substr(1);
            if (port.empty()) throw bad("empty port");
        }
    } else {
        size_t colon = authority.find(':');
        u.host = authority.substr(0, colon);
        if (colon != std::string::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) throw bad("empty port");
        }
    }
    if (u.host.empty()) throw bad("no host");
    for (char c : u.host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':'))
            throw bad("the host holds '" + std::string(1, c) + "'");
    if (port.empty()) port = u.tls ? "443" : "80";
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw bad("the port must be a number in 1..65535");
    int port_n = std::stoi(port);
    if (port_n < 1 || port_n > 65535) throw bad("the port must be a number in 1..65535");
    u.port = std::to_string(port_n);
    beast::error_code ec;
    auto address = asio::ip::make_address(u.host, ec);
    if (!ec) {
        u.host_is_ip = true;
        u.literal = tcp::endpoint(address, static_cast<unsigned short>(port_n));
    } else if (u.host.find(':') != std::string::npos) {
        throw bad("'" + u.host + "' is not an IPv6 address");
    }
    std::string host_part = address.is_v6() && u.host_is_ip ? "[" + u.host + "]" : u.host;
    bool default_port = (u.tls && port_n == 443) || (!u.tls && port_n == 80);
    u.host_header = default_port ? host_part : host_part + ":" + u.port;
    return u;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

enum class Failure { NONE, TRANSPORT, FATAL };

}  // namespace

// ---------------------------------------------------------------------------------------------
// free functions

double http_parse_retry_after(const std::string& value, int64_t now_unix) {
    size_t b = value.find_first_not_of(" \t");
    if (b == std::string::npos) return -1;
    size_t e = value.find_last_not_of(" \t");
    std::string v = value.substr(b, e - b + 1);
    if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (v.size() > 12) return 1e12;  // absurdly long; the caller caps it anyway
        return static_cast<double>(std::stoll(v));
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (exactly 29 characters).
    static const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (v.size() != 29) return -1;
    if (std::none_of(std::begin(kDays), std::end(kDays), [&](const char* d) { return v.compare(0, 3, d) == 0; }))
        return -1;
    auto digits = [&](size_t at, size_t n, int* out) {
        int x = 0;
        for (size_t i = at; i < at + n; ++i) {
            if (v[i] < '0' || v[i] > '9') return false;
            x = x * 10 + (v[i] - '0');
        }
        *out = x;
        return true;
    };
    int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
    if (v.compare(3, 2, ", ") != 0 || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' || v[19] != ':' || v[22] != ':' ||
        v.compare(25, 4, " GMT") != 0)
        return -1;
    if (!digits(5, 2, &day) || !digits(12, 4, &year) || !digits(17, 2, &hh) || !digits(20, 2, &mm) ||
        !digits(23, 2, &ss))
        return -1;
    int month = 0;
    for (int i = 0; i < 12; ++i)
        if (v.compare(8, 3, kMonths[i]) == 0) month = i + 1;
    if (month == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return -1;
    static const int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > kMonthDays[month - 1] || (month == 2 && day == 29 && !leap)) return -1;
    int64_t t = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 + hh * 3600 +
                mm * 60 + ss;
    return static_cast<double>(std::max<int64_t>(0, t - now_unix));
}

bool http_status_retryable(int status) {
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

// ---------------------------------------------------------------------------------------------
// the client

struct HttpClient::Impl {
    // One connection: a plain socket or a TLS stream over one, plus its read buffer (kept across
    // keep-alive responses so its storage is allocated once per connection).
    struct Conn {
        std::optional<tcp::socket> plain;
        std::optional<ssl::stream<tcp::socket>> tls;
        beast::flat_buffer buffer;
        bool reused = false;  // has carried a whole response already

        tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }
        void close() {
            beast::error_code ec;
            socket().shutdown(tcp::socket::shutdown_both, ec);
            socket().close(ec);
        }
    };
    using ConnPtr = std::shared_ptr<Conn>;

    struct Op {
        explicit Op(asio::io_context& ioc) : timer(ioc) {}
        HttpRequest request;  // its body moved into `wire`
        HttpCallback done;
        http::request<http::string_body> wire;
        std::optional<http::response_parser<http::string_body>> parser;
        HttpResponse response;
        asio::steady_timer timer;  // the attempt's deadline, or the backoff before the next attempt
        ConnPtr conn;
        int url = -1;
        int first_url = -1;
        uint64_t gen = 0;        // bumped per attempt and per re-arm: stale handlers compare and leave
        bool open = false;       // an attempt is running
        bool connecting = false;
        bool resent = false;     // the stale-connection resend of this attempt is used up
        bool health = false;     // an internal health check: no queue, no pool, no retries
        bool in_active = false;
        Clock::time_point t_first{}, deadline{}, connect_deadline{};
        std::list<std::shared_ptr<Op>>::iterator active_it;
    };
    using OpPtr = std::shared_ptr<Op>;

    struct Url {
        ParsedUrl parsed;
        std::deque<OpPtr> queue;
        std::vector<ConnPtr> idle;
        std::vector<tcp::endpoint> resolved;  // cached name resolution (cleared after a connect failure)
        int in_flight = 0;
        int failures = 0;  // consecutive attempts that got no response
        bool healthy = true;
        bool health_pending = false;
        std::unique_ptr<asio::steady_timer> health_timer;
    };

    HttpClientOptions options;
    std::optional<ssl::context> ssl_ctx;  // declared before the io_context: outlives every stream
    asio::io_context ioc{1};
    tcp::resolver resolver{ioc};
    std::vector<Url> urls;
    std::list<OpPtr> active;  // submitted, not completed (health checks excluded)
    std::mt19937_64 rng;
    HttpClientStats stats;
    std::atomic<bool> stop_requested{false};
    bool stopping = false;
    bool in_loop = false;  // run()/send() on the stack: a callback calling them again would deadlock

    explicit Impl(HttpClientOptions o) : options(std::move(o)), rng(options.jitter_seed) {
        if (options.urls.empty()) throw Error("http: no URLs configured", "set http.urls to at least one server URL");
        if (options.concurrency_per_url < 1)
            throw Error("http: concurrency_per_url must be >= 1, got " + std::to_string(options.concurrency_per_url));
        if (options.retry.max_attempts < 1)
            throw Error("http: retry.max_attempts must be >= 1, got " + std::to_string(options.retry.max_attempts));
        if (options.unhealthy_after < 1) options.unhealthy_after = 1;
        bool any_tls = false;
        for (const auto& text : options.urls) {
            Url u;
            u.parsed = parse_url(text);
            any_tls = any_tls || u.parsed.tls;
            u.health_timer = std::make_unique<asio::steady_timer>(ioc);
            urls.push_back(std::move(u));
        }
        stats.in_flight_peak.assign(urls.size(), 0);
        if (any_tls) setup_tls();
    }

    ~Impl() {
        for (auto& u : urls) {
            for (auto& c : u.idle) c->close();
            u.idle.clear();
        }
        for (auto& op : active)
            if (op->conn) op->conn->close();
    }

    void setup_tls() {
        ssl_ctx.emplace(ssl::context::tls_client);
        ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                             ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        if (options.tls_verify) {
            beast::error_code ec;
            ssl_ctx->set_default_verify_paths(ec);  // no system store is not fatal when tls_ca_file is given
            ssl_ctx->set_verify_mode(ssl::verify_peer);
        } else {
            ssl_ctx->set_verify_mode(ssl::verify_none);
        }
        if (!options.tls_ca_file.empty()) {
            beast::error_code ec;
            ssl_ctx->load_verify_file(options.tls_ca_file, ec);
            if (ec)
                throw Error("http: cannot load tls_ca_file '" + options.tls_ca_file + "': " + ec.message(),
                            "give a readable PEM file with the CA certificate(s) to trust");
        }
    }

    // ---- routing --------------------------------------------------------------------------

    int outstanding(int i) const {
        return static_cast<int>(urls[static_cast<size_t>(i)].queue.size()) + urls[static_cast<size_t>(i)].in_flight;
    }

    // Least outstanding among healthy URLs other than `avoid` (ties: lowest index); falls back to
    // `avoid` itself, then to every URL when none is healthy (a lone drained URL must still serve).
    int pick(int avoid) const {
        int best = -1;
        for (int pass = 0; pass < 3 && best < 0; ++pass)
            for (int i = 0; i < static_cast<int>(urls.size()); ++i) {
                if (pass < 2 && !urls[static_cast<size_t>(i)].healthy) continue;
                if (pass == 0 && i == avoid) continue;
                if (best < 0 || outstanding(i) < outstanding(best)) best = i;
            }
        return best;
    }

    bool valid(int i) const { return i >= 0 && i < static_cast<int>(urls.size()); }

    int route(const Op& op, bool after_transport_failure) const {
        int pref = op.request.url_index;
        if (valid(pref) && urls[static_cast<size_t>(pref)].healthy) return pref;
        return pick(after_transport_failure ? op.url : -1);
    }

    // ---- submission and the queue -----------------------------------------------------------

    static std::string request_problem(const HttpRequest& r, size_t n_urls) {
        if (r.url_index >= static_cast<int>(n_urls) || r.url_index < -1)
            return "url_index " + std::to_string(r.url_index) + " out of range (" + std::to_string(n_urls) + " URLs)";
        if (r.target.empty() || r.target[0] != '/' || bad_target(r.target))
            return "invalid request target '" + r.target + "' (must start with '/', no spaces or controls)";
        if (r.method.empty() || bad_target(r.method)) return "invalid request method '" + r.method + "'";
        for (const auto& [k, v] : r.headers)
            if (k.empty() || bad_target(k) || bad_header_text(v))
                return "invalid request header '" + k + "' (empty name, or CR, LF or NUL in it)";
        return "";
    }

    void submit(HttpRequest request, HttpCallback done) {
        auto op = std::make_shared<Op>(ioc);
        op->done = std::move(done);
        std::string problem = request_problem(request, urls.size());
        if (problem.empty()) {
            op->wire.version(11);
            http::verb verb = http::string_to_verb(request.method);
            if (verb == http::verb::unknown)
                op->wire.method_string(request.method);
            else
                op->wire.method(verb);
            op->wire.set(http::field::user_agent, "adabench");
            if (!options.bearer_token.empty())
                op->wire.set(http::field::authorization, "Bearer " + options.bearer_token);
            if (!request.body.empty()) op->wire.set(http::field::content_type, "application/json");
            for (const auto& [k, v] : request.headers) op->wire.set(k, v);
            op->wire.body() = std::move(request.body);
            op->wire.prepare_payload();
        }
        op->request = std::move(request);
        active.push_back(op);
        op->active_it = std::prev(active.end());
        op->in_active = true;
        ++stats.n_requests;
        if (stopping) return;  // stop_all() is draining `active` and will complete it
        if (!problem.empty()) {  // a caller's bug: answered at once (on the run() thread), nothing is sent
            op->response.error = problem;
            asio::post(ioc, [this, op] { complete(op); });
            return;
        }
        enqueue(op, route(*op, false), false);
    }

    void enqueue(const OpPtr& op, int u, bool front) {
        op->url = u;
        Url& url = urls[static_cast<size_t>(u)];
        if (url.in_flight < options.concurrency_per_url && url.queue.empty()) {
            start_attempt(op);
        } else if (front) {
            url.queue.push_front(op);
            dispatch(u);
        } else {
            url.queue.push_back(op);
            dispatch(u);
        }
    }

    void dispatch(int u) {
        Url& url = urls[static_cast<size_t>(u)];
        while (url.in_flight < options.concurrency_per_url && !url.queue.empty()) {
            OpPtr op = std::move(url.queue.front());
            url.queue.pop_front();
            start_attempt(op);
        }
    }

    // ---- one attempt ------------------------------------------------------------------------

    void start_attempt(const OpPtr& op) {
        Url& url = urls[static_cast<size_t>(op->url)];
        auto now = Clock::now();
        if (!op->health) {
            ++url.in_flight;
            int& peak = stats.in_flight_peak[static_cast<size_t>(op->url)];
            peak = std::max(peak, url.in_flight);
            ++stats.n_attempts;
        }
        if (op->response.attempts == 0) {
            op->t_first = now;
            op->first_url = op->url;
        }
        ++op->response.attempts;
        op->open = true;
        op->resent = false;
        op->parser.reset();
        op->deadline = now + timeout_duration(op->request.timeout_s);
        op->wire.target(url.parsed.prefix + op->request.target);
        op->wire.set(http::field::host, url.parsed.host_header);
        if (!op->health && !url.idle.empty()) {
            op->conn = std::move(url.idle.back());
            url.idle.pop_back();
            op->connecting = false;
            arm_timer(op, op->deadline);
            write(op);
        } else {
            connect(op);
        }
    }

    void arm_timer(const OpPtr& op, Clock::time_point at) {
        uint64_t gen = ++op->gen;
        op->timer.expires_at(at);
        op->timer.async_wait([this, op, gen](beast::error_code ec) {
            if (ec || op->gen != gen || !op->open) return;
            std::string what;
            if (op->connecting && op->connect_deadline < op->deadline)
                what = "connect timeout after " + format_seconds(options.connect_timeout_s) + " s";
            else
                what = "timeout after " + format_seconds(op->request.timeout_s) + " s";
            finish_error(op, Failure::TRANSPORT, what);
        });
    }

    void connect(const OpPtr& op) {
        Url& url = urls[static_cast<size_t>(op->url)];
        auto conn = std::make_shared<Conn>();
        if (url.parsed.tls)
            conn->tls.emplace(ioc, *ssl_ctx);
        else
            conn->plain.emplace(ioc);
        op->conn = conn;
        op->connecting = true;
        ++stats.n_connections;
        op->connect_deadline = std::min(op->deadline, Clock::now() + timeout_duration(options.connect_timeout_s));
        arm_timer(op, op->connect_deadline);
        uint64_t gen = op->gen;
        if (url.parsed.literal) {
            url.resolved.assign(1, *url.parsed.literal);
        }
        if (!url.resolved.empty()) {
            connect_to(op, gen, url.resolved);
            return;
        }
        int u = op->url;
        resolver.async_resolve(url.parsed.host, url.parsed.port,
                               [this, op, gen, u](beast::error_code ec, tcp::resolver::results_type results) {
                                   if (!live(op, gen)) return;
                                   if (ec) {
                                       finish_error(op, Failure::TRANSPORT,
                                                    "cannot resolve '" + urls[static_cast<size_t>(u)].parsed.host +
                                                        "': " + ec.message());
                                       return;
                                   }
                                   std::vector<tcp::endpoint> eps;
                                   for (const auto& r : results) eps.push_back(r.endpoint());
                                   urls[static_cast<size_t>(u)].resolved = eps;
                                   connect_to(op, gen, eps);
                               });
    }

    bool live(const OpPtr& op, uint64_t gen) const { return op->open && op->gen == gen; }

    void connect_to(const OpPtr& op, uint64_t gen, const std::vector<tcp::endpoint>& eps) {
        ConnPtr conn = op->conn;
        asio::async_connect(conn->socket(), eps, [this, op, gen, conn](beast::error_code ec, const tcp::endpoint&) {
            if (!live(op, gen) || op->conn != conn) return;
            Url& url = urls[static_cast<size_t>(op->url)];
            if (ec) {
                url.resolved.clear();
                finish_error(op, Failure::TRANSPORT, connect_error(ec));
                return;
            }
            beast::error_code ignore;
            conn->socket().set_option(tcp::no_delay(true), ignore);
            if (!url.parsed.tls) {
                connected(op);
                return;
            }
            SSL* ssl = conn->tls->native_handle();
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
            if (url.parsed.host_is_ip) {
                X509_VERIFY_PARAM_set1_ip_asc(param, url.parsed.host.c_str());
            } else {
                SSL_set_tlsext_host_name(ssl, url.parsed.host.c_str());
                X509_VERIFY_PARAM_set1_host(param, url.parsed.host.c_str(), 0);
            }
            conn->tls->async_handshake(ssl::stream_base::client, [this, op, gen, conn](beast::error_code ec2) {
                if (!live(op, gen) || op->conn != conn) return;
                if (ec2) {
                    long verify = SSL_get_verify_result(conn->tls->native_handle());
                    if (options.tls_verify && verify != X509_V_OK) {
                        finish_error(op, Failure::FATAL,
                                     "TLS certificate verification failed for " +
                                         urls[static_cast<size_t>(op->url)].parsed.text + ": " +
                                         X509_verify_cert_error_string(verify) +
                                         " (hint: set tls_ca_file to the CA that signed the server's certificate, "
                                         "or tls_verify=false for a trusted test server)");
                        return;
                    }
                    finish_error(op, Failure::TRANSPORT, "TLS handshake failed: " + ec2.message());
                    return;
                }
                connected(op);
            });
        });
    }

    void connected(const OpPtr& op) {
        op->connecting = false;
        if (op->connect_deadline < op->deadline) arm_timer(op, op->deadline);
        write(op);
    }

    template <class F>
    static void with_stream(Conn& c, F&& f) {
        if (c.tls)
            f(*c.tls);
        else
            f(*c.plain);
    }

    void write(const OpPtr& op) {
        ConnPtr conn = op->conn;
        uint64_t gen = op->gen;
        with_stream(*conn, [&](auto& stream) {
            http::async_write(stream, op->wire, [this, op, gen, conn](beast::error_code ec, std::size_t) {
                if (!live(op, gen) || op->conn != conn) return;
                if (ec) {
                    if (try_resend(op)) return;
                    finish_error(op, Failure::TRANSPORT, "sending the request failed: " + ec.message());
                    return;
                }
                read(op);
            });
        });
    }

    // The header first, then the body: Beast 1.74's eager parse (what async_read does) loses the
    // body_limit error of a Content-Length over the limit when body bytes follow in the same read,
    // and string_body would then reserve that length. Reading the header alone keeps the check.
    void read(const OpPtr& op) {
        ConnPtr conn = op->conn;
        uint64_t gen = op->gen;
        op->parser.emplace();
        op->parser->body_limit(kBodyLimit);
        op->parser->header_limit(kHeaderLimit);
        if (op->wire.method() == http::verb::head) op->parser->skip(true);
        with_stream(*conn, [&](auto& stream) {
            http::async_read_header(stream, conn->buffer, *op->parser,
                                    [this, op, gen, conn](beast::error_code ec, std::size_t) {
                                        if (!live(op, gen) || op->conn != conn) return;
                                        if (!ec && op->parser->content_length() &&
                                            *op->parser->content_length() > kBodyLimit)
                                            ec = http::error::body_limit;
                                        if (ec) {
                                            read_failed(op, ec);
                                            return;
                                        }
                                        if (op->parser->is_done()) {
                                            finish_response(op);
                                            return;
                                        }
                                        read_body(op);
                                    });
        });
    }

    void read_body(const OpPtr& op) {
        ConnPtr conn = op->conn;
        uint64_t gen = op->gen;
        with_stream(*conn, [&](auto& stream) {
            http::async_read(stream, conn->buffer, *op->parser, [this, op, gen, conn](beast::error_code ec, std::size_t) {
                if (!live(op, gen) || op->conn != conn) return;
                if (ec) {
                    read_failed(op, ec);
                    return;
                }
                finish_response(op);
            });
        });
    }

    void read_failed(const OpPtr& op, const beast::error_code& ec) {
        if (!op->parser->got_some() && try_resend(op)) return;
        if (ec == http::error::body_limit) {
            finish_error(op, Failure::FATAL,
                         "response body over " + std::to_string(kBodyLimit >> 20) + " MiB (malformed or runaway server)");
            return;
        }
        finish_error(op, Failure::TRANSPORT, read_error(ec, op->parser->got_some()));
    }

    // A pooled connection the server closed while it sat idle fails before any response byte:
    // send the same attempt once more on a fresh connection.
    bool try_resend(const OpPtr& op) {
        if (!op->conn->reused || op->resent) return false;
        op->resent = true;
        op->conn->close();
        op->conn.reset();
        op->parser.reset();
        connect(op);
        return true;
    }

    static std::string connect_error(const beast::error_code& ec) {
        if (ec == asio::error::connection_refused) return "connection refused";
        if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable) return "host unreachable";
        return "connect failed: " + ec.message();
    }

    static std::string read_error(const beast::error_code& ec, bool got_some) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof)
            return got_some ? "connection closed mid-response" : "connection closed before a response";
        if (ec == http::error::partial_message) return "connection closed mid-response (truncated body)";
        if (ec == asio::error::connection_reset) return "connection reset by peer";
        if (ec.category() == http::make_error_code(http::error::bad_version).category())
            return "malformed response: " + ec.message();
        return "reading the response failed: " + ec.message();
    }

    // ---- the end of an attempt ---------------------------------------------------------------

    // Closes the attempt's books: the timer, the in-flight count, the connection (pooled when the
    // response allows keep-alive). The caller then updates the URL's health and dispatch()es its
    // queue, in that order, so a failure that drains the URL moves the queue instead of feeding it.
    void close_attempt(const OpPtr& op, bool keep_conn) {
        op->open = false;
        ++op->gen;
        op->timer.cancel();
        Url& url = urls[static_cast<size_t>(op->url)];
        if (op->conn) {
            if (keep_conn && !op->health && url.idle.size() < static_cast<size_t>(options.concurrency_per_url)) {
                op->conn->reused = true;
                url.idle.push_back(std::move(op->conn));
            } else {
                op->conn->close();
            }
            op->conn.reset();
        }
        if (!op->health) --url.in_flight;
    }

    void finish_response(const OpPtr& op) {
        auto msg = op->parser->release();
        op->parser.reset();
        close_attempt(op, msg.keep_alive());
        Url& url = urls[static_cast<size_t>(op->url)];
        url.failures = 0;
        if (!op->health) dispatch(op->url);
        HttpResponse& r = op->response;
        r.status = msg.result_int();
        r.error.clear();
        r.headers.clear();
        for (const auto& field : msg) {
            std::string name = lower(std::string(field.name_string()));
            auto [it, fresh] = r.headers.emplace(name, std::string(field.value()));
            if (!fresh) it->second += ", " + std::string(field.value());
        }
        r.body = std::move(msg.body());
        if (op->health || !http_status_retryable(r.status)) {
            complete(op);
            return;
        }
        if (r.attempts < options.retry.max_attempts) {
            double wait = -1;
            auto it = r.headers.find("retry-after");
            if (it != r.headers.end()) {
                int64_t now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count();
                wait = http_parse_retry_after(it->second, now_unix);
                if (wait >= 0) wait = std::min(wait, options.retry.cap_s);
            }
            retry(op, wait, false);
            return;
        }
        r.retries_exhausted = true;
        complete(op);
    }

    void finish_error(const OpPtr& op, Failure kind, const std::string& what) {
        close_attempt(op, false);
        HttpResponse& r = op->response;
        r.status = 0;
        r.body.clear();
        r.headers.clear();
        r.error = what;
        if (op->health) {
            complete(op);
            return;
        }
        if (kind == Failure::FATAL) {
            dispatch(op->url);
            complete(op);
            return;
        }
        Url& url = urls[static_cast<size_t>(op->url)];
        if (++url.failures >= options.unhealthy_after && url.healthy) drain(op->url);
        dispatch(op->url);
        if (r.attempts < options.retry.max_attempts) {
            retry(op, -1, true);
            return;
        }
        r.retries_exhausted = true;
        complete(op);
    }

    double backoff(int k) {  // k = 1 for the first retry
        double bound = std::min(options.retry.cap_s, options.retry.base_s * std::pow(options.retry.factor, k - 1));
        if (!(bound > 0)) return 0;
        return std::uniform_real_distribution<double>(0, bound)(rng);
    }

    void retry(const OpPtr& op, double wait_s, bool after_transport_failure) {
        ++stats.n_retries;
        if (wait_s < 0) wait_s = backoff(op->response.attempts);
        uint64_t gen = ++op->gen;
        op->timer.expires_after(to_duration(wait_s));
        op->timer.async_wait([this, op, gen, after_transport_failure](beast::error_code ec) {
            if (ec || op->gen != gen || !op->in_active) return;
            enqueue(op, route(*op, after_transport_failure), true);
        });
    }

    void complete(const OpPtr& op) {
        HttpResponse r = std::move(op->response);
        r.url_index = op->url;
        // Off the preferred URL: the sticky one when given (a drained one is skipped from the first
        // attempt on), else the one the first attempt went to.
        int preferred = op->request.url_index >= 0 ? op->request.url_index : op->first_url;
        r.url_changed = op->url >= 0 && preferred >= 0 && op->url != preferred;
        r.latency_s = r.attempts > 0 ? std::chrono::duration<double>(Clock::now() - op->t_first).count() : 0.0;
        HttpCallback done = std::move(op->done);
        if (op->in_active) {
            active.erase(op->active_it);
            op->in_active = false;
        }
        ++op->gen;
        op->timer.cancel();
        if (done) done(std::move(r));
    }

    // ---- draining and health checks ---------------------------------------------------------

    void drain(int u) {
        Url& url = urls[static_cast<size_t>(u)];
        url.healthy = false;
        for (auto& c : url.idle) c->close();
        url.idle.clear();
        // Requests still queued here move now when another URL is healthy; sticky ones included
        // (route() only keeps a preferred URL while it is healthy).
        std::deque<OpPtr> queued;
        queued.swap(url.queue);
        for (auto& op : queued) {
            int to = route(*op, true);
            if (to == u)
                url.queue.push_back(op);
            else
                enqueue(op, to, false);
        }
        schedule_health(u);
    }

    void schedule_health(int u) {
        Url& url = urls[static_cast<size_t>(u)];
        if (url.health_pending) return;
        url.health_pending = true;
        url.health_timer->expires_after(to_duration(options.health_interval_s));
        url.health_timer->async_wait([this, u](beast::error_code ec) {
            if (ec) return;
            send_health(u);
        });
    }

    void send_health(int u) {
        auto op = std::make_shared<Op>(ioc);
        op->health = true;
        op->request.method = "GET";
        op->request.target = options.health_path;
        op->request.timeout_s = std::max(1.0, std::min(options.connect_timeout_s, 30.0));
        op->wire.version(11);
        op->wire.method(http::verb::get);
        op->wire.set(http::field::user_agent, "adabench");
        if (!options.bearer_token.empty()) op->wire.set(http::field::authorization, "Bearer " + options.bearer_token);
        op->url = u;
        op->done = [this, u](HttpResponse r) {
            Url& url = urls[static_cast<size_t>(u)];
            url.health_pending = false;
            if (r.status == 200) {
                url.healthy = true;
                url.failures = 0;
            } else if (!url.healthy) {
                schedule_health(u);
            }
        };
        start_attempt(op);
    }

    // ---- the loop ---------------------------------------------------------------------------

    // Fails everything not finished with "stopped", callbacks included (they may submit more:
    // those are failed too, so this ends).
    void stop_all(const std::string& why) {
        stopping = true;
        for (auto& u : urls) u.queue.clear();
        while (!active.empty()) {
            OpPtr op = active.front();
            if (op->open) close_attempt(op, false);
            for (auto& u : urls) u.queue.clear();
            op->response.status = 0;
            op->response.body.clear();
            op->response.headers.clear();
            op->response.error = why;
            op->response.retries_exhausted = false;
            complete(op);
        }
        stopping = false;
    }

    void check_not_in_loop() const {
        if (in_loop)
            throw Error("http: run() or send() called from inside a request callback",
                        "callbacks may submit() more requests; the running loop completes them");
    }

    template <class Done>
    void loop(Done done) {
        check_not_in_loop();
        if (!stop_requested.load() && done()) return;
        in_loop = true;
        struct Reset {
            bool& flag;
            ~Reset() { flag = false; }
        } reset{in_loop};
        ioc.restart();
        while (!stop_requested.load() && !done()) {
            if (ioc.run_one() == 0) {
                // No I/O left although requests are unfinished: a bug here, not a reason to spin or hang.
                stop_all("internal error: no I/O pending for an unfinished request");
                break;
            }
        }
        if (stop_requested.exchange(false)) stop_all("stopped");
    }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpClient::~HttpClient() = default;

void HttpClient::submit(HttpRequest request, HttpCallback done) { impl_->submit(std::move(request), std::move(done)); }

void HttpClient::run() {
    Impl& m = *impl_;
    m.loop([&m] { return m.active.empty(); });
}

void HttpClient::stop() {
    impl_->stop_requested.store(true);
    asio::post(impl_->ioc, [] {});  // wakes a run_one() that is waiting for I/O
}

int HttpClient::pick_url() const { return impl_->pick(-1); }

int HttpClient::n_urls() const { return static_cast<int>(impl_->urls.size()); }

const std::string& HttpClient::url(int index) const {
    if (!impl_->valid(index)) throw Error("http: URL index " + std::to_string(index) + " out of range");
    return impl_->urls[static_cast<size_t>(index)].parsed.text;
}

int HttpClient::outstanding(int index) const {
    if (!impl_->valid(index)) throw Error("http: URL index " + std::to_string(index) + " out of range");
    return impl_->outstanding(index);
}

bool HttpClient::healthy(int index) const {
    if (!impl_->valid(index)) throw Error("http: URL index " + std::to_string(index) + " out of range");
    return impl_->urls[static_cast<size_t>(index)].healthy;
}

const HttpClientStats& HttpClient::stats() const { return impl_->stats; }

HttpResponse HttpClient::send(HttpRequest request) {
    impl_->check_not_in_loop();
    // Shared, not on this stack: if another request's callback throws out of the loop, this request
    // completes in a later run() and must not write into a dead frame.
    struct Result {
        HttpResponse response;
        bool finished = false;
    };
    auto result = std::make_shared<Result>();
    submit(std::move(request), [result](HttpResponse r) {
        result->response = std::move(r);
        result->finished = true;
    });
    impl_->loop([&result] { return result->finished; });
    return std::move(result->response);
}

}  // namespace adabench
