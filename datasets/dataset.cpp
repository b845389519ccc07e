// Task configs, JSONL loading with sha256 verification, filters and prompt rendering.
// Untrusted inputs here are the config file and the data file: every problem with either is an
// adabench::Error naming the file (and line) with a hint. Prompt rendering is plain placeholder
// substitution, deliberately not a template language.
#include "datasets/dataset.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "common/io.h"
#include "common/sha256.h"

namespace fs = std::filesystem;

namespace adabench {

namespace {

using ojson = nlohmann::ordered_json;

const char* const kTaskKeys[] = {
    "name",           "version",       "description",     "data_file",       "sha256",           "id_field",
    "question_field", "answer_field",  "gold_extraction", "metadata_fields", "prompt_templates", "default_template",
    "grader",         "default_limit", "source"};

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r')) --e;
    return std::string(s.substr(b, e - b));
}

bool is_tasks_dir_root(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p / "configs" / "tasks", ec);
}

std::optional<std::string> walk_up_to_root(fs::path p) {
    std::error_code ec;
    p = fs::weakly_canonical(p, ec);
    if (ec) return std::nullopt;
    for (;;) {
        if (is_tasks_dir_root(p)) return p.string();
        if (!p.has_parent_path() || p.parent_path() == p) return std::nullopt;
        p = p.parent_path();
    }
}

bool valid_task_name(const std::string& s) {
    if (s.empty() || s.size() > 128) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
              (c >= 'A' && c <= 'Z')))
            return false;
    return true;
}

bool is_hex_digest(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string require_string(const ojson& j, const char* key, const std::string& where) {
    if (!j.contains(key)) throw Error(where + ": missing key \"" + key + "\"", "see configs/tasks/README.md");
    if (!j[key].is_string() || j[key].get<std::string>().empty())
        throw Error(where + ": \"" + key + "\" must be a non-empty string");
    return j[key].get<std::string>();
}

std::string optional_string(const ojson& j, const char* key, const std::string& where) {
    if (!j.contains(key) || j[key].is_null()) return "";
    if (!j[key].is_string()) throw Error(where + ": \"" + key + "\" must be a string or null");
    return j[key].get<std::string>();
}

// The text of a scalar JSON value as a gold answer or id: strings as they are, integers in
// decimal, other numbers as JSON writes them.
std::optional<std::string> scalar_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer() || v.is_number_unsigned() || v.is_number_float()) return v.dump();
    return std::nullopt;
}

std::string json_type_name(const nlohmann::json& v) { return v.type_name(); }

}  // namespace

const char* dataset_gold_extraction_name(GoldExtraction g) {
    switch (g) {
        case GOLD_EXTRACTION_FIELD:
            return "field";
        case GOLD_EXTRACTION_AFTER_HASH:
            return "after_hash";
    }
    return "?";
}

std::string dataset_find_root() {
    if (const char* env = std::getenv("ADABENCH_ROOT"); env && *env) {
        if (!is_tasks_dir_root(env))
            throw Error(std::string("ADABENCH_ROOT=") + env + " has no configs/tasks folder",
                        "point ADABENCH_ROOT at the adabench repository root, or unset it");
        return fs::weakly_canonical(env).string();
    }
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        if (auto r = walk_up_to_root(exe.parent_path())) return *r;
    }
    fs::path cwd = fs::current_path(ec);
    if (!ec) {
        if (auto r = walk_up_to_root(cwd)) return *r;
    }
    throw Error(
        "cannot find the adabench repository root (a folder containing configs/tasks) above the "
        "executable or the current directory",
        "set ADABENCH_ROOT to the repository root, or pass a task config by path");
}

std::vector<std::string> dataset_list_tasks(const std::string& root_in) {
    std::string root = root_in.empty() ? dataset_find_root() : root_in;
    fs::path dir = fs::path(root) / "configs" / "tasks";
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".json" && e.is_regular_file()) names.push_back(e.path().stem().string());
    }
    if (ec) throw Error(dir.string() + ": cannot list: " + ec.message());
    std::sort(names.begin(), names.end());
    return names;
}

