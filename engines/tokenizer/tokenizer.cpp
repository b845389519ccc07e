// Byte-level BPE tokenizer: loading (tokenizer.json or vocab.json + merges.txt), encode, decode.
// See tokenizer.h for what is and is not supported.
#include "engines/tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <queue>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/json_strict.h"
#include "engines/tokenizer/unicode.h"

namespace adabench {

using json = nlohmann::json;

namespace {

constexpr int32_t MAX_TOKEN_ID = 1 << 24;      // guards allocations against absurd ids in a file
constexpr size_t CACHE_MAX_ENTRIES = 1 << 17;  // per-piece BPE cache, cleared when full
constexpr size_t CACHE_MAX_PIECE_BYTES = 64;

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
struct ByteLevelMap {
    std::array<uint32_t, 256> byte_to_cp{};
    std::array<int16_t, 0x144> cp_to_byte{};
    ByteLevelMap() {
        cp_to_byte.fill(-1);
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            byte_to_cp[b] = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
            cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};
const ByteLevelMap& byte_level_map() {
    static const ByteLevelMap m;
    return m;
}

// "Ġthe" -> " the". Characters outside the byte-level alphabet are kept as UTF-8.
std::string byte_level_to_bytes(std::string_view s) {
    const ByteLevelMap& m = byte_level_map();
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        int len;
        uint32_t cp = unicode_decode_utf8(s, i, &len);
        if (cp < m.cp_to_byte.size() && m.cp_to_byte[cp] >= 0) {
            out += static_cast<char>(m.cp_to_byte[cp]);
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    return out;
}

std::string bytes_to_byte_level(std::string_view s) {
    const ByteLevelMap& m = byte_level_map();
    std::string out;
    for (unsigned char b : s) unicode_append_utf8(out, m.byte_to_cp[b]);
    return out;
}

std::string quoted(std::string_view s) {
    std::string q = json(std::string(s)).dump();  // escapes control bytes; invalid UTF-8 throws
    return q;
}

std::string safe_quoted(std::string_view s) {
    try {
        return quoted(s);
    } catch (const json::exception&) {
        return "\"<invalid UTF-8>\"";
    }
}

// An optional field of a JSON object: `fallback` when absent, null, or `o` is not an object; an Error
// naming the file and the key when it has the wrong type (json::value would throw a bare type_error).
bool opt_bool(const json& o, const char* key, bool fallback, const std::string& source) {
    if (!o.is_object() || !o.contains(key) || o[key].is_null()) return fallback;
    if (!o[key].is_boolean())
        throw Error(source + ": field \"" + key + "\" must be true or false, got " + o[key].type_name());
    return o[key].get<bool>();
}

std::string opt_string(const json& o, const char* key, const char* fallback, const std::string& source) {
    if (!o.is_object() || !o.contains(key) || o[key].is_null()) return fallback;
    if (!o[key].is_string())
        throw Error(source + ": field \"" + key + "\" must be a string, got " + o[key].type_name());
    return o[key].get<std::string>();
}

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Streams a tokenizer.json (or vocab.json) through nlohmann's SAX interface: the vocabulary object
// and the merges array at the given key paths go straight to callbacks (no DOM for the ~300k
// entries, which dominates load time); everything else is built into `rest` as an ordinary DOM.
class TokenizerSaxReader {
public:
    using VocabFn = void (*)(void* ctx, std::string&& token, int64_t id);
    using MergeFn = void (*)(void* ctx, std::string_view a, std::string_view b, bool ok);

    TokenizerSaxReader(std::string file, std::vector<std::string> vocab_path, std::vector<std::string> merges_path,
                       void* ctx, VocabFn on_vocab, MergeFn on_merge)
        : file_(std::move(file)),
          vocab_path_(std::move(vocab_path)),
          merges_path_(std::move(merges_path)),
          ctx_(ctx),
          on_vocab_(on_vocab),
          on_merge_(on_merge) {}

    json rest;
    bool saw_vocab = false, saw_merges = false;

    void parse(const std::string& text) {
        bool ok = json::sax_parse(text, this);
        if (!ok && error_.empty()) error_ = "invalid JSON";
        if (!error_.empty()) throw Error(file_ + ": " + error_);
    }

    // --- nlohmann SAX interface ---
    bool null() { return value(json()); }
    bool boolean(bool v) { return value(json(v)); }
    bool number_integer(json::number_integer_t v) { return number(v, json(v)); }
    bool number_unsigned(json::number_unsigned_t v) {
        return number(v > static_cast<json::number_unsigned_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v), json(v));
    }
    bool number_float(json::number_float_t v, const std::string&) { return value(json(v)); }
    bool binary(json::binary_t&) { return fail("unexpected binary value"); }
    bool string(std::string& v) {
        Frame* f = top();
        if (f && f->mode == MODE_MERGES) {
            ++f->n_items;
            size_t sp = v.find(' ');
            bool ok =
                sp != std::string::npos && sp > 0 && sp + 1 < v.size() && v.find(' ', sp + 1) == std::string::npos;
            std::string_view sv(v);
            on_merge_(ctx_, ok ? sv.substr(0, sp) : sv, ok ? sv.substr(sp + 1) : std::string_view(), ok);
            return true;
        }
        if (f && f->mode == MODE_MERGE_PAIR) {
            if (f->n_items >= 2) return bad_merge();
            f->pair[f->n_items++] = std::move(v);
            return true;
        }
        return value(json(std::move(v)));
    }
    bool start_object(std::size_t) { return open(false); }
    bool start_array(std::size_t) { return open(true); }
    bool key(std::string& k) {
        Frame* f = top();
        // A parser keeping the last of two equal keys would silently drop the first (#20 D11).
        if (f->mode == MODE_DOM && f->dom->contains(k)) return duplicate_key(k);
        f->key = std::move(k);
        return true;
    }
    bool end_object() { return close(); }
    bool end_array() {
        Frame* f = top();
        if (f->mode == MODE_MERGE_PAIR) {
            if (f->n_items != 2) return bad_merge();
            on_merge_(ctx_, f->pair[0], f->pair[1], true);
        }
        return close();
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
        error_ = "JSON parse error at byte " + std::to_string(position) + ": " + ex.what() +
                 " (hint: is the file truncated?)";
        return false;
    }

private:
    enum Mode { MODE_DOM, MODE_VOCAB, MODE_MERGES, MODE_MERGE_PAIR };
    struct Frame {
        Mode mode;
        json* dom;        // MODE_DOM: the container being filled
        std::string key;  // objects: the pending key
        std::string pair[2];
        int n_items = 0;
    };

    Frame* top() { return frames_.empty() ? nullptr : &frames_.back(); }

    // The key path of the value about to start.
    std::vector<std::string> path_here() const {
        std::vector<std::string> p;
        for (const Frame& f : frames_) p.push_back(f.dom && f.dom->is_array() ? "[]" : f.key);
        return p;
    }

    // The innermost merges frame counts merges seen so far, so the message names the bad one.
    bool bad_merge() {
        int n = 0;
        for (const Frame& f : frames_) {
            if (f.mode == MODE_MERGES) n = f.n_items;
        }
        return fail("merge " + std::to_string(n) + " must be \"a b\" or [\"a\", \"b\"]");
    }

    bool fail(const std::string& msg) {
        error_ = msg;
        return false;
    }

    bool duplicate_key(const std::string& k) {
        std::string where;
        for (size_t i = 0; i + 1 < frames_.size(); ++i) where += frames_[i].key + ".";
        return fail("duplicate key " + safe_quoted(where + k) +
                    " (hint: JSON keeps only the last of two equal keys; remove one)");
    }

    // Inserts v into the current DOM container; returns where it went.
    json* insert(json&& v) {
        Frame* f = top();
        if (!f) {
            rest = std::move(v);
            return &rest;
        }
        if (f->dom->is_array()) {
            f->dom->push_back(std::move(v));
            return &f->dom->back();
        }
        json& slot = (*f->dom)[f->key];
        slot = std::move(v);
        return &slot;
    }

    bool value(json&& v) {
        Frame* f = top();
        if (f && f->mode == MODE_VOCAB) return fail("vocab entry \"" + f->key + "\" is not an integer id");
        if (f && f->mode == MODE_MERGES) ++f->n_items;
        if (f && f->mode != MODE_DOM) return bad_merge();
        insert(std::move(v));
        return true;
    }

    bool number(int64_t id, json&& v) {
        Frame* f = top();
        if (f && f->mode == MODE_VOCAB) {
            on_vocab_(ctx_, std::move(f->key), id);
            return true;
        }
        return value(std::move(v));
    }

    bool open(bool array) {
        Frame* f = top();
        if (f && f->mode == MODE_VOCAB) return fail("vocab entry \"" + f->key + "\" is not an integer id");
        if (f && f->mode == MODE_MERGE_PAIR) return bad_merge();
        if (f && f->mode == MODE_MERGES) {
            ++f->n_items;
            if (!array) return bad_merge();
            frames_.push_back({MODE_MERGE_PAIR, nullptr, {}, {}, 0});
            return true;
        }
        std::vector<std::string> here = path_here();
        if ((!array && here == vocab_path_ && saw_vocab) || (array && here == merges_path_ && saw_merges))
            return duplicate_key(here.back());
        if (!array && here == vocab_path_) {
            saw_vocab = true;
            frames_.push_back({MODE_VOCAB, nullptr, {}, {}, 0});
            return true;
        }
        if (array && here == merges_path_) {
            saw_merges = true;
            frames_.push_back({MODE_MERGES, nullptr, {}, {}, 0});
            return true;
        }
        json* slot = insert(array ? json::array() : json::object());
        frames_.push_back({MODE_DOM, slot, {}, {}, 0});
        return true;
    }

    bool close() {
        frames_.pop_back();
        return true;
    }

    std::string file_;
    std::vector<std::string> vocab_path_, merges_path_;
    void* ctx_;
    VocabFn on_vocab_;
    MergeFn on_merge_;
    std::vector<Frame> frames_;
    std::string error_;
};

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

// (left id, right id) -> (rank, merged id). Open addressing with linear probing in one flat array:
// the lookup in BPE's inner loop then costs about one cache miss (std::unordered_map: several).
class MergeTable {
public:
    struct Slot {
        uint64_t key;
        int32_t rank;
        int32_t result;
    };

