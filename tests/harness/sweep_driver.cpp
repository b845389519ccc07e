// sweep-driver: the exact `adabench sweep` command (harness/cli/cmd_sweep.cpp) over the fake engine,
// so tests can run, kill and resume a real sweep process without a trained model. A test tool, never
// installed. Usage: sweep-driver sweep [adabench sweep flags]. ADABENCH_FAKE_SLEEP_MS sets a
// per-engine-call delay.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "common/error.h"
#include "fake_engine.h"

namespace adabench {
using SweepProviderFactory = std::function<std::unique_ptr<SweepEngineProvider>(const SweepConfig&)>;
int cmd_sweep_with(int argc, char** argv, const SweepProviderFactory& factory);
}  // namespace adabench

int main(int argc, char** argv) {
    int sleep_ms = 0;
    if (const char* s = std::getenv("ADABENCH_FAKE_SLEEP_MS")) sleep_ms = std::atoi(s);
    try {
        return adabench::cmd_sweep_with(argc, argv, [&](const adabench::SweepConfig&) {
            return std::make_unique<adabench::testing::FakeProvider>(nullptr, sleep_ms);
        });
    } catch (const adabench::UsageError& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
