// TlsOptions: how a pooled connection speaks TLS (ClientOptions::tls).
#ifndef THRIFTPOOL_TLS_OPTIONS_H_
#define THRIFTPOOL_TLS_OPTIONS_H_

#include <string>

namespace thriftpool {

// TLS 1.2 at least, through Thrift's TSSLSocket and OpenSSL. The handshake runs while the
// connection opens, and connect plus handshake together end within ClientOptions::connect_timeout.
// The files are read once per distinct setting (one OpenSSL context shared by every connection
// that uses it), and again when one of them changes on disk.
struct TlsOptions {
  bool enabled = false;
  // PEM file of the certificate authorities to trust; empty: the system's default store.
  std::string ca_file;
  // PEM certificate chain and private key (unencrypted) presented to the server, for mutual TLS.
  // Both or neither.
  std::string cert_file;
  std::string key_file;
  // The name the server's certificate must carry in its subjectAltName (a DNS name or an IP
  // address; the subject's CN is not consulted), also sent as SNI when it is a DNS name.
  // Empty: ClientOptions::host.
  std::string server_name;
  // Off only for tests against a server whose certificate cannot be checked: then any
  // certificate and any name is accepted, which an attacker in the middle can exploit.
  bool verify_peer = true;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_TLS_OPTIONS_H_