    void reserve(size_t n) { rehash(capacity_for(n)); }
    // Keeps the first insertion of a key (duplicate merges keep their lowest rank, as in HF).
    void insert(uint64_t key, int32_t rank, int32_t result) {
        if ((size_ + 1) * 2 > slots_.size()) rehash(capacity_for(size_ + 1));
        for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].key == key) return;
            if (slots_[i].key == EMPTY) {
                slots_[i] = {key, rank, result};
                ++size_;
                return;
            }
        }
    }
    const Slot* find(uint64_t key) const {
        if (slots_.empty()) return nullptr;
        for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].key == key) return &slots_[i];
            if (slots_[i].key == EMPTY) return nullptr;
        }
    }
    size_t size() const { return size_; }

private:
    static constexpr uint64_t EMPTY = ~0ull;  // ids are non-negative, so no real pair has this key
    static uint64_t mix(uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdull;
        k ^= k >> 33;
        return k;
    }
    static size_t capacity_for(size_t n) {
        size_t c = 16;
        while (c < 2 * n) c *= 2;
        return c;
    }
    void rehash(size_t cap) {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(cap, Slot{EMPTY, 0, 0});
        mask_ = cap - 1;
        size_ = 0;
        for (const Slot& s : old) {
            if (s.key != EMPTY) insert(s.key, s.rank, s.result);
        }
    }
    std::vector<Slot> slots_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

