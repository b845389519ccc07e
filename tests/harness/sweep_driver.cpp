// sweep-driver: the exact `adabench sweep` command (harness/cli/cmd_sweep.cpp) over the fake engine,
// so tests can run, kill and resume a real sweep process without a trained model. A test tool, never
// installed. Usage: sweep-driver sweep [adabench sweep flags]. ADABENCH_FAKE_SLEEP_MS sets a
// per-engine-call delay; ADABENCH_FAKE_FAIL="Q: 7+13" makes every result of a prompt holding that
// text come back failed_infra (a server that keeps failing).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "common/error.h"
#include "fake_engine.h"

namespace adabench {
using SweepProviderFactory = std::function<std::unique_ptr<SweepEngineProvider>(const SweepConfig&)>;
int cmd_sweep_with(int argc, char** argv, const SweepProviderFactory& factory);
}  // namespace adabench

int main(int argc, char** argv) {
    int sleep_ms = 0;
    if (const char* s = std::getenv("ADABENCH_FAKE_SLEEP_MS")) sleep_ms = std::atoi(s);
    adabench::testing::FakeFailWhen fail;
    if (const char* f = std::getenv("ADABENCH_FAKE_FAIL"); f && *f) {
        std::string needle = f;
        fail = [needle](const adabench::GenerateRequest& rq, int) {
            return std::string(rq.prompt_ids.begin(), rq.prompt_ids.end()).find(needle) != std::string::npos;
        };
    }
    try {
        return adabench::cmd_sweep_with(argc, argv, [&](const adabench::SweepConfig&) {
            return std::make_unique<adabench::testing::FakeProvider>(nullptr, sleep_ms, fail);
        });
    } catch (const adabench::UsageError& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
