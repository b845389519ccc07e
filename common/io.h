// Small file helpers with errors that name the file. Nothing clever: whole-file reads and an
// atomic write (temp file + rename) so a crash never leaves a half-written output behind.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace adabench {

std::string io_read_file(const std::string& path);
// Writes to path + ".tmp" then renames over path.
void io_write_file_atomic(const std::string& path, const std::string& data);
bool io_file_exists(const std::string& path);
// Throws adabench::UsageError when `output` names the same file as one of `inputs` (or one of a
// SQLite store's -wal / -journal / -shm files): writing it would destroy what is read. Paths that
// do not exist yet are compared after resolving links and "..". `command` names the CLI command.
void io_refuse_output_over_input(const std::string& command, const std::string& output,
                                 const std::vector<std::string>& inputs);
// Parses a JSON file; errors name the file and the parser's position.
nlohmann::json io_read_json(const std::string& path);

}  // namespace adabench