// Token text from a tokenizer_config field: "<x>", {"content": "<x>", ...} or null.
std::string config_token_text(const json& v, const std::string& file, const char* field) {
    if (v.is_null()) return "";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    throw Error(file + ": " + field + " must be a string, an object with \"content\", or null");
}

}  // namespace

struct TokenizerImpl {
    std::string source;
    std::vector<std::string> id_bytes;  // raw bytes per id (empty for ids without a token)
    std::vector<uint8_t> id_flags;      // ID_* bits
    StringIdMap vocab_ids;              // regular vocabulary, by vocabulary form ("Ġthe")
    std::array<int32_t, 256> byte_token{};
    MergeTable merges;
    std::vector<AddedToken> added;        // in file order
    std::vector<size_t> added_by_length;  // indices into added, longest first
    std::array<bool, 256> added_first_byte{};
    StringIdMap added_by_content;
    PretokenizerKind pretok = PRETOKENIZER_QWEN2;
    bool nfc = false;
    bool add_prefix_space = false;
    bool ignore_merges = false;
    int32_t bos = -1, eos = -1;
    bool add_bos = false;

    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache;

    enum : uint8_t { ID_REGULAR = 1, ID_ADDED = 2, ID_SPECIAL = 4 };

    // kind and token only build the error message.
    void set_token(int32_t id, std::string bytes, uint8_t flag, const char* kind, std::string_view token) {
        if (id < 0 || id >= MAX_TOKEN_ID) {
            throw Error(source + ": " + kind + " " + safe_quoted(token) + " has id " + std::to_string(id) +
                        ", outside [0, " + std::to_string(MAX_TOKEN_ID) + ")");
        }
        if (static_cast<size_t>(id) >= id_bytes.size()) {
            id_bytes.resize(id + 1);
            id_flags.resize(id + 1);
        }
        id_bytes[id] = std::move(bytes);
        id_flags[id] |= flag;
    }

    void add_vocab(std::string&& token, int64_t id64) {
        if (id64 < 0 || id64 >= MAX_TOKEN_ID) {
            throw Error(source + ": vocab token " + safe_quoted(token) + " has id " + std::to_string(id64) +
                        ", outside [0, " + std::to_string(MAX_TOKEN_ID) + ")");
        }
        int32_t id = static_cast<int32_t>(id64);
        if (static_cast<size_t>(id) < id_flags.size() && (id_flags[id] & ID_REGULAR)) {
            throw Error(source + ": vocab id " + std::to_string(id) + " is used by two tokens (" + safe_quoted(token) +
                        " and " + safe_quoted(id_to_vocab_form(id)) + ")");
        }
        set_token(id, byte_level_to_bytes(token), ID_REGULAR, "vocab token", token);
        if (!vocab_ids.emplace(std::move(token), id).second) {
            throw Error(source + ": vocab token " + safe_quoted(id_to_vocab_form(id)) + " appears twice");
        }
    }

