// Linked into the emulation's test programs: every kernel launch in them runs under the race check
// (block_emulation.h). ADABENCH_EMU_RACECHECK=0 turns it off; =full runs every schedule of the
// check where the program would run fewer: the whole-model tests (ADABENCH_EMU_RACECHECK_ONE_SCHEDULE)
// and any build under AddressSanitizer check under one schedule, run-ahead in shuffled priority,
// to keep the test command short (the kernels meet every schedule in the plain test-emulation).
#include "common/sanitizers.h"
#if defined(ADABENCH_ASAN) && !defined(ADABENCH_EMU_RACECHECK_ONE_SCHEDULE)
#define ADABENCH_EMU_RACECHECK_ONE_SCHEDULE 1
#endif
#include "block_emulation.h"
// after the emulation
#include <cstdlib>
#include <string>

namespace adabench {
namespace {

const bool racecheck_on = [] {
    const char* v = std::getenv("ADABENCH_EMU_RACECHECK");
    const std::string mode = v ? v : "";
    block_emulation::RaceCheck& rc = block_emulation::racecheck();
    rc.on = mode != "0";
#ifdef ADABENCH_EMU_RACECHECK_ONE_SCHEDULE
    if (mode != "full") rc.schedules = {{block_emulation::Order::shuffled, true}};
#endif
    return true;
}();

}  // namespace
}  // namespace adabench
