// The report server (see server.h): routing as a pure function, and an asynchronous Beast
// HTTP/1.1 front end: I/O threads for the sockets, a bounded pool of workers for the pages.
#include "reports/server.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>  // before Boost 1.74 Asio, whose awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/host_check.h"
#include "reports/analysis.h"
#include "reports/compare.h"
#include "reports/html.h"
#include "store/store.h"

namespace adabench {

using json = nlohmann::json;

namespace {

const char* kCsp =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

ServerResponse text_response(int status, const std::string& message) {
    ServerResponse r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = message + "\n";
    return r;
}

ServerResponse json_response(const json& j) {
    ServerResponse r;
    r.content_type = "application/json";
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
}

ServerResponse html_response(std::string body) {
    ServerResponse r;
    r.body = std::move(body);
    return r;
}

struct BadRequest {
    std::string message;
};

int64_t parse_id(const std::string& s, const std::string& what) {
    if (s.empty() || s.size() > 15) throw BadRequest{what + " must be a positive integer"};
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c)))
            throw BadRequest{what + " must be a positive integer, got '" + s + "'"};
    return std::stoll(s);
}

int64_t query_int(const std::map<std::string, std::string>& q, const std::string& key, int64_t fallback, int64_t lo,
                  int64_t hi) {
    auto it = q.find(key);
    if (it == q.end()) return fallback;
    int64_t v = parse_id(it->second, key);
    if (v < lo || v > hi)
        throw BadRequest{key + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"};
    return v;
}

std::string page(const std::string& title, const std::string& body) {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
           "</title><style>body{font:14px/1.45 system-ui,sans-serif;max-width:1200px;margin:0 auto;padding:0 16px 40px}"
           "table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:3px "
           "7px;text-align:left;vertical-align:top}"
           "th{background:#f4f4f4}pre{white-space:pre-wrap;word-break:break-word;background:#f8f8f8;border:1px solid "
           "#e4e4e4;"
           "padding:6px;max-height:300px;overflow:auto;margin:2px "
           "0}.ok{color:#08711a}.bad{color:#b00020}</style></head><body>" +
           body + "</body></html>\n";
}

ServerResponse route_index(const Store& store) {
    std::ostringstream o;
    o << "<h1>adabench runs</h1><p>store <code>" << html_escape(store.path()) << "</code> (read-only)</p>";
    auto runs = store.list_runs();
    o << "<table><tr><th>run</th><th>status</th><th>samples</th><th>started</th><th>finished</th><th>engine</th>"
         "<th>device</th><th>git</th><th>config</th><th>links</th></tr>";
    for (const auto& r : runs) {
        std::string id = std::to_string(r.id);
        o << "<tr><td><a href=\"/runs/" << id << "\">run " << id << "</a></td><td>" << html_escape(r.status)
          << "</td><td>" << store.count_samples(r.id) << " / " << r.n_samples_planned;
        if (int64_t nf = store.count_failed_samples(r.id); nf > 0)
            o << " <span class=\"bad\">(" << nf << " failed)</span>";
        o << "</td><td>" << html_escape(r.started_at) << "</td><td>" << html_escape(r.finished_at) << "</td><td>"
          << html_escape(r.engine) << "</td><td>" << html_escape(r.device) << "</td><td><code>"
          << html_escape(r.git_sha) << "</code></td><td><code>" << html_escape(r.config_hash.substr(0, 12))
          << "</code></td><td><a href=\"/runs/" << id << "/samples\">samples</a> · <a href=\"/api/runs/" << id
          << "\">json</a></td></tr>";
    }
    o << "</table>";
    if (runs.empty()) o << "<p>No runs yet.</p>";
    if (runs.size() >= 2) {
        o << "<h2>Compare two runs</h2><form method=\"get\" action=\"/compare\">base <select name=\"base\">";
        for (const auto& r : runs)
            o << "<option value=\"" << r.id << "\"" << (&r == &runs[runs.size() - 2] ? " selected" : "") << ">run "
              << r.id << "</option>";
        o << "</select> new <select name=\"new\">";
        for (const auto& r : runs)
            o << "<option value=\"" << r.id << "\"" << (&r == &runs.back() ? " selected" : "") << ">run " << r.id
              << "</option>";
        o << "</select> <button type=\"submit\">compare</button></form>";
    }
    o << "<p>JSON API: <a href=\"/api/runs\">/api/runs</a>, /api/runs/ID, /api/runs/ID/points, "
         "/api/runs/ID/samples?point=P&amp;limit=N&amp;offset=M, /api/compare?base=A&amp;new=B</p>";
    return html_response(page("adabench runs", o.str()));
}

std::vector<SampleRecord> select_samples(const Store& store, int64_t run, const std::map<std::string, std::string>& q,
                                         int64_t max_limit, int64_t* total, int64_t* limit, int64_t* offset) {
    SampleFilter f;
    f.run_id = run;
    f.point_id = query_int(q, "point", -1, 0, INT64_MAX / 2);
    if (q.count("problem")) f.problem_id = q.at("problem");
    *limit = query_int(q, "limit", std::min<int64_t>(100, max_limit), 1, max_limit);
    *offset = query_int(q, "offset", 0, 0, INT64_MAX / 2);
    std::vector<SampleRecord> all = store.list_samples(f);
    *total = static_cast<int64_t>(all.size());
    std::vector<SampleRecord> out;
    for (int64_t i = *offset; i < *total && i < *offset + *limit; ++i)
        out.push_back(std::move(all[static_cast<size_t>(i)]));
    return out;
}

// A stored JSON column as a value (null when empty, the text itself when it is not valid JSON).
json json_or_text(const std::string& text) {
    if (text.empty()) return json(nullptr);
    json j = json::parse(text, nullptr, false);
    return j.is_discarded() ? json(text) : j;
}

json sample_json(const SampleRecord& s) {
    std::string th, an;
    analysis_split_response(s.response_text, s.censored, &th, &an);
    return json{{"point_id", s.point_id},
                {"problem_id", s.problem_id},
                {"sample_index", s.sample_index},
                {"seed", s.seed},
                {"n_tokens_prompt", s.n_tokens_prompt},
                {"n_tokens_think", s.n_tokens_think},
                {"n_tokens_answer", s.n_tokens_answer},
                {"finish_reason", s.finish_reason},
                {"forced", s.forced},
                {"n_wait", s.n_wait},
                {"censored", s.censored},
                {"extracted_strict", s.extracted_strict},
                {"extracted_flexible", s.extracted_flexible},
                {"gold", s.gold},
                {"correct_strict", s.correct_strict},
                {"correct_flexible", s.correct_flexible},
                {"latency_s", s.latency_s},
                {"status", s.status},
                {"error", s.error},
                {"token_exact", s.token_exact},
                {"engine", json_or_text(s.engine_json)},
                {"prompt", s.prompt_text},
                {"thinking", th},
                {"answer", an},
                {"response", s.response_text}};
}

ServerResponse route_samples_page(const Store& store, const RunRecord& run, const std::map<std::string, std::string>& q,
                                  int64_t max_limit) {
    int64_t total = 0, limit = 0, offset = 0;
    auto samples = select_samples(store, run.id, q, max_limit, &total, &limit, &offset);
    std::map<int64_t, std::string> labels;
    for (const auto& p : store.list_points(run.id)) labels[p.point_id] = p.task + " " + analysis_point_label(p);
    std::ostringstream o;
    std::string id = std::to_string(run.id);
    o << "<p><a href=\"/\">&larr; all runs</a> · <a href=\"/runs/" << id << "\">report of run " << id << "</a></p>";
    o << "<h1>Samples of run " << id
      << "</h1><form method=\"get\">point <select name=\"point\"><option value=\"\">all</option>";
    std::string point = q.count("point") ? q.at("point") : "";
    for (auto& [pid, label] : labels)
        o << "<option value=\"" << pid << "\"" << (std::to_string(pid) == point ? " selected" : "") << ">" << pid
          << ": " << html_escape(label) << "</option>";
    o << "</select> limit <input name=\"limit\" value=\"" << limit
      << "\" size=\"5\"> offset <input name=\"offset\" value=\"" << offset
      << "\" size=\"6\"> <button type=\"submit\">show</button></form>";
    o << "<p>" << samples.size() << " of " << total << " matching samples (offset " << offset << ").</p>";
    o << "<table><tr><th>point</th><th>problem</th><th>sample</th><th>verdict</th><th>extracted</th><th>gold</th>"
         "<th>tokens (think / answer)</th><th>text</th></tr>";
    for (const auto& s : samples) {
        std::string th, an;
        analysis_split_response(s.response_text, s.censored, &th, &an);
        o << "<tr><td>" << html_escape(labels[s.point_id]) << "</td><td>" << html_escape(s.problem_id) << "</td><td>"
          << s.sample_index << "</td><td class=\""
          << (!store_sample_ok(s) ? "bad\">failed"
              : s.correct_strict  ? "ok\">correct"
              : s.censored        ? "bad\">censored"
                                  : "bad\">wrong");
        if (!store_sample_ok(s))
            o << "<br><small>" << html_escape(s.status) << ": " << html_escape(s.error) << "</small>";
        o << "</td><td>" << html_escape(s.extracted_strict) << "</td><td>" << html_escape(s.gold) << "</td><td>"
          << s.n_tokens_think << " / " << s.n_tokens_answer
          << "</td><td><details><summary>prompt, thinking, answer</summary>"
          << "<b>prompt</b><pre>" << html_escape(s.prompt_text) << "</pre><b>thinking</b><pre>" << html_escape(th)
          << "</pre><b>answer</b><pre>" << html_escape(an) << "</pre></details></td></tr>";
    }
    o << "</table>";
    if (offset + limit < total) {
        std::string next =
            "/runs/" + id + "/samples?offset=" + std::to_string(offset + limit) + "&limit=" + std::to_string(limit);
        if (!point.empty()) next += "&point=" + std::to_string(parse_id(point, "point"));
        o << "<p><a href=\"" << html_escape(next) << "\">next page &rarr;</a></p>";
    }
    return html_response(page("adabench samples, run " + id, o.str()));
}

std::map<std::string, std::string> parse_query(const std::string& qs) {
    std::map<std::string, std::string> q;
    size_t start = 0;
    while (start < qs.size()) {
        size_t amp = qs.find('&', start);
        std::string part = qs.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        start = amp == std::string::npos ? qs.size() : amp + 1;
        if (part.empty()) continue;
        size_t eq = part.find('=');
        std::string k, v;
        if (!server_url_decode(part.substr(0, eq), &k, true) ||
            !server_url_decode(eq == std::string::npos ? "" : part.substr(eq + 1), &v, true))
            throw BadRequest{"malformed percent-escape in the query"};
        if (v.empty() && (k == "point" || k == "limit" || k == "offset")) continue;  // empty form field = not given
        q[k] = v;
    }
    return q;
}

}  // namespace