    std::string id_to_vocab_form(int32_t id) const { return bytes_to_byte_level(id_bytes[id]); }

    std::string merge_scratch;
    void add_merge(std::string_view a, std::string_view b, size_t rank) {
        auto lookup = [&](std::string_view t) {
            auto it = vocab_ids.find(t);
            if (it == vocab_ids.end()) {
                throw Error(source + ": merge " + std::to_string(rank + 1) + " (" + safe_quoted(a) + " " +
                                safe_quoted(b) + ") names " + safe_quoted(t) + ", which is not in the vocab",
                            "are the vocab and merges from the same tokenizer?");
            }
            return it->second;
        };
        int32_t ia = lookup(a), ib = lookup(b);
        merge_scratch.assign(a);
        merge_scratch.append(b);
        int32_t ir = lookup(merge_scratch);
        // Duplicate merges keep their first (lowest) rank, as in HF tokenizers.
        merges.insert(pair_key(ia, ib), static_cast<int32_t>(rank), ir);
    }

    void add_added_token(AddedToken t) {
        if (t.content.empty()) throw Error(source + ": added token " + std::to_string(t.id) + " has empty content");
        if (t.id >= 0 && static_cast<size_t>(t.id) < id_flags.size() && (id_flags[t.id] & ID_ADDED) &&
            id_bytes[t.id] != t.content) {
            throw Error(source + ": added token id " + std::to_string(t.id) + " is both " +
                            safe_quoted(id_bytes[t.id]) + " and " + safe_quoted(t.content),
                        "do tokenizer.json and tokenizer_config.json come from the same model?");
        }
        set_token(t.id, t.content, ID_ADDED, "added token", t.content);
        id_flags[t.id] = static_cast<uint8_t>((id_flags[t.id] & ~ID_SPECIAL) | (t.special ? ID_SPECIAL : 0));
        auto it = added_by_content.find(t.content);
        if (it != added_by_content.end()) {
            if (it->second != t.id) {
                throw Error(source + ": added token " + safe_quoted(t.content) + " has two ids (" +
                            std::to_string(it->second) + " and " + std::to_string(t.id) + ")");
            }
            for (AddedToken& a : added) {
                if (a.id == t.id) a.special = t.special;  // a later file (the config) refines the flag
            }
            return;
        }
        added_by_content.emplace(t.content, t.id);
        added.push_back(std::move(t));
    }

