#pragma once
// Who is on the other end of an accepted loopback TCP connection. SO_PEERCRED only works for Unix
// sockets; for TCP the kernel's socket table knows the uid that owns the peer's socket. One exact
// NETLINK_SOCK_DIAG lookup by 4-tuple (what `ss -e` reads; no privilege needed) answers it.

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>

namespace evg::ipc {

// Owner uid of the socket whose local end is `peer` and remote end is `local` (i.e. the client
// socket of a connection we accepted on `local`). nullopt when the kernel does not say (another
// network namespace, no sock_diag, the peer already closed).
std::optional<uint32_t> tcpPeerUid(const boost::asio::ip::tcp::endpoint& local,
                                   const boost::asio::ip::tcp::endpoint& peer);

}  // namespace evg::ipc
