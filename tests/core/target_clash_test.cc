// Two different functions registered under one target name (here: two
// files linked into this binary, each with MPROC_TARGET(clashing)) are an
// error naming both places — never a silent choice by link order.
#include <string.h>

#include <string>

#include "multiproc.h"
#include "tests/support/fork_support.h"

namespace {

class TargetClash : public mproc_test::Deadline {};

TEST_F(TargetClash, PoolNewRefusesAProgramWithAClashAndNamesBothPlaces) {
  mproc_pool_t* pool = nullptr;
  EXPECT_EQ(MPROC_EDUPTARGET, mproc_pool_new(&pool, nullptr));
  EXPECT_EQ(nullptr, pool);
  std::string why = mproc_last_error();
  EXPECT_NE(std::string::npos, why.find("'clashing'")) << why;
  EXPECT_NE(std::string::npos, why.find("target_clash_a.cc:4")) << why;
  EXPECT_NE(std::string::npos, why.find("target_clash_b.cc:4")) << why;
}

TEST_F(TargetClash, TheNameIsRefusedWhereverItIsUsed) {
  EXPECT_EQ(nullptr, mproc_target_find("clashing"));
  mproc_process_opts_t opts = {};
  opts.target_name = "clashing";
  mproc_process_t* p = nullptr;
  EXPECT_EQ(MPROC_EDUPTARGET, mproc_process_new(&p, &opts));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "registered twice"));
}

int One(mproc_call_t*) { return 0; }
int Two(mproc_call_t*) { return 0; }

TEST_F(TargetClash, RegisteringASecondFunctionUnderANameFails) {
  EXPECT_EQ(0, mproc_target_register_at("twice", One, "first.c:1"));
  EXPECT_EQ(0, mproc_target_register_at("twice", One, "first.c:1"))
      << "the same pair again is fine";
  EXPECT_EQ(MPROC_EDUPTARGET,
            mproc_target_register_at("twice", Two, "second.c:2"));
  EXPECT_STREQ("target 'twice' is registered twice, by two different "
               "functions: first.c:1 and second.c:2",
               mproc_last_error());
  EXPECT_EQ(nullptr, mproc_target_find("twice"));
  EXPECT_EQ(nullptr, mproc_target_name(One));
}

}  // namespace
