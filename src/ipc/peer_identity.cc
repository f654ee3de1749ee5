#include "ipc/peer_identity.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

namespace evg::ipc {

std::optional<uint32_t> tcpPeerUid(const boost::asio::ip::tcp::endpoint& local,
                                   const boost::asio::ip::tcp::endpoint& peer) {
  if (local.address().is_v4() != peer.address().is_v4()) return std::nullopt;
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  timeval tv{0, 200 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 r;
  } req{};
  req.nlh.nlmsg_len = sizeof req;
  req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.nlh.nlmsg_flags = NLM_F_REQUEST;
  req.nlh.nlmsg_seq = 1;
  const bool v4 = peer.address().is_v4();
  req.r.sdiag_family = v4 ? AF_INET : AF_INET6;
  req.r.sdiag_protocol = IPPROTO_TCP;
  req.r.idiag_states = ~0u;
  // The client socket: its source is the peer endpoint, its destination our endpoint.
  req.r.id.idiag_sport = htons(peer.port());
  req.r.id.idiag_dport = htons(local.port());
  if (v4) {
    auto p = peer.address().to_v4().to_bytes();
    auto l = local.address().to_v4().to_bytes();
    std::memcpy(req.r.id.idiag_src, p.data(), p.size());
    std::memcpy(req.r.id.idiag_dst, l.data(), l.size());
  } else {
    auto p = peer.address().to_v6().to_bytes();
    auto l = local.address().to_v6().to_bytes();
    std::memcpy(req.r.id.idiag_src, p.data(), p.size());
    std::memcpy(req.r.id.idiag_dst, l.data(), l.size());
  }
  req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl nl{};
  nl.nl_family = AF_NETLINK;
  std::optional<uint32_t> uid;
  if (::sendto(fd, &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&nl), sizeof nl) ==
      static_cast<ssize_t>(sizeof req)) {
    alignas(nlmsghdr) char buf[8192];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    // An exact lookup answers with one message: the socket, or NLMSG_ERROR.
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    if (n >= static_cast<ssize_t>(NLMSG_LENGTH(sizeof(inet_diag_msg))) &&
        h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        h->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (m->id.idiag_sport == req.r.id.idiag_sport && m->id.idiag_dport == req.r.id.idiag_dport) {
        uid = m->idiag_uid;
      }
    }
  }
  ::close(fd);
  return uid;
}

}  // namespace evg::ipc