    void finish() {
        for (int b = 0; b < 256; ++b) {
            auto it = vocab_ids.find(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
            if (it == vocab_ids.end()) {
                char hex[8];
                snprintf(hex, sizeof hex, "0x%02X", b);
                throw Error(source + ": the vocab has no token for byte " + hex,
                            "a byte-level BPE vocab must contain all 256 byte tokens");
            }
            byte_token[b] = it->second;
        }
        added_by_length.resize(added.size());
        for (size_t i = 0; i < added.size(); ++i) added_by_length[i] = i;
        std::stable_sort(added_by_length.begin(), added_by_length.end(),
                         [&](size_t x, size_t y) { return added[x].content.size() > added[y].content.size(); });
        added_first_byte.fill(false);
        for (const AddedToken& t : added) added_first_byte[static_cast<unsigned char>(t.content[0])] = true;
    }

    int32_t lookup_token(std::string_view token) const {
        auto a = added_by_content.find(token);
        if (a != added_by_content.end()) return a->second;
        auto it = vocab_ids.find(token);
        return it == vocab_ids.end() ? -1 : it->second;
    }

    void read_config(const std::string& path, bool tokens_from_config) {
        json cfg = json_read_strict(path);
        if (!cfg.is_object()) throw Error(path + ": expected a JSON object");
        if (tokens_from_config && cfg.contains("added_tokens_decoder")) {
            const json& dec = cfg["added_tokens_decoder"];
            if (!dec.is_object()) throw Error(path + ": added_tokens_decoder must be an object");
            for (auto it = dec.begin(); it != dec.end(); ++it) {
                int32_t id;
                try {
                    size_t used = 0;
                    id = std::stoi(it.key(), &used);
                    if (used != it.key().size()) throw std::invalid_argument("trailing");
                } catch (const std::exception&) {
                    throw Error(path + ": added_tokens_decoder key " + safe_quoted(it.key()) + " is not a token id");
                }
                const json& v = it.value();
                if (!v.is_object() || !v.contains("content") || !v["content"].is_string()) {
                    throw Error(path + ": added_tokens_decoder[" + it.key() + "] has no string \"content\"");
                }
                AddedToken t;
                t.id = id;
                t.content = v["content"].get<std::string>();
                t.special = opt_bool(v, "special", false, path);
                add_added_token(std::move(t));
            }
        }
        if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
            add_bos = cfg["add_bos_token"].get<bool>();
        for (const char* field : {"bos_token", "eos_token"}) {
            if (!cfg.contains(field)) continue;
            std::string text = config_token_text(cfg[field], path, field);
            if (text.empty()) continue;
            int32_t id = lookup_token(text);
            if (id < 0) {
                throw Error(path + ": " + field + " " + safe_quoted(text) + " is not a token of " + source,
                            "added tokens need ids from tokenizer.json, added_tokens.json or added_tokens_decoder");
            }
            (std::string(field) == "bos_token" ? bos : eos) = id;
        }
    }

    // --- encoding ---

    void bpe(std::string_view piece, std::vector<int32_t>& out) const {
        if (piece.size() == 1) {
            out.push_back(byte_token[static_cast<unsigned char>(piece[0])]);
            return;
        }
        if (ignore_merges) {
            auto it = vocab_ids.find(bytes_to_byte_level(piece));
            if (it != vocab_ids.end()) {
                out.push_back(it->second);
                return;
            }
        }
        bool cacheable = piece.size() <= CACHE_MAX_PIECE_BYTES;
        if (cacheable) {
            std::lock_guard<std::mutex> lock(cache_mutex);
            auto it = cache.find(piece);
            if (it != cache.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        size_t start = out.size();
        bpe_merge(piece, out);
        if (cacheable) {
            std::lock_guard<std::mutex> lock(cache_mutex);
            if (cache.size() >= CACHE_MAX_ENTRIES) cache.clear();
            cache.emplace(std::string(piece), std::vector<int32_t>(out.begin() + start, out.end()));
        }
    }

    // Merges by rank, lowest first; equal ranks left to right. A heap of candidate pairs over a
    // linked list of symbols keeps long pieces (runs of punctuation or spaces) O(n log n).
    void bpe_merge(std::string_view piece, std::vector<int32_t>& out) const {
        struct Symbol {
            int32_t id;
            int32_t prev, next;
        };
        struct Candidate {
            int32_t rank, left, left_id, right_id, result;
            bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
        };
        const int32_t n = static_cast<int32_t>(piece.size());
        std::vector<Symbol> sym(n);
        for (int32_t i = 0; i < n; ++i) sym[i] = {byte_token[static_cast<unsigned char>(piece[i])], i - 1, i + 1};
        sym[n - 1].next = -1;
        std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
        auto push = [&](int32_t left) {
            if (left < 0) return;
            int32_t right = sym[left].next;
            if (right < 0) return;
            const MergeTable::Slot* m = merges.find(pair_key(sym[left].id, sym[right].id));
            if (m) heap.push({m->rank, left, sym[left].id, sym[right].id, m->result});
        };
        for (int32_t i = 0; i + 1 < n; ++i) push(i);
        while (!heap.empty()) {
            Candidate c = heap.top();
            heap.pop();
            Symbol& l = sym[c.left];
            if (l.id != c.left_id || l.next < 0 || sym[l.next].id != c.right_id) continue;  // stale
            int32_t r = l.next;
            l.id = c.result;
            l.next = sym[r].next;
            if (l.next >= 0) sym[l.next].prev = c.left;
            sym[r].id = -1;
            push(l.prev);
            push(c.left);
        }
        for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
    }

    // Calls on_text(segment) for text between added tokens and on_token(id) for each added token.
    template <class OnText, class OnToken>
    void split_added(std::string_view text, bool allow_special, OnText on_text, OnToken on_token) const {
        size_t seg = 0;
        for (size_t i = 0; i < text.size();) {
            if (added_first_byte[static_cast<unsigned char>(text[i])]) {
                const AddedToken* hit = nullptr;
                for (size_t k : added_by_length) {
                    const AddedToken& t = added[k];
                    if (!allow_special && t.special) continue;
                    if (text.compare(i, t.content.size(), t.content) == 0) {
                        hit = &t;
                        break;
                    }
                }
                if (hit) {
                    if (i > seg) on_text(text.substr(seg, i - seg));
                    on_token(hit->id);
                    i += hit->content.size();
                    seg = i;
                    continue;
                }
            }
            ++i;
        }
        if (seg < text.size()) on_text(text.substr(seg));
    }

    // Normalisation and prefix space for one segment between added tokens.
    std::string prepare(std::string_view segment) const {
        std::string s = nfc ? unicode_nfc(segment) : std::string(segment);
        if (add_prefix_space && !s.empty() && s[0] != ' ') s.insert(s.begin(), ' ');
        return s;
    }
};

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {

void parse_normalizer(TokenizerImpl& t, const json& n) {
    if (n.is_null()) return;
    std::string type = opt_string(n, "type", "", t.source);
    if (type == "NFC") {
        t.nfc = true;
    } else if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
        for (const json& sub : n["normalizers"]) parse_normalizer(t, sub);
    } else {
        throw Error(t.source + ": normalizer " + safe_quoted(n.dump()) + " is not supported",
                    "only NFC (or none) is implemented for byte-level BPE");
    }
}

void parse_byte_level(TokenizerImpl& t, const json& p, bool allow_regex) {
    t.add_prefix_space = opt_bool(p, "add_prefix_space", false, t.source);
    bool use_regex = opt_bool(p, "use_regex", true, t.source);
    if (use_regex && !allow_regex) {
        throw Error(t.source + ": ByteLevel pre-tokenizer with use_regex after a Split is not supported");
    }
    if (use_regex) t.pretok = PRETOKENIZER_GPT2;
}

void parse_pre_tokenizer(TokenizerImpl& t, const json& p) {
    std::string type = opt_string(p, "type", "", t.source);
    if (type == "ByteLevel") {
        if (!opt_bool(p, "use_regex", true, t.source)) {
            throw Error(t.source + ": ByteLevel pre-tokenizer without use_regex and without a Split is not supported");
        }
        parse_byte_level(t, p, true);
        return;
    }
    if (type == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].is_array() &&
        p["pretokenizers"].size() == 2) {
        const json& split = p["pretokenizers"][0];
        const json& bl = p["pretokenizers"][1];
        if (opt_string(split, "type", "", t.source) == "Split" && opt_string(bl, "type", "", t.source) == "ByteLevel") {
            const json& pat = split.contains("pattern") ? split["pattern"] : json();
            if (!pat.is_object() || !pat.contains("Regex") || !pat["Regex"].is_string()) {
                throw Error(t.source + ": Split pre-tokenizer pattern must be {\"Regex\": ...}, got " +
                            safe_quoted(pat.dump()));
            }
            std::string regex = pat["Regex"].get<std::string>();
            if (!pretokenizer_from_pattern(regex, &t.pretok)) {
                throw Error(t.source + ": unknown pre-tokenizer split pattern " + safe_quoted(regex),
                            std::string("known patterns: qwen2 ") + pretokenizer_pattern(PRETOKENIZER_QWEN2) +
                                " ; organism " + pretokenizer_pattern(PRETOKENIZER_ORGANISM) + " ; gpt2 " +
                                pretokenizer_pattern(PRETOKENIZER_GPT2));
            }
            if (opt_string(split, "behavior", "Isolated", t.source) != "Isolated" ||
                opt_bool(split, "invert", false, t.source)) {
                throw Error(t.source + ": Split pre-tokenizer must have behavior \"Isolated\" and invert false");
            }
            parse_byte_level(t, bl, false);
            return;
        }
    }
    throw Error(t.source + ": pre_tokenizer " + safe_quoted(p.dump()) + " is not supported",
                "expected ByteLevel, or Sequence[Split(Regex), ByteLevel(use_regex=false)]");
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        std::string config = (fs::path(path).parent_path() / "tokenizer_config.json").string();
        return load_tokenizer_json(path, io_file_exists(config) ? config : "");
    }
    if (!fs::is_directory(path, ec)) throw Error(path + ": no such tokenizer file or model directory");
    fs::path dir(path);
    std::string config = (dir / "tokenizer_config.json").string();
    if (!io_file_exists(config)) config.clear();
    if (io_file_exists((dir / "tokenizer.json").string()))
        return load_tokenizer_json((dir / "tokenizer.json").string(), config);
    std::string vocab = (dir / "vocab.json").string(), merges = (dir / "merges.txt").string();
    if (io_file_exists(vocab) && io_file_exists(merges)) {
        std::string added = (dir / "added_tokens.json").string();
        return load_vocab_merges(vocab, merges, config, io_file_exists(added) ? added : "");
    }
    throw Error(path + ": no tokenizer.json and no vocab.json + merges.txt in this directory",
                "is this a Hugging Face model directory?");
}

namespace {

// Vocab entries and merges streamed out of the SAX reader. Merges are buffered so that a file
// listing merges before the vocab still loads.
struct LoadContext {
    TokenizerImpl* t;
    std::vector<std::pair<std::string, std::string>> merges;
    size_t n_bad_merge = 0;  // 1-based index of the first malformed merge, 0 if none
};

void on_vocab_entry(void* ctx, std::string&& token, int64_t id) {
    static_cast<LoadContext*>(ctx)->t->add_vocab(std::move(token), id);
}

void on_merge_entry(void* ctx, std::string_view a, std::string_view b, bool ok) {
    auto* c = static_cast<LoadContext*>(ctx);
    if (!ok && c->n_bad_merge == 0) c->n_bad_merge = c->merges.size() + 1;
    c->merges.emplace_back(a, b);
}

}  // namespace

Tokenizer Tokenizer::load_tokenizer_json(const std::string& tokenizer_json_path, const std::string& config_path) {
    auto t = std::make_unique<TokenizerImpl>();
    t->source = tokenizer_json_path;
    t->vocab_ids.reserve(1 << 18);
    LoadContext ctx{t.get(), {}, 0};
    ctx.merges.reserve(1 << 18);
    TokenizerSaxReader reader(tokenizer_json_path, {"model", "vocab"}, {"model", "merges"}, &ctx, on_vocab_entry,
                              on_merge_entry);
    reader.parse(io_read_file(tokenizer_json_path));
    const json& j = reader.rest;
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
        throw Error(tokenizer_json_path + ": no \"model\" object; is this a Hugging Face tokenizer.json?");
    }
    const json& model = j["model"];
    std::string type = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "";
    if (type.empty() && reader.saw_merges) type = "BPE";  // files from old tokenizers versions
    if (type != "BPE") {
        throw Error(tokenizer_json_path + ": model.type " + safe_quoted(type) + " is not supported",
                    "only byte-level BPE tokenizers (GPT-2, Qwen2, Llama 3 style) are implemented");
    }
    if (opt_bool(model, "byte_fallback", false, tokenizer_json_path)) {
        throw Error(tokenizer_json_path + ": BPE with byte_fallback (SentencePiece style) is not supported");
    }
    for (const char* f : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        if (model.contains(f) && model[f].is_string() && !model[f].get<std::string>().empty()) {
            throw Error(tokenizer_json_path + ": BPE " + f + " is not supported");
        }
    }
    t->ignore_merges = opt_bool(model, "ignore_merges", false, tokenizer_json_path);
    if (!reader.saw_vocab) throw Error(tokenizer_json_path + ": model.vocab must be an object of token -> id");
    if (!reader.saw_merges) throw Error(tokenizer_json_path + ": model.merges must be an array");
    if (ctx.n_bad_merge) {
        throw Error(tokenizer_json_path + ": merge " + std::to_string(ctx.n_bad_merge) + " " +
                    safe_quoted(ctx.merges[ctx.n_bad_merge - 1].first) + " is not two tokens separated by one space");
    }
    for (size_t rank = 0; rank < ctx.merges.size(); ++rank) {
        t->add_merge(ctx.merges[rank].first, ctx.merges[rank].second, rank);
    }
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
        if (!j["added_tokens"].is_array()) throw Error(tokenizer_json_path + ": added_tokens must be an array");
        for (const json& a : j["added_tokens"]) {
            if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
                !a["content"].is_string()) {
                throw Error(tokenizer_json_path + ": each added_tokens entry needs an integer id and a string content");
            }
            t->add_added_token({a["id"].get<int32_t>(), a["content"].get<std::string>(),
                                opt_bool(a, "special", false, tokenizer_json_path)});
        }
    }
    if (j.contains("normalizer")) parse_normalizer(*t, j["normalizer"]);
    if (!j.contains("pre_tokenizer") || j["pre_tokenizer"].is_null()) {
        throw Error(tokenizer_json_path + ": no pre_tokenizer; only byte-level BPE tokenizers are supported");
    }
    parse_pre_tokenizer(*t, j["pre_tokenizer"]);
    if (j.contains("decoder") && !j["decoder"].is_null()) {
        const json& d = j["decoder"];
        std::string dt = opt_string(d, "type", "", tokenizer_json_path);
        if (dt != "ByteLevel") {
            throw Error(tokenizer_json_path + ": decoder " + safe_quoted(d.dump()) + " is not supported",
                        "only the ByteLevel decoder is implemented");
        }
    }
    t->finish();
    if (!config_path.empty()) {
        t->read_config(config_path, true);
        t->finish();  // the config may add tokens
    }
    return Tokenizer(std::move(t));
}

