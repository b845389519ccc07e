// json_parse_strict: a SAX DOM builder that checks each key against the object being built.
// The check is one map lookup per key, about what the insertion itself costs.
#include "engines/model/json_strict.h"

#include <vector>

#include "common/error.h"
#include "common/io.h"

namespace adabench {

namespace {

using json = nlohmann::json;

class StrictBuilder {
public:
    json root;
    std::string error;
    const char* what = nullptr;

    bool null() { return put(json(nullptr)); }
    bool boolean(bool v) { return put(json(v)); }
    bool number_integer(json::number_integer_t v) { return put(json(v)); }
    bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
    bool number_float(json::number_float_t v, const std::string&) { return put(json(v)); }
    bool string(std::string& v) { return put(json(std::move(v))); }
    bool binary(json::binary_t& v) { return put(json::binary(std::move(v))); }
    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(std::string& k) {
        Frame& f = frames_.back();
        if (f.value->contains(k)) {
            error = "duplicate key '" + path() + (frames_.size() > 1 ? "." : "") + k + "'";
            return false;
        }
        f.key = std::move(k);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
        error = std::string("malformed ") + (what ? what : "JSON") + ": " + ex.what();
        return false;
    }

private:
    struct Frame {
        json* value;
        std::string key;  // objects: the key of the value being read
    };
    std::vector<Frame> frames_;

    // The key path of the innermost container ("rope_scaling", "added_tokens_decoder.151643").
    std::string path() const {
        std::string p;
        for (size_t i = 0; i + 1 < frames_.size(); ++i) {
            const Frame& f = frames_[i];
            std::string part = f.value->is_array() ? "[" + std::to_string(f.value->size() - 1) + "]" : f.key;
            p += (p.empty() || part[0] == '[' ? "" : ".") + part;
        }
        return p;
    }

    json* insert(json&& v) {
        if (frames_.empty()) {
            root = std::move(v);
            return &root;
        }
        Frame& f = frames_.back();
        if (f.value->is_array()) {
            f.value->push_back(std::move(v));
            return &f.value->back();
        }
        json& slot = (*f.value)[f.key];
        slot = std::move(v);
        return &slot;
    }
    bool put(json&& v) {
        insert(std::move(v));
        return true;
    }
    bool open(json&& container) {
        json* p = insert(std::move(container));
        frames_.push_back({p, {}});
        return true;
    }
    bool close() {
        frames_.pop_back();
        return true;
    }
};

}  // namespace

json json_parse_strict(const std::string& source, std::string_view text, const std::string& what) {
    StrictBuilder b;
    b.what = what.c_str();
    bool ok = false;
    try {
        ok = json::sax_parse(text.begin(), text.end(), &b);
    } catch (const json::exception& e) {
        throw Error(source + ": malformed " + what + ": " + io_printable(e.what()));
    }
    if (!ok) {
        throw Error(source + ": " + io_printable(b.error.empty() ? "malformed " + what : b.error),
                    b.error.rfind("duplicate", 0) == 0 ? "JSON keeps only the last of two equal keys; remove one" : "");
    }
    return std::move(b.root);
}

json json_read_strict(const std::string& path) { return json_parse_strict(path, io_read_file(path)); }

}  // namespace adabench
