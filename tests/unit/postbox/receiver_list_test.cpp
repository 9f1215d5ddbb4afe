// The intrusive receiver list (c27, c30): order of joining, removal from anywhere.
#include <gtest/gtest.h>

#include "receiver_list.h"

namespace pbx::detail {
namespace {

struct Node {
  int id;
  IntrusiveList<Node>::Hook hook;
};

std::vector<int> ids(const IntrusiveList<Node>& l) {
  std::vector<int> v;
  for (Node* n = l.front(); n != nullptr; n = IntrusiveList<Node>::next(n)) v.push_back(n->id);
  return v;
}

TEST(ReceiverList, c27_KeepsJoinOrder_c30_RemovesFromAnywhere) {
  Node a{1, {}}, b{2, {}}, c{3, {}};
  IntrusiveList<Node> l;
  l.push_back(&b);
  l.push_back(&a);
  l.push_back(&c);
  EXPECT_EQ(ids(l), (std::vector<int>{2, 1, 3}));
  l.remove(&a);
  EXPECT_EQ(ids(l), (std::vector<int>{2, 3}));
  EXPECT_FALSE(a.hook.linked);
  l.push_back(&a);  // rejoins at the end
  l.remove(&b);
  EXPECT_EQ(ids(l), (std::vector<int>{3, 1}));
  l.remove(&a);
  l.remove(&c);
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.size(), 0u);
}

}  // namespace
}  // namespace pbx::detail
