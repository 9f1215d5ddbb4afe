// The node's links as clients see them: per peer either the scratchpad handshake (devices
// with scratchpads: the link is up once the peer's postboxd answered) or the device's own link
// state (loopback: already up). Published into the status page on every tick.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pbx/hal/postboxd/status_page.h"
#include "pbx/hal/device.h"
#include "pbx/hal/spad_handshake.h"

namespace pbx::postboxd {

using Log = std::function<void(const std::string&)>;

class LinkKeeper {
 public:
  // With `handshake`, every peer runs a SpadHandshake (checked here: the device needs its
  // scratchpads); without, the device's link state is published as it is.
  [[nodiscard]] static Result<std::unique_ptr<LinkKeeper>> create(hal::Device& dev, hal::postboxd::StatusPage& page,
                                                                  bool handshake, const hal::HandshakeOptions& hs,
                                                                  Clock& clock, Log log);
  // Steps every handshake (or reads every link), publishes, logs transitions and errors.
  void tick();
  // Clean shutdown: tells the peers (handshake) and publishes every link down.
  void leave();
  bool handshake() const noexcept { return !hs_.empty(); }

 private:
  LinkKeeper(hal::Device& dev, hal::postboxd::StatusPage& page, Log log) : dev_(dev), page_(page), log_(std::move(log)) {}
  void publish(uint16_t k, bool up, uint32_t generation);

  hal::Device& dev_;
  hal::postboxd::StatusPage& page_;
  Log log_;
  std::vector<std::unique_ptr<hal::SpadHandshake>> hs_;  // by node; null for self
  std::vector<hal::LinkStatus> published_;
  std::vector<uint32_t> device_generation_;              // without handshake: last seen
};

}  // namespace pbx::postboxd