bool server_url_decode(const std::string& in, std::string* out, bool plus_is_space) {
    out->clear();
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
                !std::isxdigit(static_cast<unsigned char>(in[i + 2])))
                return false;
            *out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            *out += ' ';
        } else {
            *out += c;
        }
    }
    return true;
}

ServerResponse server_handle_request(const ServerOptions& options, const std::string& method,
                                     const std::string& target) {
    ServerResponse r;
    try {
        if (method != "GET" && method != "HEAD") {
            r = text_response(405, "405 method not allowed: this server is read-only (GET, HEAD)");
            r.headers["Allow"] = "GET, HEAD";
            return r;
        }
        if (target.empty() || target[0] != '/') return text_response(400, "400 bad request: the target must be a path");
        if (target.size() > 4096) return text_response(414, "414 URI too long");
        size_t qpos = target.find('?');
        std::string raw_path = target.substr(0, qpos), path;
        if (!server_url_decode(raw_path, &path, false))
            return text_response(400, "400 bad request: malformed percent-escape");
        if (path.find("..") != std::string::npos || path.find('\\') != std::string::npos ||
            path.find('\0') != std::string::npos)
            return text_response(400, "400 bad request: path traversal is refused");
        std::map<std::string, std::string> q = parse_query(qpos == std::string::npos ? "" : target.substr(qpos + 1));
        std::vector<std::string> seg;
        {
            std::string cur;
            for (size_t i = 1; i <= path.size(); ++i) {
                if (i == path.size() || path[i] == '/') {
                    if (!cur.empty()) seg.push_back(cur);
                    cur.clear();
                } else {
                    cur += path[i];
                }
            }
        }
        if (seg.size() == 1 && seg[0] == "healthz") return text_response(200, "ok");
        if (seg.size() == 1 && seg[0] == "favicon.ico") return text_response(404, "404 not found");

        Store store(options.db_path, STORE_MODE_READ_ONLY);
        auto need_run = [&](const std::string& s) -> std::optional<RunRecord> {
            return store.get_run(parse_id(s, "run id"));
        };
        bool api = !seg.empty() && seg[0] == "api";
        std::vector<std::string> s(seg.begin() + (api ? 1 : 0), seg.end());
        HtmlOptions ho;

        if (!api && s.empty()) return route_index(store);
        if (s.size() == 1 && s[0] == "compare") {
            if (!q.count("base") || !q.count("new")) throw BadRequest{"compare needs ?base=RUN&new=RUN"};
            auto b = need_run(q["base"]), n = need_run(q["new"]);
            if (!b || !n) return text_response(404, "404 no such run");
            CompareResult c = compare_runs(store, b->id, n->id);
            if (api) return json_response(compare_json(c));
            std::string html = html_compare(c);
            return html_response(html);
        }
        if (api && s.size() == 1 && s[0] == "runs") {
            json arr = json::array();
            for (const auto& run : store.list_runs()) {
                json j = analysis_run_meta_json(run);
                j["samples_stored"] = store.count_samples(run.id);  // ok samples
                j["samples_failed"] = store.count_failed_samples(run.id);
                arr.push_back(j);
            }
            return json_response(arr);
        }
        if (s.size() >= 2 && s.size() <= 3 && s[0] == "runs") {
            auto run = need_run(s[1]);
            if (!run) return text_response(404, "404 no such run: " + s[1]);
            std::string what = s.size() == 3 ? s[2] : "";
            if (what == "samples") {
                if (!api) return route_samples_page(store, *run, q, options.max_samples_per_page);
                int64_t total = 0, limit = 0, offset = 0;
                auto samples = select_samples(store, run->id, q, options.max_samples_per_page, &total, &limit, &offset);
                json arr = json::array();
                for (const auto& x : samples) arr.push_back(sample_json(x));
                return json_response(json{
                    {"run_id", run->id}, {"total", total}, {"offset", offset}, {"limit", limit}, {"samples", arr}});
            }
            if (what == "points" && api) {
                AnalysisRun a = analysis_run(store, run->id);
                json arr = json::array();
                for (const auto& p : a.points) arr.push_back(analysis_point_json(p));
                return json_response(arr);
            }
            if (what.empty()) {
                AnalysisRun a = analysis_run(store, run->id);
                if (api) return json_response(analysis_run_json(a));
                std::vector<AnalysisRun> runs;
                runs.push_back(std::move(a));
                std::string html = html_report(store, runs, ho);
                // Link back to the index from the stand-alone report page.
                size_t at = html.find("<h1>adabench report</h1>");
                if (at != std::string::npos)
                    html.insert(at, "<p><a href=\"/\">&larr; all runs</a> · <a href=\"/runs/" +
                                        std::to_string(run->id) + "/samples\">all samples</a></p>");
                return html_response(html);
            }
        }
        return text_response(404, "404 not found: " + path);
    } catch (const BadRequest& e) {
        return text_response(400, "400 bad request: " + e.message);
    } catch (const std::exception& e) {
        return text_response(500, std::string("500 internal error: ") + e.what());
    }
}

