// libFuzzer target: serve-engine's request parsing, end to end. An EngineServer runs once in this
// process on a scratch model directory (the tiny random Qwen2 fixture's weights with the organism's
// tokenizer, context cut to 32 tokens, so a completion costs milliseconds) on a loopback port; each input is sent as
// raw bytes on a new connection (HTTP framing, routing, JSON bodies of /v1/completions, /tokenize, /detokenize, the
// LoRA routes), the write side is shut, and the response read to the end. A crash, sanitizer report or a server that
// stops answering (the read times out after 30 s: libFuzzer's -timeout catches it) is a failure.
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include "common/error.h"
#include "engines/http/serve_engine.h"
#include "fuzz/fuzz_util.h"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
std::unique_ptr<adabench::EngineServer> g_server;
asio::io_context g_io;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* root = std::getenv("ADABENCH_SOURCE_DIR");
    const std::string src = root ? root : ADABENCH_SOURCE_DIR;
    const std::string dir = adabench_fuzz::scratch_dir() + "/model";
    std::filesystem::create_directories(dir);
    for (const char* f : {"config.json", "model.safetensors"})
        std::filesystem::create_symlink(src + "/tests/fixtures/models/qwen2-tiny-random/" + f, dir + "/" + f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        std::filesystem::create_symlink(src + "/tests/fixtures/tokenizer/organism_mini/" + f, dir + "/" + f);
    adabench::ServeEngineOptions o;
    o.engine.model_dir = dir;
    o.engine.n_threads = 1;
    o.engine.max_batch = 4;
    o.engine.max_seq_len = 32;
    o.port = 0;
    o.http_threads = 1;
    o.max_body_bytes = 1 << 20;
    o.max_prompts_per_request = 4;
    o.read_timeout_s = 5;
    g_server = std::make_unique<adabench::EngineServer>(o);
    g_server->start();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    tcp::socket s(g_io);
    boost::system::error_code ec;
    // libFuzzer's -timeout alarm (SIGALRM) interrupts blocking calls: a connect or read that
    // returns EINTR is retried (the harness's own business, not the server's).
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (s.is_open()) s.close(ec);
        s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), g_server->port()), ec);
        if (ec != asio::error::interrupted) break;
    }
    if (ec) {
        std::fprintf(stderr, "fuzz_serve_engine: cannot connect to the server: %s\n", ec.message().c_str());
        std::abort();
    }
    asio::write(s, asio::buffer(data, size), ec);
    s.shutdown(tcp::socket::shutdown_send, ec);
    char buf[4096];
    while (true) {
        s.read_some(asio::buffer(buf), ec);
        if (ec == asio::error::interrupted) continue;
        if (ec) break;
    }
    return 0;
}
