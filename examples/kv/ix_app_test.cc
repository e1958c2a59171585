// Tests of the example apps' shared startup (ix_app.h): libix results in words, and OpenIx's
// message when the dataplane cannot be reached.
#include "examples/kv/ix_app.h"

#include <errno.h>

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, mode);
ABSL_DECLARE_FLAG(std::string, socket);

namespace ix::apps {
namespace {

TEST(IxAppTest, CommandErrorsAreInWordsWithTheNumber) {
  EXPECT_EQ(IxErrorText(-IX_EPERM), "the port belongs to another application (-6)");
  EXPECT_EQ(IxErrorText(-IX_EADDRINUSE), "port already in use (-7)");
  EXPECT_EQ(IxErrorText(-ECONNRESET), "the dataplane went away: Connection reset by peer (-104)");
  EXPECT_EQ(IxErrorText(-12345), "unknown ix error (-12345)");
  EXPECT_EQ(IxErrorText(INT64_MIN), "unknown ix error (-9223372036854775808)");
}

TEST(IxAppTest, UnreachableIxdIsReportedInWords) {
  absl::SetFlag(&FLAGS_mode, "ixd");
  absl::SetFlag(&FLAGS_socket, "/nonexistent/ix-app-test.sock");
  absl::StatusOr<IxApp> app = OpenIx("ix_app_test", 0);
  ASSERT_FALSE(app.ok());
  EXPECT_EQ(app.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(app.status().message(),
            "ix_init (ixd mode) failed: cannot reach ixd at /nonexistent/ix-app-test.sock: No "
            "such file or directory (-2)");
}

}  // namespace
}  // namespace ix::apps
