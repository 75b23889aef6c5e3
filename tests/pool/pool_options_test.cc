// PoolOptions validation, both through ValidatePoolOptions and the ChannelPool constructor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <thriftpool/pool_options.h>

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

using ::testing::HasSubstr;

class PoolOptionsTest : public PoolTest {};

struct OptionsCase {
  std::string name;                          // test name suffix
  std::function<void(PoolOptions&)> change;  // applied to the default options
  std::string field;                         // what the error must name ("" if none)
};

void PrintTo(const OptionsCase& c, std::ostream* out) { *out << c.name; }

std::string CaseName(const ::testing::TestParamInfo<OptionsCase>& info) { return info.param.name; }

class BadOptionsTest : public PoolTest, public ::testing::WithParamInterface<OptionsCase> {
 protected:
  PoolOptions Spoiled() const {
    PoolOptions options;
    GetParam().change(options);
    return options;
  }
};

TEST_P(BadOptionsTest, ValidateThrowsNamingTheField) {
  try {
    ValidatePoolOptions(Spoiled());
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr(GetParam().field));
  }
}

TEST_P(BadOptionsTest, ConstructorThrowsNamingTheFieldBeforeCreatingAnything) {
  PoolOptions options = Spoiled();
  try {
    FakePool pool(options, registry_->Factory(), registry_->Closer());
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr(GetParam().field));
  }
  EXPECT_EQ(registry_->factory_calls(), 0);
}

const Ms kNegative{-1};

INSTANTIATE_TEST_SUITE_P(
    AllFields, BadOptionsTest,
    ::testing::Values(
        OptionsCase{"MaxCapZero",
                    [](PoolOptions& o) {
                      o.max_cap = 0;
                      o.max_idle = 0;
                    },
                    "max_cap"},
        OptionsCase{"InitialCapAboveMaxIdle",
                    [](PoolOptions& o) {
                      o.initial_cap = 3;
                      o.max_idle = 2;
                    },
                    "initial_cap"},
        OptionsCase{"MaxIdleAboveMaxCap", [](PoolOptions& o) { o.max_idle = o.max_cap + 1; },
                    "max_idle"},
        OptionsCase{"MinIdleAboveMaxIdle",
                    [](PoolOptions& o) {
                      o.min_idle = 3;
                      o.max_idle = 2;
                    },
                    "min_idle"},
        OptionsCase{"NegativeIdleTimeout", [](PoolOptions& o) { o.idle_timeout = kNegative; },
                    "idle_timeout"},
        OptionsCase{"NegativeMaxLifetime", [](PoolOptions& o) { o.max_lifetime = kNegative; },
                    "max_lifetime"},
        OptionsCase{"NegativeWaitTimeout", [](PoolOptions& o) { o.wait_timeout = kNegative; },
                    "wait_timeout"},
        OptionsCase{"NegativeKeepaliveInterval",
                    [](PoolOptions& o) { o.keepalive_interval = kNegative; }, "keepalive_interval"},
        OptionsCase{"NegativePingSkipWindow",
                    [](PoolOptions& o) { o.ping_skip_window = kNegative; }, "ping_skip_window"},
        OptionsCase{"NegativeHandOffAfter",
                    [](PoolOptions& o) { o.hand_off_after = std::chrono::microseconds(-1); },
                    "hand_off_after"},
        OptionsCase{"JitterBelowZero", [](PoolOptions& o) { o.lifetime_jitter = -0.01; },
                    "lifetime_jitter"},
        OptionsCase{"JitterAboveHalf", [](PoolOptions& o) { o.lifetime_jitter = 0.51; },
                    "lifetime_jitter"},
        OptionsCase{"NegativeLeakDetectionThreshold",
                    [](PoolOptions& o) { o.leak_detection_threshold = Ms(-1); },
                    "leak_detection_threshold"},
        OptionsCase{"MetricsEndpointWithoutName",
                    [](PoolOptions& o) { o.metrics_endpoint = "127.0.0.1:9090"; },
                    "metrics_endpoint"},
        OptionsCase{
            "JitterNaN",
            [](PoolOptions& o) { o.lifetime_jitter = std::numeric_limits<double>::quiet_NaN(); },
            "lifetime_jitter"}),
    CaseName);

class GoodOptionsTest : public PoolTest, public ::testing::WithParamInterface<OptionsCase> {};

TEST_P(GoodOptionsTest, ValidateAndConstructorAccept) {
  PoolOptions options;
  GetParam().change(options);
  EXPECT_NO_THROW(ValidatePoolOptions(options));
  FakePool& pool = MakePool(options);
  EXPECT_EQ(pool.options().max_cap, options.max_cap);
}

INSTANTIATE_TEST_SUITE_P(
    Boundaries, GoodOptionsTest,
    ::testing::Values(
        OptionsCase{"Defaults", [](PoolOptions&) {}, ""},
        OptionsCase{"AllCapsOne",
                    [](PoolOptions& o) {
                      o.max_cap = 1;
                      o.max_idle = 1;
                      o.initial_cap = 1;
                    },
                    ""},
        OptionsCase{"MaxIdleZero", [](PoolOptions& o) { o.max_idle = 0; }, ""},
        OptionsCase{"MinIdleAtMaxIdle", [](PoolOptions& o) { o.min_idle = o.max_idle; }, ""},
        OptionsCase{"JitterZero", [](PoolOptions& o) { o.lifetime_jitter = 0.0; }, ""},
        OptionsCase{"JitterHalf", [](PoolOptions& o) { o.lifetime_jitter = 0.5; }, ""},
        OptionsCase{"WaitTimeoutZero", [](PoolOptions& o) { o.wait_timeout = Ms(0); }, ""},
        OptionsCase{"HandOffAfterZero",
                    [](PoolOptions& o) { o.hand_off_after = std::chrono::microseconds(0); }, ""},
        OptionsCase{"LeakDetectionThresholdOneMs",
                    [](PoolOptions& o) { o.leak_detection_threshold = Ms(1); }, ""},
        OptionsCase{"EveryDurationAtItsLargest",
                    [](PoolOptions& o) {
                      o.idle_timeout = o.max_lifetime = o.wait_timeout = Ms::max();
                      o.keepalive_interval = o.ping_skip_window = Ms::max();
                      o.leak_detection_threshold = Ms::max();
                      o.hand_off_after = std::chrono::microseconds::max();
                    },
                    ""}),
    CaseName);

TEST_F(PoolOptionsTest, ConstructorRequiresFactory) {
  try {
    FakePool pool(PoolOptions{}, nullptr, registry_->Closer());
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("factory"));
  }
}

TEST_F(PoolOptionsTest, ConstructorRequiresCloser) {
  PoolOptions options;
  options.initial_cap = 1;
  try {
    FakePool pool(options, registry_->Factory(), nullptr);
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("closer"));
  }
  EXPECT_EQ(registry_->factory_calls(), 0);
}

TEST_F(PoolOptionsTest, PingerIsOptional) {
  FakePool& pool = MakePool(Caps(1, 1), Pingers::kNone);
  { FakeLease lease = pool.Get(); }
  FakeLease again = pool.Get(Ms(0));
  EXPECT_EQ(again->id(), 1);
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
