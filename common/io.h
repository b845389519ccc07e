// Small file helpers with errors that name the file. Nothing clever: whole-file reads and an
// atomic write (temp file + rename) so a crash never leaves a half-written output behind.
#pragma once
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace adabench {

std::string io_read_file(const std::string& path);

// An output file written atomically. Data goes to a fresh temporary file beside the target
// (mkstemp: created exclusively, so a link planted at a predictable name is never followed), which
// commit() renames over the target; on every other path (an exception, a write error) the
// destructor removes the temporary. A target that exists and is not a regular file (a device such
// as /dev/null or /dev/full, a FIFO) is written directly, so a full device reports its error instead
// of being replaced; a directory is refused. Every error names the target.
class IoOutputFile {
public:
    explicit IoOutputFile(const std::string& path);
    ~IoOutputFile();
    IoOutputFile(const IoOutputFile&) = delete;
    IoOutputFile& operator=(const IoOutputFile&) = delete;

    void write(const void* data, size_t n);
    void write(const std::string& s) { write(s.data(), s.size()); }
    // Flushes, closes and renames over the target. Throws adabench::Error naming the target.
    void commit();
    const std::string& path() const { return path_; }
    const std::string& temp_path() const { return tmp_; }  // "" when writing the target directly

private:
    std::string path_, tmp_;
    FILE* file_ = nullptr;
};

// Writes data to path through IoOutputFile.
void io_write_file_atomic(const std::string& path, const std::string& data);
bool io_file_exists(const std::string& path);
// Throws adabench::UsageError when `output` names the same file as one of `inputs` (or one of a
// SQLite store's -wal / -journal / -shm files): writing it would destroy what is read. Paths that
// do not exist yet are compared after resolving links and "..". `command` names the CLI command.
void io_refuse_output_over_input(const std::string& command, const std::string& output,
                                 const std::vector<std::string>& inputs);
// `text` safe to print on a terminal or embed in JSON: valid UTF-8 passes through, every byte of an
// invalid sequence and every control character but newline and tab becomes "\xNN". Error messages
// that quote untrusted input (a parser's "last read" bytes) go through this before printing.
std::string io_printable(const std::string& text);
// Parses a JSON file; errors name the file and the parser's position.
nlohmann::json io_read_json(const std::string& path);

}  // namespace adabench
