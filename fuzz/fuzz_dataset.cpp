// libFuzzer target: a task config (configs/tasks/*.json) and JSONL problem rows (parts separated by
// a "\n----\n" line: task config, JSONL). Rows are parsed with the task when it is valid, else with
// a fixed GSM8K-like task; every parsed problem is rendered with every prompt template.
#include <cstdint>
#include <string>
#include "common/error.h"
#include "datasets/dataset.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = adabench_fuzz::split_parts(data, size, 2);
    adabench::TaskConfig task;
    bool task_ok = false;
    try {
        task = adabench::dataset_parse_task(std::string(parts[0]), "fuzz/task.json", "");
        task_ok = true;
    } catch (const adabench::Error&) {
    }
    if (!task_ok) {
        task = adabench::TaskConfig();
        task.name = "fuzz";
        task.question_field = "question";
        task.answer_field = "answer";
        task.gold_extraction = adabench::GOLD_EXTRACTION_AFTER_HASH;
        task.prompt_templates = {{"plain", "{question} {budget}"}};
        task.default_template = "plain";
        task.grader = "gsm8k";
    }
    try {
        auto problems = adabench::dataset_parse_jsonl(parts[1], task, "fuzz.jsonl");
        adabench::DatasetLoadOptions opt;
        (void)adabench::dataset_filter_problems(problems, task, opt);
        for (const auto& p : problems) {
            for (const auto& [name, text] : task.prompt_templates) {
                try {
                    (void)adabench::dataset_render_prompt(task, p, name, {{"budget", "512"}});
                } catch (const adabench::Error&) {
                }
            }
        }
        adabench::Dataset d;
        d.task = task;
        d.problems = problems;
        (void)adabench::dataset_identity_json(d).dump();
    } catch (const adabench::Error&) {
    }
    (void)adabench::dataset_extract_after_hash(parts[1]);
    return 0;
}
