// The scripted fake server (see fake_server.h): a Beast acceptor on 127.0.0.1, one session per
// connection on a strand of a small thread pool; each request goes to the handler, whose action
// is carried out after its delay on a timer. stop() ends the io_context and destroys it, which
// closes every socket; restart() builds a fresh one on the same port.
#include "tests/http/fake_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>  // before Boost 1.74 Asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace adabench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string fixture(const char* name) { return std::string(ADABENCH_SOURCE_DIR) + "/tests/fixtures/http/" + name; }

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

struct FakeServer::Impl {
    Handler handler;
    bool tls = false;
    int n_threads = 2;
    std::optional<ssl::context> ssl_ctx;
    std::unique_ptr<asio::io_context> ioc;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::vector<std::thread> threads;
    int port = 0;
    bool running = false;
    std::mutex run_mu;  // stop()/restart() against each other

    mutable std::mutex mu;
    std::vector<FakeRequest> log;
    std::atomic<bool> keep_log{true};
    std::atomic<int64_t> n_requests{0}, n_connections{0}, n_responded{0}, handling_ns{0};
    std::atomic<int> in_flight{0}, peak{0};

    void enter() {
        int now = ++in_flight;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
    }
    void leave() { --in_flight; }

    struct Session : std::enable_shared_from_this<Session> {
        Impl& srv;
        std::optional<tcp::socket> plain;
        std::optional<ssl::stream<tcp::socket>> tls;
        beast::flat_buffer buffer;
        std::optional<http::request_parser<http::string_body>> parser;
        http::response<http::string_body> response;
        std::string raw;
        asio::steady_timer timer;
        Clock::time_point t_read;
        std::array<char, 1024> sink{};
        bool counted = false;  // a request of this session is in flight

        Session(Impl& s, tcp::socket socket) : srv(s), timer(socket.get_executor()) {
            if (srv.tls)
                tls.emplace(std::move(socket), *srv.ssl_ctx);
            else
                plain.emplace(std::move(socket));
        }
        ~Session() {
            if (counted) srv.leave();
        }

        tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

        template <class F>
        void with_stream(F&& f) {
            if (tls)
                f(*tls);
            else
                f(*plain);
        }

        void start() {
            if (!tls) {
                read_request();
                return;
            }
            tls->async_handshake(ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
                if (!ec) self->read_request();
            });
        }