// ---- the network side ----

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// What the connections share: the worker pool and the count of requests handed to it. Owned by the
// server, which outlives every session that runs (sessions only hold a pointer: a shared_ptr would
// make a cycle through the handlers still queued in the pool).
struct WorkerPool {
    explicit WorkerPool(size_t n_threads) : pool(n_threads) {}
    asio::thread_pool pool;
    std::atomic<size_t> in_flight{0};  // running or waiting for a worker
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, const ServerOptions& options, std::shared_ptr<std::atomic<size_t>> active,
            WorkerPool* workers)
        : stream_(std::move(socket)), options_(options), active_(std::move(active)), workers_(workers) {
        ++*active_;
    }
    ~Session() { --*active_; }
    void start() {
        asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
    }

private:
    beast::tcp_stream stream_;
    ServerOptions options_;
    std::shared_ptr<std::atomic<size_t>> active_;
    WorkerPool* workers_;
    beast::flat_buffer buffer_{1 << 16};
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;

    std::chrono::milliseconds timeout() const {
        return std::chrono::milliseconds(static_cast<int64_t>(options_.request_timeout_s * 1000));
    }

    void do_read() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
        parser_->body_limit(options_.max_body_bytes);
        // The buffer keeps what the last read took past its request: a pipelined next request.
        stream_.expires_after(timeout());
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
            ec == asio::error::connection_reset || ec == asio::error::eof)
            return close();
        if (ec) {
            int status = 400;
            std::string msg = "400 bad request: " + ec.message();
            if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
                status = 431;
                msg = "431 request header fields too large (limit " + std::to_string(options_.max_header_bytes) +
                      " bytes)";
            } else if (ec == http::error::body_limit) {
                status = 413;
                msg = "413 payload too large (limit " + std::to_string(options_.max_body_bytes) + " bytes)";
            }
            ServerResponse r = text_response(status, msg);
            return send(r, false, 11, false);
        }
        const auto& req = parser_->get();
        std::string method(req.method_string());
        std::string target(req.target());
        auto host = req.find(http::field::host);
        std::string host_value = host != req.end() ? std::string(host->value()) : "";
        if (!http_host_allowed(host_value, host != req.end(), req.version() == 10, options_.bind)) {
            beast::error_code ep_ec;
            auto local = stream_.socket().local_endpoint(ep_ec);
            ServerResponse r = text_response(403, "403 forbidden: Host '" + http_host_name(host_value) +
                                                      "' is not this server (DNS rebinding protection); use http://" +
                                                      options_.bind + ":" + std::to_string(local.port()) + "/");
            return send(r, false, req.version(), false);
        }
        bool keep_alive = req.keep_alive(), head = method == "HEAD";
        unsigned version = req.version();
        // Routing queries the store and renders: never on this I/O thread (it would hold up accepts,
        // timeouts and 4xx answers). Hand it to a worker, or shed it when too many are waiting.
        size_t cap = static_cast<size_t>(options_.workers) + options_.max_queued;
        if (workers_->in_flight.fetch_add(1) >= cap) {
            --workers_->in_flight;
            ServerResponse r = text_response(503, "503 service unavailable: " + std::to_string(cap) +
                                                      " requests are already being served or waiting; retry shortly");
            r.headers["Retry-After"] = "1";
            return send(std::move(r), keep_alive, version, head);
        }
        asio::post(workers_->pool, [self = shared_from_this(), method, target, keep_alive, version, head] {
            ServerResponse r;
            try {
                if (self->options_.before_handle) self->options_.before_handle(target);
                r = server_handle_request(self->options_, method, target);
            } catch (const std::exception& e) {
                r = text_response(500, std::string("500 internal error: ") + e.what());
            }
            --self->workers_->in_flight;
            auto ex = self->stream_.get_executor();  // the connection's strand: its I/O stays serial
            asio::post(ex, [self, r = std::move(r), keep_alive, version, head]() mutable {
                self->send(std::move(r), keep_alive, version, head);
            });
        });
    }

    void send(ServerResponse r, bool keep_alive, unsigned version, bool head) {
        res_ = {};
        res_.version(version);
        res_.result(static_cast<http::status>(r.status));
        res_.set(http::field::server, "adabench");
        res_.set(http::field::content_type, r.content_type);
        res_.set(http::field::cache_control, "no-store");
        res_.set("X-Content-Type-Options", "nosniff");
        res_.set("Content-Security-Policy", kCsp);
        res_.set("Referrer-Policy", "no-referrer");
        for (const auto& [k, v] : r.headers) res_.set(k, v);
        res_.keep_alive(keep_alive);
        res_.content_length(r.body.size());
        if (!head) res_.body() = std::move(r.body);
        stream_.expires_after(timeout());
        http::async_write(stream_, res_, beast::bind_front_handler(&Session::on_write, shared_from_this(), keep_alive));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return close();
        do_read();
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.socket().close(ec);
    }
};

}  // namespace