TaskConfig dataset_load_task(const std::string& name_or_path, const std::string& root_in) {
    bool by_path =
        name_or_path.find('/') != std::string::npos || (name_or_path.size() > 5 && name_or_path.ends_with(".json"));
    if (by_path) {
        std::error_code ec;
        if (!fs::is_regular_file(name_or_path, ec))
            throw Error(name_or_path + ": task config not found",
                        "give a task name or the path of a .json task config");
        std::string root = root_in;
        if (root.empty()) {
            try {
                root = dataset_find_root();
            } catch (const Error&) {
                root = "";  // a user config outside any checkout resolves data relative to itself
            }
        }
        return dataset_parse_task(io_read_file(name_or_path), name_or_path, root);
    }
    if (!valid_task_name(name_or_path))
        throw Error("invalid task name '" + name_or_path + "'", "names use letters, digits, '_', '-', '.'");
    std::string root = root_in.empty() ? dataset_find_root() : root_in;
    fs::path p = fs::path(root) / "configs" / "tasks" / (name_or_path + ".json");
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
        std::string known;
        for (const auto& n : dataset_list_tasks(root)) known += (known.empty() ? "" : ", ") + n;
        throw Error(
            "unknown task '" + name_or_path + "' (no " + p.string() + ")",
            "known tasks: " + (known.empty() ? std::string("none") : known) + "; or pass a task config by path");
    }
    TaskConfig t = dataset_parse_task(io_read_file(p.string()), p.string(), root);
    if (t.name != name_or_path)
        throw Error(p.string() + ": \"name\" is '" + t.name + "' but the file is " + name_or_path + ".json",
                    "a shipped task's name must equal its file name");
    return t;
}

TaskConfig dataset_parse_task(const std::string& json_text, const std::string& config_path, const std::string& root) {
    const std::string where = config_path.empty() ? std::string("<task config>") : config_path;
    ojson j;
    try {
        j = ojson::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + ": malformed JSON: " + io_printable(e.what()));
    }
    if (!j.is_object()) throw Error(where + ": a task config must be a JSON object");
    std::set<std::string> known(std::begin(kTaskKeys), std::end(kTaskKeys));
    for (const auto& [k, v] : j.items()) {
        if (!k.empty() && k[0] == '_') continue;  // comments
        if (!known.count(k)) {
            std::string list;
            for (const char* key : kTaskKeys) list += (list.empty() ? "" : ", ") + std::string(key);
            throw Error(where + ": unknown key \"" + k + "\"", "known keys: " + list);
        }
    }
    TaskConfig t;
    t.config_path = config_path;
    t.name = require_string(j, "name", where);
    if (!valid_task_name(t.name))
        throw Error(where + ": invalid task name '" + t.name + "'", "use letters, digits, '_', '-', '.'");
    if (!j.contains("version")) throw Error(where + ": missing key \"version\"", "e.g. \"version\": \"1.0\"");
    if (j["version"].is_string() && !j["version"].get<std::string>().empty())
        t.version = j["version"].get<std::string>();
    else if (j["version"].is_number())
        t.version = j["version"].dump();
    else
        throw Error(where + ": \"version\" must be a non-empty string or a number");
    t.description = optional_string(j, "description", where);
    t.source = optional_string(j, "source", where);
    t.data_file = require_string(j, "data_file", where);
    t.sha256 = optional_string(j, "sha256", where);
    std::transform(t.sha256.begin(), t.sha256.end(), t.sha256.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (!t.sha256.empty() && !is_hex_digest(t.sha256))
        throw Error(where + ": \"sha256\" must be 64 hex digits", "compute it with sha256sum, or remove the key");
    t.id_field = optional_string(j, "id_field", where);
    t.question_field = require_string(j, "question_field", where);
    t.answer_field = require_string(j, "answer_field", where);
    std::string ge = optional_string(j, "gold_extraction", where);
    if (ge.empty() || ge == "field")
        t.gold_extraction = GOLD_EXTRACTION_FIELD;
    else if (ge == "after_hash")
        t.gold_extraction = GOLD_EXTRACTION_AFTER_HASH;
    else
        throw Error(where + ": unknown gold_extraction '" + ge + "'", "use \"field\" or \"after_hash\"");
    if (j.contains("metadata_fields") && !j["metadata_fields"].is_null()) {
        if (!j["metadata_fields"].is_array()) throw Error(where + ": \"metadata_fields\" must be a list of strings");
        for (const auto& f : j["metadata_fields"]) {
            if (!f.is_string() || f.get<std::string>().empty())
                throw Error(where + ": \"metadata_fields\" must be a list of non-empty strings");
            t.metadata_fields.push_back(f.get<std::string>());
        }
    }
    if (!j.contains("prompt_templates") || !j["prompt_templates"].is_object() || j["prompt_templates"].empty())
        throw Error(where + ": \"prompt_templates\" must be a non-empty object name -> template",
                    "e.g. {\"r1\": \"{question}\\nPlease reason step by step, ...\"}");
    for (const auto& [name, tmpl] : j["prompt_templates"].items()) {
        if (!tmpl.is_string()) throw Error(where + ": prompt template \"" + name + "\" must be a string");
        std::string text = tmpl.get<std::string>();
        if (text.find("{question}") == std::string::npos)
            throw Error(where + ": prompt template \"" + name + "\" has no {question} placeholder");
        t.prompt_templates.emplace_back(name, text);
    }
    t.default_template = optional_string(j, "default_template", where);
    if (t.default_template.empty()) t.default_template = t.prompt_templates.front().first;
    bool found = false;
    for (const auto& [n, _] : t.prompt_templates) found |= n == t.default_template;
    if (!found) throw Error(where + ": default_template '" + t.default_template + "' is not in prompt_templates");
    t.grader = require_string(j, "grader", where);
    if (j.contains("default_limit") && !j["default_limit"].is_null()) {
        const auto& v = j["default_limit"];
        if (!v.is_number_unsigned() || v.get<uint64_t>() == 0)
            throw Error(where + ": \"default_limit\" must be a positive integer or null");
        t.default_limit = size_t(v.get<uint64_t>());
    }

    // Relative data paths: shipped configs (<root>/configs/tasks/) resolve against the root, any
    // other config against its own folder, so a user's task folder can be moved as a unit.
    fs::path data(t.data_file);
    if (data.is_relative()) {
        std::error_code ec;
        fs::path cfg_dir = config_path.empty() ? fs::current_path(ec) : fs::path(config_path).parent_path();
        if (cfg_dir.empty()) cfg_dir = ".";
        bool shipped = false;
        if (!root.empty() && !config_path.empty()) {
            fs::path a = fs::weakly_canonical(cfg_dir, ec);
            fs::path b = fs::weakly_canonical(fs::path(root) / "configs" / "tasks", ec);
            shipped = !ec && a == b;
        }
        data = shipped ? fs::path(root) / data : cfg_dir / data;
    }
    t.data_path = data.lexically_normal().string();
    return t;
}