Tokenizer Tokenizer::load_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                       const std::string& config_path, const std::string& added_tokens_path) {
    auto t = std::make_unique<TokenizerImpl>();
    t->source = vocab_path;
    t->vocab_ids.reserve(1 << 18);
    LoadContext ctx{t.get(), {}, 0};
    TokenizerSaxReader reader(vocab_path, {}, {"\x01"}, &ctx, on_vocab_entry, on_merge_entry);
    reader.parse(io_read_file(vocab_path));
    if (!reader.saw_vocab) throw Error(vocab_path + ": expected a JSON object of token -> id");
    std::string text = io_read_file(merges_path);
    t->source = merges_path;  // merge errors name the merges file
    size_t rank = 0, line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string_view line(text.data() + pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || (line_no == 1 && line.substr(0, 9) == "#version:")) continue;
        size_t sp = line.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size() ||
            line.find(' ', sp + 1) != std::string::npos) {
            throw Error(merges_path + ":" + std::to_string(line_no) +
                        ": expected two tokens separated by one space, got " + safe_quoted(line));
        }
        t->add_merge(line.substr(0, sp), line.substr(sp + 1), rank++);
    }
    t->source = vocab_path;
    if (!added_tokens_path.empty()) {
        json added = json_read_strict(added_tokens_path);
        if (!added.is_object()) throw Error(added_tokens_path + ": expected a JSON object of token -> id");
        for (auto it = added.begin(); it != added.end(); ++it) {
            if (!it.value().is_number_integer()) {
                throw Error(added_tokens_path + ": entry " + safe_quoted(it.key()) + " is not an integer id");
            }
            // added_tokens.json does not say which are special; the config's decoder refines this.
            t->add_added_token({it.value().get<int32_t>(), it.key(), true});
        }
    }
    t->finish();
    if (!config_path.empty()) {
        json cfg = json_read_strict(config_path);
        std::string cls = opt_string(cfg, "tokenizer_class", "", config_path);
        if (cls.rfind("Qwen2Tokenizer", 0) == 0 || cls.empty()) {
            t->pretok = PRETOKENIZER_QWEN2;
            t->nfc = true;
        } else if (cls.rfind("GPT2Tokenizer", 0) == 0) {
            t->pretok = PRETOKENIZER_GPT2;
            t->add_prefix_space = opt_bool(cfg, "add_prefix_space", false, config_path);
        } else {
            throw Error(config_path + ": tokenizer_class " + safe_quoted(cls) +
                            " is not known for vocab.json + merges.txt (known: Qwen2Tokenizer, GPT2Tokenizer)",
                        "provide the model's tokenizer.json");
        }
        t->read_config(config_path, true);
        t->finish();  // added tokens may have come from the config
    } else {
        t->nfc = true;  // Qwen2 is the default for bare vocab.json + merges.txt
    }
    return Tokenizer(std::move(t));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
    const TokenizerImpl& t = *impl_;
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 4);
    std::vector<std::string_view> pieces;
    t.split_added(
        text, allow_special,
        [&](std::string_view segment) {
            std::string s = t.prepare(segment);
            pieces.clear();
            pretokenize_split(t.pretok, s, pieces);
            for (std::string_view p : pieces) t.bpe(p, ids);
        },
        [&](int32_t id) { ids.push_back(id); });
    return ids;
}

