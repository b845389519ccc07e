// JSON parsing that refuses duplicate object keys, for the model files adabench trusts with numbers
// (config.json, adapter_config.json, safetensors headers and indexes, tokenizer_config.json,
// added_tokens.json). nlohmann::json, like most parsers, keeps the last of two equal keys, so a
// hand-edited `"vocab_size": 533, ..., "vocab_size": 600` silently means 600 (#20 D11); here it is
// a one-line error naming the file and the key path. Otherwise identical to nlohmann::json::parse.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace adabench {

// Parses `text`; `source` names it in errors ("<source>: duplicate key 'a.b'", "<source>: malformed
// <what>: ..."; `what` is "JSON" unless given, e.g. "safetensors JSON header"). Throws adabench::Error.
nlohmann::json json_parse_strict(const std::string& source, std::string_view text, const std::string& what = "JSON");
// json_parse_strict of a whole file (io_read_json without duplicate keys).
nlohmann::json json_read_strict(const std::string& path);

}  // namespace adabench
