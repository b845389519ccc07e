// libFuzzer target: the graders, response x gold (parts separated by a "\n----\n" line: response,
// gold), through every dataset and pipeline. graders/grader.h promises they never throw on model
// output, so any exception here is a failure (libFuzzer reports it as a crash).
#include <cstdint>
#include <string>
#include "fuzz/fuzz_util.h"
#include "graders/grader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = adabench_fuzz::split_parts(data, size, 2);
    std::string response(parts[0]), gold(parts[1]);
    for (adabench::GraderDataset ds : {adabench::GRADER_DATASET_MATH, adabench::GRADER_DATASET_GSM8K,
                                       adabench::GRADER_DATASET_AIME, adabench::GRADER_DATASET_NUMERIC}) {
        adabench::GradeOptions o;
        o.dataset = ds;
        o.answers_only = ds == adabench::GRADER_DATASET_NUMERIC;
        (void)adabench::grader_grade(response, gold, o);
    }
    std::string alt;
    std::string extracted =
        adabench::grader_extract(response, adabench::GRADER_DATASET_MATH, adabench::GRADER_PIPELINE_STRICT, &alt);
    (void)adabench::grader_answer_key(extracted);
    (void)adabench::grader_answer_key(response);
    (void)adabench::grader_normalize(response);
    (void)adabench::grader_equivalent(response, gold);
    return 0;
}
