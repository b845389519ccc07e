// DNS-rebinding protection for adabench's HTTP servers (`serve`, `serve-engine`): a browser page on
// evil.example whose name is re-pointed at 127.0.0.1 reaches a loopback server with
// "Host: evil.example". Such requests are refused; a Host that is an IP literal, "localhost" (or a
// *.localhost name) or the address the server was bound to is accepted. A missing Host is
// accepted only for HTTP/1.0 clients (HTTP/1.1 requires one, and browsers always send it).
//
// Not here: authentication (the servers are loopback by default and say so when bound elsewhere).
#pragma once
#include <string>

namespace adabench {

// The host part of a Host header: "[::1]:8080" -> "::1", "Example.COM:80" -> "example.com".
std::string http_host_name(const std::string& host_header);

// True when a request with this Host header may be served by a server bound to `bind`.
// `have_host` false = the request had no Host header; `http_10` = it was HTTP/1.0.
bool http_host_allowed(const std::string& host_header, bool have_host, bool http_10, const std::string& bind);

}  // namespace adabench
