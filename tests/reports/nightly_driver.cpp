// nightly-driver: the exact `adabench nightly` command (harness/cli/cmd_nightly.cpp) over the fake
// engine of the harness tests, so the gate's exit codes and files are tested end to end without a
// trained model. A test tool, never installed. Usage: nightly-driver nightly [adabench nightly flags].
#include <cstdio>
#include <exception>

#include "../harness/fake_engine.h"
#include "common/error.h"

namespace adabench {
using NightlyProviderFactory = std::function<std::unique_ptr<SweepEngineProvider>(const SweepConfig&)>;
int cmd_nightly_with(int argc, char** argv, const NightlyProviderFactory& factory);
}  // namespace adabench

int main(int argc, char** argv) {
    try {
        return adabench::cmd_nightly_with(argc, argv, [](const adabench::SweepConfig&) {
            return std::make_unique<adabench::testing::FakeProvider>();
        });
    } catch (const std::exception& e) {  // usage errors: the CLI's exit code 2
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}
