// The version is written once as numbers and once as a string in
// multiproc/version.h (the pkg-config file reads the string): they agree,
// and the library reports the version of the headers it was built with.
#include <gtest/gtest.h>

#include <string>

#include "multiproc.h"

TEST(Version, StringIsTheNumbers) {
  EXPECT_EQ(std::to_string(MPROC_VERSION_MAJOR) + "." +
                std::to_string(MPROC_VERSION_MINOR) + "." +
                std::to_string(MPROC_VERSION_PATCH),
            std::string(MPROC_VERSION_STRING));
}

TEST(Version, LibrarySaysTheHeadersVersion) {
  ASSERT_NE(nullptr, mproc_version());
  EXPECT_EQ(std::string(MPROC_VERSION_STRING), std::string(mproc_version()));
}
