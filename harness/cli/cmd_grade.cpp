// adabench grade: grade a JSONL file of responses against gold answers (the graders library).
// Input lines: {"id": any, "gold": string, "response": string, "dataset": optional string}.
// Output, one line per graded input line and in order: {"id", "extracted", "correct", "censored"}
// to stdout, or written atomically to --output. Last stderr line: "graded N: C correct, X censored".
// A malformed line stops everything (exit 1, nothing written) unless --keep-going skips it.
// Deliberately reads the whole file first: nothing partial is ever written. --input - reads stdin.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "graders/grader.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"

namespace adabench {
namespace {

// Parses and checks one input line; throws Error naming file and line.
nlohmann::json grade_parse_line(const std::string& path, size_t line_no, const std::string& line) {
    std::string where = path + ":" + std::to_string(line_no);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (a number overflows)
        throw Error(where + ": not valid JSON (" + std::string(e.what()) + ")",
                    "each line must be one JSON object: {\"id\": ..., \"gold\": \"...\", \"response\": \"...\"}");
    }
    if (!j.is_object()) throw Error(where + ": expected a JSON object, got " + std::string(j.type_name()));
    if (!j.contains("id")) throw Error(where + ": missing field \"id\"");
    for (const char* field : {"gold", "response"}) {
        if (!j.contains(field)) throw Error(where + ": missing field \"" + std::string(field) + "\"");
        if (!j[field].is_string())
            throw Error(where + ": field \"" + std::string(field) + "\" must be a string, got " +
                        std::string(j[field].type_name()));
    }
    if (j.contains("dataset")) {
        if (!j["dataset"].is_string()) throw Error(where + ": field \"dataset\" must be a string");
        try {
            grader_dataset_from_name(j["dataset"].get<std::string>());
        } catch (const Error& e) {
            throw Error(where + ": " + e.what());
        }
    }
    return j;
}

}  // namespace

int cmd_grade(int argc, char** argv) {
    ArgParser args("grade", "Grade model responses in a JSONL file against gold answers.");
    args.option("input", "FILE.jsonl",
                "input lines {\"id\", \"gold\", \"response\", \"dataset\" (optional)}; - reads standard input")
        .option("output", "OUT.jsonl", "write results here (atomically) instead of stdout")
        .option("dataset", "NAME", "grader for lines without a \"dataset\" field: math, gsm8k, aime, numeric")
        .option("pipeline", "NAME", "extraction reported as the verdict: flexible (default) or strict")
        .option("think-end", "TEXT", "end-of-thinking marker (default </think>)")
        .option("think-begin", "TEXT", "start-of-thinking marker (default <think>)")
        .flag("answers", "each response is already the final answer: no thinking handling or extraction")
        .flag("keep-going", "skip malformed lines with a warning instead of failing")
        .epilog(
            "Output lines: {\"id\", \"extracted\", \"correct\", \"censored\"}, one per input line, in order.\n"
            "The last line on stderr is \"graded N: C correct, X censored\". A malformed line is an error\n"
            "naming its line number (exit 1, nothing written) unless --keep-going.");
    if (!args.parse(argc, argv)) return 0;
    if (!args.has("input"))
        throw UsageError("adabench grade: --input FILE.jsonl is required", "see adabench grade --help");
    if (args.has("output")) io_refuse_output_over_input("grade", args.get("output"), {args.get("input")});

    GradeOptions base;
    if (args.has("dataset")) {
        try {
            base.dataset = grader_dataset_from_name(args.get("dataset"));
        } catch (const Error& e) {
            throw UsageError(std::string("adabench grade: --dataset: ") + e.what());
        }
    }
    if (args.has("pipeline")) {
        std::string p = args.get("pipeline");
        if (p == "strict")
            base.pipeline = GRADER_PIPELINE_STRICT;
        else if (p == "flexible")
            base.pipeline = GRADER_PIPELINE_FLEXIBLE;
        else
            throw UsageError("adabench grade: --pipeline must be strict or flexible, got '" + p + "'");
    }
    if (args.has("think-end")) base.think_end = args.get("think-end");
    if (args.has("think-begin")) base.think_begin = args.get("think-begin");
    base.answers_only = args.has("answers");
    bool keep_going = args.has("keep-going");

    const std::string input = args.get("input");
    const std::string path = input == "-" ? "<stdin>" : input;  // as errors name it
    std::string data;
    if (input == "-") {
        char buf[1 << 16];
        size_t got = 0;
        while ((got = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, got);
        if (std::ferror(stdin)) throw Error("<stdin>: read failed");
    } else {
        data = io_read_file(input);
    }
    std::string out;
    size_t n = 0, n_correct = 0, n_censored = 0, n_skipped = 0, line_no = 0;
    size_t pos = 0;
    while (pos < data.size()) {
        size_t nl = data.find('\n', pos);
        size_t end = nl == std::string::npos ? data.size() : nl;
        std::string line = data.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        nlohmann::json j;
        try {
            j = grade_parse_line(path, line_no, line);
        } catch (const Error& e) {
            if (!keep_going) throw;
            std::fprintf(stderr, "warning: %s (line skipped)\n", e.what());
            ++n_skipped;
            continue;
        }
        GradeOptions opt = base;
        if (j.contains("dataset")) opt.dataset = grader_dataset_from_name(j["dataset"].get<std::string>());
        GradeResult r = grader_grade(j["response"].get<std::string>(), j["gold"].get<std::string>(), opt);
        nlohmann::ordered_json o;  // keys in the contract's order
        o["id"] = j["id"];
        o["extracted"] = r.extracted;
        o["correct"] = r.correct;
        o["censored"] = r.censored;
        out += o.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        out += '\n';
        ++n;
        n_correct += r.correct;
        n_censored += r.censored;
    }
    if (args.has("output")) {
        io_write_file_atomic(args.get("output"), out);
    } else {
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
    }
    if (n_skipped > 0) std::fprintf(stderr, "skipped %zu malformed line(s)\n", n_skipped);
    std::fprintf(stderr, "graded %zu: %zu correct, %zu censored\n", n, n_correct, n_censored);
    return 0;
}

}  // namespace adabench