std::vector<std::string> Tokenizer::pretokenize(std::string_view text) const {
    const TokenizerImpl& t = *impl_;
    std::vector<std::string> out;
    t.split_added(
        text, true,
        [&](std::string_view segment) {
            std::string s = t.prepare(segment);
            std::vector<std::string_view> pieces;
            pretokenize_split(t.pretok, s, pieces);
            for (std::string_view p : pieces) out.emplace_back(p);
        },
        [&](int32_t id) { out.push_back(t.id_bytes[id]); });
    return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    const TokenizerImpl& t = *impl_;
    std::string out;
    for (int32_t id : ids) {
        if (id < 0 || static_cast<size_t>(id) >= t.id_bytes.size()) continue;
        if (skip_special && (t.id_flags[id] & TokenizerImpl::ID_SPECIAL)) continue;
        out += t.id_bytes[id];
    }
    return out;
}

const std::string& Tokenizer::decode_token(int32_t id) const {
    static const std::string empty;
    if (id < 0 || static_cast<size_t>(id) >= impl_->id_bytes.size()) return empty;
    return impl_->id_bytes[id];
}

int32_t Tokenizer::token_to_id(std::string_view token) const { return impl_->lookup_token(token); }

std::string Tokenizer::id_to_token(int32_t id) const {
    const TokenizerImpl& t = *impl_;
    if (id < 0 || static_cast<size_t>(id) >= t.id_bytes.size()) return "";
    if (t.id_flags[id] & TokenizerImpl::ID_ADDED) return t.id_bytes[id];
    return bytes_to_byte_level(t.id_bytes[id]);
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->id_bytes.size()); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
bool Tokenizer::add_bos_token() const { return impl_->add_bos; }

