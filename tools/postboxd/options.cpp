#include "options.h"

#include <cerrno>
#include <cstdlib>

namespace pbx::postboxd {

const char* const kUsage =
    "usage: postboxd --device SPEC [options]\n"
    "Owns this node's postbox device and serves the node's processes over a Unix socket.\n"
    "\n"
    "  -d, --device SPEC            loopback:JOB:NODE       node NODE of a loopback job (pbx::hal::LoopbackJob)\n"
    "                               ivshmem:BDF[,nodes=N][,window=BYTES]\n"
    "                                                       QEMU ivshmem at BDF through VFIO, N nodes (default 2)\n"
    "                               ntb:BDF[,window=BYTES]  Intel Xeon NTB at BDF through VFIO (two hosts back to\n"
    "                                                       back, the USD side is node 0); window: a power of two\n"
    "                                                       up to BAR2's size (default), the same on both hosts\n"
    "                               (BDF as lspci -D prints it; BYTES such as 1048576, 0x100000 or 1M)\n"
    "  -s, --socket PATH            where clients connect (default /run/postbox/postboxd.sock)\n"
    "  -g, --group NAME             who may connect besides root (default postbox)\n"
    "  -f, --foreground             stay in the foreground (systemd, tests); else detach once ready\n"
    "      --handshake auto|on|off  scratchpad link handshake with the other nodes' postboxd\n"
    "                               (auto: on for ivshmem; off for loopback, whose links are up,\n"
    "                               and for ntb, which brings its link up itself; on is refused there)\n"
    "      --handshake-timeout MS   report a node whose postboxd has not answered by then (default 30000)\n"
    "      --tick MS                how often link state is checked (default 10)\n"
    "  -h, --help                   this text\n"
    "\n"
    "Clients: PBX_BACKEND=postboxd [PBX_POSTBOXD_SOCKET=PATH] with PBX_NODES, PBX_PROCS_PER_NODE,\n"
    "PBX_NODE (this node's index) and PBX_LOCAL, then pbx::Endpoint::from_env().\n"
    "Exit status: 0 after SIGTERM/SIGINT, 1 on a failure, 2 on a usage error.\n";

namespace {

constexpr const char* kOwnedForms = "loopback:JOB:NODE, ivshmem:BDF[,nodes=N][,window=BYTES] or ntb:BDF[,window=BYTES]";

Result<uint64_t> number(const std::string& text, const char* what, uint64_t lo, uint64_t hi) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 0);
  if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-' || v < lo || v > hi)
    return fail(Errc::kInvalidArgument, "%s '%s' is invalid: use a number in %llu..%llu", what, text.c_str(),
                static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi));
  return v;
}

}  // namespace

Result<hal::DeviceSpec> parse_device(const std::string& text) {
  auto d = hal::parse_device_spec(text);
  if (!d) return tl::unexpected(with_context(d.error(), "--device"));
  if (d->kind == hal::DeviceSpec::Kind::kPostboxd)
    return fail(Errc::kInvalidArgument,
                "--device '%s': postboxd owns a device itself; give it %s (clients use PBX_BACKEND=postboxd)",
                text.c_str(), kOwnedForms);
  return d;
}

Result<Options> parse_args(const std::vector<std::string>& args) {
  Options o;
  bool have_device = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i], value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    }
    auto arg = [&]() -> Result<std::string> {
      if (has_inline) return value;
      if (i + 1 >= args.size()) return fail(Errc::kInvalidArgument, "%s needs a value", a.c_str());
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "-f" || a == "--foreground") {
      o.foreground = true;
    } else if (a == "-d" || a == "--device") {
      auto v = arg();
      if (!v) return tl::unexpected(v.error());
      auto d = parse_device(*v);
      if (!d) return tl::unexpected(d.error());
      o.device = *d;
      have_device = true;
    } else if (a == "-s" || a == "--socket") {
      auto v = arg();
      if (!v) return tl::unexpected(v.error());
      if (v->empty() || v->size() > 100)
        return fail(Errc::kInvalidArgument, "--socket '%s': use a path of 1..100 characters", v->c_str());
      o.socket = *v;
    } else if (a == "-g" || a == "--group") {
      auto v = arg();
      if (!v) return tl::unexpected(v.error());
      o.group = *v;
    } else if (a == "--handshake") {
      auto v = arg();
      if (!v) return tl::unexpected(v.error());
      if (*v == "auto") o.handshake = HandshakeMode::kAuto;
      else if (*v == "on") o.handshake = HandshakeMode::kOn;
      else if (*v == "off") o.handshake = HandshakeMode::kOff;
      else return fail(Errc::kInvalidArgument, "--handshake '%s': use auto, on or off", v->c_str());
    } else if (a == "--handshake-timeout") {
      auto v = arg();
      if (!v) return tl::unexpected(v.error());
      auto n = number(*v, "--handshake-timeout", 1, 86'400'000);
      if (!n) return tl::unexpected(n.error());
      o.handshake_timeout_ms = *n;
    } else if (a == "--tick") {
      auto v = arg();
      if (!v) return tl::unexpected(v.error());
      auto n = number(*v, "--tick", 1, 10'000);
      if (!n) return tl::unexpected(n.error());
      o.tick_ms = static_cast<uint32_t>(*n);
    } else {
      return fail(Errc::kInvalidArgument, "unknown argument '%s'", args[i].c_str());
    }
  }
  if (!have_device && !o.help)
    return fail(Errc::kInvalidArgument, "--device is required (%s)", kOwnedForms);
  if (have_device && o.handshake == HandshakeMode::kOn && o.device.is_ntb())
    return fail(Errc::kInvalidArgument,
                "--handshake on: an NTB device brings its link up itself (Intel: scratchpads 12..15, AMD: 4..7, "
                "Switchtec: the control pages of its windows); leave --handshake at auto or off");
  return o;
}

}  // namespace pbx::postboxd