std::optional<std::string> dataset_extract_after_hash(std::string_view answer) {
    size_t pos = answer.rfind("####");
    if (pos == std::string_view::npos) return std::nullopt;
    std::string out;
    for (char c : trim(answer.substr(pos + 4)))
        if (c != ',') out += c;
    return out;
}

std::vector<Problem> dataset_parse_jsonl(std::string_view text, const TaskConfig& task,
                                         const std::string& source_name) {
    std::vector<Problem> out;
    std::unordered_map<std::string, size_t> seen_ids;
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte order mark
    size_t line_no = 0, pos = 0, index = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank lines are allowed
        const std::string at = source_name + ":" + std::to_string(line_no);
        nlohmann::json rec;
        try {
            rec = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            throw Error(at + ": malformed JSON: " + io_printable(e.what()), "each line must be one JSON object");
        }
        if (!rec.is_object()) throw Error(at + ": expected a JSON object, got " + json_type_name(rec));
        Problem p;
        p.line = line_no;
        if (task.id_field.empty()) {
            p.id = std::to_string(index);
        } else {
            auto it = rec.find(task.id_field);
            if (it == rec.end())
                throw Error(at + ": missing id field \"" + task.id_field + "\"",
                            "set id_field in " + task.config_path + ", or null to number records");
            auto s = it->is_number_float() ? std::nullopt : scalar_text(*it);
            if (!s || s->empty())
                throw Error(at + ": id field \"" + task.id_field + "\" must be a non-empty string or an integer");
            p.id = *s;
        }
        if (auto [it, fresh] = seen_ids.emplace(p.id, line_no); !fresh)
            throw Error(at + ": duplicate id '" + p.id + "' (first on line " + std::to_string(it->second) + ")",
                        "ids must be unique within a task");
        auto q = rec.find(task.question_field);
        if (q == rec.end() || !q->is_string())
            throw Error(at + ": " + (q == rec.end() ? "missing" : "non-string") + " question field \"" +
                            task.question_field + "\"",
                        "set question_field in " + task.config_path);
        p.question = q->get<std::string>();
        auto a = rec.find(task.answer_field);
        std::optional<std::string> ans;
        if (a != rec.end()) ans = scalar_text(*a);
        if (!ans)
            throw Error(
                at + ": " + (a == rec.end() ? "missing" : "non-scalar") + " answer field \"" + task.answer_field + "\"",
                "set answer_field in " + task.config_path);
        if (task.gold_extraction == GOLD_EXTRACTION_AFTER_HASH) {
            auto g = dataset_extract_after_hash(*ans);
            if (!g || g->empty())
                throw Error(at + ": answer field \"" + task.answer_field + "\" has no final answer after '####'",
                            "gold_extraction after_hash expects GSM8K-style '... #### 42'");
            p.gold = *g;
        } else {
            p.gold = trim(*ans);
            if (p.gold.empty()) throw Error(at + ": empty gold answer in field \"" + task.answer_field + "\"");
        }
        for (const auto& f : task.metadata_fields) {
            auto m = rec.find(f);
            if (m != rec.end()) p.metadata[f] = *m;
        }
        out.push_back(std::move(p));
        ++index;
    }
    return out;
}

