#include <gtest/gtest.h>
TEST(SlurmCluster, Placeholder) {}
