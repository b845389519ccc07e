// graders/thinking.cpp: separate the answer from the thinking segment.
// Grades only the text after the last end-of-thinking marker. A response that opened thinking and
// never closed it is censored (empty answer). Deliberately does not look inside the thinking text:
// an answer written only while thinking is never graded.
#include "graders/grader.h"

namespace adabench {

std::string grader_strip_thinking(const std::string& response, const GradeOptions& options, bool* censored) {
    if (censored) *censored = false;
    if (!options.think_end.empty()) {
        size_t end = response.rfind(options.think_end);
        if (end != std::string::npos) return response.substr(end + options.think_end.size());
    }
    if (!options.think_begin.empty() && response.find(options.think_begin) != std::string::npos) {
        if (censored) *censored = true;
        return "";
    }
    return response;
}

}  // namespace adabench