struct ReportServer::Impl {
    ServerOptions options;
    std::shared_ptr<std::atomic<size_t>> active = std::make_shared<std::atomic<size_t>>(0);
    asio::io_context ioc;
    // After ioc, so destroyed before it: handlers left in the pool hold sessions, whose sockets need
    // ioc when they close.
    std::unique_ptr<WorkerPool> workers;
    tcp::acceptor acceptor{ioc};
    asio::steady_timer accept_retry{ioc};
    std::vector<std::thread> threads;
    uint16_t port = 0;
    bool running = false;

    void do_accept() {
        acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
            if (ec) {
                // Out of file descriptors (EMFILE) or memory: accepting again at once would spin.
                accept_retry.expires_after(std::chrono::milliseconds(50));
                accept_retry.async_wait([this](beast::error_code e) {
                    if (!e && acceptor.is_open()) do_accept();
                });
                return;
            }
            {
                if (active->load() >= options.max_connections) {
                    beast::error_code ignore;
                    socket.close(ignore);  // over the connection cap: refuse rather than queue without bound
                } else {
                    std::make_shared<Session>(std::move(socket), options, active, workers.get())->start();
                }
            }
            do_accept();
        });
    }
};

ReportServer::ReportServer(ServerOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
}

ReportServer::~ReportServer() { stop(); }

