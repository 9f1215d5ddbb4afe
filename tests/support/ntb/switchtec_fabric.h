// A Switchtec switch model with one HAL port per NT partition and a data path made of real
// mappings: each host's window BAR is address space in this process whose LUT windows are
// mapped onto the memory the target host DMA-mapped, as the switch would forward the stores,
// and re-mapped whenever a configuration is accepted or memory comes and goes (the model's
// on_change). So the HAL backend and libpostbox over it store through plain pointers, from any
// thread, and land in the right host's memory. A test tool, never the product.
//
//   SwitchtecFabric f(SwitchtecFabric::mesh(4));
//   auto a = SwitchtecNtbDevice::attach(f.port(0), opts);   // the host of partition 0
//   ...
//   EXPECT_THAT(f.model().violations(), IsEmpty());
//
// What is not routed: a store into a LUT window that is off or leads to memory nobody mapped
// lands in scratch memory of this host (as the switch drops it, or the IOMMU refuses it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "pbx/hal/switchtec_ntb.h"
#include "support/fake_clock.h"
#include "support/fake_pacer.h"
#include "support/ntb/switchtec_model.h"

namespace pbx::test {

class SwitchtecFabric {
 public:
  // n NT partitions, each targeting all the others, with `lut_entries` LUT entries and a BAR2
  // large enough for them.
  static SwitchtecModelSpec mesh(unsigned n, uint16_t lut_entries = 128);

  explicit SwitchtecFabric(SwitchtecModelSpec spec);
  ~SwitchtecFabric();
  SwitchtecFabric(const SwitchtecFabric&) = delete;
  SwitchtecFabric& operator=(const SwitchtecFabric&) = delete;

  SwitchtecModel& model() noexcept { return model_; }

  struct Host {
    unsigned partition = 0;
    bool enabled = false;                      // enable_device() was called
    std::map<uint64_t, std::span<std::byte>> dma;  // what it DMA-mapped, by IOVA
    std::vector<uint64_t> unmapped;            // IOVAs unmapped, in order
    uint16_t vectors = 0;                      // what enable_vectors() grants (0: none)
    struct Bar {
      std::byte* base = nullptr;
      size_t size = 0;
      std::vector<std::byte*> routed;          // per LUT window: where it leads (nullptr: scratch)
      uint64_t lut_size = 0;
      int file = -1;                           // a memfd of the BAR's size, for window_file()
    };
    std::map<unsigned, Bar> bars;              // mapped window BARs
  };
  Host& host(unsigned partition) { return *hosts_.at(partition); }

  // A port for the host of `partition` (a new one each time: a host that restarts takes another).
  std::unique_ptr<hal::SwitchtecNtbPort> port(unsigned partition);

 private:
  class Port;
  void route();  // with the model's lock held
  void route_bar(Host& h, unsigned bar, Host::Bar& b);

  SwitchtecModel model_;
  std::vector<std::unique_ptr<Host>> hosts_;
  FakeClock clock_;   // the model's attach parameters need one; the backend brings its own
  FakePacer pacer_{clock_};
};

}  // namespace pbx::test
