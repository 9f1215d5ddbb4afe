// The provider's queues (list.h): FIFO lists that move objects without allocating, and pools
// that hand objects out and back, with a limit or growing in chunks.
#include "list.h"

#include <gtest/gtest.h>

namespace pbx::fabric {
namespace {

struct Item {
  Item* prev = nullptr;
  Item* next = nullptr;
  uint32_t pool_index = 0;
  int v = 0;
};

TEST(List, KeepsFifoOrderAndRemovesFromTheMiddle) {
  Item a, b, c;
  a.v = 1;
  b.v = 2;
  c.v = 3;
  List<Item> l;
  l.push_back(&a);
  l.push_back(&b);
  l.push_back(&c);
  EXPECT_EQ(l.size(), 3u);
  l.remove(&b);
  EXPECT_EQ(l.pop_front()->v, 1);
  EXPECT_EQ(l.pop_front()->v, 3);
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.pop_front(), nullptr);
}

TEST(List, FindsTheFirstMatchInOrder) {
  Item x[4];
  List<Item> l;
  for (int i = 0; i < 4; ++i) {
    x[i].v = i % 2;
    l.push_back(&x[i]);
  }
  EXPECT_EQ(l.find([](const Item& i) { return i.v == 1; }), &x[1]);
  EXPECT_EQ(l.find([](const Item& i) { return i.v == 7; }), nullptr);
}

TEST(Pool, StopsAtItsLimitAndReusesObjects) {
  Pool<Item> p;
  p.init(2, 2);
  Item* a = p.get();
  Item* b = p.get();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(p.get(), nullptr) << "limit";
  EXPECT_EQ(p.in_use(), 2u);
  p.put(a);
  EXPECT_EQ(p.get(), a);
  EXPECT_EQ(p.at(a->pool_index), a);
  EXPECT_EQ(p.at(2), nullptr);
}

TEST(Pool, GrowsInChunksWithoutMovingObjects) {
  Pool<Item> p;
  p.init(1, 0);
  Item* first = p.get();
  ASSERT_NE(first, nullptr);
  first->v = 42;
  for (int i = 0; i < 100; ++i) ASSERT_NE(p.get(), nullptr);
  EXPECT_EQ(first->v, 42);
  EXPECT_EQ(p.at(first->pool_index), first);
}

}  // namespace
}  // namespace pbx::fabric
