// Export of samples as CSV (RFC 4180) or JSONL, one line per sample, with the columns of its grid
// point first. The column set comes from the schema's field lists, so a new column appears in
// exports without touching this file. Not here: choosing runs or reading the database (the CLI does).
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "store/schema.h"
#include "store/store.h"

namespace adabench {

namespace {

bool is_key(const char* name) {
    std::string n = name;
    return n == "run_id" || n == "point_id";
}

std::string format_real(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    // Shortest form that round-trips: try fewer digits first.
    for (int prec = 6; prec < 17; ++prec) {
        char b2[64];
        std::snprintf(b2, sizeof b2, "%.*g", prec, v);
        if (std::strtod(b2, nullptr) == v) return b2;
    }
    return buf;
}

template <class R>
void append_csv(std::string& out, bool& first, const std::vector<schema::Field<R>>& fields, const R& r, bool keys) {
    for (const auto& f : fields) {
        if (is_key(f.name) != keys) continue;
        if (!first) out += ',';
        first = false;
        if (auto p = std::get_if<int64_t R::*>(&f.member)) {
            out += std::to_string(r.*(*p));
        } else if (auto q = std::get_if<double R::*>(&f.member)) {
            out += format_real(r.*(*q));
        } else if (auto b = std::get_if<bool R::*>(&f.member)) {
            out += (r.*(*b)) ? "1" : "0";
        } else if (auto s = std::get_if<std::string R::*>(&f.member)) {
            const std::string& v = r.*(*s);
            if (v.find_first_of(",\"\r\n") == std::string::npos) {
                out += v;
            } else {
                out += '"';
                for (char c : v) {
                    if (c == '"') out += '"';
                    out += c;
                }
                out += '"';
            }
        }
    }
}

template <class R>
void append_json(nlohmann::ordered_json& j, const std::vector<schema::Field<R>>& fields, const R& r, bool keys) {
    for (const auto& f : fields) {
        if (is_key(f.name) != keys) continue;
        std::string n = f.name;
        if (auto p = std::get_if<int64_t R::*>(&f.member)) {
            j[n] = r.*(*p);
        } else if (auto q = std::get_if<double R::*>(&f.member)) {
            j[n] = r.*(*q);
        } else if (auto b = std::get_if<bool R::*>(&f.member)) {
            j[n] = r.*(*b);
        } else if (auto s = std::get_if<std::string R::*>(&f.member)) {
            const std::string& v = r.*(*s);
            // *_json columns hold JSON; embed it as a value rather than a string of JSON.
            if (n.size() > 5 && n.compare(n.size() - 5, 5, "_json") == 0 && !v.empty()) {
                auto parsed = nlohmann::ordered_json::parse(v, nullptr, false);
                j[n] = parsed.is_discarded() ? nlohmann::ordered_json(v) : parsed;
            } else {
                // Model output may hold invalid UTF-8; replace rather than throw.
                j[n] = v;
            }
        }
    }
}

}  // namespace

std::vector<std::string> store_export_columns() {
    std::vector<std::string> cols = {"run_id", "point_id"};
    for (const auto& f : schema::point_fields())
        if (!is_key(f.name)) cols.push_back(f.name);
    for (const auto& f : schema::sample_fields())
        if (!is_key(f.name)) cols.push_back(f.name);
    return cols;
}

std::string store_export_csv_header() {
    std::string out;
    for (const auto& c : store_export_columns()) out += (out.empty() ? "" : ",") + c;
    return out + "\r\n";
}

std::string store_export_csv_row(const PointRecord& p, const SampleRecord& s) {
    std::string out;
    bool first = true;
    append_csv(out, first, schema::sample_fields(), s, true);
    append_csv(out, first, schema::point_fields(), p, false);
    append_csv(out, first, schema::sample_fields(), s, false);
    return out + "\r\n";
}

std::string store_export_jsonl_row(const PointRecord& p, const SampleRecord& s) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    append_json(j, schema::sample_fields(), s, true);
    append_json(j, schema::point_fields(), p, false);
    append_json(j, schema::sample_fields(), s, false);
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace adabench