std::vector<Problem> dataset_filter_problems(const std::vector<Problem>& problems, const TaskConfig& task,
                                             const DatasetLoadOptions& options) {
    std::vector<Problem> out;
    if (options.ids.empty()) {
        out = problems;
    } else {
        std::unordered_set<std::string> want(options.ids.begin(), options.ids.end());
        std::unordered_set<std::string> have;
        for (const auto& p : problems) {
            if (want.count(p.id)) {
                out.push_back(p);
                have.insert(p.id);
            }
        }
        for (const auto& id : options.ids) {
            if (!have.count(id)) {
                std::string example = problems.empty() ? std::string("(no problems)") : problems.front().id;
                throw Error("task " + task.name + ": no problem with id '" + id + "'",
                            "ids look like '" + example + "'");
            }
        }
    }
    std::optional<size_t> limit = options.limit ? options.limit : task.default_limit;
    if (limit && *limit > 0 && out.size() > *limit) out.resize(*limit);
    return out;
}

Dataset dataset_load(const TaskConfig& task, const DatasetLoadOptions& options) {
    std::error_code ec;
    if (!fs::is_regular_file(task.data_path, ec))
        throw Error(task.data_path + ": data file of task " + task.name + " not found",
                    "check data_file in " + (task.config_path.empty() ? "the task config" : task.config_path));
    Dataset d;
    d.task = task;
    std::string bytes = io_read_file(task.data_path);
    d.sha256 = sha256_hex(bytes);
    if (!task.sha256.empty()) {
        if (options.verify_sha256 && d.sha256 != task.sha256)
            throw Error(task.data_path + ": sha256 mismatch for task " + task.name + ": expected " + task.sha256 +
                            ", got " + d.sha256,
                        "the file was modified; restore the shipped file (git checkout -- " + task.data_file +
                            "), or for your own data update or remove \"sha256\" in " + task.config_path);
        d.sha256_pinned = d.sha256 == task.sha256;
    }
    std::vector<Problem> all = dataset_parse_jsonl(bytes, task, task.data_path);
    if (all.empty()) throw Error(task.data_path + ": no records", "a task needs at least one JSONL line");
    d.n_records = all.size();
    d.problems = dataset_filter_problems(all, task, options);
    return d;
}

const std::string& dataset_template(const TaskConfig& task, const std::string& template_name) {
    const std::string& want = template_name.empty() ? task.default_template : template_name;
    for (const auto& [n, t] : task.prompt_templates)
        if (n == want) return t;
    std::string list;
    for (const auto& [n, _] : task.prompt_templates) list += (list.empty() ? "" : ", ") + n;
    throw Error("task " + task.name + ": no prompt template '" + want + "'", "available: " + list);
}

std::string dataset_render_prompt(const TaskConfig& task, const Problem& problem, const std::string& template_name,
                                  const std::map<std::string, std::string>& vars) {
    const std::string& tmpl = dataset_template(task, template_name);
    std::map<std::string, std::string> values;
    for (const auto& f : task.metadata_fields) {
        auto it = problem.metadata.find(f);
        if (it == problem.metadata.end()) continue;
        if (auto s = scalar_text(*it)) values[f] = *s;
    }
    values["id"] = problem.id;
    values["question"] = problem.question;
    for (const auto& [k, v] : vars) values[k] = v;
    std::string out;
    out.reserve(tmpl.size() + problem.question.size());
    size_t i = 0;
    while (i < tmpl.size()) {
        if (tmpl[i] == '{') {
            size_t close = tmpl.find('}', i + 1);
            if (close != std::string::npos) {
                std::string key = tmpl.substr(i + 1, close - i - 1);
                auto it = values.find(key);
                if (it != values.end()) {
                    out += it->second;
                    i = close + 1;
                    continue;
                }
                if (key == "budget")
                    throw Error("task " + task.name + ": template '" +
                                    (template_name.empty() ? task.default_template : template_name) +
                                    "' needs {budget} but no budget was given",
                                "use it with a thinking budget (mechanism prompt), or pick another template");
            }
        }
        out += tmpl[i++];
    }
    return out;
}

nlohmann::json dataset_identity_json(const Dataset& d) {
    return {{"task", d.task.name},           {"version", d.task.version},       {"sha256", d.sha256},
            {"data_file", d.task.data_file}, {"n_problems", d.problems.size()}, {"n_records", d.n_records},
            {"grader", d.task.grader}};
}

}  // namespace adabench