void ReportServer::start() {
    Impl& m = *impl_;
    if (m.running) return;
    if (m.options.threads < 1 || m.options.threads > 64) throw Error("report server: --threads must be in [1, 64]");
    if (m.options.workers < 1 || m.options.workers > 64) throw Error("report server: --workers must be in [1, 64]");
    { Store probe(m.options.db_path, STORE_MODE_READ_ONLY); }  // fail now, not on the first request
    beast::error_code ec;
    auto addr = asio::ip::make_address(m.options.bind, ec);
    if (ec) throw Error("report server: '" + m.options.bind + "' is not an IP address", "use e.g. 127.0.0.1 or ::1");
    tcp::endpoint ep(addr, m.options.port);
    m.acceptor.open(ep.protocol(), ec);
    if (!ec) m.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) m.acceptor.bind(ep, ec);
    if (!ec) m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw Error("report server: cannot listen on " + m.options.bind + ":" + std::to_string(m.options.port) + ": " +
                        ec.message(),
                    "is the port in use? try --port 0 or another port");
    m.port = m.acceptor.local_endpoint().port();
    m.running = true;
    m.workers = std::make_unique<WorkerPool>(static_cast<size_t>(m.options.workers));
    m.do_accept();
    for (int i = 0; i < m.options.threads; ++i) m.threads.emplace_back([&m] { m.ioc.run(); });
}

uint16_t ReportServer::port() const { return impl_->port; }

void ReportServer::stop() {
    Impl& m = *impl_;
    if (!m.running) return;
    asio::post(m.ioc, [&m] {
        beast::error_code ec;
        m.acceptor.close(ec);
    });
    m.ioc.stop();
    for (auto& t : m.threads) t.join();
    m.threads.clear();
    // Requests already running finish (their replies go to the stopped ioc, never sent); those still
    // queued are dropped with the pool (see Impl).
    m.workers->pool.stop();
    m.workers->pool.join();
    m.running = false;
}

}  // namespace adabench