        void read_request() {
            parser.emplace();
            parser->body_limit(uint64_t{64} << 20);
            with_stream([&](auto& s) {
                http::async_read(s, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                    if (!ec) self->on_request();
                });
            });
        }

        void on_request() {
            auto msg = parser->release();
            parser.reset();
            FakeRequest req;
            req.method = std::string(msg.method_string());
            req.target = std::string(msg.target());
            req.body = std::move(msg.body());
            for (const auto& f : msg) req.headers[lower(std::string(f.name_string()))] = std::string(f.value());
            req.index = srv.n_requests++;
            if (srv.keep_log.load()) {
                std::lock_guard<std::mutex> lock(srv.mu);
                srv.log.push_back(req);
            }
            srv.enter();
            counted = true;
            t_read = Clock::now();
            FakeAction action;
            try {
                action = srv.handler(req);
            } catch (const std::exception& e) {
                action = FakeAction{};
                action.status = 500;
                action.body = std::string("fake server handler threw: ") + e.what();
            }
            bool keep_alive = msg.keep_alive();
            double delay_s = action.delay_s;
            auto act = [self = shared_from_this(), action = std::move(action), keep_alive]() mutable {
                self->act(std::move(action), keep_alive);
            };
            if (delay_s > 0) {
                timer.expires_after(std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(std::min(delay_s, 3600.0))));
                timer.async_wait([act = std::move(act)](beast::error_code ec) mutable {
                    if (!ec) act();
                });
            } else {
                act();
            }
        }

        void done_request() {
            if (counted) srv.leave();
            counted = false;
        }

        void close(bool reset) {
            beast::error_code ec;
            if (reset) socket().set_option(asio::socket_base::linger(true, 0), ec);
            else socket().shutdown(tcp::socket::shutdown_both, ec);
            socket().close(ec);
        }

        void act(FakeAction action, bool keep_alive) {
            switch (action.kind) {
                case FakeAction::RESPOND: respond(std::move(action), keep_alive); return;
                case FakeAction::CLOSE_BEFORE_RESPONSE:
                    done_request();
                    close(false);
                    return;
                case FakeAction::HANG: hang(); return;
                case FakeAction::RESET_MID_BODY: {
                    std::string body = action.body.empty() ? std::string(4096, 'x') : action.body;
                    raw = "HTTP/1.1 " + std::to_string(action.status) + " OK\r\nContent-Type: application/json\r\n" +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, body.size() / 2);
                    write_raw(true);
                    return;
                }
                case FakeAction::GARBAGE: {
                    static const char kGarbage[] = "\x16\x03\x01 this is not HTTP \x00\xff\xfe garbage\r\n\r\n";
                    raw.assign(kGarbage, sizeof kGarbage - 1);
                    write_raw(false);
                    return;
                }
                case FakeAction::RAW:
                    raw = std::move(action.body);
                    write_raw(false);
                    return;
            }
        }

        void respond(FakeAction action, bool keep_alive) {
            response = {};
            response.version(11);
            response.result(static_cast<unsigned>(action.status));
            response.set(http::field::content_type, "application/json");
            bool close_after = !keep_alive;
            for (const auto& [k, v] : action.headers) {
                response.set(k, v);
                if (lower(k) == "connection" && lower(v) == "close") close_after = true;
            }
            response.body() = std::move(action.body);
            response.keep_alive(!close_after);
            response.prepare_payload();
            with_stream([&](auto& s) {
                http::async_write(s, response, [self = shared_from_this(), close_after](beast::error_code ec, std::size_t) {
                    self->srv.handling_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 Clock::now() - self->t_read)
                                                 .count();
                    ++self->srv.n_responded;
                    self->done_request();
                    if (ec || close_after) {
                        self->close(false);
                        return;
                    }
                    self->read_request();
                });
            });
        }

        void write_raw(bool reset) {
            with_stream([&](auto& s) {
                asio::async_write(s, asio::buffer(raw), [self = shared_from_this(), reset](beast::error_code, std::size_t) {
                    self->done_request();
                    self->close(reset);
                });
            });
        }

        // Reads and discards until the client goes away; the pending read keeps the session alive.
        void hang() {
            with_stream([&](auto& s) {
                s.async_read_some(asio::buffer(sink), [self = shared_from_this()](beast::error_code ec, std::size_t) {
                    if (ec) {
                        self->done_request();
                        return;
                    }
                    self->hang();
                });
            });
        }
    };

    void start() {
        ioc = std::make_unique<asio::io_context>(n_threads);
        acceptor = std::make_unique<tcp::acceptor>(*ioc);
        tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
        beast::error_code ec;
        acceptor->open(ep.protocol(), ec);
        if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor->bind(ep, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) throw std::runtime_error("fake server: cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                                         ec.message());
        port = acceptor->local_endpoint().port();
        accept();
        for (int i = 0; i < n_threads; ++i) threads.emplace_back([this] { ioc->run(); });
        running = true;
    }

    void accept() {
        acceptor->async_accept(asio::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
            if (!ec) {
                ++n_connections;
                beast::error_code ignore;
                socket.set_option(tcp::no_delay(true), ignore);
                std::make_shared<Session>(*this, std::move(socket))->start();
            }
            accept();
        });
    }

    void stop() {
        if (!running) return;
        running = false;
        ioc->stop();
        for (auto& t : threads) t.join();
        threads.clear();
        acceptor.reset();
        ioc.reset();  // destroys the pending handlers and with them every session and socket
    }
};

FakeServer::FakeServer(Handler handler, bool tls, int n_threads) : impl_(std::make_unique<Impl>()) {
    impl_->handler = std::move(handler);
    impl_->tls = tls;
    impl_->n_threads = std::max(1, n_threads);
    if (tls) {
        impl_->ssl_ctx.emplace(ssl::context::tls_server);
        impl_->ssl_ctx->use_certificate_chain_file(fixture("server.pem"));
        impl_->ssl_ctx->use_private_key_file(fixture("server.key"), ssl::context::pem);
    }
    impl_->start();
}

FakeServer::~FakeServer() { stop(); }

std::string FakeServer::url() const {
    return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(impl_->port);
}

int FakeServer::port() const { return impl_->port; }

void FakeServer::stop() {
    std::lock_guard<std::mutex> lock(impl_->run_mu);
    impl_->stop();
}

void FakeServer::restart() {
    std::lock_guard<std::mutex> lock(impl_->run_mu);
    if (!impl_->running) impl_->start();
}

int64_t FakeServer::n_requests() const { return impl_->n_requests.load(); }

std::vector<FakeRequest> FakeServer::requests() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->log;
}

void FakeServer::keep_log(bool keep) { impl_->keep_log.store(keep); }

int64_t FakeServer::n_connections() const { return impl_->n_connections.load(); }
int FakeServer::in_flight() const { return impl_->in_flight.load(); }
int FakeServer::max_in_flight() const { return impl_->peak.load(); }
double FakeServer::handling_s() const { return static_cast<double>(impl_->handling_ns.load()) * 1e-9; }
int64_t FakeServer::n_responded() const { return impl_->n_responded.load(); }

std::string FakeServer::ca_file() { return fixture("ca.pem"); }

}  // namespace adabench
