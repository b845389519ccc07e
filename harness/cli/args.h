// A small command-line parser for the subcommands: --flag, --opt VALUE, --opt=VALUE, repeatable
// options and positionals. Unknown flags and missing values throw UsageError (exit code 2).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace adabench {

class ArgParser {
public:
    ArgParser(std::string command, std::string summary);
    // A boolean switch: --name.
    ArgParser& flag(const std::string& name, const std::string& help);
    // An option with a value: --name VALUE. Repeatable options keep every value in order.
    ArgParser& option(const std::string& name, const std::string& metavar, const std::string& help,
                      bool repeatable = false);
    ArgParser& positional(const std::string& name, const std::string& help, bool required = true);
    ArgParser& epilog(const std::string& text);

    // Parses argv[first..argc). Returns false when --help was given (help already printed to stdout).
    bool parse(int argc, char** argv, int first = 2);
    std::string help() const;

    bool has(const std::string& name) const;
    std::string get(const std::string& name, const std::string& fallback = "") const;
    std::vector<std::string> get_all(const std::string& name) const;
    std::optional<std::string> positional_value(const std::string& name) const;
    long get_int(const std::string& name, long fallback) const;
    double get_double(const std::string& name, double fallback) const;

private:
    struct Spec {
        std::string name, metavar, help;
        bool takes_value = false, repeatable = false;
    };
    struct Pos {
        std::string name, help;
        bool required = true;
    };
    std::string command_, summary_, epilog_;
    std::vector<Spec> specs_;
    std::vector<Pos> positionals_;
    std::map<std::string, std::vector<std::string>> values_;
    std::map<std::string, std::string> pos_values_;
};

}  // namespace adabench
