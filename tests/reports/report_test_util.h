// Synthetic stores for the report tests: runs, points and graded samples written through the store
// API (no engine), with hand-chosen verdicts and token counts so expected figures can be computed
// by hand.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "store/store.h"

namespace adabench::testing {

// One directory per test process, removed when the process exits.
struct ReportTempDir {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("adabench-reports-" + std::to_string(::getpid()));
    ~ReportTempDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

inline std::string report_temp_db(const std::string& name) {
    static ReportTempDir temp;
    const auto& dir = temp.dir;
    std::filesystem::create_directories(dir);
    auto path = dir / name;
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + "-wal");
    std::filesystem::remove(path.string() + "-shm");
    return path.string();
}

inline int64_t report_add_run(Store& s, const std::string& hash = "cfg") {
    RunRecord r;
    r.config_json = "{\"tasks\":[{\"name\":\"arith\"}]}";
    r.config_hash = hash;
    r.git_sha = "abc1234";
    r.engine = "cpu";
    r.device = "test-cpu";
    r.host = "testhost";
    r.model_hash = "modelhash";
    r.adapters_json = "[]";
    r.merges_json = "[]";
    r.datasets_json = "[{\"task\":\"arith\",\"sha256\":\"d\",\"version\":\"1\",\"n_problems\":10}]";
    r.started_at = "2026-01-01T00:00:00Z";
    r.finished_at = "2026-01-01T00:10:00Z";
    r.status = "finished";
    return s.insert_run(r);
}

inline PointRecord report_point(int64_t run, int64_t id, const std::string& task, int64_t budget,
                                const std::string& coefs) {
    PointRecord p;
    p.run_id = run;
    p.point_id = id;
    p.task = task;
    p.mechanism = budget < 0 ? "none" : "hard_cut";
    p.think_budget = budget;
    p.answer_budget = 64;
    p.max_tokens = 512;
    p.adapters_json = coefs == "[]" ? "[]" : "[\"long\"]";
    p.coefs_json = coefs;
    p.lora_mode = coefs == "[]" ? "" : "unmerged";
    p.n_samples = 1;
    p.label = task;
    return p;
}

inline SampleRecord report_sample(int64_t run, int64_t point, const std::string& problem, int64_t index, bool correct,
                                  int64_t think, int64_t answer) {
    SampleRecord s;
    s.run_id = run;
    s.point_id = point;
    s.problem_id = problem;
    s.sample_index = index;
    s.seed = 1000 + index;
    s.n_tokens_prompt = 20;
    s.n_tokens_think = think;
    s.n_tokens_answer = answer;
    s.finish_reason = "eos";
    s.extracted_strict = correct ? "42" : "7";
    s.extracted_flexible = s.extracted_strict;
    s.gold = "42";
    s.correct_strict = correct;
    s.correct_flexible = correct;
    s.prompt_text = "What is 6*7? (" + problem + ")";
    s.response_text = "<think>6 times 7</think>The answer is " + s.extracted_strict;
    s.created_at = "2026-01-01T00:00:01Z";
    return s;
}

// The exit code and combined stdout+stderr of a shell command line.
struct CmdResult {
    int rc = -1;
    std::string out;
};

inline CmdResult report_run_command(const std::string& command_line) {
    std::string cmd = command_line + " 2>&1";
    CmdResult r;
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) r.out.append(buf.data(), n);
    int st = pclose(f);
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

inline std::string report_slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream o;
    o << in.rdbuf();
    return o.str();
}

}  // namespace adabench::testing
