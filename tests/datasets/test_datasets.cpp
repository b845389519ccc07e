// Tests for datasets/: the shipped tasks load and verify, a modified file is refused, JSONL and
// config errors name the file and line, filters and prompt rendering behave as documented.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "common/error.h"
#include "common/sha256.h"
#include "datasets/dataset.h"

namespace fs = std::filesystem;
using namespace adabench;

namespace {

const std::string kRoot = ADABENCH_SOURCE_DIR;

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "<no error>";
}

// A fresh temporary folder per test, removed afterwards.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "adabench-datasets-XXXXXX").string();
        char* p = mkdtemp(tmpl.data());
        if (!p) throw std::runtime_error("mkdtemp failed");
        path_ = p;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::string p = (fs::path(path_) / name).string();
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

TaskConfig tiny_task(const std::string& extra = "") {
    std::string cfg = R"({"name": "tiny", "version": "1", "data_file": "x.jsonl", "question_field": "q",
        "answer_field": "a", "id_field": "id", "prompt_templates": {"p": "{question}"}, "grader": "math")";
    return dataset_parse_task(cfg + extra + "}", "/cfg/tiny.json", "");
}

}  // namespace

// ---- shipped tasks ----

TEST(Datasets, ListsShippedTasks) {
    auto names = dataset_list_tasks(kRoot);
    std::set<std::string> have(names.begin(), names.end());
    for (const char* t : {"aime2024", "aime2025", "gsm8k", "math500"}) EXPECT_TRUE(have.count(t)) << t;
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(Datasets, ShippedTasksLoadWithCountsAndVerify) {
    struct Case {
        const char* name;
        size_t n;
        const char* first_id;
        const char* first_gold;
        const char* grader;
    } cases[] = {
        {"aime2024", 30, "AIME-2024-I-1", "204", "aime"},
        {"aime2025", 30, "AIME-2025-I-1", "70", "aime"},
        {"gsm8k", 1319, "0", "18", "gsm8k"},
        {"math500", 500, "test/precalculus/807.json", "\\left( 3, \\frac{\\pi}{2} \\right)", "math"},
    };
    for (const auto& c : cases) {
        Dataset d = dataset_load(dataset_load_task(c.name, kRoot));
        EXPECT_EQ(d.problems.size(), c.n) << c.name;
        EXPECT_EQ(d.n_records, c.n) << c.name;
        EXPECT_TRUE(d.sha256_pinned) << c.name;
        EXPECT_EQ(d.sha256, d.task.sha256) << c.name;
        EXPECT_EQ(d.problems[0].id, c.first_id) << c.name;
        EXPECT_EQ(d.problems[0].gold, c.first_gold) << c.name;
        EXPECT_EQ(d.task.grader, c.grader) << c.name;
        EXPECT_EQ(d.problems[0].line, 1u);
        std::set<std::string> ids;
        for (const auto& p : d.problems) {
            EXPECT_FALSE(p.question.empty()) << c.name << " " << p.id;
            EXPECT_FALSE(p.gold.empty()) << c.name << " " << p.id;
            ids.insert(p.id);
        }
        EXPECT_EQ(ids.size(), c.n) << c.name << ": ids must be unique";
    }
}

TEST(Datasets, GoldAnswersHaveTheExpectedShape) {
    // GSM8K golds are plain numbers once the thousands commas are gone; AIME golds are 0..999.
    std::regex number(R"(-?[0-9]+(\.[0-9]+)?)");
    for (const auto& p : dataset_load(dataset_load_task("gsm8k", kRoot)).problems)
        EXPECT_TRUE(std::regex_match(p.gold, number)) << p.id << ": " << p.gold;
    std::regex aime(R"([0-9]{1,3})");
    for (const char* t : {"aime2024", "aime2025"})
        for (const auto& p : dataset_load(dataset_load_task(t, kRoot)).problems)
            EXPECT_TRUE(std::regex_match(p.gold, aime)) << p.id << ": " << p.gold;
    // GSM8K record 0 answer ends in "#### 18"; a comma case exists in the test split.
    auto g = dataset_load(dataset_load_task("gsm8k", kRoot)).problems;
    bool saw_big = false;
    for (const auto& p : g) saw_big |= p.gold.size() >= 4;
    EXPECT_TRUE(saw_big);
}

TEST(Datasets, MathMetadataAndIdentity) {
    Dataset d = dataset_load(dataset_load_task("math500", kRoot));
    EXPECT_EQ(d.problems[0].metadata["subject"], "Precalculus");
    EXPECT_EQ(d.problems[0].metadata["level"], 2);
    EXPECT_FALSE(d.problems[0].metadata.contains("solution"));
    auto id = dataset_identity_json(d);
    EXPECT_EQ(id["task"], "math500");
    EXPECT_EQ(id["version"], "1.0");
    EXPECT_EQ(id["sha256"], "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132");
    EXPECT_EQ(id["n_problems"], 500);
    EXPECT_EQ(id["grader"], "math");
}

TEST(Datasets, ShippedConfigsPinTheProvenanceHashes) {
    // Every task reading datasets/data/ is pinned; the public datasets' hashes are those recorded in
    // datasets/data/PROVENANCE.md (generated data, such as arith, is pinned by its own config).
    std::string prov;
    {
        std::ifstream in(kRoot + "/datasets/data/PROVENANCE.md");
        prov.assign(std::istreambuf_iterator<char>(in), {});
    }
    for (const auto& n : dataset_list_tasks(kRoot)) {
        TaskConfig t = dataset_load_task(n, kRoot);
        if (t.data_file.rfind("datasets/data/", 0) != 0) continue;
        EXPECT_FALSE(t.sha256.empty()) << n << ": a shipped data file must be pinned";
    }
    for (const char* n : {"aime2024", "aime2025", "gsm8k", "math500"}) {
        TaskConfig t = dataset_load_task(n, kRoot);
        EXPECT_NE(prov.find("| " + t.sha256 + " |"), std::string::npos) << n << ": sha256 not in PROVENANCE.md";
    }
}

// ---- verification ----

TEST(Datasets, ModifiedFileIsRefusedWithBothHashes) {
    TempDir tmp;
    TaskConfig t = dataset_load_task("aime2024", kRoot);
    std::ifstream in(t.data_path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    bytes[bytes.find("\"204\"") + 1] = '5';  // one changed gold answer
    t.data_path = tmp.write("aime2024.jsonl", bytes);
    std::string msg = error_of([&] { dataset_load(t); });
    EXPECT_NE(msg.find("sha256 mismatch for task aime2024"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected " + t.sha256), std::string::npos) << msg;
    EXPECT_NE(msg.find("got " + sha256_hex(bytes)), std::string::npos) << msg;
    EXPECT_NE(msg.find(t.data_path), std::string::npos) << msg;
    EXPECT_NE(msg.find("hint:"), std::string::npos) << msg;
    // Diagnostics can still read it (adabench tasks shows MODIFIED).
    DatasetLoadOptions o;
    o.verify_sha256 = false;
    Dataset d = dataset_load(t, o);
    EXPECT_FALSE(d.sha256_pinned);
    EXPECT_EQ(d.problems[0].gold, "504");
}

TEST(Datasets, MissingDataFileNamesIt) {
    TaskConfig t = tiny_task();
    std::string msg = error_of([&] { dataset_load(t); });
    EXPECT_NE(msg.find("/cfg/x.jsonl: data file of task tiny not found"), std::string::npos) << msg;
}

// ---- root and task lookup ----

TEST(Datasets, RootFromEnvironment) {
    const char* old = getenv("ADABENCH_ROOT");
    std::string saved = old ? old : "";
    setenv("ADABENCH_ROOT", kRoot.c_str(), 1);
    EXPECT_EQ(fs::path(dataset_find_root()), fs::weakly_canonical(kRoot));
    setenv("ADABENCH_ROOT", "/nonexistent/adabench", 1);
    std::string msg = error_of([] { dataset_find_root(); });
    EXPECT_NE(msg.find("ADABENCH_ROOT=/nonexistent/adabench has no configs/tasks"), std::string::npos) << msg;
    unsetenv("ADABENCH_ROOT");
    // Without the variable, the root is found above the test executable (or the current directory).
    std::string found;
    try {
        found = dataset_find_root();
    } catch (const Error& e) {
        found = e.what();
    }
    EXPECT_TRUE(fs::is_directory(fs::path(found) / "configs" / "tasks")) << found;
    if (!saved.empty()) setenv("ADABENCH_ROOT", saved.c_str(), 1);
}

TEST(Datasets, UnknownTaskListsKnownOnes) {
    std::string msg = error_of([] { dataset_load_task("mth500", kRoot); });
    EXPECT_NE(msg.find("unknown task 'mth500'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("known tasks:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("math500"), std::string::npos) << msg;
    msg = error_of([] { dataset_load_task("../etc/passwd", kRoot); });
    EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
    msg = error_of([] { dataset_load_task("a b", kRoot); });
    EXPECT_NE(msg.find("invalid task name"), std::string::npos) << msg;
}

TEST(Datasets, UserTaskByPathResolvesDataNextToIt) {
    std::string cfg = kRoot + "/tests/fixtures/datasets/user_task/user.json";
    TaskConfig t = dataset_load_task(cfg, kRoot);
    EXPECT_EQ(t.name, "user_arith");
    EXPECT_EQ(t.version, "2");
    EXPECT_EQ(t.data_path, (fs::path(kRoot) / "tests/fixtures/datasets/user_task/user.jsonl").lexically_normal());
    EXPECT_TRUE(t.sha256.empty());
    EXPECT_EQ(t.default_template, "plain");  // the first template when none is named
    Dataset d = dataset_load(t);
    EXPECT_FALSE(d.sha256_pinned);
    EXPECT_EQ(d.n_records, 3u);
    ASSERT_EQ(d.problems.size(), 2u);  // default_limit 2
    EXPECT_EQ(d.problems[0].id, "7");
    EXPECT_EQ(d.problems[0].gold, "42");  // numbers become their decimal text
    EXPECT_EQ(d.problems[1].gold, "0.5");
    DatasetLoadOptions all;
    all.limit = 0;
    d = dataset_load(t, all);
    ASSERT_EQ(d.problems.size(), 3u);
    EXPECT_EQ(d.problems[2].gold, "1024");  // trimmed
    EXPECT_EQ(d.problems[2].line, 4u);      // the blank line 3 still counts
}

// ---- JSONL parsing: numbered error cases ----

TEST(Datasets, JsonlErrorsNameFileAndLine) {
    TaskConfig t = tiny_task();
    struct Case {
        int n;
        const char* text;
        const char* expect;
    } cases[] = {
        {1, "{\"id\":1,\"q\":\"x\",\"a\":\"1\"}\n{\"id\":2,\"q\":\"y\",\n", "f.jsonl:2: malformed JSON"},
        {2, "[1,2]\n", "f.jsonl:1: expected a JSON object, got array"},
        {3, "{\"id\":1,\"a\":\"1\"}\n", "f.jsonl:1: missing question field \"q\""},
        {4, "{\"id\":1,\"q\":5,\"a\":\"1\"}\n", "f.jsonl:1: non-string question field \"q\""},
        {5, "{\"id\":1,\"q\":\"x\"}\n", "f.jsonl:1: missing answer field \"a\""},
        {6, "{\"id\":1,\"q\":\"x\",\"a\":[1]}\n", "f.jsonl:1: non-scalar answer field \"a\""},
        {7, "{\"id\":1,\"q\":\"x\",\"a\":\"  \"}\n", "f.jsonl:1: empty gold answer"},
        {8, "{\"q\":\"x\",\"a\":\"1\"}\n", "f.jsonl:1: missing id field \"id\""},
        {9, "{\"id\":1,\"q\":\"x\",\"a\":\"1\"}\n\n{\"id\":1,\"q\":\"y\",\"a\":\"2\"}\n",
         "f.jsonl:3: duplicate id '1' (first on line 1)"},
        {10, "{\"id\":null,\"q\":\"x\",\"a\":\"1\"}\n", "f.jsonl:1: id field \"id\" must be"},
        {11, "{\"id\":1.5,\"q\":\"x\",\"a\":\"1\"}\n", "f.jsonl:1: id field \"id\" must be"},
        {12, "{\"id\":1,\"q\":\"x\",\"a\":\"\xff\"}\n", "f.jsonl:1: malformed JSON"},
        {13, "{\"id\":1,\"q\":\"x\",\"a\":\"1\"} trailing\n", "f.jsonl:1: malformed JSON"},
    };
    for (const auto& c : cases) {
        std::string msg = error_of([&] { dataset_parse_jsonl(c.text, t, "f.jsonl"); });
        EXPECT_NE(msg.find(c.expect), std::string::npos) << "case " << c.n << ": " << msg;
    }
}

TEST(Datasets, JsonlAcceptsBomCrlfBlankLinesAndNoFinalNewline) {
    TaskConfig t = tiny_task();
    auto ps = dataset_parse_jsonl(
        "\xEF\xBB\xBF{\"id\":\"a\",\"q\":\"x\",\"a\":\"1\"}\r\n   \r\n{\"id\":2,\"q\":\"y\",\"a\":2.5}", t, "f.jsonl");
    ASSERT_EQ(ps.size(), 2u);
    EXPECT_EQ(ps[0].id, "a");
    EXPECT_EQ(ps[1].id, "2");
    EXPECT_EQ(ps[1].gold, "2.5");
    EXPECT_EQ(ps[1].line, 3u);
    EXPECT_TRUE(dataset_parse_jsonl("", t, "f").empty());
}

TEST(Datasets, AfterHashExtraction) {
    EXPECT_EQ(dataset_extract_after_hash("so 3+4=7\n#### 7"), "7");
    EXPECT_EQ(dataset_extract_after_hash("x\n#### 1,234,567 "), "1234567");
    EXPECT_EQ(dataset_extract_after_hash("#### 1 \n#### -3.5"), "-3.5");  // the last marker wins
    EXPECT_EQ(dataset_extract_after_hash("no marker"), std::nullopt);
    EXPECT_EQ(dataset_extract_after_hash("####"), "");
    TaskConfig t = tiny_task(R"(, "gold_extraction": "after_hash")");
    auto ps = dataset_parse_jsonl("{\"id\":1,\"q\":\"x\",\"a\":\"work\\n#### 1,000\"}\n", t, "f");
    EXPECT_EQ(ps[0].gold, "1000");
    std::string msg = error_of([&] { dataset_parse_jsonl("{\"id\":1,\"q\":\"x\",\"a\":\"42\"}\n", t, "f"); });
    EXPECT_NE(msg.find("f:1: answer field \"a\" has no final answer after '####'"), std::string::npos) << msg;
}

// ---- task config: numbered error cases ----

TEST(Datasets, TaskConfigErrors) {
    const std::string base =
        R"("name":"t","version":"1","data_file":"d.jsonl","question_field":"q","answer_field":"a","grader":"math")";
    struct Case {
        int n;
        std::string json;
        const char* expect;
    } cases[] = {
        {1, "{" + base + "}", "\"prompt_templates\" must be a non-empty object"},
        {2, "{" + base + R"(,"prompt_templates":{"p":"no placeholder"}})", "template \"p\" has no {question}"},
        {3, "{" + base + R"(,"prompt_templates":{"p":"{question}"},"default_template":"q"})",
         "default_template 'q' is not in prompt_templates"},
        {4, "{" + base + R"(,"prompt_templates":{"p":"{question}"},"promt":"x"})", "unknown key \"promt\""},
        {5, "{" + base + R"(,"prompt_templates":{"p":"{question}"},"sha256":"abc"})", "\"sha256\" must be 64 hex"},
        {6, "{" + base + R"(,"prompt_templates":{"p":"{question}"},"gold_extraction":"last"})",
         "unknown gold_extraction 'last'"},
        {7, "{" + base + R"(,"prompt_templates":{"p":"{question}"},"default_limit":-3})",
         "\"default_limit\" must be a positive integer"},
        {8, R"({"name":"t"})", "missing key \"version\""},
        {9, "{" + base, "malformed JSON"},
        {10, "[]", "must be a JSON object"},
        {11, "{" + base + R"(,"prompt_templates":{"p":"{question}"},"metadata_fields":"level"})",
         "\"metadata_fields\" must be a list"},
        {12, R"({"name":"t","version":"1","question_field":"q"})", "missing key \"data_file\""},
        {13, R"({"name":"bad name","version":"1"})", "invalid task name"},
        {14, "{" + base + R"(,"prompt_templates":{"p":7}})", "prompt template \"p\" must be a string"},
    };
    for (const auto& c : cases) {
        std::string msg = error_of([&] { dataset_parse_task(c.json, "cfg.json", ""); });
        EXPECT_NE(msg.find(c.expect), std::string::npos) << "case " << c.n << ": " << msg;
        EXPECT_EQ(msg.rfind("cfg.json", 0), 0u) << "case " << c.n << ": " << msg;
    }
    // Comment keys are ignored; a numeric version is kept as its text.
    TaskConfig t = dataset_parse_task(
        "{" + base + R"(,"prompt_templates":{"p":"{question}"},"_note":"hi","version":1.5})", "cfg.json", "");
    EXPECT_EQ(t.version, "1.5");
}

TEST(Datasets, ShippedNameMustMatchFileName) {
    TempDir tmp;
    fs::create_directories(fs::path(tmp.path()) / "configs" / "tasks");
    tmp.write("d.jsonl", "{\"q\":\"x\",\"a\":\"1\"}\n");
    tmp.write("configs/tasks/foo.json",
              R"({"name":"bar","version":"1","data_file":"d.jsonl","question_field":"q","answer_field":"a",
                  "prompt_templates":{"p":"{question}"},"grader":"math"})");
    std::string msg = error_of([&] { dataset_load_task("foo", tmp.path()); });
    EXPECT_NE(msg.find("\"name\" is 'bar' but the file is foo.json"), std::string::npos) << msg;
    // A shipped config's relative data_file resolves against the root.
    tmp.write("configs/tasks/bar.json",
              R"({"name":"bar","version":"1","data_file":"d.jsonl","question_field":"q","answer_field":"a",
                  "prompt_templates":{"p":"{question}"},"grader":"math"})");
    Dataset d = dataset_load(dataset_load_task("bar", tmp.path()));
    EXPECT_EQ(d.problems.size(), 1u);
    EXPECT_EQ(d.problems[0].id, "0");
}

// ---- filters ----

TEST(Datasets, LimitAndIdFilters) {
    TaskConfig t = dataset_load_task("aime2025", kRoot);
    DatasetLoadOptions o;
    o.limit = 5;
    auto d = dataset_load(t, o);
    ASSERT_EQ(d.problems.size(), 5u);
    EXPECT_EQ(d.problems[4].id, "AIME-2025-I-5");
    EXPECT_EQ(d.n_records, 30u);
    o = {};
    o.ids = {"AIME-2025-II-3", "AIME-2025-I-2"};  // file order is kept, not the order asked
    d = dataset_load(t, o);
    ASSERT_EQ(d.problems.size(), 2u);
    EXPECT_EQ(d.problems[0].id, "AIME-2025-I-2");
    EXPECT_EQ(d.problems[1].id, "AIME-2025-II-3");
    o.limit = 1;
    EXPECT_EQ(dataset_load(t, o).problems.size(), 1u);
    o = {};
    o.ids = {"AIME-2025-III-1"};
    std::string msg = error_of([&] { dataset_load(t, o); });
    EXPECT_NE(msg.find("no problem with id 'AIME-2025-III-1'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ids look like 'AIME-2025-I-1'"), std::string::npos) << msg;
    o = {};
    o.limit = 1000;  // larger than the task: everything
    EXPECT_EQ(dataset_load(t, o).problems.size(), 30u);
}

// ---- prompts ----

TEST(Datasets, RendersR1PromptExactly) {
    Dataset d = dataset_load(dataset_load_task("aime2024", kRoot));
    const Problem& p = d.problems[0];
    EXPECT_EQ(dataset_render_prompt(d.task, p),
              p.question + "\nPlease reason step by step, and put your final answer within \\boxed{}.");
    EXPECT_EQ(dataset_render_prompt(d.task, p, "plain"), p.question);
    EXPECT_EQ(dataset_render_prompt(d.task, p, "budget", {{"budget", "512"}}),
              p.question +
                  "\n\nLet's think step by step and output the final answer within \\boxed{}. Think for 512 tokens.");
    std::string msg = error_of([&] { dataset_render_prompt(d.task, p, "budget"); });
    EXPECT_NE(msg.find("needs {budget} but no budget was given"), std::string::npos) << msg;
    msg = error_of([&] { dataset_render_prompt(d.task, p, "cot"); });
    EXPECT_NE(msg.find("no prompt template 'cot'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("available: r1, plain, budget"), std::string::npos) << msg;
}

TEST(Datasets, RendersMetadataIdAndLeavesOtherBracesAlone) {
    TaskConfig t = dataset_load_task(kRoot + "/tests/fixtures/datasets/user_task/user.json", kRoot);
    Dataset d = dataset_load(t);
    EXPECT_EQ(dataset_render_prompt(t, d.problems[0], "tagged"),
              "[easy] Q7: What is 6 times 7? Answer in \\boxed{}. {unknown}");
    // A question that itself contains placeholders is not expanded again.
    Problem p = d.problems[0];
    p.question = "{id} and {question}";
    EXPECT_EQ(dataset_render_prompt(t, p, "plain"), "{id} and {question}");
    // Unclosed braces are literal.
    TaskConfig u = tiny_task();
    u.prompt_templates = {{"p", "{question} {open"}};
    u.default_template = "p";
    EXPECT_EQ(dataset_render_prompt(u, p), "{id} and {question} {open");
}
