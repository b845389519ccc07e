// Linked into the emulation's test programs: every kernel launch in them runs under the race check
// (block_emulation.h). ADABENCH_EMU_RACECHECK=0 turns it off; =full runs every schedule of the
// check where the program would run fewer (ADABENCH_EMU_RACECHECK_ONE_SCHEDULE: the whole-model
// tests, whose many launches check under one schedule, run-ahead in shuffled priority, to keep the
// test command short; their kernels meet every schedule in test-emulation).
#include "block_emulation.h"

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