int32_t Tokenizer::special_token_id(std::string_view text) const {
    auto it = impl_->added_by_content.find(text);
    return it == impl_->added_by_content.end() ? -1 : it->second;
}

bool Tokenizer::is_special(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < impl_->id_flags.size() &&
           (impl_->id_flags[id] & TokenizerImpl::ID_SPECIAL);
}

void Tokenizer::clear_cache() const {
    std::lock_guard<std::mutex> lock(impl_->cache_mutex);
    impl_->cache.clear();
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }
PretokenizerKind Tokenizer::pretokenizer() const { return impl_->pretok; }
bool Tokenizer::normalizes_nfc() const { return impl_->nfc; }
const std::string& Tokenizer::source() const { return impl_->source; }

void tokenizer_check_model_vocab(const Tokenizer& t, int model_vocab_size, const std::string& model_config) {
    if (t.vocab_size() <= model_vocab_size) return;
    const int32_t id = t.vocab_size() - 1;
    throw Error(t.source() + ": token id " + std::to_string(id) + " (" + safe_quoted(t.id_to_token(id)) +
                    ") is outside the model's vocabulary (" + model_config + ": vocab_size " +
                    std::to_string(model_vocab_size) + ")",
                "are the tokenizer and the weights from the same model?");
}

}  // namespace adabench
