// Tests for ix-load's flag pre-parse: dash spellings, unknown flags, bad values, bool forms.
#include "bench/load/cli.h"

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, test_count, 3, "test");
ABSL_FLAG(bool, test_on, false, "test");
ABSL_FLAG(absl::Duration, test_time, absl::Seconds(1), "test");

namespace ix::load {
namespace {

TEST(CliTest, AcceptsDashesAndUnderscores) {
  std::vector<std::string> a = {"prog", "--test-count=5", "--test_on", "-test-time", "2s"};
  ASSERT_TRUE(PreflightFlags(a).ok());
  EXPECT_EQ(a[1], "--test_count=5");
  EXPECT_EQ(a[2], "--test_on");
  EXPECT_EQ(a[3], "--test_time");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 5);
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_on));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_time), absl::Seconds(2));
  std::vector<std::string> b = {"prog", "--notest-on"};
  ASSERT_TRUE(PreflightFlags(b).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_on));
}

TEST(CliTest, RejectsUnknownBadAndPositional) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"prog", "--nope=1"}, "unknown flag --nope"},
           {{"prog", "--test_count=abc"}, "bad value 'abc' for --test_count"},
           {{"prog", "--test_time=fast"}, "bad value 'fast'"},
           {{"prog", "--test_count"}, "needs a value"},
           {{"prog", "--test_on=maybe"}, "bad value 'maybe'"},
           {{"prog", "--notest_on=1"}, "takes no value"},
           {{"prog", "stray"}, "unexpected argument 'stray'"},
           {{"prog", "--", "x"}, "unexpected argument 'x'"},
       }) {
    std::vector<std::string> a = c.args;
    const absl::Status s = PreflightFlags(a);
    EXPECT_FALSE(s.ok()) << c.args.back();
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
  std::vector<std::string> help = {"prog", "--help"};
  EXPECT_TRUE(PreflightFlags(help).ok());
}

}  // namespace
}  // namespace ix::load
