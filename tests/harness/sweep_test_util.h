// Helpers for sweep tests: temp directories and a comparable dump of a run's samples.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "store/store.h"

namespace adabench::testing {

inline std::string temp_dir(const std::string& name) {
    auto d =
        std::filesystem::temp_directory_path() / ("adabench-test-harness-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d.string();
}

// Every sample of the run as one line per sample, with the point's identity instead of its id
// and without timing columns, sorted: equal strings mean equal results.
inline std::vector<std::string> dump_samples(const Store& st, int64_t run_id) {
    std::vector<std::string> out;
    auto points = st.list_points(run_id);
    SampleFilter f;
    f.run_id = run_id;
    for (const auto& s : st.list_samples(f)) {
        const PointRecord* p = nullptr;
        for (const auto& q : points)
            if (q.point_id == s.point_id) p = &q;
        std::ostringstream o;
        o << (p ? p->label : "?") << "|" << s.point_id << "|" << s.problem_id << "|" << s.sample_index << "|" << s.seed
          << "|" << s.n_tokens_prompt << "|" << s.n_tokens_think << "|" << s.n_tokens_answer << "|" << s.finish_reason
          << "|" << s.forced << "|" << s.n_wait << "|" << s.censored << "|" << s.extracted_strict << "|"
          << s.extracted_flexible << "|" << s.gold << "|" << s.correct_strict << "|" << s.correct_flexible << "|"
          << s.prompt_text << "|" << s.response_text;
        out.push_back(o.str());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace adabench::testing
