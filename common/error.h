// adabench::Error — the one exception type our libraries throw.
// Libraries throw; the CLI catches at its boundary and prints one line. Messages name the file and
// the problem and, where it helps, end with a hint for the next step.
#pragma once
#include <stdexcept>
#include <string>

namespace adabench {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
    Error(const std::string& what, const std::string& hint)
        : std::runtime_error(hint.empty() ? what : what + " (hint: " + hint + ")") {}
};

// A user error at the command line (bad flag, missing argument): exit code 2.
class UsageError : public Error {
public:
    using Error::Error;
};

}  // namespace adabench
