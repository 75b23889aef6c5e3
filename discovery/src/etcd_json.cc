#include <openssl/evp.h>
#include <thriftpool/internal/etcd_json.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace thriftpool::discovery::internal {
namespace {

using nlohmann::json;

[[noreturn]] void Bad(const std::string& what) { throw std::invalid_argument(what); }

json ParseObject(std::string_view text) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) Bad("not JSON");
  if (!parsed.is_object()) Bad("not a JSON object");
  // The gateway answers a failed call with {"error": "...", "code": N, "message": "..."}.
  if (const auto error = parsed.find("error"); error != parsed.end()) {
    const auto message = parsed.find("message");
    Bad("etcd error: " + (message != parsed.end() && message->is_string()
                              ? message->get<std::string>()
                              : error->dump()));
  }
  return parsed;
}

// The gateway writes int64 as a decimal string and leaves out members that are zero.
std::int64_t Int64(const json& object, const char* name) {
  const auto member = object.find(name);
  if (member == object.end()) return 0;
  if (member->is_number_integer()) return member->get<std::int64_t>();
  if (!member->is_string()) Bad(std::string("'") + name + "' is neither a number nor a string");
  const std::string& text = member->get_ref<const std::string&>();
  std::size_t used = 0;
  std::int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size()) Bad(std::string("'") + name + "' is not an integer");
  return value;
}

bool Bool(const json& object, const char* name) {
  const auto member = object.find(name);
  if (member == object.end()) return false;
  if (!member->is_boolean()) Bad(std::string("'") + name + "' is not a boolean");
  return member->get<bool>();
}

std::string String(const json& object, const char* name) {
  const auto member = object.find(name);
  if (member == object.end()) return "";
  if (!member->is_string()) Bad(std::string("'") + name + "' is not a string");
  return member->get<std::string>();
}

const json& Object(const json& object, const char* name) {
  static const json kEmpty = json::object();
  const auto member = object.find(name);
  if (member == object.end()) return kEmpty;
  if (!member->is_object()) Bad(std::string("'") + name + "' is not an object");
  return *member;
}

const json& Array(const json& object, const char* name) {
  static const json kEmpty = json::array();
  const auto member = object.find(name);
  if (member == object.end()) return kEmpty;
  if (!member->is_array()) Bad(std::string("'") + name + "' is not an array");
  return *member;
}

KeyValue ParseKeyValue(const json& kv) {
  if (!kv.is_object()) Bad("a key-value is not an object");
  KeyValue parsed;
  parsed.key = Base64Decode(String(kv, "key"));
  if (parsed.key.empty()) Bad("a key-value has no key");
  parsed.value = Base64Decode(String(kv, "value"));
  parsed.mod_revision = Int64(kv, "mod_revision");
  parsed.lease = Int64(kv, "lease");
  return parsed;
}

std::string Decimal(std::int64_t value) { return std::to_string(value); }

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(written));
  return text;
}

std::string Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) Bad("base64 of a length that is not a multiple of 4");
  for (const char c : text) {
    const bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!alphabet) Bad("not base64");
  }
  std::size_t padding = 0;
  while (padding < text.size() && padding < 2 && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  if (text.substr(0, text.size() - padding).find('=') != std::string_view::npos) {
    Bad("base64 with '=' inside");
  }
  std::string bytes(text.size() / 4 * 3, '\0');
  const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (decoded < 0) Bad("not base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  bytes.resize(static_cast<std::size_t>(decoded) - padding);
  return bytes;
}

std::string PrefixEnd(std::string_view prefix) {
  if (prefix.empty()) Bad("an empty key prefix");
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');  // etcd: "\0" as range_end means "to the end"
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

std::string RangeRequest(std::string_view prefix) {
  return json{{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixEnd(prefix))}}.dump();
}

std::string WatchRequest(std::string_view prefix, std::int64_t start_revision) {
  return json{{"create_request",
               {{"key", Base64Encode(prefix)},
                {"range_end", Base64Encode(PrefixEnd(prefix))},
                {"start_revision", Decimal(start_revision)}}}}
      .dump();
}

std::string PutRequest(std::string_view key, std::string_view value, std::int64_t lease) {
  return json{{"key", Base64Encode(key)}, {"value", Base64Encode(value)}, {"lease", Decimal(lease)}}
      .dump();
}

std::string DeleteRequest(std::string_view key) { return json{{"key", Base64Encode(key)}}.dump(); }

std::string LeaseGrantRequest(std::int64_t ttl_seconds) {
  return json{{"TTL", Decimal(ttl_seconds)}}.dump();
}

std::string LeaseIdRequest(std::int64_t lease) { return json{{"ID", Decimal(lease)}}.dump(); }

RangeResponse ParseRangeResponse(std::string_view text) {
  const json response = ParseObject(text);
  RangeResponse parsed;
  parsed.revision = Int64(Object(response, "header"), "revision");
  if (parsed.revision <= 0) Bad("a range response without a revision");
  for (const json& kv : Array(response, "kvs")) parsed.kvs.push_back(ParseKeyValue(kv));
  return parsed;
}

WatchResponse ParseWatchResponse(std::string_view text) {
  const json response = ParseObject(text);
  const json& result = Object(response, "result");
  WatchResponse parsed;
  parsed.revision = Int64(Object(result, "header"), "revision");
  parsed.created = Bool(result, "created");
  parsed.canceled = Bool(result, "canceled");
  parsed.compact_revision = Int64(result, "compact_revision");
  parsed.cancel_reason = String(result, "cancel_reason");
  for (const json& event : Array(result, "events")) {
    if (!event.is_object()) Bad("an event is not an object");
    WatchEvent parsed_event;
    const std::string type = String(event, "type");  // absent for a put (enum value 0)
    if (type == "DELETE") {
      parsed_event.deleted = true;
    } else if (!type.empty() && type != "PUT") {
      Bad("an event of type '" + type + "'");
    }
    parsed_event.kv = ParseKeyValue(Object(event, "kv"));
    parsed.events.push_back(std::move(parsed_event));
  }
  return parsed;
}

std::int64_t ParseLeaseGrantResponse(std::string_view text) {
  const json response = ParseObject(text);
  const std::int64_t id = Int64(response, "ID");
  if (id == 0) Bad("a lease grant without an ID");
  return id;
}

std::int64_t ParseKeepAliveResponse(std::string_view text) {
  const json response = ParseObject(text);
  return Int64(Object(response, "result"), "TTL");
}

void ParseEmptyResponse(std::string_view text) { ParseObject(text); }

}  // namespace thriftpool::discovery::internal
