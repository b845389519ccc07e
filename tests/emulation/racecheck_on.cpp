// Linked into the emulation's test programs: every kernel launch in them runs under the race check
// (block_emulation.h) unless ADABENCH_EMU_RACECHECK=0 says otherwise.
#include "block_emulation.h"

namespace adabench {
namespace {

const bool racecheck_on = [] {
    const char* v = std::getenv("ADABENCH_EMU_RACECHECK");
    block_emulation::racecheck().on = !(v && std::string(v) == "0");
    return true;
}();

}  // namespace
}  // namespace adabench
