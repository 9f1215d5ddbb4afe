// The public C++ API: thin forwarding to EndpointImpl, joining from the environment.
#include <time.h>

#include <cstdlib>
#include <string>

#include "endpoint_impl.h"
#include "job_env.h"
#include "launcher_pmix.h"
#include "pbx/hal/postboxd/protocol.h"
#include "pbx/hal/factory.h"

namespace pbx {

using detail::EndpointImpl;

EndpointImpl& detail::impl_of(Endpoint& ep) noexcept { return *ep.impl_; }

// ---- MessageView -----------------------------------------------------------------------

MessageView::MessageView(MessageView&& o) noexcept { *this = std::move(o); }

MessageView& MessageView::operator=(MessageView&& o) noexcept {
  if (this == &o) return *this;
  if (owner_ != nullptr) owner_->release(*this);
  owner_ = std::exchange(o.owner_, nullptr);
  size_ = o.size_;
  source_ = o.source_;
  tag_ = o.tag_;
  channel_ = o.channel_;
  seq_ = o.seq_;
  slots_ = o.slots_;
  sender_ = o.sender_;
  held_ = std::exchange(o.held_, nullptr);
  if (o.ptr_ == o.inline_) {  // an inline message lives inside the view: move the bytes
    std::memcpy(inline_, o.inline_, size_);
    ptr_ = inline_;
  } else {
    ptr_ = o.ptr_;
  }
  o.ptr_ = nullptr;
  o.size_ = 0;
  return *this;
}

MessageView::~MessageView() {
  if (owner_ != nullptr) owner_->release(*this);
}

// ---- Endpoint ----------------------------------------------------------------------------

Endpoint::Endpoint(std::unique_ptr<EndpointImpl> impl) noexcept : impl_(std::move(impl)) {}
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;
Endpoint::~Endpoint() = default;

Result<Endpoint> Endpoint::create(std::unique_ptr<hal::Device> device, const JobShape& shape, Rank self,
                                  const Config& cfg) {
  try {
    auto impl = EndpointImpl::create(std::move(device), shape, self, cfg);
    if (!impl) return tl::unexpected(impl.error());
    return Endpoint(std::move(*impl));
  } catch (const std::bad_alloc&) {
    return fail(Errc::kNoMemory, "Endpoint::create: out of memory for the endpoint's bookkeeping");
  }
}

namespace {

// PBX_BACKEND=postboxd: the node's device through its node manager. Waits (up to timeout_ms)
// until the daemon has brought every link up: its handshake with the other nodes' daemons may
// still be running when the job starts.
Result<std::unique_ptr<hal::Device>> open_postboxd(Rank self, uint32_t timeout_ms) {
  const char* sock = std::getenv("PBX_POSTBOXD_SOCKET");
  const hal::DeviceSpec spec = hal::postboxd_spec(sock != nullptr ? sock : "");
  const std::string& path = spec.socket;
  auto dev = hal::open_device(spec);
  if (!dev) return tl::unexpected(dev.error());
  const hal::DeviceInfo& info = (*dev)->info();
  if (info.self.v != self.node)
    return fail(Errc::kInvalidArgument,
                "PBX_NODE = %u but postboxd at %s serves node %u: set PBX_NODE=%u, or point PBX_POSTBOXD_SOCKET at "
                "the daemon of node %u",
                self.node, path.c_str(), info.self.v, info.self.v, self.node);
  const uint64_t deadline = now_ns() + uint64_t{timeout_ms} * 1'000'000;
  for (uint16_t k = 0; k < info.node_count; ++k) {
    while (!(*dev)->link_status(hal::NodeIdx(k)).up) {
      if (now_ns() >= deadline)
        return fail(Errc::kLinkDown,
                    "the link to node %u is still down after %u ms: postboxd at %s has not completed its handshake "
                    "with node %u (is postboxd running there? its log says why) (Config::timeout_ms sets the wait)",
                    k, timeout_ms, path.c_str(), k);
      const timespec nap{0, 100'000};  // control path: a daemon's handshake takes a few of its ticks
      ::nanosleep(&nap, nullptr);
    }
  }
  return std::unique_ptr<hal::Device>(std::move(*dev));
}

// PBX_BACKEND=ivshmem|ntb: this process opens its node's device itself (one process per node).
Result<Endpoint> join_own_device(const std::string& backend, const Config& base) {
  auto env = detail::device_job_env(backend);
  if (!env) return tl::unexpected(env.error());
  auto spec = detail::device_spec_from_env(*env);
  if (!spec) return tl::unexpected(spec.error());
  auto cfg = Config::from_env(base);
  if (!cfg) return tl::unexpected(cfg.error());
  auto dev = hal::open_device(*spec);
  if (!dev)
    return tl::unexpected(with_context(dev.error(), "PBX_BACKEND=" + backend + " PBX_DEVICE=" + env->device));
  auto shape = detail::shape_on_device((*dev)->info(), *env);
  if (!shape) return tl::unexpected(shape.error());
  return Endpoint::create(std::move(*dev), shape->first, shape->second, *cfg);
}

}  // namespace

Result<Endpoint> Endpoint::from_env(const Config& base) {
  const char* backend_env = std::getenv("PBX_BACKEND");
  const std::string backend = (backend_env != nullptr && *backend_env != '\0') ? backend_env : "loopback";
  if (backend == "ivshmem" || backend == "ntb") return join_own_device(backend, base);
  if (backend != "loopback" && backend != "postboxd")
    return fail(Errc::kNotSupported,
                "PBX_BACKEND = '%s' is not supported by Endpoint::from_env: use 'loopback' (pbxrun), 'postboxd' (the "
                "node manager), 'ivshmem' or 'ntb' with PBX_DEVICE=<BDF> (this process opens the device), or open the "
                "device yourself and call Endpoint::create",
                backend.c_str());
  // Started by mpirun or srun --mpi=pmix rather than pbxrun: identity (and the loopback job) from PMIx.
  std::optional<detail::LauncherJob> pmix;
  if (detail::pmix_launched()) {
    auto j = detail::join_pmix_job(backend, base);
    if (!j) return tl::unexpected(j.error());
    pmix = std::move(*j);
  }
  const char* job = pmix ? pmix->loopback_job.c_str() : std::getenv("PBX_JOB");
  if (backend == "loopback" && (job == nullptr || *job == '\0')) return tl::unexpected(detail::missing_env("PBX_JOB"));
  auto shape = pmix ? Result<std::pair<JobShape, Rank>>(std::pair{pmix->shape, pmix->self}) : detail::shape_from_env();
  if (!shape) return tl::unexpected(shape.error());
  auto [js, self] = *shape;
  auto cfg = Config::from_env(base);
  if (!cfg) return tl::unexpected(cfg.error());
  if (backend == "postboxd") {
    auto dev = open_postboxd(self, cfg->timeout_ms);
    if (!dev) return tl::unexpected(dev.error());
    return create(std::move(*dev), js, self, *cfg);
  }
  auto dev = hal::open_device(hal::loopback_spec(job, self.node));
  if (!dev) return tl::unexpected(dev.error());
  return create(std::move(*dev), js, self, *cfg);
}

Rank Endpoint::self() const noexcept { return impl_->self(); }
uint32_t Endpoint::rank() const noexcept { return impl_->shape().flat(impl_->self()); }
const JobShape& Endpoint::shape() const noexcept { return impl_->shape(); }
const Config& Endpoint::config() const noexcept { return impl_->config(); }

Result<void> Endpoint::send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  return impl_->send(dst, msg, tag);
}
Result<void> Endpoint::try_send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  return impl_->try_send(dst, msg, tag);
}
Result<SendHandle> Endpoint::isend(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  return impl_->isend(dst, msg, tag);
}
Result<bool> Endpoint::test(SendHandle h) noexcept { return impl_->test(h); }
Result<void> Endpoint::wait(SendHandle h) noexcept { return impl_->wait(h); }
std::optional<LostMessages> Endpoint::take_lost() noexcept { return impl_->take_lost(); }
uint64_t Endpoint::messages_sent(Rank dst) const noexcept {
  return impl_->shape().contains(dst) ? impl_->messages_sent(dst) : 0;
}

Result<RecvInfo> Endpoint::recv(std::span<std::byte> buf, Rank src) noexcept { return impl_->recv(buf, src, true); }
Result<RecvInfo> Endpoint::try_recv(std::span<std::byte> buf, Rank src) noexcept {
  return impl_->recv(buf, src, false);
}
Result<RecvInfo> Endpoint::probe(Rank src) noexcept { return impl_->probe(src); }
Result<MessageView> Endpoint::try_recv_view(Rank src) noexcept { return impl_->recv_view(src, false); }
Result<MessageView> Endpoint::recv_view(Rank src) noexcept { return impl_->recv_view(src, true); }
void Endpoint::release(MessageView& view) noexcept { impl_->release(view); }

int Endpoint::progress() noexcept { return impl_->progress(); }
const Stats& Endpoint::stats() const noexcept { return impl_->stats(); }
Result<void> Endpoint::close() noexcept { return impl_->close(); }

}  // namespace pbx
