// libFuzzer target: the report server's request parsing. The input is raw bytes off the socket:
// Beast's request parser with the server's limits (as its sessions set them), the Host check, then
// server_handle_request on an empty store made once in a scratch directory. The input's first line
// is also routed as a GET target directly, so route and query parsing is reached without HTTP
// framing.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>
#include "common/error.h"
#include "common/host_check.h"
#include "fuzz/fuzz_util.h"
#include "reports/server.h"
#include "store/store.h"

namespace http = boost::beast::http;

namespace {
adabench::ServerOptions g_opt;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_opt.db_path = adabench_fuzz::scratch_dir() + "/reports.db";
    adabench::Store s(g_opt.db_path);  // creates the schema
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string raw(reinterpret_cast<const char*>(data), size);
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(g_opt.max_header_bytes));
    parser.body_limit(g_opt.max_body_bytes);
    parser.eager(true);
    boost::beast::error_code ec;
    size_t used = parser.put(boost::asio::buffer(raw), ec);
    (void)used;
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (!ec && parser.is_done()) {
        const auto& req = parser.get();
        auto host = req.find(http::field::host);
        std::string host_value = host != req.end() ? std::string(host->value()) : "";
        (void)adabench::http_host_name(host_value);
        if (adabench::http_host_allowed(host_value, host != req.end(), req.version() == 10, g_opt.bind)) {
            (void)adabench::server_handle_request(g_opt, std::string(req.method_string()), std::string(req.target()));
        }
    }
    std::string line = raw.substr(0, raw.find('\n'));
    (void)adabench::server_handle_request(g_opt, "GET", line);
    std::string decoded;
    (void)adabench::server_url_decode(line, &decoded, true);
    return 0;
}
