// openListener: open a TCP listening socket with SO_REUSEPORT set before bind(),
// for Node versions whose net module cannot ask for it. The JS side adopts the
// returned fd with server.listen({ fd }).
// countListeners: how many TCP sockets listen on a port in another process's
// network namespace (a pod's readiness), asked through sock_diag netlink.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <system_error>
#include <thread>

namespace {

// Failures look exactly like Node's own listen errors (UVExceptionWithHostPort),
// so callers handle the addon path and the built-in path with the same code.
// libuv's error numbers on Unix are negated errno values, and its name/message
// tables are the ones Node prints, hence uv_err_name_r/uv_strerror_r rather
// than strerror() (which capitalises and words some messages differently).
void ThrowSystemError(Napi::Env env, int sysErrno, const char* syscall,
                      const std::string& host, int port) {
  const int uvErr = -sysErrno;
  char code[64];
  char text[128];
  uv_err_name_r(uvErr, code, sizeof code);
  uv_strerror_r(uvErr, text, sizeof text);

  std::string message = std::string(syscall) + " " + code + ": " + text;
  if (port > 0) {
    message += " " + host + ":" + std::to_string(port);
  } else if (!host.empty()) {
    message += " " + host;
  }

  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, uvErr));
  error.Set("code", Napi::String::New(env, code));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.Set("address", Napi::String::New(env, host));
  if (port > 0) error.Set("port", Napi::Number::New(env, port));
  error.ThrowAsJavaScriptException();
}

// Owns the descriptor until release(), so that every early return closes it.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

bool SetIntOption(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0;
}

// openListener(host: string, port: number, backlog: number, ipv6Only: boolean)
//   -> { fd: number, port: number }
// Arguments are validated in JS with friendlier messages; the checks here only
// keep a misuse from reaching the kernel.
Napi::Value OpenListener(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsNumber() ||
      !info[2].IsNumber() || !info[3].IsBoolean()) {
    Napi::TypeError::New(env, "openListener(host: string, port: number, backlog: number, ipv6Only: boolean)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string host = info[0].As<Napi::String>().Utf8Value();
  const int port = info[1].As<Napi::Number>().Int32Value();
  const int backlog = info[2].As<Napi::Number>().Int32Value();
  const bool ipv6Only = info[3].As<Napi::Boolean>().Value();
  if (port < 0 || port > 65535 || backlog < 1) {
    Napi::RangeError::New(env, "openListener: port must be 0-65535 and backlog >= 1")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }

  sockaddr_storage storage;
  std::memset(&storage, 0, sizeof storage);
  socklen_t addrLen;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    addrLen = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    addrLen = sizeof *v6;
  } else {
    ThrowSystemError(env, EINVAL, "bind", host, port);
    return env.Undefined();
  }

  // CLOEXEC so child processes do not inherit (and keep open) a socket that
  // belongs to this replica's reuseport group; libuv makes it non-blocking
  // when Node adopts the fd.
  Fd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    ThrowSystemError(env, errno, "socket", host, port);
    return env.Undefined();
  }

  // SO_REUSEADDR as libuv sets it on every TCP server, so a restarted replica
  // can bind while the old one's connections linger in TIME_WAIT.
  // SO_REUSEPORT is the point of this addon; Linux only lets a socket join a
  // reuseport group if it was set before bind().
  if (!SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1) ||
      !SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1)) {
    ThrowSystemError(env, errno, "setsockopt", host, port);
    return env.Undefined();
  }

  // Always set explicitly, like libuv, so the result does not depend on the
  // net.ipv6.bindv6only sysctl of whatever namespace the replica runs in.
  if (family == AF_INET6 &&
      !SetIntOption(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, ipv6Only ? 1 : 0)) {
    ThrowSystemError(env, errno, "setsockopt", host, port);
    return env.Undefined();
  }

  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), addrLen) != 0) {
    ThrowSystemError(env, errno, "bind", host, port);
    return env.Undefined();
  }

  // With both options set, bind() can succeed next to a socket that is bound
  // but not listening; the conflict then surfaces here as EADDRINUSE.
  if (listen(fd.get(), backlog) != 0) {
    ThrowSystemError(env, errno, "listen", host, port);
    return env.Undefined();
  }

  // Port 0 asks the kernel for an ephemeral port; report the one it chose.
  sockaddr_storage bound;
  socklen_t boundLen = sizeof bound;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &boundLen) != 0) {
    ThrowSystemError(env, errno, "getsockname", host, port);
    return env.Undefined();
  }
  const int boundPort = ntohs(family == AF_INET
                                  ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                  : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);

  Napi::Object result = Napi::Object::New(env);
  result.Set("port", Napi::Number::New(env, boundPort));
  // Released last: from here on the caller owns the descriptor.
  result.Set("fd", Napi::Number::New(env, fd.release()));
  return result;
}

