// One parser serves Trainer(max_time=...) and Timer(duration=...): the two must accept and
// reject the same strings, and each error names its own option.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "trainer/callbacks/timer.h"
#include "trainer/duration.h"
#include "trainer/trainer.h"

namespace ember {
namespace {

TEST(Duration, ParsesDaysHoursMinutesSeconds) {
  EXPECT_DOUBLE_EQ(parse_dd_hh_mm_ss("00:00:00:00", "op", "opt"), 0.0);
  EXPECT_DOUBLE_EQ(parse_dd_hh_mm_ss("02:03:04:05", "op", "opt"),
                   2 * 86400.0 + 3 * 3600.0 + 4 * 60.0 + 5);
  // Fields are not bounded by their unit, as Lightning's (timedelta adds them up).
  EXPECT_DOUBLE_EQ(parse_dd_hh_mm_ss("0:0:90:75", "op", "opt"), 90 * 60.0 + 75);
  EXPECT_DOUBLE_EQ(parse_dd_hh_mm_ss("0:0:0:999999999", "op", "opt"), 999999999.0);
}

TEST(Duration, MaxTimeAndTimerAgreeOnEveryString) {
  for (const char* good : {"01:02:03:04", "0:0:0:1", "10:00:00:00", "00:23:59:59"}) {
    EXPECT_DOUBLE_EQ(MaxTime(good).duration.count(), TimerDuration(good).seconds.count()) << good;
  }
  for (const char* bad : {"", "12:00", "1:2:3", "1:2:3:4:5", "00:00::00", "00:00:00:", ":00:00:00",
                          "00:00:00:-1", "-1:00:00:00", "+1:00:00:00", " 1:00:00:00",
                          "00:00:00:01x", "00:00:00:0x", "0:0:0:1234567890"}) {
    EXPECT_THROW(MaxTime{bad}, ValueError) << bad;
    EXPECT_THROW(TimerDuration{bad}, ValueError) << bad;
  }
}

TEST(Duration, ErrorsNameTheOptionAndQuoteTheText) {
  try {
    MaxTime m("1:2:3");
    FAIL() << "accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("max_time"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"1:2:3\""), std::string::npos) << e.what();
  }
  try {
    TimerDuration d("1:2:3");
    FAIL() << "accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("Timer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("duration"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TimerDuration(static_cast<const char*>(nullptr)), ValueError);
}

}  // namespace
}  // namespace ember
