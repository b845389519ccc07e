// Writes a small "Q: a+b" task (config + JSONL) into a directory, for sweep tests.
#pragma once
#include <fstream>
#include <string>

namespace adabench::testing {

inline std::string fake_task_write(const std::string& dir, const std::string& name, int n_problems) {
    std::string jsonl = dir + "/" + name + ".jsonl";
    {
        std::ofstream f(jsonl);
        for (int i = 0; i < n_problems; ++i) {
            int a = (i * 7) % 50, b = (i * 13) % 40;
            f << "{\"id\": \"" << name << "-" << i << "\", \"question\": \"Q: " << a << "+" << b << "\", \"answer\": \""
              << a + b << "\"}\n";
        }
    }
    std::string cfg = dir + "/" + name + ".json";
    std::ofstream f(cfg);
    f << "{\"name\": \"" << name << "\", \"version\": \"1\", \"data_file\": \"" << name
      << ".jsonl\", \"id_field\": \"id\", \"question_field\": \"question\", \"answer_field\": \"answer\", "
         "\"prompt_templates\": {\"plain\": \"{question}\", \"budget\": \"{question} (think for {budget} tokens)\"}, "
         "\"grader\": \"math\"}\n";
    return cfg;
}

}  // namespace adabench::testing
