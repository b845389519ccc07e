// libFuzzer target: the http engine's response parsing. The first input byte picks the server
// flavour; the rest is a 2xx response body, parsed as http_flavour_parse_reply does for that
// flavour (plus the error-body and Retry-After parsers on the same bytes). The whole input is also
// fed to Beast's response parser, which the client reads responses with.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>
#include <vector>
#include "common/error.h"
#include "engines/http/flavour.h"
#include "engines/http/http_client.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    auto f = static_cast<adabench::HttpFlavour>(data[0] % 5);
    std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    adabench::GenCall call;
    call.prompt_ids = {1, 2, 3};
    call.prompt_text = "1 2 3";
    call.max_new = 8;
    call.stop_ids = {7, 9};
    call.stop_strs = {"</think>", "\n\n"};
    call.stop_id_texts = {"<|im_end|>", "<|endoftext|>"};
    call.model = "fuzz";
    try {
        adabench::GenReply r = adabench::http_flavour_parse_reply(f, body, call, {9});
        (void)adabench::gen_finish_name(r.finish);
    } catch (const adabench::Error&) {
    }
    (void)adabench::http_error_message(body);
    (void)adabench::http_parse_retry_after(body, 1700000000);

    // As HttpClient reads a response: the header alone first (limits 64 KiB / 64 MiB as in
    // http_client.cpp), the Content-Length checked, then the body.
    std::string raw(reinterpret_cast<const char*>(data), size);
    http::response_parser<http::string_body> parser;
    parser.header_limit(64 << 10);
    parser.body_limit(uint64_t{64} << 20);
    boost::beast::error_code ec;
    size_t used = 0;
    while (!ec && !parser.is_header_done() && used < raw.size()) {
        size_t n = parser.put(boost::asio::buffer(raw.data() + used, raw.size() - used), ec);
        if (n == 0) break;
        used += n;
    }
    if (!ec && parser.is_header_done() && parser.content_length() && *parser.content_length() > (uint64_t{64} << 20))
        return 0;
    parser.eager(true);
    while (!ec && !parser.is_done() && used < raw.size()) {
        size_t n = parser.put(boost::asio::buffer(raw.data() + used, raw.size() - used), ec);
        if (n == 0) break;
        used += n;
    }
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (!ec && parser.is_done()) {
        const auto& res = parser.get();
        auto ra = res.find(http::field::retry_after);
        if (ra != res.end()) (void)adabench::http_parse_retry_after(std::string(ra->value()), 1700000000);
        (void)adabench::http_status_retryable(static_cast<int>(res.result_int()));
    }
    return 0;
}
