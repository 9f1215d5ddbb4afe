// fi_getinfo's checks (info.h): what the provider offers, which hints it refuses (and says
// why), and how it fits the offer to hints, as libfabric's own providers do.
#include "info.h"

#include <gtest/gtest.h>
#include <rdma/fi_domain.h>

#include <memory>
#include <string>

namespace pbx::fabric {
namespace {

struct InfoDeleter {
  void operator()(fi_info* i) const { fi_freeinfo(i); }
};
using InfoPtr = std::unique_ptr<fi_info, InfoDeleter>;

Identity test_identity() {
  Identity id;
  id.in_job = true;
  id.job_name = "test";
  id.job = 42;
  id.rank = 1;
  id.size = 2;
  return id;
}

class Hints : public ::testing::Test {
 protected:
  InfoPtr offer{provider_info(test_identity())};
  InfoPtr hints{fi_allocinfo()};
  std::string why;
  int check(uint32_t api = FI_VERSION(1, 17)) { return check_hints(*offer, hints.get(), api, why); }
};

TEST_F(Hints, OffersRdmWithMsgTaggedAndWhatOpenMpiNeeds) {
  EXPECT_EQ(offer->ep_attr->type, FI_EP_RDM);
  const uint64_t ompi = FI_TAGGED | FI_LOCAL_COMM | FI_REMOTE_COMM | FI_DIRECTED_RECV;
  EXPECT_EQ(offer->caps & ompi, ompi);
  EXPECT_EQ(offer->caps & (FI_RMA | FI_ATOMIC), 0u) << "no one-sided operations yet: not in caps";
  EXPECT_EQ(offer->domain_attr->cq_data_size, 4u);
  EXPECT_EQ(offer->domain_attr->mr_mode, 0) << "no memory registration needed";
  EXPECT_EQ(offer->domain_attr->data_progress, FI_PROGRESS_MANUAL);
  EXPECT_EQ(offer->domain_attr->resource_mgmt, FI_RM_ENABLED);
  EXPECT_EQ(offer->src_addrlen, 16u);
}

TEST_F(Hints, AcceptsOpenMpisMtlHints) {  // ompi/mca/mtl/ofi/mtl_ofi_component.c, 4.1
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->ep_attr->type = FI_EP_RDM;
  hints->caps = FI_TAGGED | FI_LOCAL_COMM | FI_REMOTE_COMM | FI_DIRECTED_RECV;
  hints->tx_attr->msg_order = FI_ORDER_SAS;
  hints->rx_attr->msg_order = FI_ORDER_SAS;
  hints->rx_attr->op_flags = FI_COMPLETION;
  hints->tx_attr->op_flags = FI_COMPLETION;
  hints->domain_attr->threading = FI_THREAD_DOMAIN;
  hints->domain_attr->cq_data_size = 4;
  hints->domain_attr->av_type = FI_AV_MAP;
  hints->domain_attr->resource_mgmt = FI_RM_ENABLED;
  EXPECT_EQ(check(FI_VERSION(1, 5)), 0) << why;
}

TEST_F(Hints, RefusesWhatItLacksAndSaysWhat) {
  hints->caps = FI_RMA;
  EXPECT_EQ(check(), -FI_ENODATA);
  EXPECT_NE(why.find("FI_RMA"), std::string::npos) << why;
  hints.reset(fi_allocinfo());
  hints->ep_attr->type = FI_EP_MSG;
  EXPECT_EQ(check(), -FI_ENODATA);
  hints.reset(fi_allocinfo());
  hints->domain_attr->data_progress = FI_PROGRESS_AUTO;
  EXPECT_EQ(check(), -FI_ENODATA);
  hints.reset(fi_allocinfo());
  hints->domain_attr->threading = FI_THREAD_SAFE;
  EXPECT_EQ(check(), -FI_ENODATA);
  hints.reset(fi_allocinfo());
  hints->domain_attr->cq_data_size = 8;
  EXPECT_EQ(check(), -FI_ENODATA);
  hints.reset(fi_allocinfo());
  hints->domain_attr->mr_mode = FI_MR_BASIC;
  EXPECT_EQ(check(), -FI_ENODATA);
  hints.reset(fi_allocinfo());
  hints->tx_attr->inject_size = 1 << 20;
  EXPECT_EQ(check(), -FI_ENODATA);
  hints.reset(fi_allocinfo());
  hints->addr_format = FI_SOCKADDR_IN;
  EXPECT_EQ(check(), -FI_ENODATA);
}

TEST_F(Hints, AcceptsEveryMrModeBitWithoutRequiringOne) {
  hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
  EXPECT_EQ(check(), 0) << why;
}

TEST_F(Hints, FitsCapsToTheRequest) {
  hints->caps = FI_MSG;
  ASSERT_EQ(check(), 0) << why;
  fit_to_hints(*offer, hints.get(), FI_VERSION(1, 17));
  EXPECT_TRUE(offer->caps & FI_MSG);
  EXPECT_FALSE(offer->caps & FI_TAGGED) << "primary caps only as requested";
  EXPECT_FALSE(offer->caps & FI_DIRECTED_RECV);
  EXPECT_EQ(offer->caps & (FI_SEND | FI_RECV), FI_SEND | FI_RECV) << "both directions when none was named";
  EXPECT_TRUE(offer->caps & FI_REMOTE_COMM) << "secondary caps come along";
}

TEST_F(Hints, DomainNameMustBePostbox) {
  hints->domain_attr->name = strdup("mlx5_0");
  EXPECT_EQ(check(), -FI_ENODATA);
}

}  // namespace
}  // namespace pbx::fabric
