#include "harness/cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "common/error.h"

namespace adabench {

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

ArgParser& ArgParser::flag(const std::string& name, const std::string& help) {
    specs_.push_back({name, "", help, false, false});
    return *this;
}

ArgParser& ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                             bool repeatable) {
    specs_.push_back({name, metavar, help, true, repeatable});
    return *this;
}

ArgParser& ArgParser::positional(const std::string& name, const std::string& help, bool required) {
    positionals_.push_back({name, help, required});
    return *this;
}

ArgParser& ArgParser::epilog(const std::string& text) {
    epilog_ = text;
    return *this;
}

std::string ArgParser::help() const {
    std::ostringstream s;
    s << "usage: adabench " << command_;
    for (const auto& p : positionals_) s << (p.required ? " " : " [") << p.name << (p.required ? "" : "]");
    if (!specs_.empty()) s << " [options]";
    s << "\n\n" << summary_ << "\n";
    if (!positionals_.empty()) {
        s << "\narguments:\n";
        for (const auto& p : positionals_) {
            std::string left = "  " + p.name;
            s << left << std::string(left.size() < 28 ? 28 - left.size() : 1, ' ') << p.help << "\n";
        }
    }
    s << "\noptions:\n";
    for (const auto& o : specs_) {
        std::string left = "  --" + o.name + (o.takes_value ? " " + o.metavar : "");
        s << left << std::string(left.size() < 28 ? 28 - left.size() : 1, ' ') << o.help
          << (o.repeatable ? " (repeatable)" : "") << "\n";
    }
    s << "  --help                    show this help\n";
    if (!epilog_.empty()) s << "\n" << epilog_ << "\n";
    return s.str();
}

bool ArgParser::parse(int argc, char** argv, int first) {
    size_t n_pos = 0;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(help().c_str(), stdout);
            return false;
        }
        if (a.size() > 2 && a.rfind("--", 0) == 0) {
            std::string name = a.substr(2), value;
            bool inline_value = false;
            if (auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                inline_value = true;
            }
            const Spec* spec = nullptr;
            for (const auto& s : specs_)
                if (s.name == name) spec = &s;
            if (!spec)
                throw UsageError("adabench " + command_ + ": unknown option --" + name,
                                 "see adabench " + command_ + " --help");
            if (!spec->takes_value) {
                if (inline_value) throw UsageError("adabench " + command_ + ": --" + name + " takes no value");
                values_[name].push_back("1");
                continue;
            }
            if (!inline_value) {
                if (i + 1 >= argc)
                    throw UsageError("adabench " + command_ + ": --" + name + " needs a value (" + spec->metavar + ")");
                value = argv[++i];
            }
            auto& v = values_[name];
            if (!v.empty() && !spec->repeatable)
                throw UsageError("adabench " + command_ + ": --" + name + " given more than once");
            v.push_back(value);
            continue;
        }
        if (n_pos >= positionals_.size())
            throw UsageError("adabench " + command_ + ": unexpected argument '" + a + "'",
                             "see adabench " + command_ + " --help");
        pos_values_[positionals_[n_pos++].name] = a;
    }
    for (size_t k = n_pos; k < positionals_.size(); ++k)
        if (positionals_[k].required)
            throw UsageError("adabench " + command_ + ": missing argument " + positionals_[k].name,
                             "see adabench " + command_ + " --help");
    return true;
}

bool ArgParser::has(const std::string& name) const { return values_.count(name) > 0; }

std::string ArgParser::get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> ArgParser::get_all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::string> ArgParser::positional_value(const std::string& name) const {
    auto it = pos_values_.find(name);
    if (it == pos_values_.end()) return std::nullopt;
    return it->second;
}

long ArgParser::get_int(const std::string& name, long fallback) const {
    if (!has(name)) return fallback;
    std::string v = get(name);
    char* end = nullptr;
    errno = 0;
    long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0)
        throw UsageError("adabench " + command_ + ": --" + name + " expects an integer, got '" + v + "'");
    return x;
}

double ArgParser::get_double(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    std::string v = get(name);
    char* end = nullptr;
    errno = 0;
    // strtod also reads hex ("0x10" = 16), "nan" and "inf": none of them is a number a user means here.
    bool decimal = v.find_first_not_of("0123456789+-.eE") == std::string::npos;
    double x = decimal ? std::strtod(v.c_str(), &end) : 0.0;
    if (v.empty() || !decimal || *end != '\0' || errno != 0 || !std::isfinite(x))
        throw UsageError("adabench " + command_ + ": --" + name + " expects a finite decimal number, got '" + v + "'");
    return x;
}

}  // namespace adabench
