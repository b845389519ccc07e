// Evaluation tasks: task configs (configs/tasks/NAME.json), JSONL problem files with sha256
// verification, problem filters, and prompt rendering from named templates.
// It does not grade (graders/), apply chat templates (engines/) or store anything (store/); the
// format of a task config is documented in configs/tasks/README.md.
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace adabench {

enum GoldExtraction {
    GOLD_EXTRACTION_FIELD,       // the answer field as it is (trimmed)
    GOLD_EXTRACTION_AFTER_HASH,  // GSM8K: text after the last "####", trimmed, commas removed
};

struct TaskConfig {
    std::string name;
    std::string version;
    std::string description;
    std::string config_path;  // the .json this came from ("" when parsed from memory)
    std::string data_file;    // as written in the config
    std::string data_path;    // resolved path that is read
    std::string sha256;       // expected hex digest, lowercase; "" = not pinned
    std::string id_field;     // "" = use the 0-based record index
    std::string question_field;
    std::string answer_field;
    GoldExtraction gold_extraction = GOLD_EXTRACTION_FIELD;
    std::vector<std::string> metadata_fields;
    std::vector<std::pair<std::string, std::string>> prompt_templates;  // in file order
    std::string default_template;
    std::string grader;
    std::optional<size_t> default_limit;
    std::string source;
};

struct Problem {
    std::string id;
    std::string question;
    std::string gold;
    nlohmann::json metadata = nlohmann::json::object();  // the task's metadata_fields present in the record
    size_t line = 0;                                     // 1-based line in the data file
};

struct Dataset {
    TaskConfig task;
    std::string sha256;          // actual digest of the bytes read
    bool sha256_pinned = false;  // true when the config pinned a digest (and it matched)
    size_t n_records = 0;        // records in the file, before filters
    std::vector<Problem> problems;
};

struct DatasetLoadOptions {
    // Use only the first N problems (after the id filter). nullopt: the task's default_limit;
    // 0: no limit even when the task has a default.
    std::optional<size_t> limit;
    std::vector<std::string> ids;  // keep only these ids (file order kept); an unknown id is an error
    bool verify_sha256 = true;     // false only for diagnostics (adabench tasks reports, never loads)
};

// The repository root: $ADABENCH_ROOT if set (must contain configs/tasks), else the nearest
// ancestor of the running executable, else of the current directory, that contains configs/tasks.
// Throws Error with a hint when none is found.
std::string dataset_find_root();

// A task by name (<root>/configs/tasks/NAME.json) or by path (anything ending in .json or
// containing a '/'). root "" means dataset_find_root() (only consulted for names and for resolving
// shipped data files).
TaskConfig dataset_load_task(const std::string& name_or_path, const std::string& root = "");
// Parses a task config already read; config_path is used for messages and relative data paths.
TaskConfig dataset_parse_task(const std::string& json_text, const std::string& config_path, const std::string& root);
// Names of the tasks under <root>/configs/tasks, sorted.
std::vector<std::string> dataset_list_tasks(const std::string& root = "");

// Reads, verifies and parses the task's data file, then applies the filters.
Dataset dataset_load(const TaskConfig& task, const DatasetLoadOptions& options = {});
// Parses JSONL text for a task (no filters, no hashing); errors name source_name and the line.
std::vector<Problem> dataset_parse_jsonl(std::string_view text, const TaskConfig& task, const std::string& source_name);
// Applies the id filter and the limit as documented on DatasetLoadOptions.
std::vector<Problem> dataset_filter_problems(const std::vector<Problem>& problems, const TaskConfig& task,
                                             const DatasetLoadOptions& options);

// GSM8K gold: the text after the last "####", trimmed, with thousands commas removed.
// Returns nullopt when there is no "####".
std::optional<std::string> dataset_extract_after_hash(std::string_view answer);

// The user message for a problem. template_name "" = the task's default template. vars adds or
// overrides placeholders (e.g. {"budget", "512"}); a template using {budget} without one throws.
std::string dataset_render_prompt(const TaskConfig& task, const Problem& problem, const std::string& template_name = "",
                                  const std::map<std::string, std::string>& vars = {});
// The template text by name ("" = default); throws naming the available templates.
const std::string& dataset_template(const TaskConfig& task, const std::string& template_name);

// What the store records about the data a run used (one entry of RunInfo::datasets_json):
// {"task", "version", "sha256", "n_problems" (after filters), "n_records" (before), "data_file", "grader"}.
nlohmann::json dataset_identity_json(const Dataset& dataset);

const char* dataset_gold_extraction_name(GoldExtraction g);

}  // namespace adabench
