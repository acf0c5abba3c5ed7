// format_number against Python's format(value, spec): every expected string below is what
// CPython 3 prints for the same value and spec.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/error.h"
#include "trainer/callbacks/format_spec.h"

using ember::format_number;

TEST(FormatSpec, IntegersAsPython) {
  EXPECT_EQ(format_number(int64_t{3}, "02d"), "03");
  EXPECT_EQ(format_number(int64_t{3}, ""), "3");
  EXPECT_EQ(format_number(int64_t{123}, "02d"), "123");  // width is a minimum
  EXPECT_EQ(format_number(int64_t{-3}, "05d"), "-0003");
  EXPECT_EQ(format_number(int64_t{5}, "^4"), " 5  ");
  EXPECT_EQ(format_number(int64_t{5}, "*<4"), "5***");
  EXPECT_EQ(format_number(int64_t{7}, "+d"), "+7");
  EXPECT_EQ(format_number(std::numeric_limits<int64_t>::min(), "d"), "-9223372036854775808");
  // The float types convert the integer.
  EXPECT_EQ(format_number(int64_t{3}, ".2f"), "3.00");
  EXPECT_EQ(format_number(int64_t{3}, "e"), "3.000000e+00");
  EXPECT_EQ(format_number(int64_t{255}, "g"), "255");
}

TEST(FormatSpec, FixedExponentGeneralAndPercent) {
  EXPECT_EQ(format_number(0.123456, ".3f"), "0.123");
  EXPECT_EQ(format_number(2.5, ".0f"), "2");  // round half to even, as Python
  EXPECT_EQ(format_number(1.12, "02.0f"), "01");
  EXPECT_EQ(format_number(-1.5, "08.2f"), "-0001.50");
  EXPECT_EQ(format_number(-1.5, "=+8.2f"), "-   1.50");
  EXPECT_EQ(format_number(1.5, " .1f"), " 1.5");
  EXPECT_EQ(format_number(3.14159, "x^10.2f"), "xxx3.14xxx");
  EXPECT_EQ(format_number(12345.678, ".3e"), "1.235e+04");
  EXPECT_EQ(format_number(12345.678, "E"), "1.234568E+04");
  EXPECT_EQ(format_number(0.000123456, "g"), "0.000123456");
  EXPECT_EQ(format_number(123456789.0, "g"), "1.23457e+08");
  EXPECT_EQ(format_number(1.0, "g"), "1");
  EXPECT_EQ(format_number(-0.0, "g"), "-0");
  EXPECT_EQ(format_number(1e-7, ".3g"), "1e-07");
  EXPECT_EQ(format_number(123.0, ".2g"), "1.2e+02");
  EXPECT_EQ(format_number(0.5, "%"), "50.000000%");
  EXPECT_EQ(format_number(0.5, ".1%"), "50.0%");
  EXPECT_EQ(format_number(1e300, ".1f").size(), 303u);  // 301 digits, '.', 1 digit
}

TEST(FormatSpec, NoTypeIsReprOrGWithDotZero) {
  EXPECT_EQ(format_number(0.123456, ""), "0.123456");
  EXPECT_EQ(format_number(1.0, ""), "1.0");
  EXPECT_EQ(format_number(1e-5, ""), "1e-05");
  EXPECT_EQ(format_number(0.0001, ""), "0.0001");
  EXPECT_EQ(format_number(1e16, ""), "1e+16");
  EXPECT_EQ(format_number(1e15, ""), "1000000000000000.0");
  EXPECT_EQ(format_number(0.1 + 0.2, ""), "0.30000000000000004");
  EXPECT_EQ(format_number(0.1, "10"), "       0.1");
  EXPECT_EQ(format_number(100.0, ".3"), "1e+02");
  EXPECT_EQ(format_number(1234.5, ".4"), "1.234e+03");
  EXPECT_EQ(format_number(1.5, ".3"), "1.5");
  EXPECT_EQ(format_number(0.0, ".3"), "0.0");
  EXPECT_EQ(format_number(1.0, ".0"), "1e+00");
  EXPECT_EQ(format_number(9.99, ".2"), "1e+01");
}

TEST(FormatSpec, InfinityAndNan) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(format_number(inf, ".2f"), "inf");
  EXPECT_EQ(format_number(-inf, "E"), "-INF");
  EXPECT_EQ(format_number(std::nan(""), "F"), "NAN");
  EXPECT_EQ(format_number(-std::nan(""), ".3f"), "nan");  // Python prints no sign for nan
}

TEST(FormatSpec, BadSpecsAreValueErrorsNamingTheSpec) {
  const auto message = [](auto value, const char* spec) {
    try {
      format_number(value, spec);
    } catch (const ember::ValueError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(0.5, "d").find("'d' is for integers"), std::string::npos);
  EXPECT_NE(message(int64_t{3}, ".2d").find("precision is not allowed"), std::string::npos);
  EXPECT_NE(message(int64_t{3}, "x").find("invalid format spec 'x'"), std::string::npos);
  EXPECT_NE(message(1.0, ".f").find("missing its precision"), std::string::npos);
  EXPECT_NE(message(1.0, ",.2f").find("grouping"), std::string::npos);
  EXPECT_NE(message(1.0, "#g").find("not supported"), std::string::npos);
  EXPECT_NE(message(1.0, ".2fx").find("invalid format spec"), std::string::npos);
}