// One sock_diag dump of the TCP sockets of `family` in LISTEN state; adds those
// on local port `port` to *count. 0 or an errno.
int DumpListeners(int nl, int family, unsigned port, unsigned long* count) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg;
  std::memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = static_cast<uint8_t>(family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << 10;  // TCP_LISTEN only: the kernel then skips the established table
  sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  if (sendto(nl, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return errno;
  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t n = recv(nl, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return e->error == 0 ? 0 : -e->error;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      const auto* m = reinterpret_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(m->id.idiag_sport) == port) ++*count;
    }
  }
}

// countListeners(pid: number, port: number) -> number
// The TCP sockets listening on `port` (IPv4 and IPv6, every address) in the
// network namespace of process `pid`: what /proc/<pid>/net/tcp{,6} list, and
// what the sandbox's `pause --listeners` counts. Those files cost a walk of the
// whole established-connection hash table each (262144 buckets on a 24 GiB
// host: 10-90 ms); a sock_diag dump of listeners only costs microseconds.
// A netlink socket belongs to the namespace it was created in, so a short-lived
// thread enters the namespace (setns changes only the calling thread; needs
// CAP_SYS_ADMIN) and does the dump; this thread's namespace never changes.
Napi::Value CountListeners(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "countListeners(pid: number, port: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int pid = info[0].As<Napi::Number>().Int32Value();
  const int port = info[1].As<Napi::Number>().Int32Value();
  if (pid <= 0 || port < 0 || port > 65535) {
    Napi::RangeError::New(env, "countListeners: pid must be > 0 and port 0-65535").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  Fd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (ns.get() < 0) {
    ThrowSystemError(env, errno, "open", path, 0);
    return env.Undefined();
  }
  int err = 0;
  const char* failed = "";
  unsigned long count = 0;
  try {
    std::thread worker([&] {
      if (setns(ns.get(), CLONE_NEWNET) != 0) {
        err = errno;
        failed = "setns";
        return;
      }
      Fd nl(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
      if (nl.get() < 0) {
        err = errno;
        failed = "socket";
        return;
      }
      err = DumpListeners(nl.get(), AF_INET, static_cast<unsigned>(port), &count);
      if (err != 0) {
        failed = "sock_diag";
        return;
      }
      // A kernel without IPv6 has no tcp6 either: none there, as pause counts it.
      const int err6 = DumpListeners(nl.get(), AF_INET6, static_cast<unsigned>(port), &count);
      if (err6 != 0 && err6 != ENOENT && err6 != EAFNOSUPPORT) {
        err = err6;
        failed = "sock_diag";
      }
    });
    worker.join();
  } catch (const std::system_error& e) {
    err = e.code().value() ? e.code().value() : EAGAIN;
    failed = "pthread_create";
  }
  if (err != 0) {
    ThrowSystemError(env, err, failed, path, 0);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openListener", Napi::Function::New(env, OpenListener, "openListener"));
  exports.Set("countListeners", Napi::Function::New(env, CountListeners, "countListeners"));
  return exports;
}

}  // namespace

NODE_API_MODULE(reuseport, Init)
